//! Organisations: the list (MSP admins and above) and one organisation's page with its
//! domains and users.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use moat_openapi::{
    AllowedIp, AllowedIpList, CreateAllowedIp, CreateDomain, CreateOrg, CreateUser, Domain, DomainList, MspList, Org,
    OrgList as OrgPage_, Role, TlsMode, User, UserList,
};
use uuid::Uuid;

use crate::api;
use crate::components::{
    DeleteButton, ErrorNote, Field, InlineForm, Load, PagedList, RenameForm, detail, field_error, load_into,
};
use crate::session::use_session;
use crate::validate;

#[component]
pub fn OrgsPage() -> impl IntoView {
    view! { <OrgList msp_id=None/> }
}

/// Organisations (of one MSP when `msp_id` is set), paged, with a create form.
#[component]
pub fn OrgList(msp_id: Option<Uuid>) -> impl IntoView {
    let session = use_session();
    let list = PagedList::<OrgPage_>::new(&match msp_id {
        Some(m) => format!("/orgs?msp_id={m}"),
        None => "/orgs".into(),
    });

    // Platform admins pick the MSP when the list is not already one MSP's.
    let msps = RwSignal::new(Load::<MspList>::Loading);
    let chosen_msp = RwSignal::new(String::new());
    let needs_msp = msp_id.is_none() && session.at_least(Role::PlatformAdmin);
    if needs_msp {
        load_into(msps, "/msps?per_page=500".into());
    }

    let name = RwSignal::new(String::new());
    let name_err = RwSignal::new(None::<String>);
    let msp_err = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let create = move |()| {
        name_err.set(validate::name("Name", &name.get()).err());
        let msp = match msp_id {
            Some(m) => Some(m),
            None if needs_msp => chosen_msp.get().parse::<Uuid>().ok(),
            None => None,
        };
        msp_err.set((needs_msp && msp.is_none()).then(|| "Choose the MSP".to_string()));
        if name_err.get().is_some() || msp_err.get().is_some() {
            return;
        }
        let body = CreateOrg { name: name.get().trim().to_string(), msp_id: msp };
        spawn_local(async move {
            match api::post::<_, Org>("/orgs", &body).await {
                Ok(_) => {
                    failure.set(None);
                    name.set(String::new());
                    list.reload();
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };

    view! {
        <section class="panel">
            {if msp_id.is_some() { view! { <h2>"Organisations"</h2> }.into_any() } else { view! { <h1>"Organisations"</h1> }.into_any() }}
            {list.view("No organisations yet.", |l| view! {
                    <table class="table" id="org-table">
                        <thead><tr><th scope="col">"Name"</th><th scope="col">"Created"</th></tr></thead>
                        <tbody>
                            {l.items.into_iter().map(|o| view! {
                                <tr>
                                    <td><A href=format!("/orgs/{}", o.id)>{o.name.clone()}</A></td>
                                    <td>{o.created_at.format("%Y-%m-%d").to_string()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any())}
            <h3>"New organisation"</h3>
            <InlineForm submit="Create organisation" failure=failure fields=&["name", "msp_id"] on_submit=Callback::new(create)>
                <Field id="org-name" label="Organisation name" value=name
                    error=Signal::derive(move || name_err.get().or_else(|| field_error(&failure.get(), "name")))/>
                <Show when=move || needs_msp>
                    <div class="field" class:field-invalid=move || msp_err.get().is_some()>
                        <label for="org-msp">"MSP"</label>
                        <select id="org-msp" on:change=move |ev| chosen_msp.set(event_target_value(&ev))>
                            <option value="">"Choose…"</option>
                            {move || match msps.get() {
                                Load::Ready(l) => l.items.into_iter().map(|m| view! { <option value=m.id.to_string()>{m.name}</option> }).collect_view().into_any(),
                                _ => ().into_any(),
                            }}
                        </select>
                        <small class="field-error">{move || msp_err.get().unwrap_or_default()}</small>
                    </div>
                </Show>
            </InlineForm>
        </section>
    }
}

#[component]
pub fn OrgPage() -> impl IntoView {
    let params = use_params_map();
    let id = params.read_untracked().get("id").unwrap_or_default();
    detail(format!("/orgs/{id}"), |org: Org, loaded| {
        let id = org.id;
        view! {
            <OrgHeader org loaded/>
            <crate::pages::policy::OrgPolicyPanel org_id=id/>
            <crate::pages::alerts::AlertsPanel org_id=id/>
            {crate::session::use_session().me().filter(|me| me.role >= moat_openapi::Role::PlatformAdmin).map(|_| view! {
                <crate::pages::features::FeatureFlagsPanel level=moat_openapi::FeatureLevel::Org scope_id=id/>
            })}
            <crate::pages::lists::ListsPanel level=moat_openapi::ListLevel::Org scope_id=id title="Allow and block list of the organisation"/>
            <Domains org_id=id/>
            <RelayServers org_id=id/>
            <Users org_id=id/>
            <crate::pages::api_keys::ApiKeysPanel scope=moat_openapi::KeyScope { level: moat_openapi::KeyScopeLevel::Org, id }/>
        }
    })
}

#[component]
fn OrgHeader(org: Org, loaded: RwSignal<Load<Org>>) -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let id = org.id;
    let failure = RwSignal::new(None::<api::ApiError>);
    let delete = Callback::new(move |_| {
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::delete(&format!("/orgs/{id}")).await {
                Ok(()) => navigate("/orgs", Default::default()),
                Err(e) => failure.set(Some(e)),
            }
        });
    });
    view! {
        <section class="panel">
            <Show when=move || session.at_least(Role::MspAdmin)>
                <p class="crumbs"><A href="/orgs">"Organisations"</A></p>
            </Show>
            <h1>{org.name.clone()}</h1>
            <RenameForm id="org-rename" path=format!("/orgs/{id}") initial=org.name.clone()
                on_saved=Callback::new(move |o: Org| loaded.set(Load::Ready(o)))/>
            {move || failure.get().map(|e| view! { <ErrorNote error=e/> })}
            <Show when=move || session.at_least(Role::MspAdmin)>
                <DeleteButton label="Delete organisation" on_confirm=delete/>
            </Show>
        </section>
    }
}

#[component]
fn Domains(org_id: Uuid) -> impl IntoView {
    let list = PagedList::<DomainList>::new(&format!("/orgs/{org_id}/domains"));
    let name = RwSignal::new(String::new());
    let host = RwSignal::new(String::new());
    let port = RwSignal::new("25".to_string());
    let errs = [RwSignal::new(None::<String>), RwSignal::new(None::<String>), RwSignal::new(None::<String>)];
    let failure = RwSignal::new(None::<api::ApiError>);
    let create = move |()| {
        errs[0].set(validate::domain(&name.get()).err());
        errs[1].set(validate::host(&host.get()).err());
        let p = validate::port(&port.get());
        errs[2].set(p.clone().err());
        let (Ok(p), true) = (p, errs.iter().all(|e| e.get().is_none())) else { return };
        let body = CreateDomain {
            name: name.get().trim().to_string(),
            destination_host: host.get().trim().to_string(),
            destination_port: p,
            tls_mode: Some(TlsMode::Opportunistic),
            inbound_enabled: None,
            outbound_enabled: None,
            maintenance_banner: None,
        };
        spawn_local(async move {
            match api::post::<_, Domain>(&format!("/orgs/{org_id}/domains"), &body).await {
                Ok(_) => {
                    failure.set(None);
                    name.set(String::new());
                    host.set(String::new());
                    list.reload();
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    view! {
        <section class="panel">
            <h2>"Domains"</h2>
            {list.view("No domains yet: add the first one below.", |l| view! {
                    <table class="table" id="domain-table">
                        <thead><tr><th scope="col">"Domain"</th><th scope="col">"Delivers to"</th><th scope="col">"TLS"</th><th scope="col">"Inbound"</th></tr></thead>
                        <tbody>
                            {l.items.into_iter().map(|d| view! {
                                <tr>
                                    <td><A href=format!("/domains/{}", d.id)>{d.name.clone()}</A></td>
                                    <td>{format!("{}:{}", d.destination_host, d.destination_port)}</td>
                                    <td>{moat_openapi::wire_name(&d.tls_mode)}</td>
                                    <td>{if d.inbound_enabled { "on" } else { "off" }}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any())}
            <h3>"Add a domain"</h3>
            <InlineForm submit="Add domain" failure=failure fields=&["name", "destination_host", "destination_port"] on_submit=Callback::new(create)>
                <Field id="domain-name" label="Domain" value=name
                    error=Signal::derive(move || errs[0].get().or_else(|| field_error(&failure.get(), "name")))/>
                <Field id="domain-host" label="Mail server" value=host hint="Host name or IP of the customer's server"
                    error=Signal::derive(move || errs[1].get().or_else(|| field_error(&failure.get(), "destination_host")))/>
                <Field id="domain-port" label="Port" value=port kind="number"
                    error=Signal::derive(move || errs[2].get().or_else(|| field_error(&failure.get(), "destination_port")))/>
            </InlineForm>
        </section>
    }
}

/// The organisation's own mail servers, which may relay outbound mail through Moat as the
/// organisation's domains.
#[component]
fn RelayServers(org_id: Uuid) -> impl IntoView {
    let list = PagedList::<AllowedIpList>::new(&format!("/orgs/{org_id}/allowed-ips"));
    let cidr = RwSignal::new(String::new());
    let cidr_err = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let add = move |()| {
        let value = cidr.get().trim().to_string();
        cidr_err.set(value.is_empty().then(|| "Enter the address of your mail server".to_string()));
        if cidr_err.get().is_some() {
            return;
        }
        spawn_local(async move {
            match api::post::<_, AllowedIp>(&format!("/orgs/{org_id}/allowed-ips"), &CreateAllowedIp { cidr: value })
                .await
            {
                Ok(_) => {
                    failure.set(None);
                    cidr.set(String::new());
                    list.reload();
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let remove = move |id: Uuid| {
        Callback::new(move |_| {
            spawn_local(async move {
                match api::delete(&format!("/orgs/{org_id}/allowed-ips/{id}")).await {
                    Ok(()) => list.reload(),
                    Err(e) => failure.set(Some(e)),
                }
            });
        })
    };
    view! {
        <section class="panel">
            <h2>"Relay servers"</h2>
            <p class="hint">
                "Your own mail servers may send outbound mail through Moat, as addresses of this \
                 organisation's domains only. Name each server (or a network of at most 256 addresses)."
            </p>
            {list.view("No relay servers: outbound mail through Moat is off.", move |l| view! {
                    <table class="table" id="relay-table">
                        <thead><tr><th scope="col">"Address"</th><th scope="col">"Added"</th><th scope="col"></th></tr></thead>
                        <tbody>
                            {l.items.into_iter().map(|ip| view! {
                                <tr>
                                    <td>{ip.cidr.clone()}</td>
                                    <td>{ip.created_at.format("%Y-%m-%d").to_string()}</td>
                                    <td><DeleteButton label="Remove" on_confirm=remove(ip.id)/></td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any())}
            <InlineForm submit="Add relay server" failure=failure fields=&["cidr"] on_submit=Callback::new(add)>
                <Field id="relay-cidr" label="Server address" value=cidr hint="An IP address, or a network such as 192.0.2.0/28"
                    error=Signal::derive(move || cidr_err.get().or_else(|| field_error(&failure.get(), "cidr")))/>
            </InlineForm>
        </section>
    }
}

#[component]
fn Users(org_id: Uuid) -> impl IntoView {
    let list = PagedList::<UserList>::new(&format!("/orgs/{org_id}/users"));
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let role = RwSignal::new("user".to_string());
    let (email_err, name_err) = (RwSignal::new(None::<String>), RwSignal::new(None::<String>));
    let failure = RwSignal::new(None::<api::ApiError>);
    let create = move |()| {
        email_err.set(validate::email(&email.get()).err());
        name_err.set(validate::name("Name", &name.get()).err());
        if email_err.get().is_some() || name_err.get().is_some() {
            return;
        }
        let body = CreateUser {
            email: email.get().trim().to_string(),
            display_name: name.get().trim().to_string(),
            role: moat_openapi::from_wire_name::<Role>(&role.get()).unwrap_or(Role::User),
            password: None,
            time_zone: None,
        };
        spawn_local(async move {
            match api::post::<_, User>(&format!("/orgs/{org_id}/users"), &body).await {
                Ok(_) => {
                    failure.set(None);
                    email.set(String::new());
                    name.set(String::new());
                    list.reload();
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    view! {
        <section class="panel">
            <h2>"Users"</h2>
            {list.view("No users yet.", |l| view! {
                    <table class="table" id="user-table">
                        <thead><tr><th scope="col">"Name"</th><th scope="col">"Email"</th><th scope="col">"Role"</th><th scope="col">"Status"</th></tr></thead>
                        <tbody>
                            {l.items.into_iter().map(|u| view! {
                                <tr>
                                    <td><A href=format!("/users/{}", u.id)>{u.display_name.clone()}</A></td>
                                    <td>{u.email.clone()}</td>
                                    <td>{role_label(u.role)}</td>
                                    <td>{match (u.disabled, u.active) { (true, _) => "disabled", (false, true) => "active", (false, false) => "invited" }}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any())}
            <h3>"Invite a user"</h3>
            <InlineForm submit="Send invitation" failure=failure fields=&["email", "display_name", "role"] on_submit=Callback::new(create)>
                <Field id="user-email" label="Email" value=email kind="email"
                    error=Signal::derive(move || email_err.get().or_else(|| field_error(&failure.get(), "email")))/>
                <Field id="user-name" label="Name" value=name
                    error=Signal::derive(move || name_err.get().or_else(|| field_error(&failure.get(), "display_name")))/>
                <RoleSelect id="user-role" value=role/>
            </InlineForm>
            <UserCsv org_id on_imported=Callback::new(move |()| list.reload())/>
        </section>
    }
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::User => "User",
        Role::SpamCzar => "Spam czar",
        Role::OrgAdmin => "Organisation admin",
        Role::MspAdmin => "MSP admin",
        Role::PlatformAdmin => "Platform admin",
    }
}

/// The organisation roles, as a labelled select bound to the role's wire name.
#[component]
pub fn RoleSelect(#[prop(into)] id: String, value: RwSignal<String>) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id.clone()>"Role"</label>
            <select id=id on:change=move |ev| value.set(event_target_value(&ev)) prop:value=move || value.get()>
                {[Role::User, Role::SpamCzar, Role::OrgAdmin].into_iter().map(|r| {
                    let wire = moat_openapi::wire_name(&r);
                    let selected = wire.clone();
                    view! { <option value=wire selected=move || value.get() == selected>{role_label(r)}</option> }
                }).collect_view()}
            </select>
        </div>
    }
}

/// Users from a CSV: checked first (every bad line shown with its problem), imported only
/// when nothing is wrong (all or nothing); and the users as CSV.
#[component]
fn UserCsv(org_id: Uuid, on_imported: Callback<()>) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let preview = RwSignal::new(None::<moat_openapi::ImportPreview>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let done = RwSignal::new(None::<usize>);
    let check = move |_| {
        done.set(None);
        let body = text.get();
        spawn_local(async move {
            match api::post_csv::<moat_openapi::ImportPreview>(&format!("/orgs/{org_id}/users/import/preview"), body)
                .await
            {
                Ok(p) => {
                    failure.set(None);
                    preview.set(Some(p));
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let import = move |_| {
        let body = text.get();
        spawn_local(async move {
            match api::post_csv::<moat_openapi::ImportResult>(&format!("/orgs/{org_id}/users/import"), body).await {
                Ok(r) => {
                    failure.set(None);
                    preview.set(None);
                    text.set(String::new());
                    done.set(Some(r.created.len()));
                    on_imported.run(());
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let export = move |_| {
        spawn_local(async move {
            match api::get_bytes(&format!("/orgs/{org_id}/users/export.csv")).await {
                Ok(bytes) => crate::components::save_file("users.csv", &bytes),
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let ready = move || preview.get().is_some_and(|p| p.problems.is_empty() && !p.users.is_empty());
    view! {
        <h3>"Import users from CSV"</h3>
        <div class="field">
            <label for="users-csv">"Users as CSV"</label>
            <textarea id="users-csv" rows="6" prop:value=move || text.get()
                on:input=move |ev| { text.set(event_target_value(&ev)); preview.set(None); }></textarea>
            <small class="hint">"Header line: email,display_name, and optionally role, time_zone, password"</small>
        </div>
        <button class="btn" on:click=check>"Check CSV"</button>
        <button class="btn btn-primary" on:click=import disabled=move || !ready()>
            {move || format!("Import {} users", preview.get().map(|p| p.users.len()).unwrap_or(0))}
        </button>
        <button class="btn btn-ghost" on:click=export>"Download users (CSV)"</button>
        {move || failure.get().map(|e| view! { <ErrorNote error=e/> })}
        {move || done.get().map(|n| view! { <p class="saved" role="status">{format!("{n} users imported; invitations are on their way")}</p> })}
        {move || preview.get().map(|p| view! {
            <p role="status" id="csv-verdict">{if p.problems.is_empty() {
                format!("{} users ready to import.", p.users.len())
            } else {
                format!("{} line(s) need fixing; nothing was imported.", p.problems.len())
            }}</p>
            {(!p.problems.is_empty()).then(|| view! {
                <table class="table" id="csv-problems">
                    <thead><tr><th scope="col">"Line"</th><th scope="col">"Problem"</th></tr></thead>
                    <tbody>{p.problems.into_iter().map(|x| view! { <tr><td>{x.line}</td><td>{x.message}</td></tr> }).collect_view()}</tbody>
                </table>
            })}
        })}
    }
}
