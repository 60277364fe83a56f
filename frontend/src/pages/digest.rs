//! The digest schedule of one organisation user (its own on My account, anyone's in reach on
//! an admin's user page): on/off, any number of local times, "only new", and a resend.

use leptos::prelude::*;
use leptos::task::spawn_local;
use moat_openapi::{DigestResendRequest, DigestResendResult, DigestSchedule, UpdateUserSettings, UserSettings};
use uuid::Uuid;

use crate::api;
use crate::components::{Check, ErrorNote, Load, Spinner, field_error, general_error, load_into, local_time};

#[component]
pub fn DigestPanel(user: Uuid, #[prop(optional)] for_someone_else: bool) -> impl IntoView {
    let loaded = RwSignal::new(Load::<UserSettings>::Loading);
    load_into(loaded, format!("/users/{user}/settings"));
    view! {
        <section class="panel" aria-labelledby="digest-title">
            <h2 id="digest-title">"Quarantine digest"</h2>
            <p class="muted">{if for_someone_else {
                "When this user gets the email listing mail held for them, with links to release it."
            } else {
                "When you get the email listing mail held for you, with links to release it."
            }}</p>
            {move || match loaded.get() {
                Load::Loading => view! { <Spinner/> }.into_any(),
                Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
                Load::Ready(settings) => view! { <DigestForm user settings/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn DigestForm(user: Uuid, settings: UserSettings) -> impl IntoView {
    let enabled = RwSignal::new(settings.digest.enabled);
    let only_new = RwSignal::new(settings.digest.only_new);
    let times = RwSignal::new(settings.digest.times.clone());
    let next = RwSignal::new(settings.next_digest_at);
    let zone = RwSignal::new(settings.time_zone.clone());
    let failure = RwSignal::new(None::<api::ApiError>);
    let notice = RwSignal::new(None::<String>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        notice.set(None);
        let digest = DigestSchedule { enabled: enabled.get(), times: times.get(), only_new: only_new.get() };
        let body = UpdateUserSettings { time_zone: None, digest: Some(digest) };
        spawn_local(async move {
            match api::put::<_, UserSettings>(&format!("/users/{user}/settings"), &body).await {
                Ok(saved) => {
                    failure.set(None);
                    times.set(saved.digest.times);
                    next.set(saved.next_digest_at);
                    zone.set(saved.time_zone);
                    notice.set(Some("Digest schedule saved".into()));
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let resend = move |_| {
        notice.set(None);
        spawn_local(async move {
            let body = DigestResendRequest { user_id: Some(user) };
            match api::post::<_, DigestResendResult>("/digests/resend", &body).await {
                Ok(r) if r.queued => {
                    failure.set(None);
                    notice.set(Some(format!("A digest listing {} message(s) is in the outbox", r.messages)));
                }
                Ok(_) => {
                    failure.set(None);
                    notice.set(Some("Nothing is held, so no digest was made".into()));
                }
                Err(e) if e.status == 429 => {
                    notice.set(Some("A digest was just sent; try again in a few minutes".into()))
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    view! {
        <form on:submit=save novalidate>
            {move || general_error(&failure.get(), &["digest.times"]).map(|e| view! { <ErrorNote error=e/> })}
            <Check label="Send digests" value=enabled/>
            <fieldset class="field" class:field-invalid=move || field_error(&failure.get(), "digest.times").is_some()>
                <legend>{move || format!("Times of day ({})", zone.get())}</legend>
                {move || times.get().into_iter().enumerate().map(|(i, t)| view! {
                    <span class="time-entry">
                        <input type="time" aria-label=format!("Digest time {}", i + 1) prop:value=t
                            on:change=move |ev| { let v = event_target_value(&ev); times.update(|ts| if let Some(x) = ts.get_mut(i) { *x = v; }); }/>
                        <button type="button" class="btn btn-ghost" aria-label=format!("Remove digest time {}", i + 1)
                            on:click=move |_| times.update(|ts| { if i < ts.len() { ts.remove(i); } })>"×"</button>
                    </span>
                }).collect_view()}
                <button type="button" class="btn" disabled=move || { times.get().len() >= moat_openapi::MAX_DIGEST_TIMES }
                    on:click=move |_| times.update(|ts| ts.push("12:00".into()))>"Add a time"</button>
                <small class="field-error">{move || field_error(&failure.get(), "digest.times").unwrap_or_default()}</small>
            </fieldset>
            <Check label="Only messages no earlier digest listed" value=only_new/>
            <p class="muted">{move || match next.get() {
                Some(at) => format!("Next digest: {}", local_time(at, &zone.get())),
                None => "No digest is scheduled.".to_string(),
            }}</p>
            <button class="btn btn-primary" type="submit">"Save digest schedule"</button>
            <button class="btn" type="button" on:click=resend>"Send a digest now"</button>
            {move || notice.get().map(|n| view! { <span class="saved" role="status">{n}</span> })}
        </form>
    }
}
