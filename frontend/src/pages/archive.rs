//! The Live Archive: a user's Inbox and Sent folders as Moat holds them (readable while the
//! user's own mail server is down), searchable, each message read safely with its
//! conversation, answered or forwarded, and new mail written. An admin opens a user's
//! archive with `?user_id=` (read only; the API audits it).

use leptos::prelude::*;
use leptos::task::spawn_local;
use moat_openapi::{
    ArchiveItem, ArchiveList, ArchiveMessage, ArchiveSendRequest, ArchiveSendResult, DeliveryState, Mailbox,
    NewAttachment,
};

use crate::api;
use crate::components::{ErrorNote, Field, Load, MessageBody, PagedList, Spinner, load_into, local_time, save_file};
use crate::session::use_session;

/// What the compose form starts from.
#[derive(Clone, Default, PartialEq)]
struct Draft {
    to: String,
    cc: String,
    subject: String,
    text: String,
    in_reply_to: Option<String>,
    forward_of: Option<String>,
    /// What the user sees of a forward's carried attachments.
    carried: Vec<String>,
}

impl Draft {
    fn reply(m: &ArchiveMessage, me: &str, all: bool) -> Draft {
        let mut cc: Vec<String> = Vec::new();
        if all {
            cc = m
                .item
                .recipients
                .iter()
                .filter(|r| !r.eq_ignore_ascii_case(me) && **r != m.item.sender)
                .cloned()
                .collect();
        }
        // Answering one's own sent message goes to its recipients again.
        let to =
            if m.item.sender.eq_ignore_ascii_case(me) { m.item.recipients.join(", ") } else { m.item.sender.clone() };
        Draft {
            to,
            cc: cc.join(", "),
            subject: prefixed("Re: ", &m.item.subject),
            text: format!("\n\n{} wrote:\n{}", m.item.sender, quoted(m)),
            in_reply_to: Some(m.item.id.clone()),
            ..Draft::default()
        }
    }

    fn forward(m: &ArchiveMessage) -> Draft {
        Draft {
            subject: prefixed("Fwd: ", &m.item.subject),
            text: format!(
                "\n\n---------- Forwarded message ----------\nFrom: {}\nSubject: {}\n\n{}",
                m.item.sender,
                m.item.subject,
                m.preview.text.clone().unwrap_or_default()
            ),
            forward_of: Some(m.item.id.clone()),
            carried: m.attachments.iter().map(|a| a.name.clone()).collect(),
            ..Draft::default()
        }
    }
}

fn prefixed(prefix: &str, subject: &str) -> String {
    if subject.to_lowercase().starts_with(&prefix.to_lowercase()) {
        subject.to_string()
    } else {
        format!("{prefix}{subject}")
    }
}

fn quoted(m: &ArchiveMessage) -> String {
    m.preview.text.clone().unwrap_or_default().lines().map(|l| format!("> {l}")).collect::<Vec<_>>().join("\n")
}

fn state_label(state: Option<DeliveryState>) -> (&'static str, &'static str) {
    match state {
        Some(DeliveryState::Queued) => ("Queued", "state-waiting"),
        Some(DeliveryState::Deferred) => ("Waiting for the server", "state-waiting"),
        Some(DeliveryState::Delivered) => ("Delivered", "state-ok"),
        Some(DeliveryState::Bounced) => ("Not delivered", "state-failed"),
        None => ("", ""),
    }
}

/// `?user_id=` for an admin reading someone's archive, else nothing.
fn owner_param(user_id: &str, first: bool) -> String {
    match (user_id.is_empty(), first) {
        (true, _) => String::new(),
        (false, true) => format!("?user_id={user_id}"),
        (false, false) => format!("&user_id={user_id}"),
    }
}

