//! Alerts for admins: accounts that went over their organisation's sending limits (a sudden
//! jump often means a compromised mailbox). An open alert can be cleared; a blocking one
//! keeps its sender from sending until then.

use leptos::prelude::*;
use leptos::task::spawn_local;
use moat_openapi::{Alert, AlertList};
use uuid::Uuid;

use crate::api;
use crate::components::{ErrorNote, PagedList};

#[component]
pub fn AlertsPage() -> impl IntoView {
    view! { <AlertsPanel/> }
}

/// Open alerts (or, switched, the cleared ones) of one organisation or of everything within
/// the caller's reach.
#[component]
pub fn AlertsPanel(#[prop(optional)] org_id: Option<Uuid>) -> impl IntoView {
    let show_cleared = RwSignal::new(false);
    let failure = RwSignal::new(None::<api::ApiError>);
    view! {
        <section class="panel" aria-labelledby="alerts-title" id="alerts">
            <h2 id="alerts-title">"Alerts"</h2>
            <label class="check">
                <input type="checkbox" prop:checked=move || show_cleared.get()
                    on:change=move |ev| show_cleared.set(event_target_checked(&ev))/>
                " Show cleared alerts"
            </label>
            {move || failure.get().map(|e| view! { <ErrorNote error=e/> })}
            {move || {
                let open = !show_cleared.get();
                let org = org_id.map(|o| format!("&org_id={o}")).unwrap_or_default();
                let list = PagedList::<AlertList>::new(&format!("/alerts?open={open}{org}"));
                let empty = if open { "No open alerts." } else { "No cleared alerts." };
                list.view(empty, move |l| view! {
                    <table class="table" id="alert-table">
                        <thead><tr>
                            <th scope="col">"Raised (UTC)"</th><th scope="col">"Account"</th><th scope="col">"What happened"</th>
                            <th scope="col">"Effect"</th><th scope="col"></th>
                        </tr></thead>
                        <tbody>
                            {l.items.into_iter().map(|a| view! { <AlertRow alert=a list failure/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any())
            }}
        </section>
    }
}

#[component]
fn AlertRow(alert: Alert, list: PagedList<AlertList>, failure: RwSignal<Option<api::ApiError>>) -> impl IntoView {
    let id = alert.id;
    let effect = match (&alert.cleared_at, alert.blocks) {
        (Some(at), _) => {
            format!("cleared {} by {}", at.format("%Y-%m-%d %H:%M"), alert.cleared_by.clone().unwrap_or_default())
        }
        (None, true) => "blocked until cleared".to_string(),
        (None, false) => "not blocked".to_string(),
    };
    let clear = move |_| {
        spawn_local(async move {
            match api::post_empty(&format!("/alerts/{id}/clear")).await {
                Ok(_) => {
                    failure.set(None);
                    list.reload();
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    view! {
        <tr>
            <td>{alert.raised_at.format("%Y-%m-%d %H:%M").to_string()}</td>
            <td>{alert.subject.clone()}</td>
            <td>{alert.detail.clone()}</td>
            <td>{effect}</td>
            <td>{alert.cleared_at.is_none().then(|| view! { <button class="btn" on:click=clear>"Clear"</button> })}</td>
        </tr>
    }
}
