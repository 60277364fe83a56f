//! Continuity: while a domain's mail server cannot be reached, its users see a banner
//! saying since when and how much mail is safe in Moat (with the way into the Live
//! Archive), and its admins see the state on the domain's page, can ask for a retry now
//! and can give the waiting mail longer before it is given up.

use leptos::prelude::*;
use leptos::task::spawn_local;
use moat_openapi::{Domain, DomainDelivery, UpdateDomain};
use uuid::Uuid;

use crate::api;
use crate::components::{ErrorNote, Field, local_time};
use crate::session::use_session;

/// How often the banner looks again.
const POLL_EVERY: std::time::Duration = std::time::Duration::from_secs(20);

fn zone() -> String {
    use_session().me().and_then(|m| m.user).map(|u| u.time_zone).unwrap_or_else(|| "UTC".into())
}

/// The banner under the top bar while the caller's own domain is unreachable.
#[component]
pub fn ContinuityBanner(domain_id: Uuid) -> impl IntoView {
    let state = RwSignal::new(None::<DomainDelivery>);
    let load = move || {
        spawn_local(async move {
            if let Ok(d) = api::get::<DomainDelivery>(&format!("/domains/{domain_id}/delivery")).await {
                state.set(Some(d));
            }
        })
    };
    load();
    if let Ok(handle) = set_interval_with_handle(load, POLL_EVERY) {
        on_cleanup(move || handle.clear());
    }
    let zone = StoredValue::new(zone());
    move || {
        let d = state.get().filter(|d| !d.reachable)?;
        let since = d.unreachable_since.map(|at| local_time(at, &zone.get_value())).unwrap_or_default();
        let text = format!(
            "Your mail server has been unreachable since {since}; {} message(s) are safe here and will be delivered when it returns.",
            d.waiting
        );
        Some(view! {
            <div class="continuity-banner" role="status" id="continuity-banner">
                {text} " " <a href="/archive">"Read and answer your mail in the Live Archive"</a>
            </div>
        })
    }
}

/// The domain page's delivery panel: state, retry now, queue expiry.
#[component]
pub fn DeliveryPanel(domain: Domain) -> impl IntoView {
    let id = domain.id;
    let state = RwSignal::new(None::<DomainDelivery>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let notice = RwSignal::new(None::<String>);
    let expiry = RwSignal::new(domain.queue_expiry_days.map(|d| d.to_string()).unwrap_or_default());
    let load = move || {
        spawn_local(async move {
            match api::get::<DomainDelivery>(&format!("/domains/{id}/delivery")).await {
                Ok(d) => state.set(Some(d)),
                Err(e) => failure.set(Some(e)),
            }
        })
    };
    load();
    let retry = move |_| {
        spawn_local(async move {
            match api::post::<_, DomainDelivery>(&format!("/domains/{id}/delivery/retry"), &()).await {
                Ok(d) => {
                    state.set(Some(d));
                    notice.set(Some("The workers will try the waiting mail now.".into()));
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let save_expiry = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = expiry.get().trim().to_string();
        let days = if text.is_empty() {
            None
        } else {
            match text.parse::<u32>() {
                Ok(d) => Some(d),
                Err(_) => {
                    notice.set(Some("Give a whole number of days (1 to 30), or leave it empty.".into()));
                    return;
                }
            }
        };
        let body = UpdateDomain { queue_expiry_days: Some(days), ..UpdateDomain::default() };
        spawn_local(async move {
            match api::patch::<_, Domain>(&format!("/domains/{id}"), &body).await {
                Ok(_) => {
                    failure.set(None);
                    notice.set(Some("Queue expiry saved.".into()));
                    load();
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let zone = StoredValue::new(zone());
    let facts = move || {
        state.get().map(|d| {
            let at = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| local_time(t, &zone.get_value())).unwrap_or_else(|| "—".into());
            view! {
                <dl class="facts" id="delivery-facts">
                    <dt>"Destination"</dt><dd>{if d.reachable { "reachable".to_string() } else { format!("unreachable since {}", at(d.unreachable_since)) }}</dd>
                    <dt>"Last error"</dt><dd>{d.last_error.clone().unwrap_or_else(|| "—".into())}</dd>
                    <dt>"Messages waiting"</dt><dd>{d.waiting}</dd>
                    <dt>"Oldest waiting"</dt><dd>{at(d.oldest_at)}</dd>
                    <dt>"Last retry asked"</dt><dd>{at(d.retry_requested_at)}</dd>
                </dl>
            }
        })
    };
    let expiry_error = Signal::derive(move || crate::components::field_error(&failure.get(), "queue_expiry_days"));
    view! {
        <section class="panel" id="delivery">
            <h2>"Delivery and continuity"</h2>
            {facts}
            <div class="toolbar">
                <button class="btn" id="retry-now" on:click=retry>"Retry delivery now"</button>
                <button class="btn" on:click=move |_| load()>"Refresh"</button>
            </div>
            <form class="inline-form" on:submit=save_expiry>
                <Field id="queue-expiry" label="Days mail may wait before it is returned (empty: the default)" value=expiry error=expiry_error/>
                <button class="btn" type="submit">"Save queue expiry"</button>
            </form>
            {move || notice.get().map(|n| view! { <p class="saved" role="status">{n}</p> })}
            {move || crate::components::general_error(&failure.get(), &["queue_expiry_days"]).map(|e| view! { <ErrorNote error=e/> })}
        </section>
    }
}
