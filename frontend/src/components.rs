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
pub fn Pager(page: RwSignal<u32>, per_page: u32, total: Signal<i64>) -> impl IntoView {
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
                {move || format!("Page {} of {} · {} total", page.get(), pages(), total.get())}
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

/// Shows `page` only to callers with at least `min` role: anonymous callers go to the login
/// page, callers below the role see "Not found" (the API would answer 404 too).
pub fn guarded<V: IntoView + 'static>(
    min: Role,
    page: impl Fn() -> V + Send + Sync + Clone + 'static,
) -> impl IntoView {
    let session = use_session();
    move || match session.auth.get() {
        Auth::Checking => view! { <Spinner/> }.into_any(),
        Auth::Anonymous => view! { <Redirect path="/login"/> }.into_any(),
        Auth::Caller(me) if me.role >= min => page().into_any(),
        Auth::Caller(_) => view! { <NotFound/> }.into_any(),
    }
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
