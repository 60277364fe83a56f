//! Login, and setting a password from an activation or reset link.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;
use moat_openapi::{ActivateRequest, LoginRequest, LoginResponse};

use crate::api;
use crate::components::{ErrorNote, Field};
use crate::session::{Auth, use_session};
use crate::validate;

#[component]
pub fn LoginPage() -> impl IntoView {
    let session = use_session();
    let query = use_query_map();
    let next = move || crate::components::safe_next(query.read().get("next"));
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let email_err = RwSignal::new(None::<String>);
    let password_err = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let busy = RwSignal::new(false);
    // The maintenance banner of the domain being typed, looked up once per domain.
    let domain = Memo::new(move |_| {
        email.get().trim().rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).filter(|d| d.contains('.'))
    });
    let banner = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let Some(d) = domain.get() else { return banner.set(None) };
        spawn_local(async move {
            let path = format!("/banner?domain={}", js_sys::encode_uri_component(&d));
            if let Ok(b) = api::get::<moat_openapi::DomainBanner>(&path).await
                && domain.get_untracked().as_deref() == Some(d.as_str())
            {
                banner.set(b.banner);
            }
        });
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        email_err.set(validate::email(&email.get()).err());
        password_err.set(password.get().is_empty().then(|| "Enter your password".to_string()));
        if email_err.get().is_some() || password_err.get().is_some() {
            return;
        }
        busy.set(true);
        failure.set(None);
        let req = LoginRequest { email: email.get().trim().to_string(), password: password.get(), totp: None };
        spawn_local(async move {
            match api::post::<_, LoginResponse>("/auth/login", &req).await {
                Ok(res) => session.logged_in(res),
                Err(e) => failure.set(Some(e)),
            }
            busy.set(false);
        });
    };

    view! {
        <Show when=move || matches!(session.auth.get(), Auth::Caller(_))>
            <Redirect path=next()/>
        </Show>
        <section class="panel login">
            <h1>{move || format!("Sign in to {}", session.branding.get().product_name)}</h1>
            {move || banner.get().map(|text| view! { <div class="maintenance-banner" id="login-banner" role="status">{text}</div> })}
            <form on:submit=submit novalidate>
                {move || failure.get().map(|e| {
                    let e = if e.status == 401 { api::ApiError { message: "Wrong email or password.".into(), ..e } } else { e };
                    view! { <ErrorNote error=e/> }
                })}
                <Field id="login-email" label="Email" value=email error=email_err kind="email" autocomplete="username"/>
                <Field id="login-password" label="Password" value=password error=password_err kind="password" autocomplete="current-password"/>
                <button class="btn btn-primary" type="submit" prop:disabled=move || busy.get()>
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
        </section>
    }
}

/// Choose a password with the token from a welcome (activation) or reset email.
#[component]
pub fn SetPasswordPage(activation: bool) -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let done = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(validate::password(&password.get()).err());
        if error.get().is_some() {
            return;
        }
        let body = ActivateRequest { token: token(), password: password.get() };
        let path = if activation { "/auth/activate" } else { "/auth/password-reset/confirm" };
        spawn_local(async move {
            match api::post::<_, serde_json::Value>(path, &body).await {
                Ok(_) => done.set(true),
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    view! {
        <section class="panel login">
            <h1>{if activation { "Activate your account" } else { "Choose a new password" }}</h1>
            <Show
                when=move || done.get()
                fallback=move || view! {
                    <form on:submit=submit novalidate>
                        {move || failure.get().map(|e| view! { <ErrorNote error=e/> })}
                        <Field id="new-password" label="New password" value=password error=error kind="password" autocomplete="new-password" hint="At least 8 characters"/>
                        <button class="btn btn-primary" type="submit">"Save password"</button>
                    </form>
                }
            >
                <p class="alert alert-ok">"Your password is set. " <a href="/login">"Sign in"</a></p>
            </Show>
        </section>
    }
}
