//! MSPs (platform admins) and one MSP's page: its organisations and admins.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use moat_openapi::{CreateMsp, CreateUser, Msp, MspList, Role, User, UserList};

use crate::api;
use crate::components::{DeleteButton, ErrorNote, Field, InlineForm, Load, PagedList, RenameForm, detail, field_error};
use crate::pages::orgs::OrgList;
use crate::session::use_session;
use crate::validate;

#[component]
pub fn MspsPage() -> impl IntoView {
    let list = PagedList::<MspList>::new("/msps");
    let name = RwSignal::new(String::new());
    let name_err = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let create = move |()| {
        name_err.set(validate::name("Name", &name.get()).err());
        if name_err.get().is_some() {
            return;
        }
        let body = CreateMsp { name: name.get().trim().to_string() };
        spawn_local(async move {
            match api::post::<_, Msp>("/msps", &body).await {
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
            <h1>"MSPs"</h1>
            {list.view("No MSPs yet. Create the first one below.", |l| view! {
                <table class="table">
                    <thead><tr><th scope="col">"Name"</th><th scope="col">"Created"</th></tr></thead>
                    <tbody>
                        {l.items.into_iter().map(|m| view! {
                            <tr>
                                <td><A href=format!("/msps/{}", m.id)>{m.name.clone()}</A></td>
                                <td>{m.created_at.format("%Y-%m-%d").to_string()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any())}
        </section>
        <section class="panel">
            <h2>"New MSP"</h2>
            <InlineForm submit="Create MSP" failure=failure fields=&["name"] on_submit=Callback::new(create)>
                <Field id="msp-name" label="MSP name" value=name
                    error=Signal::derive(move || name_err.get().or_else(|| field_error(&failure.get(), "name")))/>
            </InlineForm>
        </section>
        <crate::pages::lists::ListsPanel level=moat_openapi::ListLevel::Global title="Global allow and block list (every tenant)"/>
        <crate::pages::features::FeatureFlagsPanel level=moat_openapi::FeatureLevel::Platform/>
    }
}

#[component]
pub fn MspPage() -> impl IntoView {
    let params = use_params_map();
    let id = params.read_untracked().get("id").unwrap_or_default();
    detail(format!("/msps/{id}"), |msp: Msp, loaded| view! { <MspDetail msp loaded/> })
}

#[component]
fn MspDetail(msp: Msp, loaded: RwSignal<Load<Msp>>) -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let id = msp.id;
    let failure = RwSignal::new(None::<api::ApiError>);
    let delete = Callback::new(move |_| {
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::delete(&format!("/msps/{id}")).await {
                Ok(()) => navigate("/msps", Default::default()),
                Err(e) => failure.set(Some(e)),
            }
        });
    });
    view! {
        <section class="panel">
            <p class="crumbs"><A href="/msps">"MSPs"</A></p>
            <h1>{msp.name.clone()}</h1>
            <RenameForm id="msp-rename" path=format!("/msps/{id}") initial=msp.name.clone()
                on_saved=Callback::new(move |m: Msp| loaded.set(Load::Ready(m)))/>
            {move || failure.get().map(|e| view! { <ErrorNote error=e/> })}
            <Show when=move || session.at_least(Role::PlatformAdmin)>
                <DeleteButton label="Delete MSP" on_confirm=delete/>
            </Show>
        </section>
        <OrgList msp_id=Some(id)/>
        <MspAdmins msp_id=id/>
        <crate::pages::api_keys::ApiKeysPanel scope=moat_openapi::KeyScope { level: moat_openapi::KeyScopeLevel::Msp, id }/>
        <crate::pages::lists::ListsPanel level=moat_openapi::ListLevel::Msp scope_id=id title="Allow and block list of the MSP (all its organisations)"/>
        {crate::session::use_session().me().filter(|me| me.role >= moat_openapi::Role::PlatformAdmin).map(|_| view! {
            <crate::pages::features::FeatureFlagsPanel level=moat_openapi::FeatureLevel::Msp scope_id=id/>
        })}
    }
}

#[component]
fn MspAdmins(msp_id: uuid::Uuid) -> impl IntoView {
    let list = PagedList::<UserList>::new(&format!("/msps/{msp_id}/users"));
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let (email_err, name_err) = (RwSignal::new(None::<String>), RwSignal::new(None::<String>));
    let failure = RwSignal::new(None::<api::ApiError>);
    let create = move |()| {
        email_err.set(validate::email(&email.get()).err());
        name_err.set(validate::name("Name", &name.get()).err());
        if email_err.get().is_some() || name_err.get().is_some() {
            return;
        }
        let body = CreateUser {
            email: email.get(),
            display_name: name.get(),
            role: Role::MspAdmin,
            password: None,
            time_zone: None,
        };
        spawn_local(async move {
            match api::post::<_, User>(&format!("/msps/{msp_id}/users"), &body).await {
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
            <h2>"MSP admins"</h2>
            {list.view("No MSP admins yet.", |l| view! {
                <ul class="plain-list">
                    {l.items.into_iter().map(|u| view! {
                        <li>{u.display_name.clone()} " · " <span class="muted">{u.email.clone()}</span>
                            {(!u.active).then(|| view! { <span class="badge">"invited"</span> })}</li>
                    }).collect_view()}
                </ul>
            }.into_any())}
            <h3>"Invite an MSP admin"</h3>
            <InlineForm submit="Send invitation" failure=failure fields=&["email", "display_name"] on_submit=Callback::new(create)>
                <Field id="mspadmin-email" label="Email" value=email kind="email"
                    error=Signal::derive(move || email_err.get().or_else(|| field_error(&failure.get(), "email")))/>
                <Field id="mspadmin-name" label="Name" value=name
                    error=Signal::derive(move || name_err.get().or_else(|| field_error(&failure.get(), "display_name")))/>
            </InlineForm>
        </section>
    }
}
