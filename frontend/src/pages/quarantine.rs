//! Quarantine: the messages the filter held back, within the caller's reach (a user's own
//! and those delegated to it; a whole organisation for czars and admins), searchable.

use leptos::prelude::*;
use leptos::task::spawn_local;
use moat_openapi::{
    ActionResult, QuarantineIds, QuarantineList, QuarantineMessage, QuarantinePreview, ReleaseRequest, ReportRequest,
    ReviewedRequest,
};

use crate::api;
use crate::components::{DeleteButton, ErrorNote, Field, Load, MessageBody, PagedList, Spinner, load_into};
use crate::session::use_session;

/// What the toolbar does to the ticked messages.
#[derive(Clone, Copy)]
enum Action {
    Release { allow_sender: bool },
    Reviewed(bool),
    Report { spam: bool },
    Delete,
}

/// The list filters, as the form holds them.
#[derive(Clone, Default, PartialEq)]
struct Filters {
    text: String,
    /// `""`, `"false"` (unread) or `"true"` (reviewed).
    reviewed: String,
    /// `""` or a reason code.
    reason: String,
    /// `YYYY-MM-DD` (local dates of the reader), or empty.
    from: String,
    to: String,
    /// Whose quarantine (an admin opening a user's), or everything in reach.
    user_id: String,
    /// `""`, `"inbound"` or `"outbound"` (the outbound quarantine, for reviewers).
    direction: String,
}

impl Filters {
    /// The list URL these filters ask for.
    fn path(&self, zone_offset_minutes: i32) -> String {
        let mut params = Vec::new();
        let mut add = |k: &str, v: &str| {
            if !v.is_empty() {
                params.push(format!("{k}={}", js_sys::encode_uri_component(v)));
            }
        };
        add("q", self.text.trim());
        add("reviewed", &self.reviewed);
        add("reason", &self.reason);
        add("user_id", &self.user_id);
        add("direction", &self.direction);
        let day = |d: &str, next: bool| -> String {
            let Ok(date) = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d") else { return String::new() };
            let date = if next { date.succ_opt().unwrap_or(date) } else { date };
            let local = date.and_hms_opt(0, 0, 0).unwrap_or_default();
            let utc = local - chrono::Duration::minutes(i64::from(zone_offset_minutes));
            format!("{}Z", utc.format("%Y-%m-%dT%H:%M:%S"))
        };
        add("from", &day(&self.from, false));
        add("to", &day(&self.to, true));
        if params.is_empty() { "/quarantine".into() } else { format!("/quarantine?{}", params.join("&")) }
    }
}

/// The browser's current offset from UTC in minutes (east positive), for date filters.
fn browser_offset_minutes() -> i32 {
    -(js_sys::Date::new_0().get_timezone_offset() as i32)
}

