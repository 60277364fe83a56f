//! Message tracking (admins): search every message Moat saw within reach, and one message's
//! whole story — its connection, each verdict with its reasons, each delivery attempt with
//! the destination's answer.

use leptos::prelude::*;
use moat_openapi::{TrackedEvent, TrackedMessage, TrackedMessageDetail, TrackedMessageList, TrackedStatus, wire_name};

use crate::components::{ErrorNote, Field, Load, PagedList, Spinner, load_into};

const STATUSES: [TrackedStatus; 9] = [
    TrackedStatus::Received,
    TrackedStatus::Queued,
    TrackedStatus::Deferred,
    TrackedStatus::Delivered,
    TrackedStatus::Bounced,
    TrackedStatus::Quarantined,
    TrackedStatus::Rejected,
    TrackedStatus::Removed,
    TrackedStatus::Failed,
];

#[component]
pub fn TrackingPage() -> impl IntoView {
    let search = RwSignal::new(String::new());
    let status = RwSignal::new(String::new());
    let query = RwSignal::new(String::new());
    let open = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut parts = Vec::new();
        let q = search.get().trim().to_string();
        if !q.is_empty() {
            parts.push(format!("q={}", js_sys::encode_uri_component(&q)));
        }
        if !status.get().is_empty() {
            parts.push(format!("status={}", status.get()));
        }
        query.set(parts.join("&"));
    };
    view! {
        <section class="panel">
            <h1>"Message tracking"</h1>
            <form class="inline-form" on:submit=submit>
                <Field id="track-search" label="Sender, recipient or subject" value=search error=Signal::derive(|| None::<String>)/>
                <div class="field">
                    <label for="track-status">"Status"</label>
                    <select id="track-status" on:change=move |ev| status.set(event_target_value(&ev))>
                        <option value="">"Any"</option>
                        {STATUSES.iter().map(|s| view! { <option value=wire_name(s)>{wire_name(s)}</option> }).collect_view()}
                    </select>
                </div>
                <button class="btn" type="submit">"Search"</button>
            </form>
            {move || {
                let q = query.get();
                let list = PagedList::<TrackedMessageList>::new(&if q.is_empty() { "/messages".to_string() } else { format!("/messages?{q}") });
                list.view("No messages found.", move |l| view! {
                    <table class="table" id="tracking-table">
                        <thead><tr>
                            <th scope="col">"Received (UTC)"</th><th scope="col">"Direction"</th><th scope="col">"From"</th>
                            <th scope="col">"To"</th><th scope="col">"Subject"</th><th scope="col">"Status"</th>
                        </tr></thead>
                        <tbody>{l.items.into_iter().map(|m| view! { <Row message=m open/> }).collect_view()}</tbody>
                    </table>
                }.into_any())
            }}
        </section>
        {move || open.get().map(|id| view! { <Story id/> })}
    }
}

#[component]
fn Row(message: TrackedMessage, open: RwSignal<Option<String>>) -> impl IntoView {
    let id = message.id.clone();
    let subject = if message.subject.is_empty() { "(no subject)".to_string() } else { message.subject.clone() };
    view! {
        <tr>
            <td>{message.received_at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
            <td>{wire_name(&message.direction)}</td>
            <td>{message.sender.clone()}</td>
            <td>{message.recipients.join(", ")}</td>
            <td><button class="link" on:click=move |_| open.set(Some(id.clone()))>{subject}</button></td>
            <td><span class=format!("status status-{}", wire_name(&message.status))>{wire_name(&message.status)}</span></td>
        </tr>
    }
}

/// One message's story, event by event.
#[component]
fn Story(id: String) -> impl IntoView {
    let loaded = RwSignal::new(Load::<TrackedMessageDetail>::Loading);
    load_into(loaded, format!("/messages/{}", js_sys::encode_uri_component(&id)));
    view! {
        <section class="panel" id="message-story" aria-labelledby="story-title">
            {move || match loaded.get() {
                Load::Loading => view! { <Spinner/> }.into_any(),
                Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
                Load::Ready(d) => view! {
                    <h2 id="story-title">{d.message.subject.clone()}</h2>
                    <dl class="facts">
                        <dt>"From"</dt><dd>{d.message.sender.clone()}</dd>
                        <dt>"To"</dt><dd>{d.message.recipients.join(", ")}</dd>
                        <dt>"Client"</dt><dd>{d.message.client_ip.clone()}</dd>
                        <dt>"Message-ID"</dt><dd>{d.message.message_id.clone()}</dd>
                        <dt>"Size"</dt><dd>{format!("{} bytes", d.message.size)}</dd>
                        <dt>"Status"</dt><dd>{wire_name(&d.message.status)}</dd>
                    </dl>
                    <ol class="timeline" id="story-events">
                        {d.events.into_iter().map(|e| view! { <Event event=e/> }).collect_view()}
                    </ol>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Event(event: TrackedEvent) -> impl IntoView {
    let d = event.detail;
    let mut lines: Vec<String> = Vec::new();
    if let Some(ip) = d.client_ip.filter(|ip| !ip.is_empty()) {
        lines.push(format!("from {ip}"));
    }
    if let Some(v) = d.verdict {
        lines.push(format!("verdict: {}", wire_name(&v)));
    }
    if !d.reasons.is_empty() {
        lines.push(format!("reasons: {}", d.reasons.join("; ")));
    }
    if let Some(dest) = d.destination {
        lines.push(format!("destination: {dest}"));
    }
    if let Some(resp) = d.response {
        lines.push(format!("answer: {resp}"));
    }
    view! {
        <li class="stage" data-kind=wire_name(&event.kind)>
            <strong>{wire_name(&event.kind)}</strong>
            <span class="stage-time">{event.at.format("%Y-%m-%d %H:%M:%S UTC").to_string()}</span>
            <ul class="stage-details">{lines.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul>
        </li>
    }
}
