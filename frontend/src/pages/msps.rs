//! MSPs (platform admins) and one MSP's page: its organisations and admins.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use moat_openapi::{CreateMsp, CreateUser, Msp, MspList, Role, UpdateMsp, User, UserList};

use crate::api;
use crate::components::{
    DeleteButton, Empty, ErrorNote, Field, Load, Pager, Spinner, field_error, general_error, load_into,
};
use crate::pages::orgs::OrgList;
use crate::session::use_session;
use crate::validate;

const PER_PAGE: u32 = 20;

#[component]
pub fn MspsPage() -> impl IntoView {
    let page = RwSignal::new(1u32);
    let list = RwSignal::new(Load::<MspList>::Loading);
    let reload = move || load_into(list, format!("/msps?page={}&per_page={PER_PAGE}", page.get_untracked()));
    Effect::new(move |_| {
        page.track();
        reload();
    });
    let total = Signal::derive(move || if let Load::Ready(l) = list.get() { l.total } else { 0 });

    let name = RwSignal::new(String::new());
    let name_err = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
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
                    reload();
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };

    view! {
        <section class="panel">
            <h1>"MSPs"</h1>
            {move || match list.get() {
                Load::Loading => view! { <Spinner/> }.into_any(),
                Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
                Load::Ready(l) if l.items.is_empty() => view! { <Empty text="No MSPs yet. Create the first one below."/> }.into_any(),
                Load::Ready(l) => view! {
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
                }.into_any(),
            }}
            <Pager page per_page=PER_PAGE total/>
        </section>
        <section class="panel">
            <h2>"New MSP"</h2>
            <form class="inline-form" on:submit=create novalidate>
                {move || general_error(&failure.get(), &["name"]).map(|e| view! { <ErrorNote error=e/> })}
                <Field id="msp-name" label="MSP name" value=name
                    error=Signal::derive(move || name_err.get().or_else(|| field_error(&failure.get(), "name")))/>
                <button class="btn btn-primary" type="submit">"Create MSP"</button>
            </form>
        </section>
    }
}

#[component]
pub fn MspPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let msp = RwSignal::new(Load::<Msp>::Loading);
    Effect::new(move |_| load_into(msp, format!("/msps/{}", id())));
    move || match msp.get() {
        Load::Loading => view! { <Spinner/> }.into_any(),
        Load::Failed(e) if e.is_not_found() => view! { <crate::components::NotFound/> }.into_any(),
        Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
        Load::Ready(m) => {
            view! { <MspDetail msp=m on_renamed=Callback::new(move |m| msp.set(Load::Ready(m)))/> }.into_any()
        }
    }
}

#[component]
fn MspDetail(msp: Msp, on_renamed: Callback<Msp>) -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let id = msp.id;
    let name = RwSignal::new(msp.name.clone());
    let name_err = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let rename = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        name_err.set(validate::name("Name", &name.get()).err());
        if name_err.get().is_some() {
            return;
        }
        let body = UpdateMsp { name: Some(name.get()) };
        spawn_local(async move {
            match api::patch::<_, Msp>(&format!("/msps/{id}"), &body).await {
                Ok(m) => {
                    failure.set(None);
                    on_renamed.run(m);
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
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
            <form class="inline-form" on:submit=rename novalidate>
                {move || general_error(&failure.get(), &["name"]).map(|e| view! { <ErrorNote error=e/> })}
                <Field id="msp-rename" label="Name" value=name
                    error=Signal::derive(move || name_err.get().or_else(|| field_error(&failure.get(), "name")))/>
                <button class="btn" type="submit">"Rename"</button>
            </form>
            <Show when=move || session.at_least(Role::PlatformAdmin)>
                <DeleteButton label="Delete MSP" on_confirm=delete/>
            </Show>
        </section>
        <OrgList msp_id=Some(id)/>
        <MspAdmins msp_id=id/>
    }
}

#[component]
fn MspAdmins(msp_id: uuid::Uuid) -> impl IntoView {
    let page = RwSignal::new(1u32);
    let list = RwSignal::new(Load::<UserList>::Loading);
    let reload =
        move || load_into(list, format!("/msps/{msp_id}/users?page={}&per_page={PER_PAGE}", page.get_untracked()));
    Effect::new(move |_| {
        page.track();
        reload();
    });
    let total = Signal::derive(move || if let Load::Ready(l) = list.get() { l.total } else { 0 });
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
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
                    reload();
                }
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    view! {
        <section class="panel">
            <h2>"MSP admins"</h2>
            {move || match list.get() {
                Load::Loading => view! { <Spinner/> }.into_any(),
                Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
                Load::Ready(l) if l.items.is_empty() => view! { <Empty text="No MSP admins yet."/> }.into_any(),
                Load::Ready(l) => view! {
                    <ul class="plain-list">
                        {l.items.into_iter().map(|u| view! {
                            <li>{u.display_name.clone()} " · " <span class="muted">{u.email.clone()}</span>
                                {(!u.active).then(|| view! { <span class="badge">"invited"</span> })}</li>
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            <Pager page per_page=PER_PAGE total/>
            <h3>"Invite an MSP admin"</h3>
            <form class="inline-form" on:submit=create novalidate>
                {move || general_error(&failure.get(), &["email", "display_name"]).map(|e| view! { <ErrorNote error=e/> })}
                <Field id="mspadmin-email" label="Email" value=email kind="email"
                    error=Signal::derive(move || email_err.get().or_else(|| field_error(&failure.get(), "email")))/>
                <Field id="mspadmin-name" label="Name" value=name
                    error=Signal::derive(move || name_err.get().or_else(|| field_error(&failure.get(), "display_name")))/>
                <button class="btn btn-primary" type="submit">"Send invitation"</button>
            </form>
        </section>
    }
}
