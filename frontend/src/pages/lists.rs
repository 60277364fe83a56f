//! Allow/block lists at the level a screen shows (a user's own, a domain's, an
//! organisation's, an MSP's, the platform's): search, paging (both done by the API), add and
//! remove. One component for every level.

use leptos::prelude::*;
use leptos::task::spawn_local;
use moat_openapi::{CreateListEntry, ListEntry, ListEntryList, ListKind, ListLevel, ListScope, wire_name};
use uuid::Uuid;

use crate::api;
use crate::components::{DeleteButton, Field, InlineForm, PagedList, field_error};

#[component]
pub fn ListsPanel(
    level: ListLevel,
    #[prop(optional)] scope_id: Option<Uuid>,
    #[prop(into)] title: String,
) -> impl IntoView {
    let search = RwSignal::new(String::new());
    let query = RwSignal::new(String::new());
    let pattern = RwSignal::new(String::new());
    let kind = RwSignal::new(wire_name(&ListKind::Block));
    let failure = RwSignal::new(None::<api::ApiError>);
    let reload = RwSignal::new(0u32);
    let base = {
        let mut path = format!("/lists?level={}", wire_name(&level));
        if let Some(id) = scope_id {
            path.push_str(&format!("&scope_id={id}"));
        }
        path
    };
    let base = StoredValue::new(base);
    let add = move |()| {
        let body = CreateListEntry {
            scope: ListScope { level, id: scope_id },
            kind: moat_openapi::from_wire_name(&kind.get()).unwrap_or(ListKind::Block),
            pattern: pattern.get().trim().to_string(),
        };
        spawn_local(async move {
            match api::post::<_, ListEntry>("/lists", &body).await {
                Ok(_) => {
                    failure.set(None);
                    pattern.set(String::new());
                    reload.update(|n| *n += 1);
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let slug = wire_name(&level);
    let (search_id, pattern_id, kind_id) =
        (format!("lists-{slug}-search"), format!("lists-{slug}-pattern"), format!("lists-{slug}-kind"));
    view! {
        <section class="panel lists-panel" data-level=slug>
            <h2>{title}</h2>
            <form class="inline-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                query.set(search.get().trim().to_string());
            }>
                <Field id=search_id label="Find an entry" value=search error=Signal::derive(|| None::<String>)/>
                <button class="btn" type="submit">"Search"</button>
            </form>
            {move || {
                reload.track();
                let q = query.get();
                let path = if q.is_empty() {
                    base.get_value()
                } else {
                    format!("{}&q={}", base.get_value(), js_sys::encode_uri_component(&q))
                };
                let list = PagedList::<ListEntryList>::new(&path);
                list.view("No entries.", move |l| view! {
                    <table class="table list-entries">
                        <thead><tr><th scope="col">"Pattern"</th><th scope="col">"Kind"</th><th scope="col">"Added"</th><th scope="col"></th></tr></thead>
                        <tbody>
                            {l.items.into_iter().map(|e| {
                                let id = e.id;
                                let remove = Callback::new(move |()| spawn_local(async move {
                                    match api::delete(&format!("/lists/{id}")).await {
                                        Ok(()) => list.reload(),
                                        Err(e) => failure.set(Some(e)),
                                    }
                                }));
                                view! {
                                    <tr>
                                        <td>{e.pattern.clone()}</td>
                                        <td>{wire_name(&e.kind)}</td>
                                        <td>{e.created_at.format("%Y-%m-%d").to_string()}</td>
                                        <td>{(e.scope.level == level).then(|| view! { <DeleteButton label="Remove" on_confirm=remove/> })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any())
            }}
            <InlineForm submit="Add entry" failure fields=&["pattern"] on_submit=Callback::new(add)>
                <Field id=pattern_id label="Pattern" value=pattern
                    hint="an address, @example.com, @.example.com (with its subdomains), an IP or a network"
                    error=Signal::derive(move || field_error(&failure.get(), "pattern"))/>
                <div class="field">
                    <label for=kind_id.clone()>"Kind"</label>
                    <select id=kind_id on:change=move |ev| kind.set(event_target_value(&ev)) prop:value=move || kind.get()>
                        <option value="block">"Block"</option>
                        <option value="allow">"Allow"</option>
                    </select>
                </div>
            </InlineForm>
        </section>
    }
}

/// A user's reverse whitelist: outside addresses it wrote to, whose mail skips spam
/// filtering for it; each can be removed.
#[component]
pub fn CorrespondentsPanel(user_id: Uuid) -> impl IntoView {
    let list = PagedList::<moat_openapi::CorrespondentList>::new(&format!("/users/{user_id}/correspondents"));
    let failure = RwSignal::new(None::<api::ApiError>);
    view! {
        <section class="panel" id="correspondents">
            <h2>"People you wrote to"</h2>
            <p class="muted">"Mail from addresses you wrote to recently is not filtered as spam for you. Remove one to filter its mail again."</p>
            {move || failure.get().map(|e| view! { <crate::components::ErrorNote error=e/> })}
            {list.view("Nobody yet: addresses appear here when you send mail through Moat.", move |l| view! {
                <table class="table" id="correspondent-table">
                    <thead><tr><th scope="col">"Address"</th><th scope="col">"Last written to"</th><th scope="col"></th></tr></thead>
                    <tbody>
                        {l.items.into_iter().map(|c| {
                            let address = c.address.clone();
                            let remove = Callback::new(move |()| {
                                let path = format!("/users/{user_id}/correspondents?address={}", js_sys::encode_uri_component(&address));
                                spawn_local(async move {
                                    match api::delete(&path).await {
                                        Ok(()) => list.reload(),
                                        Err(e) => failure.set(Some(e)),
                                    }
                                });
                            });
                            view! {
                                <tr>
                                    <td>{c.address.clone()}</td>
                                    <td>{c.last_seen.format("%Y-%m-%d").to_string()}</td>
                                    <td><DeleteButton label="Remove" on_confirm=remove/></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any())}
        </section>
    }
}
