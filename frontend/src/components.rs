//! Building blocks shared by the screens: loading and error states, pager, form fields,
//! a two-step delete button, and the page guard.

use leptos::prelude::*;
use leptos_router::components::Redirect;
use moat_openapi::Role;

use crate::api::ApiError;
use crate::session::{Auth, use_session};

/// The state of a loaded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Load<T> {
    Loading,
    Ready(T),
    Failed(ApiError),
}

impl<T> From<Result<T, ApiError>> for Load<T> {
    fn from(r: Result<T, ApiError>) -> Self {
        match r {
            Ok(v) => Load::Ready(v),
            Err(e) => Load::Failed(e),
        }
    }
}

#[component]
pub fn Spinner(#[prop(optional, into)] label: Option<String>) -> impl IntoView {
    let label = label.unwrap_or_else(|| "Loading…".into());
    view! {
        <div class="spinner" role="status" aria-live="polite">
            <span class="spinner-dot" aria-hidden="true"></span>
            <span>{label}</span>
        </div>
    }
}

#[component]
pub fn ErrorNote(error: ApiError) -> impl IntoView {
    view! {
        <div class="alert alert-error" role="alert">
            <strong>{if error.status == 0 { "Network problem".to_string() } else { "Something went wrong".to_string() }}</strong>
            " "
            {error.message}
        </div>
    }
}

#[component]
pub fn Empty(#[prop(into)] text: String) -> impl IntoView {
    view! { <p class="empty">{text}</p> }
}

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section class="panel notfound">
            <h1>"Not found"</h1>
            <p>"There is nothing here, or you do not have access to it."</p>
            <a href="/">"Go to the start page"</a>
        </section>
    }
}

/// Previous/next paging over a list with a total.
#[component]
pub fn Pager(page: RwSignal<u32>, per_page: u32, total: Signal<i64>, capped: Signal<bool>) -> impl IntoView {
    let pages = move || ((total.get().max(0) as u32).div_ceil(per_page)).max(1);
    view! {
        <nav class="pager" aria-label="Pages">
            <button
                class="btn btn-ghost"
                prop:disabled=move || { page.get() <= 1 }
                on:click=move |_| page.update(|p| *p = p.saturating_sub(1).max(1))
            >
                "← Previous"
            </button>
            <span class="pager-info">
                {move || {
                    // A capped search total means "at least": say so.
                    let more = if capped.get() { "+" } else { "" };
                    format!("Page {} of {} · {}{more} total", page.get(), pages(), total.get())
                }}
            </span>
            <button
                class="btn btn-ghost"
                prop:disabled=move || { page.get() >= pages() }
                on:click=move |_| page.update(|p| *p += 1)
            >
                "Next →"
            </button>
        </nav>
    }
}

/// A labelled text input bound to `value`, showing `error` under it.
#[component]
pub fn Field(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<String>>,
    #[prop(optional, into)] kind: Option<String>,
    #[prop(optional, into)] hint: Option<String>,
    #[prop(optional)] autocomplete: Option<&'static str>,
) -> impl IntoView {
    let err_id = format!("{id}-error");
    let described = err_id.clone();
    view! {
        <div class="field" class:field-invalid=move || error.get().is_some()>
            <label for=id.clone()>{label}</label>
            <input
                id=id
                type=kind.unwrap_or_else(|| "text".into())
                autocomplete=autocomplete.unwrap_or("off")
                aria-describedby=described
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" }
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
            {hint.map(|h| view! { <small class="hint">{h}</small> })}
            <small class="field-error" id=err_id>{move || error.get().unwrap_or_default()}</small>
        </div>
    }
}

/// A delete button that asks for a second click instead of a browser dialog.
#[component]
pub fn DeleteButton(#[prop(into)] label: String, on_confirm: Callback<()>) -> impl IntoView {
    let armed = RwSignal::new(false);
    view! {
        <Show
            when=move || armed.get()
            fallback={
                let label = label.clone();
                move || view! { <button class="btn btn-danger-ghost" on:click=move |_| armed.set(true)>{label.clone()}</button> }
            }
        >
            <span class="confirm">
                "Are you sure? "
                <button class="btn btn-danger" on:click=move |_| on_confirm.run(())>"Yes, delete"</button>
                <button class="btn btn-ghost" on:click=move |_| armed.set(false)>"Cancel"</button>
            </span>
        </Show>
    }
}

/// A labelled checkbox bound to `value`.
#[component]
pub fn Check(
    #[prop(into)] label: String,
    value: RwSignal<bool>,
    #[prop(optional, into)] hint: Option<String>,
) -> impl IntoView {
    view! {
        <label class="check">
            <input type="checkbox" prop:checked=move || value.get() on:change=move |ev| value.set(event_target_checked(&ev))/>
            " " {label}
            {hint.map(|h| view! { <small class="muted">" — " {h}</small> })}
        </label>
    }
}

