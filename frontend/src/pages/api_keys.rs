//! API keys of an organisation or an MSP (for ConnectWise/Kaseya-style integrations and
//! scripts): create (full or read-only; the key is shown once), list, revoke.

use leptos::prelude::*;
use leptos::task::spawn_local;
use moat_openapi::{ApiKeyAccess, ApiKeyList, CreateApiKey, CreatedApiKey, KeyScope};

use crate::api;
use crate::components::{Check, DeleteButton, Field, InlineForm, PagedList, field_error};
use crate::validate;

#[component]
pub fn ApiKeysPanel(scope: KeyScope) -> impl IntoView {
    let list = PagedList::<ApiKeyList>::new("/api-keys");
    let name = RwSignal::new(String::new());
    let name_err = RwSignal::new(None::<String>);
    let read_only = RwSignal::new(false);
    let failure = RwSignal::new(None::<api::ApiError>);
    let created = RwSignal::new(None::<CreatedApiKey>);
    let owner = scope.id;
    let create = move |()| {
        name_err.set(validate::name("Name", &name.get()).err());
        if name_err.get().is_some() {
            return;
        }
        let access = if read_only.get() { ApiKeyAccess::ReadOnly } else { ApiKeyAccess::Full };
        let body = CreateApiKey { name: name.get().trim().to_string(), scope: scope.clone(), access };
        spawn_local(async move {
            match api::post::<_, CreatedApiKey>("/api-keys", &body).await {
                Ok(key) => {
                    failure.set(None);
                    name.set(String::new());
                    read_only.set(false);
                    created.set(Some(key));
                    list.reload();
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let revoke = move |id: uuid::Uuid| {
        Callback::new(move |_| {
            spawn_local(async move {
                match api::delete(&format!("/api-keys/{id}")).await {
                    Ok(()) => {
                        created.set(None);
                        list.reload();
                    }
                    Err(e) => failure.set(Some(e)),
                }
            });
        })
    };
    view! {
        <section class="panel">
            <h2>"API keys"</h2>
            <p class="hint">"For integrations and scripts: send as Authorization: Bearer moat_…. A key acts with an admin's reach here; a read-only key may only read (GET)."</p>
            {move || created.get().map(|k| view! {
                <div class="alert alert-ok" role="status">
                    <strong>{format!("Key \u{201c}{}\u{201d} created. ", k.key.name)}</strong>
                    "Copy it now; it is not shown again: " <code class="secret">{k.secret}</code>
                </div>
            })}
            {list.view("No API keys.", move |l| view! {
                <table class="table" id="api-keys-table">
                    <thead><tr><th scope="col">"Name"</th><th scope="col">"Starts with"</th><th scope="col">"Access"</th><th scope="col">"Created"</th>
                        <th scope="col">"Last used"</th><th scope="col"></th></tr></thead>
                    <tbody>
                        {l.items.into_iter().filter(|k| k.scope.id == owner).map(|k| view! {
                            <tr>
                                <td>{k.name.clone()}</td>
                                <td><code>{format!("{}…", k.prefix)}</code></td>
                                <td>{match k.access { ApiKeyAccess::Full => "full", ApiKeyAccess::ReadOnly => "read-only" }}</td>
                                <td>{k.created_at.format("%Y-%m-%d").to_string()}</td>
                                <td>{k.last_used_at.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "never".into())}</td>
                                <td><DeleteButton label=format!("Revoke {}", k.name) on_confirm=revoke(k.id)/></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any())}
            <InlineForm submit="Create key" failure=failure fields=&["name"] on_submit=Callback::new(create)>
                <Field id="key-name" label="Key name" value=name hint="What uses it, e.g. ConnectWise"
                    error=Signal::derive(move || name_err.get().or_else(|| field_error(&failure.get(), "name")))/>
                <Check label="Read-only" value=read_only hint="GET requests only: lists, usage, statistics"/>
            </InlineForm>
        </section>
    }
}