#[component]
pub fn ArchivePage() -> impl IntoView {
    let params = leptos_router::hooks::use_query_map();
    let query = params.read_untracked();
    let user_id = query.get("user_id").unwrap_or_default();
    let mailbox =
        RwSignal::new(if query.get("mailbox").as_deref() == Some("sent") { Mailbox::Sent } else { Mailbox::Inbox });
    let opened = RwSignal::new(query.get("open"));
    drop(query);
    let search = RwSignal::new(String::new());
    let applied = RwSignal::new(String::new());
    let composing = RwSignal::new(None::<Draft>);
    let notice = RwSignal::new(None::<String>);
    let version = RwSignal::new(0u32);
    let session = use_session();
    let zone = session.me().and_then(|m| m.user).map(|u| u.time_zone).unwrap_or_else(|| "UTC".into());
    let zone = StoredValue::new(zone);
    let reading_other = !user_id.is_empty();
    let owner = StoredValue::new(user_id);
    let on_sent = Callback::new(move |_: ()| {
        composing.set(None);
        notice.set(Some("Sent: your message is on its way and shows in Sent as soon as it is queued.".into()));
        mailbox.set(Mailbox::Sent);
        // The worker files it within seconds; look again then.
        set_timeout(move || version.update(|v| *v += 1), std::time::Duration::from_secs(3));
    });
    let tab = move |which: Mailbox, label: &'static str| {
        view! {
            <button class="btn tab" aria-pressed=move || (mailbox.get() == which).to_string()
                on:click=move |_| { mailbox.set(which); opened.set(None); }>{label}</button>
        }
    };
    view! {
        <section class="panel" id="archive">
            <div class="panel-head">
                <h1>"Live Archive"</h1>
                {(!reading_other).then(|| view! {
                    <button class="btn btn-primary" id="compose" on:click=move |_| composing.set(Some(Draft::default()))>"Write a message"</button>
                })}
            </div>
            {reading_other.then(|| view! { <p class="notice">"Showing one user's archive (read only; this is audited)."</p> })}
            <div class="tabs" role="group" aria-label="Folder">
                {tab(Mailbox::Inbox, "Inbox")}
                {tab(Mailbox::Sent, "Sent")}
            </div>
            <form class="filters" role="search" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                applied.set(search.get());
            }>
                <Field id="archive-search" label="Search sender, recipients, subject or text" value=search error=Signal::derive(|| None::<String>)/>
                <button class="btn" type="submit">"Search"</button>
            </form>
            {move || notice.get().map(|n| view! { <p class="saved" role="status">{n}</p> })}
            {move || {
                version.get();
                let folder = if mailbox.get() == Mailbox::Sent { "sent" } else { "inbox" };
                let q = js_sys::encode_uri_component(applied.get().trim()).as_string().unwrap_or_default();
                let path = format!("/archive?mailbox={folder}&q={q}{}", owner_param(&owner.get_value(), false));
                let list = PagedList::<ArchiveList>::new(&path);
                let sent = mailbox.get() == Mailbox::Sent;
                list.view("No messages here.", move |l| view! {
                    <table class="table" id="archive-table">
                        <thead><tr>
                            <th scope="col">{if sent { "To" } else { "From" }}</th><th scope="col">"Subject"</th>
                            <th scope="col">"Received"</th><th scope="col">"Delivery"</th>
                        </tr></thead>
                        <tbody>
                            {l.items.into_iter().map(|m| row(m, sent, zone.get_value(), opened)).collect_view()}
                        </tbody>
                    </table>
                }.into_any())
            }}
        </section>
        {move || opened.get().map(|id| view! {
            <Reader id=id owner=owner.get_value() read_only=reading_other zone=zone.get_value()
                on_close=Callback::new(move |_| opened.set(None))
                on_answer=Callback::new(move |d| composing.set(Some(d)))/>
        })}
        {move || composing.get().map(|d| view! {
            <Compose draft=d on_sent=on_sent on_cancel=Callback::new(move |_| composing.set(None))/>
        })}
    }
}

fn row(m: ArchiveItem, sent: bool, zone: String, opened: RwSignal<Option<String>>) -> impl IntoView {
    let who = if sent { m.recipients.join(", ") } else { m.sender.clone() };
    let subject = if m.subject.is_empty() { "(no subject)".to_string() } else { m.subject.clone() };
    let (label, class) = state_label(m.state);
    let id = m.id.clone();
    view! {
        <tr>
            <td>{who}</td>
            <td>
                <button class="link" on:click=move |_| opened.set(Some(id.clone()))>{subject}</button>
                {m.has_attachments.then(|| view! { <span class="attach-mark" title="Has attachments">" 📎"</span> })}
                <div class="snippet">{m.snippet.clone()}</div>
            </td>
            <td>{local_time(m.received_at, &zone)}</td>
            <td><span class=format!("state {class}") title=m.last_error.clone().unwrap_or_default()>{label}</span></td>
        </tr>
    }
}