/// The create form under a list (name a thing, press the button): the API's errors that no
/// field shows above the fields, the submit button after them.
#[component]
pub fn InlineForm(
    #[prop(into)] submit: String,
    failure: RwSignal<Option<ApiError>>,
    /// The fields that show their own errors.
    fields: &'static [&'static str],
    on_submit: Callback<()>,
    children: Children,
) -> impl IntoView {
    view! {
        <form class="inline-form" novalidate on:submit=move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            on_submit.run(());
        }>
            {move || general_error(&failure.get(), fields).map(|e| view! { <ErrorNote error=e/> })}
            {children()}
            <button class="btn btn-primary" type="submit">{submit}</button>
        </form>
    }
}

/// Shows `page` only to callers with at least `min` role: anonymous callers go to the login
/// page, callers below the role see "Not found" (the API would answer 404 too).
pub fn guarded<V: IntoView + 'static>(
    min: Role,
    page: impl Fn() -> V + Send + Sync + Clone + 'static,
) -> impl IntoView {
    let session = use_session();
    move || match session.auth.get() {
        Auth::Checking => view! { <Spinner/> }.into_any(),
        // After signing in, the login page brings the reader back here (a digest link's
        // message, say).
        Auth::Anonymous => view! { <Redirect path=login_then_back()/> }.into_any(),
        Auth::Caller(me) if me.role >= min => page().into_any(),
        Auth::Caller(_) => view! { <NotFound/> }.into_any(),
    }
}

/// `/login?next=<this page>`.
fn login_then_back() -> String {
    let here = web_sys::window()
        .and_then(|w| Some(format!("{}{}", w.location().pathname().ok()?, w.location().search().ok()?)))
        .unwrap_or_default();
    if here.is_empty() || here == "/" {
        return "/login".into();
    }
    format!("/login?next={}", js_sys::encode_uri_component(&here))
}

/// Where to go after signing in: `next` when it is a path of this app (never another site).
pub fn safe_next(next: Option<String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.starts_with("/login") => n,
        _ => "/".into(),
    }
}

/// `at` as the clock in `zone` (IANA) shows it, e.g. "2 Dec 2026, 08:00", using the
/// browser's time-zone data; UTC when the zone is unknown.
pub fn local_time(at: chrono::DateTime<chrono::Utc>, zone: &str) -> String {
    let options = js_sys::Object::new();
    let set = |k: &str, v: &str| {
        let _ = js_sys::Reflect::set(&options, &k.into(), &v.into());
    };
    set("dateStyle", "medium");
    set("timeStyle", "short");
    set("timeZone", zone);
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at.timestamp_millis() as f64));
    let shown = js_sys::Reflect::get(&date, &"toLocaleString".into())
        .ok()
        .and_then(|f| wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(f).ok())
        .and_then(|f| f.call2(&date, &"en-GB".into(), &options).ok())
        .and_then(|v| v.as_string());
    shown.unwrap_or_else(|| at.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// The message of the API error that concerns `field`, if any.
pub fn field_error(err: &Option<ApiError>, field: &str) -> Option<String> {
    err.as_ref().filter(|e| e.field.as_deref() == Some(field)).map(|e| e.message.clone())
}

/// An API error that no form field shows.
pub fn general_error(err: &Option<ApiError>, fields: &[&str]) -> Option<ApiError> {
    err.clone().filter(|e| e.field.as_deref().is_none_or(|f| !fields.contains(&f)))
}

/// Loads `path` into `target` (set to `Loading` first).
pub fn load_into<T>(target: RwSignal<Load<T>>, path: String)
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    target.set(Load::Loading);
    leptos::task::spawn_local(async move { target.set(api_get::<T>(&path).await.into()) });
}

async fn api_get<T: serde::de::DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    crate::api::get(path).await
}

/// A list response with a total (for paging).
pub trait Paged {
    fn total(&self) -> i64;
    /// The total stopped counting (searches count exactly up to a limit).
    fn capped(&self) -> bool {
        false
    }
    fn is_empty(&self) -> bool;
}

impl<T> Paged for moat_openapi::Page<T> {
    fn total(&self) -> i64 {
        self.total
    }
    fn capped(&self) -> bool {
        self.is_capped()
    }
    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// One paged list screen's state: the page, the loaded page, and where it comes from.
pub struct PagedList<T: Send + Sync + 'static> {
    pub page: RwSignal<u32>,
    pub data: RwSignal<Load<T>>,
    /// The list URL up to (and including) `page=`.
    base: StoredValue<String>,
}

impl<T: Send + Sync + 'static> Clone for PagedList<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for PagedList<T> {}

