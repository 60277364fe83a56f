//! "My account": display name, time zone, password, quarantine delegate and digest schedule.

use leptos::prelude::*;
use leptos::task::spawn_local;
use moat_openapi::{ChangePassword, UpdateUser, User};

use crate::api;
use crate::components::{ErrorNote, Field, field_error, general_error};
use crate::session::use_session;
use crate::validate;

/// IANA zones the browser knows (`Intl.supportedValuesOf`), with UTC first.
pub fn time_zones() -> Vec<String> {
    let mut zones = vec!["UTC".to_string()];
    let global = js_sys::global();
    let list = js_sys::Reflect::get(&global, &"Intl".into())
        .ok()
        .and_then(|intl| {
            let f = js_sys::Reflect::get(&intl, &"supportedValuesOf".into()).ok()?;
            let f: js_sys::Function = wasm_bindgen::JsCast::dyn_into(f).ok()?;
            f.call1(&intl, &"timeZone".into()).ok()
        })
        .map(|arr| js_sys::Array::from(&arr));
    if let Some(arr) = list {
        zones.extend(arr.iter().filter_map(|v| v.as_string()).filter(|z| z != "UTC"));
    }
    zones
}

/// A labelled `<select>` over the IANA time zones.
#[component]
pub fn TimeZoneSelect(
    #[prop(into)] id: String,
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let zones = time_zones();
    view! {
        <div class="field" class:field-invalid=move || error.get().is_some()>
            <label for=id.clone()>"Time zone"</label>
            <select id=id on:change=move |ev| value.set(event_target_value(&ev)) prop:value=move || value.get()>
                {zones.into_iter().map(|z| {
                    let (selected, attr) = (z.clone(), z.clone());
                    view! { <option value=attr selected=move || value.get() == selected>{z}</option> }
                }).collect_view()}
            </select>
            <small class="field-error">{move || error.get().unwrap_or_default()}</small>
        </div>
    }
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let session = use_session();
    let me = session.me().and_then(|m| m.user);
    let Some(user) = me else {
        return view! { <section class="panel"><h1>"My account"</h1><p>"This session belongs to an API key."</p></section> }.into_any();
    };
    let name = RwSignal::new(user.display_name.clone());
    let zone = RwSignal::new(user.time_zone.clone());
    let name_err = RwSignal::new(None::<String>);
    let profile_failure = RwSignal::new(None::<api::ApiError>);
    let saved = RwSignal::new(false);
    let id = user.id;
    let save_profile = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        name_err.set(validate::name("Display name", &name.get()).err());
        if name_err.get().is_some() {
            return;
        }
        let body = UpdateUser { display_name: Some(name.get()), time_zone: Some(zone.get()), ..Default::default() };
        spawn_local(async move {
            match api::patch::<_, User>(&format!("/users/{id}"), &body).await {
                Ok(_) => {
                    profile_failure.set(None);
                    saved.set(true);
                    session.refresh();
                }
                Err(e) => profile_failure.set(Some(e)),
            }
        });
    };

    let current = RwSignal::new(String::new());
    let next = RwSignal::new(String::new());
    let next_err = RwSignal::new(None::<String>);
    let pw_failure = RwSignal::new(None::<api::ApiError>);
    let pw_saved = RwSignal::new(false);
    let change_password = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        pw_saved.set(false);
        next_err.set(validate::password(&next.get()).err());
        if next_err.get().is_some() {
            return;
        }
        let body = ChangePassword { current_password: current.get(), new_password: next.get() };
        spawn_local(async move {
            // The old token stops working with the old password: carry on with the new one.
            match api::post::<_, moat_openapi::LoginResponse>("/auth/change-password", &body).await {
                Ok(login) => {
                    api::set_token(Some(login.access_token));
                    pw_failure.set(None);
                    pw_saved.set(true);
                    current.set(String::new());
                    next.set(String::new());
                }
                Err(e) => pw_failure.set(Some(e)),
            }
        });
    };

    let delegate_panel = user.org_id.map(|_| view! { <DelegatePicker id=id current=user.quarantine_delegate_id/> });
    let digest_panel = user.org_id.map(|_| view! { <crate::pages::digest::DigestPanel user=id/> });
    view! {
        <section class="panel">
            <h1>"My account"</h1>
            <p class="muted">{user.email.clone()} " · " {format!("{:?}", user.role).replace("SpamCzar", "Spam czar").replace("OrgAdmin", "Organisation admin").replace("MspAdmin", "MSP admin").replace("PlatformAdmin", "Platform admin")}</p>
            <form on:submit=save_profile novalidate>
                {move || general_error(&profile_failure.get(), &["display_name", "time_zone"]).map(|e| view! { <ErrorNote error=e/> })}
                <Field id="account-name" label="Display name" value=name
                    error=Signal::derive(move || name_err.get().or_else(|| field_error(&profile_failure.get(), "display_name")))/>
                <TimeZoneSelect id="account-tz" value=zone error=Signal::derive(move || field_error(&profile_failure.get(), "time_zone"))/>
                <button class="btn btn-primary" type="submit">"Save profile"</button>
                <Show when=move || saved.get()><span class="saved" role="status">"Saved"</span></Show>
            </form>
        </section>
        {delegate_panel}
        {digest_panel}
        <crate::pages::lists::ListsPanel level=moat_openapi::ListLevel::User scope_id=id title="My allow and block list"/>
        <crate::pages::lists::CorrespondentsPanel user_id=id/>
        <section class="panel">
            <h2>"Change password"</h2>
            <form on:submit=change_password novalidate>
                {move || general_error(&pw_failure.get(), &["current_password", "new_password"]).map(|e| view! { <ErrorNote error=e/> })}
                <Field id="pw-current" label="Current password" value=current kind="password" autocomplete="current-password"
                    error=Signal::derive(move || field_error(&pw_failure.get(), "current_password"))/>
                <Field id="pw-new" label="New password" value=next kind="password" autocomplete="new-password" hint="At least 8 characters"
                    error=Signal::derive(move || next_err.get().or_else(|| field_error(&pw_failure.get(), "new_password")))/>
                <button class="btn btn-primary" type="submit">"Change password"</button>
                <Show when=move || pw_saved.get()><span class="saved" role="status">"Password changed"</span></Show>
            </form>
        </section>
    }
    .into_any()
}