/// One message with its conversation, attachments and the answer buttons.
#[component]
fn Reader(
    id: String,
    owner: String,
    read_only: bool,
    zone: String,
    on_close: Callback<()>,
    on_answer: Callback<Draft>,
) -> impl IntoView {
    let current = RwSignal::new(id);
    let message = RwSignal::new(Load::<ArchiveMessage>::Loading);
    let owner = StoredValue::new(owner);
    let images = RwSignal::new(false);
    Effect::new(move |_| {
        let encoded = js_sys::encode_uri_component(&current.get()).as_string().unwrap_or_default();
        let extra = if images.get() { "&images=true" } else { "" };
        let own = owner_param(&owner.get_value(), false);
        load_into(message, format!("/archive/{encoded}?x=1{own}{extra}"));
    });
    let me = use_session().me().and_then(|m| m.user).map(|u| u.email).unwrap_or_default();
    let me = StoredValue::new(me);
    let failure = RwSignal::new(None::<api::ApiError>);
    let download = move |id: String, index: usize, name: String| {
        let path = format!(
            "/archive/{}/attachments/{index}{}",
            js_sys::encode_uri_component(&id).as_string().unwrap_or_default(),
            owner_param(&owner.get_value(), true)
        );
        spawn_local(async move {
            match api::get_bytes(&path).await {
                Ok(bytes) => save_file(&name, &bytes),
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let zone = StoredValue::new(zone);
    let body = move || match message.get() {
        Load::Loading => view! { <Spinner/> }.into_any(),
        Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
        Load::Ready(m) => {
            let (label, class) = state_label(m.item.state);
            let answer = m.clone();
            let answer_all = m.clone();
            let forward = m.clone();
            view! {
                <dl class="facts">
                    <dt>"From"</dt><dd>{m.item.sender.clone()}</dd>
                    <dt>"To"</dt><dd>{m.item.recipients.join(", ")}</dd>
                    <dt>"Subject"</dt><dd id="reader-subject">{m.item.subject.clone()}</dd>
                    <dt>"Received"</dt><dd>{local_time(m.item.received_at, &zone.get_value())}</dd>
                    <dt>"Delivery"</dt><dd><span class=format!("state {class}")>{label}</span>
                        {m.item.last_error.clone().map(|e| view! { <span class="muted">{format!(" ({e})")}</span> })}</dd>
                </dl>
                {(!read_only).then(|| view! {
                    <div class="toolbar" role="toolbar" aria-label="Answer">
                        <button class="btn btn-primary" id="reply" on:click=move |_| on_answer.run(Draft::reply(&answer, &me.get_value(), false))>"Reply"</button>
                        <button class="btn" id="reply-all" on:click=move |_| on_answer.run(Draft::reply(&answer_all, &me.get_value(), true))>"Reply all"</button>
                        <button class="btn" id="forward" on:click=move |_| on_answer.run(Draft::forward(&forward))>"Forward"</button>
                    </div>
                })}
                {(!m.attachments.is_empty()).then(|| {
                    let msg_id = m.item.id.clone();
                    view! {
                        <h3>"Attachments"</h3>
                        <ul class="attachments">
                            {m.attachments.iter().enumerate().map(|(i, a)| {
                                let (id, name) = (msg_id.clone(), a.name.clone());
                                view! { <li>
                                    <button class="btn" on:click=move |_| download(id.clone(), i, name.clone())>{format!("Download {}", a.name)}</button>
                                    <span class="muted">{format!(" {} · {} bytes", a.content_type, a.size)}</span>
                                </li> }
                            }).collect_view()}
                        </ul>
                    }
                })}
                <MessageBody preview=m.preview.clone() on_show_images=Callback::new(move |_| images.set(true))/>
                {(m.thread.len() > 1).then(|| view! {
                    <h3>"Conversation"</h3>
                    <ol class="thread">
                        {m.thread.iter().map(|t| {
                            let tid = t.id.clone();
                            let this = t.id == m.item.id;
                            view! { <li class:current=this>
                                <button class="link" on:click=move |_| current.set(tid.clone())>
                                    {format!("{} — {}", t.sender, if t.subject.is_empty() { "(no subject)" } else { t.subject.as_str() })}
                                </button>
                                <span class="muted">{format!(" {}", local_time(t.received_at, &zone.get_value()))}</span>
                            </li> }
                        }).collect_view()}
                    </ol>
                })}
            }.into_any()
        }
    };
    // Keyboard users land on the message they opened (Escape closes it again).
    let pane = NodeRef::<leptos::html::Section>::new();
    Effect::new(move |_| {
        if let Some(el) = pane.get() {
            let _ = el.focus();
            el.scroll_into_view();
        }
    });
    view! {
        <section class="panel" id="reader" aria-label="Message" tabindex="-1" node_ref=pane
            on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Escape" { on_close.run(()) }>
            <div class="panel-head">
                <h2>"Message"</h2>
                <button class="btn" on:click=move |_| on_close.run(())>"Close"</button>
            </div>
            {move || failure.get().map(|e| view! { <ErrorNote error=e/> })}
            {body}
        </section>
    }
}

/// Splits "a@x, b@y; c@z" into addresses.
fn address_list(text: &str) -> Vec<String> {
    text.split([',', ';', ' ', '\n']).map(str::trim).filter(|a| !a.is_empty()).map(str::to_string).collect()
}

/// The compose form: recipients, subject, text, files; a forward's attachments go along.
#[component]
fn Compose(draft: Draft, on_sent: Callback<()>, on_cancel: Callback<()>) -> impl IntoView {
    let to = RwSignal::new(draft.to.clone());
    let cc = RwSignal::new(draft.cc.clone());
    let subject = RwSignal::new(draft.subject.clone());
    let text = RwSignal::new(draft.text.clone());
    let files = RwSignal::new(Vec::<NewAttachment>::new());
    let failure = RwSignal::new(None::<api::ApiError>);
    let sending = RwSignal::new(false);
    let (in_reply_to, forward_of) = (draft.in_reply_to.clone(), draft.forward_of.clone());
    let on_files = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(list) = input.files() else { return };
        for i in 0..list.length() {
            let Some(file) = list.get(i) else { continue };
            spawn_local(async move {
                let Ok(buffer) = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await else { return };
                let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
                let data_base64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes);
                let content_type = Some(file.type_()).filter(|t| !t.is_empty());
                files.update(|f| f.push(NewAttachment { name: file.name(), content_type, data_base64 }));
            });
        }
    };
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = ArchiveSendRequest {
            to: address_list(&to.get()),
            cc: address_list(&cc.get()),
            subject: subject.get(),
            text: text.get(),
            in_reply_to: in_reply_to.clone(),
            forward_of: forward_of.clone(),
            attachments: files.get(),
        };
        sending.set(true);
        spawn_local(async move {
            match api::post::<_, ArchiveSendResult>("/archive/send", &body).await {
                Ok(_) => {
                    failure.set(None);
                    on_sent.run(());
                }
                Err(e) => failure.set(Some(e)),
            }
            sending.set(false);
        });
    };
    let err = move |field: &'static str| Signal::derive(move || crate::components::field_error(&failure.get(), field));
    let carried = draft.carried.clone();
    view! {
        <section class="panel" id="composer" aria-label="Write a message">
            <h2>{if draft.in_reply_to.is_some() { "Reply" } else if draft.forward_of.is_some() { "Forward" } else { "New message" }}</h2>
            <form on:submit=send>
                <Field id="compose-to" label="To (separate addresses with commas)" value=to error=err("to")/>
                <Field id="compose-cc" label="Cc" value=cc error=err("cc")/>
                <Field id="compose-subject" label="Subject" value=subject error=err("subject")/>
                <div class="field">
                    <label for="compose-text">"Message"</label>
                    <textarea id="compose-text" rows="12" prop:value=move || text.get()
                        on:input=move |ev| text.set(event_target_value(&ev))></textarea>
                </div>
                {(!carried.is_empty()).then(|| view! {
                    <p class="muted">{format!("Forwarded attachments: {}", carried.join(", "))}</p>
                })}
                <div class="field">
                    <label for="compose-files">"Attach files"</label>
                    <input id="compose-files" type="file" multiple=true on:change=on_files/>
                    <ul>{move || files.get().into_iter().map(|f| view! { <li>{f.name}</li> }).collect_view()}</ul>
                </div>
                {move || crate::components::general_error(&failure.get(), &["to", "cc", "subject"]).map(|e| view! { <ErrorNote error=e/> })}
                <div class="toolbar">
                    <button class="btn btn-primary" type="submit" id="send" disabled=move || sending.get()>"Send"</button>
                    <button class="btn" type="button" on:click=move |_| on_cancel.run(())>"Discard"</button>
                </div>
            </form>
        </section>
    }
}
