//! Quarantine: the messages the filter held back, within the caller's reach (a user's own
//! and those delegated to it; a whole organisation for czars and admins), searchable.

use leptos::prelude::*;
use moat_openapi::QuarantineList;

use crate::components::{Field, PagedList};

#[component]
pub fn QuarantinePage() -> impl IntoView {
    let search = RwSignal::new(String::new());
    let query = RwSignal::new(String::new());
    view! {
        <section class="panel">
            <h1>"Quarantine"</h1>
            <form class="inline-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                query.set(search.get().trim().to_string());
            }>
                <Field id="q-search" label="Search sender, recipient or subject" value=search error=Signal::derive(|| None::<String>)/>
                <button class="btn" type="submit">"Search"</button>
            </form>
            {move || {
                let q = query.get();
                let path = if q.is_empty() {
                    "/quarantine".to_string()
                } else {
                    format!("/quarantine?q={}", js_sys::encode_uri_component(&q))
                };
                let list = PagedList::<QuarantineList>::new(&path);
                list.view("Nothing in quarantine.", |l| view! {
                    <table class="table" id="quarantine-table">
                        <thead><tr>
                            <th scope="col">"Subject"</th><th scope="col">"From"</th><th scope="col">"Received"</th>
                            <th scope="col">"To"</th><th scope="col">"Why"</th>
                        </tr></thead>
                        <tbody>
                            {l.items.into_iter().map(|m| view! {
                                <tr class:unread=!m.reviewed>
                                    <td>{if m.subject.is_empty() { "(no subject)".to_string() } else { m.subject.clone() }}</td>
                                    <td>{m.sender.clone()}</td>
                                    <td>{m.received_at.format("%Y-%m-%d %H:%M").to_string()}</td>
                                    <td>{m.recipient.clone()}</td>
                                    <td>{m.reasons.join(", ")}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any())
            }}
        </section>
    }
}