/// Who else may review and release this user's quarantine: a colleague of the same
/// organisation, or nobody.
#[component]
fn DelegatePicker(id: uuid::Uuid, current: Option<uuid::Uuid>) -> impl IntoView {
    let colleagues = RwSignal::new(crate::components::Load::<moat_openapi::ColleagueList>::Loading);
    crate::components::load_into(colleagues, "/users/colleagues?per_page=500".to_string());
    let chosen = RwSignal::new(current.map(|c| c.to_string()).unwrap_or_default());
    let failure = RwSignal::new(None::<api::ApiError>);
    let saved = RwSignal::new(false);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        let delegate = chosen.get().parse::<uuid::Uuid>().ok();
        let body = UpdateUser { quarantine_delegate_id: Some(delegate), ..Default::default() };
        spawn_local(async move {
            match api::patch::<_, User>(&format!("/users/{id}"), &body).await {
                Ok(_) => {
                    failure.set(None);
                    saved.set(true);
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    view! {
        <section class="panel">
            <h2>"Quarantine delegate"</h2>
            <p class="muted">"A colleague who may review and release your quarantined mail (you still can too)."</p>
            <form on:submit=save novalidate>
                {move || failure.get().map(|e| view! { <ErrorNote error=e/> })}
                <div class="field">
                    <label for="delegate">"Delegate"</label>
                    <select id="delegate" on:change=move |ev| chosen.set(event_target_value(&ev)) prop:value=move || chosen.get()>
                        <option value="" selected=move || chosen.get().is_empty()>"Nobody"</option>
                        {move || match colleagues.get() {
                            crate::components::Load::Ready(list) => list.items.into_iter().map(|c| {
                                let (value, selected) = (c.id.to_string(), c.id.to_string());
                                view! { <option value=value selected=move || chosen.get() == selected>{format!("{} <{}>", c.display_name, c.email)}</option> }
                            }).collect_view().into_any(),
                            _ => ().into_any(),
                        }}
                    </select>
                </div>
                <button class="btn btn-primary" type="submit">"Save delegate"</button>
                <Show when=move || saved.get()><span class="saved" role="status">"Delegate saved"</span></Show>
            </form>
        </section>
    }
}
