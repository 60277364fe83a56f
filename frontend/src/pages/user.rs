//! One user, as an administrator sees it: profile, role, welcome and reset mail, its
//! quarantine and digest schedule.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use moat_openapi::{Role, UpdateUser, User};

use crate::api;
use crate::components::{DeleteButton, ErrorNote, Field, detail, field_error, general_error};
use crate::pages::account::TimeZoneSelect;
use crate::pages::orgs::RoleSelect;
use crate::validate;

#[component]
pub fn UserPage() -> impl IntoView {
    let params = use_params_map();
    let id = params.read_untracked().get("id").unwrap_or_default();
    detail(format!("/users/{id}"), |user: User, _| view! { <UserForm user/> })
}

#[component]
fn UserForm(user: User) -> impl IntoView {
    let navigate = use_navigate();
    let id = user.id;
    let back = user
        .org_id
        .map(|o| format!("/orgs/{o}"))
        .or_else(|| user.msp_id.map(|m| format!("/msps/{m}")))
        .unwrap_or("/".into());
    let name = RwSignal::new(user.display_name.clone());
    let zone = RwSignal::new(user.time_zone.clone());
    let role = RwSignal::new(moat_openapi::wire_name(&user.role));
    let name_err = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let notice = RwSignal::new(None::<&'static str>);
    let org_user = user.org_id.is_some();
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        notice.set(None);
        name_err.set(validate::name("Name", &name.get()).err());
        if name_err.get().is_some() {
            return;
        }
        let body = UpdateUser {
            display_name: Some(name.get()),
            time_zone: Some(zone.get()),
            role: if org_user { moat_openapi::from_wire_name::<Role>(&role.get()) } else { None },
            ..Default::default()
        };
        spawn_local(async move {
            match api::patch::<_, User>(&format!("/users/{id}"), &body).await {
                Ok(_) => {
                    failure.set(None);
                    notice.set(Some("Saved"));
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let action = move |path: &'static str, done: &'static str| {
        spawn_local(async move {
            match api::post_empty(&format!("/users/{id}/{path}")).await {
                Ok(()) => {
                    failure.set(None);
                    notice.set(Some(done));
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let disabled = RwSignal::new(user.disabled);
    let toggle_disabled = move |_| {
        let body = UpdateUser { disabled: Some(!disabled.get_untracked()), ..Default::default() };
        spawn_local(async move {
            match api::patch::<_, User>(&format!("/users/{id}"), &body).await {
                Ok(saved) => {
                    failure.set(None);
                    disabled.set(saved.disabled);
                    notice.set(Some(if saved.disabled { "Account disabled" } else { "Account enabled" }));
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let back_after_delete = back.clone();
    let delete = Callback::new(move |_| {
        let navigate = navigate.clone();
        let back = back_after_delete.clone();
        spawn_local(async move {
            match api::delete(&format!("/users/{id}")).await {
                Ok(()) => navigate(&back, Default::default()),
                Err(e) => failure.set(Some(e)),
            }
        });
    });
    view! {
        <section class="panel">
            <p class="crumbs"><A href=back>"Back"</A></p>
            <h1>{user.display_name.clone()}</h1>
            <p class="muted">{user.email.clone()} {(!user.active).then(|| view! { <span class="badge">"invited"</span> })}
                {move || disabled.get().then(|| view! { <span class="badge">"disabled"</span> })}</p>
            <form on:submit=save novalidate>
                {move || general_error(&failure.get(), &["display_name", "time_zone", "role"]).map(|e| view! { <ErrorNote error=e/> })}
                <Field id="u-name" label="Display name" value=name
                    error=Signal::derive(move || name_err.get().or_else(|| field_error(&failure.get(), "display_name")))/>
                <TimeZoneSelect id="u-tz" value=zone error=Signal::derive(move || field_error(&failure.get(), "time_zone"))/>
                <Show when=move || org_user><RoleSelect id="u-role" value=role/></Show>
                <button class="btn btn-primary" type="submit">"Save"</button>
                {move || notice.get().map(|n| view! { <span class="saved" role="status">{n}</span> })}
            </form>
            <div class="actions">
                <Show when=move || !user.active>
                    <button class="btn" on:click=move |_| action("resend-welcome", "Welcome email queued for sending")>"Resend welcome email"</button>
                </Show>
                <button class="btn" on:click=move |_| action("reset-password", "Password reset email queued for sending")>"Send password reset"</button>
                <button class="btn" on:click=move |_| action("reset-settings", "Settings reset")>"Reset settings"</button>
                <Show when=move || org_user>
                    <A href=format!("/quarantine?user_id={id}")>"Open this user's quarantine"</A>
                    <A href=format!("/archive?user_id={id}")>"Open this user's Live Archive"</A>
                    {crate::pages::domain::statistics_link(format!("/stats?user_id={id}"), "Statistics of this mailbox")}
                </Show>
                <button class="btn" on:click=toggle_disabled
                    title="A disabled account cannot sign in and gets no digests or emailed links; its mail still flows">
                    {move || if disabled.get() { "Enable account" } else { "Disable account" }}
                </button>
                <DeleteButton label="Delete user" on_confirm=delete/>
            </div>
        </section>
        {org_user.then(|| view! { <crate::pages::digest::DigestPanel user=id for_someone_else=true/> })}
    }
}