impl<T> PagedList<T>
where
    T: serde::de::DeserializeOwned + Paged + Clone + Send + Sync + 'static,
{
    pub const PER_PAGE: u32 = 20;

    /// Loads `path` (which may already carry query parameters) page by page.
    pub fn new(path: &str) -> Self {
        let sep = if path.contains('?') { '&' } else { '?' };
        let list = PagedList {
            page: RwSignal::new(1),
            data: RwSignal::new(Load::Loading),
            base: StoredValue::new(format!("{path}{sep}per_page={}&page=", Self::PER_PAGE)),
        };
        Effect::new(move |_| {
            list.page.track();
            list.reload();
        });
        list
    }

    /// Fetches the current page again (after a create or delete).
    pub fn reload(self) {
        load_into(self.data, format!("{}{}", self.base.get_value(), self.page.get_untracked()));
    }

    pub fn total(self) -> Signal<i64> {
        Signal::derive(move || self.data.with(|l| if let Load::Ready(l) = l { l.total() } else { 0 }))
    }

    pub fn capped(self) -> Signal<bool> {
        Signal::derive(move || self.data.with(|l| matches!(l, Load::Ready(l) if l.capped())))
    }

    /// The loading, error, empty or loaded state, with the pager under it.
    pub fn view(self, empty: &'static str, render: impl Fn(T) -> AnyView + Send + Sync + 'static) -> impl IntoView {
        let body = move || match self.data.get() {
            Load::Loading => view! { <Spinner/> }.into_any(),
            Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
            Load::Ready(l) if l.is_empty() => view! { <Empty text=empty/> }.into_any(),
            Load::Ready(l) => render(l),
        };
        view! {
            {body}
            <Pager page=self.page per_page=Self::PER_PAGE total=self.total() capped=self.capped()/>
        }
    }
}

/// A resource page: loads `path`, shows "Not found" for a missing (or malformed) id, and
/// hands the loaded value and its signal (to update after an edit) to `render`.
pub fn detail<T, V>(path: String, render: impl Fn(T, RwSignal<Load<T>>) -> V + Send + Sync + 'static) -> impl IntoView
where
    T: serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let loaded = RwSignal::new(Load::<T>::Loading);
    load_into(loaded, path);
    move || match loaded.get() {
        Load::Loading => view! { <Spinner/> }.into_any(),
        Load::Failed(e) if e.is_not_found() || e.status == 400 => view! { <NotFound/> }.into_any(),
        Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
        Load::Ready(value) => render(value, loaded).into_any(),
    }
}

/// Renames a named resource (`PATCH path {"name"}`) and hands back the updated value.
#[component]
pub fn RenameForm<T>(#[prop(into)] id: String, path: String, initial: String, on_saved: Callback<T>) -> impl IntoView
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let name = RwSignal::new(initial);
    let name_err = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<ApiError>);
    let path = StoredValue::new(path);
    let rename = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        name_err.set(crate::validate::name("Name", &name.get()).err());
        if name_err.get().is_some() {
            return;
        }
        let body = serde_json::json!({ "name": name.get().trim() });
        leptos::task::spawn_local(async move {
            match crate::api::patch::<_, T>(&path.get_value(), &body).await {
                Ok(saved) => {
                    failure.set(None);
                    on_saved.run(saved);
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    view! {
        <form class="inline-form" on:submit=rename novalidate>
            {move || general_error(&failure.get(), &["name"]).map(|e| view! { <ErrorNote error=e/> })}
            <Field id=id label="Name" value=name
                error=Signal::derive(move || name_err.get().or_else(|| field_error(&failure.get(), "name")))/>
            <button class="btn" type="submit">"Rename"</button>
        </form>
    }
}

/// What a message shows, made safe by the API: the sanitized HTML in a sandboxed frame (no
/// script can run there even if one got through), else the text part; every link with its
/// real target, and remote images only when the reader asks.
#[component]
pub fn MessageBody(preview: moat_openapi::QuarantinePreview, on_show_images: Callback<()>) -> impl IntoView {
    let blocked = preview.remote_images_blocked;
    let links = preview.links.clone();
    view! {
        {(blocked > 0).then(|| view! {
            <p class="notice warning">{format!("{blocked} remote image(s) blocked. ")}
                <button class="btn" on:click=move |_| on_show_images.run(())>"Show remote images"</button>
            </p>
        })}
        {match (preview.html, preview.text) {
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
    }
}

/// Saves `bytes` as a file named `name` (through a temporary object URL: downloads need the
/// session's token, which a plain link cannot send).
pub fn save_file(name: &str, bytes: &[u8]) {
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/octet-stream");
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options) else { return };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
    let document = web_sys::window().and_then(|w| w.document());
    if let Some(anchor) = document
        .and_then(|d| d.create_element("a").ok())
        .and_then(|e| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlAnchorElement>(e).ok())
    {
        anchor.set_href(&url);
        anchor.set_download(name);
        anchor.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}