#[component]
pub fn QuarantinePage() -> impl IntoView {
    let params = leptos_router::hooks::use_query_map();
    let opened = params.read_untracked().get("open");
    let for_user = params.read_untracked().get("user_id").unwrap_or_default();
    let form = RwSignal::new(Filters { user_id: for_user.clone(), ..Filters::default() });
    let applied = RwSignal::new(form.get_untracked());
    let search = RwSignal::new(String::new());
    let selected = RwSignal::new(opened);
    let zone = use_session().me().and_then(|m| m.user).map(|u| u.time_zone).unwrap_or_else(|| "UTC".into());
    let zone = StoredValue::new(zone);
    // Messages ticked for an action, and a counter that reloads the list after one.
    let ticked = RwSignal::new(Vec::<String>::new());
    let version = RwSignal::new(0u32);
    let failure = RwSignal::new(None::<api::ApiError>);
    let notice = RwSignal::new(None::<String>);
    let session = use_session();
    let act = move |action: Action| {
        let ids = ticked.get();
        spawn_local(async move {
            let done = match action {
                Action::Reviewed(reviewed) => {
                    api::post::<_, ActionResult>("/quarantine/reviewed", &ReviewedRequest { ids, reviewed }).await
                }
                Action::Release { allow_sender } => {
                    api::post::<_, ActionResult>("/quarantine/release", &ReleaseRequest { ids, allow_sender }).await
                }
                Action::Report { spam } => {
                    api::post::<_, ActionResult>("/quarantine/report", &ReportRequest { ids, spam }).await
                }
                Action::Delete => api::post::<_, ActionResult>("/quarantine/delete", &QuarantineIds { ids }).await,
            };
            match done {
                Ok(result) => {
                    failure.set(None);
                    notice.set(match action {
                        Action::Release { .. } => Some(format!("{} message(s) released for delivery", result.affected)),
                        Action::Report { .. } => Some("Thanks: your organisation's filter learns from this".into()),
                        _ => None,
                    });
                    ticked.set(Vec::new());
                    version.update(|v| *v += 1);
                    session.refresh_unread();
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    view! {
        <section class="panel">
            <h1>"Quarantine"</h1>
            {(!for_user.is_empty()).then(|| view! {
                <p class="notice">"Showing one user's quarantine. " <a href="/quarantine">"Show everything"</a></p>
            })}
            <form class="filters" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                form.update(|f| f.text = search.get());
                applied.set(form.get());
            }>
                <Field id="q-search" label="Search sender, recipient or subject" value=search error=Signal::derive(|| None::<String>)/>
                <FilterSelect id="q-reviewed" label="Shown" options=&[("", "All"), ("false", "Unread"), ("true", "Reviewed")]
                    on_change=Callback::new(move |v| form.update(|f| f.reviewed = v))/>
                <FilterSelect id="q-reason" label="Why held" options=&[("", "Any reason"), ("spam", "Spam"), ("block_list", "Block list"),
                    ("attachment", "Attachment"), ("dmarc", "DMARC"), ("test_pattern", "Test pattern")]
                    on_change=Callback::new(move |v| form.update(|f| f.reason = v))/>
                {crate::session::use_session().at_least(moat_openapi::Role::SpamCzar).then(|| view! {
                    <FilterSelect id="q-direction" label="Going" options=&[("", "Either way"), ("inbound", "Incoming"),
                        ("outbound", "Outgoing (outbound quarantine)")]
                        on_change=Callback::new(move |v| form.update(|f| f.direction = v))/>
                })}
                <div class="field"><label for="q-from">"From date"</label>
                    <input id="q-from" type="date" on:change=move |ev| form.update(|f| f.from = event_target_value(&ev))/></div>
                <div class="field"><label for="q-to">"To date"</label>
                    <input id="q-to" type="date" on:change=move |ev| form.update(|f| f.to = event_target_value(&ev))/></div>
                <button class="btn" type="submit">"Search"</button>
            </form>
            <div class="toolbar" role="toolbar" aria-label="Selected messages">
                <span>{move || format!("{} selected", ticked.get().len())}</span>
                <button class="btn btn-primary" disabled=move || ticked.get().is_empty()
                    on:click=move |_| act(Action::Release { allow_sender: false })>"Release"</button>
                <button class="btn" disabled=move || ticked.get().is_empty()
                    on:click=move |_| act(Action::Release { allow_sender: true })>"Release and allow sender"</button>
                <button class="btn" disabled=move || ticked.get().is_empty()
                    on:click=move |_| act(Action::Reviewed(true))>"Mark reviewed"</button>
                <button class="btn" disabled=move || ticked.get().is_empty()
                    on:click=move |_| act(Action::Reviewed(false))>"Mark unread"</button>
                <button class="btn" disabled=move || ticked.get().is_empty()
                    on:click=move |_| act(Action::Report { spam: true })>"Report spam"</button>
                <button class="btn" disabled=move || ticked.get().is_empty()
                    on:click=move |_| act(Action::Report { spam: false })>"Not spam"</button>
                <Show when=move || !ticked.get().is_empty()>
                    <DeleteButton label="Delete selected" on_confirm=Callback::new(move |_| act(Action::Delete))/>
                </Show>
                {move || notice.get().map(|n| view! { <span class="saved" role="status">{n}</span> })}
                {move || failure.get().map(|e| view! { <ErrorNote error=e/> })}
            </div>
            {move || {
                version.get();
                let path = applied.get().path(browser_offset_minutes());
                let list = PagedList::<QuarantineList>::new(&path);
                list.view("Nothing in quarantine.", move |l| view! {
                    <table class="table" id="quarantine-table">
                        <thead><tr>
                            <th scope="col"><span class="sr-only">"Select"</span></th>
                            <th scope="col">"Subject"</th><th scope="col">"From"</th><th scope="col">"Received"</th>
                            <th scope="col">"To"</th><th scope="col">"Why"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            {l.items.into_iter().map(|m| view! {
                                <tr class:unread=!m.reviewed>
                                    <td>{
                                        let (id, toggle_id) = (m.id.clone(), m.id.clone());
                                        view! {
                                            <input type="checkbox" aria-label=format!("Select {}", m.subject)
                                                prop:checked=move || ticked.get().contains(&id)
                                                on:change=move |_| ticked.update(|t| match t.iter().position(|x| *x == toggle_id) {
                                                    Some(i) => { t.remove(i); }
                                                    None => t.push(toggle_id.clone()),
                                                })/>
                                        }
                                    }</td>
                                    <td>{if m.subject.is_empty() { "(no subject)".to_string() } else { m.subject.clone() }}</td>
                                    <td>{m.sender.clone()}</td>
                                    <td>{crate::components::local_time(m.received_at, &zone.get_value())}</td>
                                    <td>{m.recipient.clone()}
                                        {(m.direction == moat_openapi::Direction::Outbound).then(|| view! { <span class="badge">"outgoing"</span> })}</td>
                                    <td>
                                        {m.explanation.as_ref().map(|e| e.text.clone()).unwrap_or_else(|| m.reasons.join(", "))}
                                        <details class="why"><summary>"Details"</summary>{m.reasons.join(", ")}</details>
                                    </td>
                                    <td>{
                                        let id = m.id.clone();
                                        view! { <button class="btn" on:click=move |_| selected.set(Some(id.clone()))>"Preview"</button> }
                                    }</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any())
            }}
        </section>
        {move || selected.get().map(|id| view! { <PreviewPane id=id on_close=Callback::new(move |_| selected.set(None))/> })}
    }
}

/// A labelled `<select>` of fixed choices for a list filter.
#[component]
pub fn FilterSelect(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    options: &'static [(&'static str, &'static str)],
    on_change: Callback<String>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <select id=id on:change=move |ev| on_change.run(event_target_value(&ev))>
                {options.iter().map(|(value, text)| view! { <option value=*value>{*text}</option> }).collect_view()}
            </select>
        </div>
    }
}

/// One held message, shown safely: its facts, the sanitized HTML in a sandboxed frame (no
/// script can run there even if one got through), the text part otherwise, every link with
/// its real target, and remote images only when the reader asks.
#[component]
fn PreviewPane(id: String, on_close: Callback<()>) -> impl IntoView {
    let message = RwSignal::new(Load::<QuarantineMessage>::Loading);
    let preview = RwSignal::new(Load::<QuarantinePreview>::Loading);
    let encoded = js_sys::encode_uri_component(&id).as_string().unwrap_or_default();
    load_into(message, format!("/quarantine/{encoded}"));
    load_into(preview, format!("/quarantine/{encoded}/preview"));
    let show_images = {
        let encoded = encoded.clone();
        move |_: ()| load_into(preview, format!("/quarantine/{encoded}/preview?images=true"))
    };
    let facts = move || {
        match message.get() {
        Load::Loading => view! { <Spinner/> }.into_any(),
        Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
        Load::Ready(m) => view! {
            <dl class="facts">
                <dt>"From"</dt><dd>{m.item.sender.clone()}</dd>
                <dt>"To"</dt><dd>{m.item.recipient.clone()}</dd>
                <dt>"Subject"</dt><dd>{m.item.subject.clone()}</dd>
                <dt>"Why it was held"</dt><dd>{m.item.explanation.as_ref().map(|e| e.text.clone()).unwrap_or_default()}</dd>
                <dt>"Technical detail"</dt><dd>{m.item.reasons.join(", ")}</dd>
                <dt>"Attachments"</dt><dd>{if m.attachments.is_empty() { "none".to_string() } else {
                    m.attachments.iter().map(|a| format!("{} ({}, {} bytes)", a.name, a.content_type, a.size)).collect::<Vec<_>>().join("; ")
                }}</dd>
            </dl>
        }.into_any(),
    }
    };
    let body = move || match preview.get() {
        Load::Loading => view! { <Spinner/> }.into_any(),
        Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
        Load::Ready(p) => {
            view! { <MessageBody preview=p on_show_images=Callback::new(show_images.clone())/> }.into_any()
        }
    };
    view! {
        <section class="panel" id="preview" aria-label="Message preview">
            <div class="panel-head">
                <h2>"Preview"</h2>
                <button class="btn" on:click=move |_| on_close.run(())>"Close preview"</button>
            </div>
            {facts}
            {body}
        </section>
    }
}
