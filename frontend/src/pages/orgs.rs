//! Organisations: the list (MSP admins and above) and one organisation's page with its
//! domains and users.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use moat_openapi::{
    CreateDomain, CreateOrg, CreateUser, Domain, DomainList, MspList, Org, OrgList as OrgPage_, Role, TlsMode,
    UpdateOrg, User, UserList,
};
use uuid::Uuid;

use crate::api;
use crate::components::{
    DeleteButton, Empty, ErrorNote, Field, Load, NotFound, Pager, Spinner, field_error, general_error, load_into,
};
use crate::session::use_session;
use crate::validate;

const PER_PAGE: u32 = 20;

#[component]
pub fn OrgsPage() -> impl IntoView {
    view! { <OrgList msp_id=None/> }
}

/// Organisations (of one MSP when `msp_id` is set), paged, with a create form.
#[component]
pub fn OrgList(msp_id: Option<Uuid>) -> impl IntoView {
    let session = use_session();
    let page = RwSignal::new(1u32);
    let list = RwSignal::new(Load::<OrgPage_>::Loading);
    let filter = msp_id.map(|m| format!("&msp_id={m}")).unwrap_or_default();
    let reload = move || load_into(list, format!("/orgs?page={}&per_page={PER_PAGE}{filter}", page.get_untracked()));
    let reload_effect = reload.clone();
    Effect::new(move |_| {
        page.track();
        reload_effect();
    });
    let total = Signal::derive(move || if let Load::Ready(l) = list.get() { l.total } else { 0 });

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
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
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
        let reload = reload.clone();
        spawn_local(async move {
            match api::post::<_, Org>("/orgs", &body).await {
                Ok(_) => {
                    failure.set(None);
                    name.set(String::new());
                    reload();
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };

    view! {
        <section class="panel">
            {if msp_id.is_some() { view! { <h2>"Organisations"</h2> }.into_any() } else { view! { <h1>"Organisations"</h1> }.into_any() }}
            {move || match list.get() {
                Load::Loading => view! { <Spinner/> }.into_any(),
                Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
                Load::Ready(l) if l.items.is_empty() => view! { <Empty text="No organisations yet."/> }.into_any(),
                Load::Ready(l) => view! {
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
                }.into_any(),
            }}
            <Pager page per_page=PER_PAGE total/>
            <h3>"New organisation"</h3>
            <form class="inline-form" on:submit=create novalidate>
                {move || general_error(&failure.get(), &["name", "msp_id"]).map(|e| view! { <ErrorNote error=e/> })}
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
                <button class="btn btn-primary" type="submit">"Create organisation"</button>
            </form>
        </section>
    }
}

#[component]
pub fn OrgPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let org = RwSignal::new(Load::<Org>::Loading);
    Effect::new(move |_| load_into(org, format!("/orgs/{}", id())));
    move || match org.get() {
        Load::Loading => view! { <Spinner/> }.into_any(),
        Load::Failed(e) if e.is_not_found() || e.status == 400 => view! { <NotFound/> }.into_any(),
        Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
        Load::Ready(o) => view! {
            <OrgHeader org=o.clone() on_renamed=Callback::new(move |o| org.set(Load::Ready(o)))/>
            <Domains org_id=o.id/>
            <Users org_id=o.id/>
        }
        .into_any(),
    }
}

#[component]
fn OrgHeader(org: Org, on_renamed: Callback<Org>) -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let id = org.id;
    let name = RwSignal::new(org.name.clone());
    let name_err = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let rename = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        name_err.set(validate::name("Name", &name.get()).err());
        if name_err.get().is_some() {
            return;
        }
        let body = UpdateOrg { name: Some(name.get()) };
        spawn_local(async move {
            match api::patch::<_, Org>(&format!("/orgs/{id}"), &body).await {
                Ok(o) => {
                    failure.set(None);
                    on_renamed.run(o);
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
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
            <form class="inline-form" on:submit=rename novalidate>
                {move || general_error(&failure.get(), &["name"]).map(|e| view! { <ErrorNote error=e/> })}
                <Field id="org-rename" label="Name" value=name
                    error=Signal::derive(move || name_err.get().or_else(|| field_error(&failure.get(), "name")))/>
                <button class="btn" type="submit">"Rename"</button>
            </form>
            <Show when=move || session.at_least(Role::MspAdmin)>
                <DeleteButton label="Delete organisation" on_confirm=delete/>
            </Show>
        </section>
    }
}

#[component]
fn Domains(org_id: Uuid) -> impl IntoView {
    let page = RwSignal::new(1u32);
    let list = RwSignal::new(Load::<DomainList>::Loading);
    let reload =
        move || load_into(list, format!("/orgs/{org_id}/domains?page={}&per_page={PER_PAGE}", page.get_untracked()));
    Effect::new(move |_| {
        page.track();
        reload();
    });
    let total = Signal::derive(move || if let Load::Ready(l) = list.get() { l.total } else { 0 });
    let name = RwSignal::new(String::new());
    let host = RwSignal::new(String::new());
    let port = RwSignal::new("25".to_string());
    let errs = [RwSignal::new(None::<String>), RwSignal::new(None::<String>), RwSignal::new(None::<String>)];
    let failure = RwSignal::new(None::<api::ApiError>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
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
                    reload();
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    view! {
        <section class="panel">
            <h2>"Domains"</h2>
            {move || match list.get() {
                Load::Loading => view! { <Spinner/> }.into_any(),
                Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
                Load::Ready(l) if l.items.is_empty() => view! { <Empty text="No domains yet: add the first one below."/> }.into_any(),
                Load::Ready(l) => view! {
                    <table class="table" id="domain-table">
                        <thead><tr><th scope="col">"Domain"</th><th scope="col">"Delivers to"</th><th scope="col">"TLS"</th><th scope="col">"Inbound"</th></tr></thead>
                        <tbody>
                            {l.items.into_iter().map(|d| view! {
                                <tr>
                                    <td><A href=format!("/domains/{}", d.id)>{d.name.clone()}</A></td>
                                    <td>{format!("{}:{}", d.destination_host, d.destination_port)}</td>
                                    <td>{d.tls_mode.as_str()}</td>
                                    <td>{if d.inbound_enabled { "on" } else { "off" }}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
            <Pager page per_page=PER_PAGE total/>
            <h3>"Add a domain"</h3>
            <form class="inline-form" on:submit=create novalidate>
                {move || general_error(&failure.get(), &["name", "destination_host", "destination_port"]).map(|e| view! { <ErrorNote error=e/> })}
                <Field id="domain-name" label="Domain" value=name
                    error=Signal::derive(move || errs[0].get().or_else(|| field_error(&failure.get(), "name")))/>
                <Field id="domain-host" label="Mail server" value=host hint="Host name or IP of the customer's server"
                    error=Signal::derive(move || errs[1].get().or_else(|| field_error(&failure.get(), "destination_host")))/>
                <Field id="domain-port" label="Port" value=port kind="number"
                    error=Signal::derive(move || errs[2].get().or_else(|| field_error(&failure.get(), "destination_port")))/>
                <button class="btn btn-primary" type="submit">"Add domain"</button>
            </form>
        </section>
    }
}

#[component]
fn Users(org_id: Uuid) -> impl IntoView {
    let page = RwSignal::new(1u32);
    let list = RwSignal::new(Load::<UserList>::Loading);
    let reload =
        move || load_into(list, format!("/orgs/{org_id}/users?page={}&per_page={PER_PAGE}", page.get_untracked()));
    Effect::new(move |_| {
        page.track();
        reload();
    });
    let total = Signal::derive(move || if let Load::Ready(l) = list.get() { l.total } else { 0 });
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let role = RwSignal::new("user".to_string());
    let (email_err, name_err) = (RwSignal::new(None::<String>), RwSignal::new(None::<String>));
    let failure = RwSignal::new(None::<api::ApiError>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        email_err.set(validate::email(&email.get()).err());
        name_err.set(validate::name("Name", &name.get()).err());
        if email_err.get().is_some() || name_err.get().is_some() {
            return;
        }
        let body = CreateUser {
            email: email.get().trim().to_string(),
            display_name: name.get().trim().to_string(),
            role: Role::parse(&role.get()).unwrap_or(Role::User),
            password: None,
            time_zone: None,
        };
        spawn_local(async move {
            match api::post::<_, User>(&format!("/orgs/{org_id}/users"), &body).await {
                Ok(_) => {
                    failure.set(None);
                    email.set(String::new());
                    name.set(String::new());
                    reload();
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    view! {
        <section class="panel">
            <h2>"Users"</h2>
            {move || match list.get() {
                Load::Loading => view! { <Spinner/> }.into_any(),
                Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
                Load::Ready(l) if l.items.is_empty() => view! { <Empty text="No users yet."/> }.into_any(),
                Load::Ready(l) => view! {
                    <table class="table" id="user-table">
                        <thead><tr><th scope="col">"Name"</th><th scope="col">"Email"</th><th scope="col">"Role"</th><th scope="col">"Status"</th></tr></thead>
                        <tbody>
                            {l.items.into_iter().map(|u| view! {
                                <tr>
                                    <td><A href=format!("/users/{}", u.id)>{u.display_name.clone()}</A></td>
                                    <td>{u.email.clone()}</td>
                                    <td>{role_label(u.role)}</td>
                                    <td>{if u.active { "active" } else { "invited" }}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
            <Pager page per_page=PER_PAGE total/>
            <h3>"Invite a user"</h3>
            <form class="inline-form" on:submit=create novalidate>
                {move || general_error(&failure.get(), &["email", "display_name", "role"]).map(|e| view! { <ErrorNote error=e/> })}
                <Field id="user-email" label="Email" value=email kind="email"
                    error=Signal::derive(move || email_err.get().or_else(|| field_error(&failure.get(), "email")))/>
                <Field id="user-name" label="Name" value=name
                    error=Signal::derive(move || name_err.get().or_else(|| field_error(&failure.get(), "display_name")))/>
                <RoleSelect id="user-role" value=role/>
                <button class="btn btn-primary" type="submit">"Send invitation"</button>
            </form>
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
                    let wire = r.as_str();
                    view! { <option value=wire selected=move || value.get() == wire>{role_label(r)}</option> }
                }).collect_view()}
            </select>
        </div>
    }
}
