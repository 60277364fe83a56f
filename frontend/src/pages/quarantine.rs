//! Quarantine: the messages the filter held back, within the caller's reach (a user's own
//! and those delegated to it; a whole organisation for czars and admins), searchable.

use leptos::prelude::*;
use leptos::task::spawn_local;
use moat_openapi::{
    ActionResult, QuarantineIds, QuarantineList, QuarantineMessage, QuarantinePreview, ReleaseRequest, ReviewedRequest,
};

use crate::api;
use crate::components::{DeleteButton, ErrorNote, Field, Load, PagedList, Spinner, load_into};
use crate::session::use_session;

/// What the toolbar does to the ticked messages.
#[derive(Clone, Copy)]
enum Action {
    Release { allow_sender: bool },
    Reviewed(bool),
    Delete,
}

#[component]
pub fn QuarantinePage() -> impl IntoView {
    let search = RwSignal::new(String::new());
    let query = RwSignal::new(String::new());
    let selected = RwSignal::new(None::<String>);
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
                Action::Delete => api::post::<_, ActionResult>("/quarantine/delete", &QuarantineIds { ids }).await,
            };
            match done {
                Ok(result) => {
                    failure.set(None);
                    notice.set(match action {
                        Action::Release { .. } => Some(format!("{} message(s) released for delivery", result.affected)),
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
            <form class="inline-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                query.set(search.get().trim().to_string());
            }>
                <Field id="q-search" label="Search sender, recipient or subject" value=search error=Signal::derive(|| None::<String>)/>
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
                <Show when=move || !ticked.get().is_empty()>
                    <DeleteButton label="Delete selected" on_confirm=Callback::new(move |_| act(Action::Delete))/>
                </Show>
                {move || notice.get().map(|n| view! { <span class="saved" role="status">{n}</span> })}
                {move || failure.get().map(|e| view! { <ErrorNote error=e/> })}
            </div>
            {move || {
                version.get();
                let q = query.get();
                let path = if q.is_empty() {
                    "/quarantine".to_string()
                } else {
                    format!("/quarantine?q={}", js_sys::encode_uri_component(&q))
                };
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
                                    <td>{m.received_at.format("%Y-%m-%d %H:%M").to_string()}</td>
                                    <td>{m.recipient.clone()}</td>
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
        move |_| load_into(preview, format!("/quarantine/{encoded}/preview?images=true"))
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
            let blocked = p.remote_images_blocked;
            let links = p.links.clone();
            view! {
                {(blocked > 0).then(|| view! {
                    <p class="notice warning">{format!("{blocked} remote image(s) blocked. ")}
                        <button class="btn" on:click=show_images.clone()>"Show remote images"</button>
                    </p>
                })}
                {match (p.html, p.text) {
                    (Some(html), _) => view! {
                        <iframe class="preview-frame" title="Message preview" sandbox="allow-popups allow-popups-to-escape-sandbox" srcdoc=html></iframe>
                    }.into_any(),
                    (None, Some(text)) => view! { <pre class="preview-text">{text}</pre> }.into_any(),
                    (None, None) => view! { <p>"This message has no readable part."</p> }.into_any(),
                }}
                {(!links.is_empty()).then(|| view! {
                    <h3>"Links in this message"</h3>
                    <ul class="preview-links">
                        {links.into_iter().map(|l| view! { <li>{format!("{} → ", if l.text.is_empty() { "(no text)".to_string() } else { l.text })}<code>{l.href}</code></li> }).collect_view()}
                    </ul>
                })}
            }.into_any()
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
