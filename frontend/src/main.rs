//! `moat-frontend`: the Moat web app for every role, a Leptos client-side app that speaks
//! only the public REST API.

mod api;
mod components;
mod pages;
mod session;
mod validate;

use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;
use moat_openapi::Role;

use crate::components::{NotFound, guarded};
use crate::session::{Auth, Session, use_session};

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    provide_context(Session::start());
    view! {
        <Router>
            <a class="skip" href="#main">"Skip to content"</a>
            <TopBar/>
            <main id="main" tabindex="-1">
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/login") view=pages::login::LoginPage/>
                    <Route path=path!("/activate") view=|| view! { <pages::login::SetPasswordPage activation=true/> }/>
                    <Route path=path!("/reset-password") view=|| view! { <pages::login::SetPasswordPage activation=false/> }/>
                    <Route path=path!("/") view=pages::home::HomePage/>
                    <Route path=path!("/account") view=|| guarded(Role::User, pages::account::AccountPage)/>
                    <Route path=path!("/quarantine") view=|| guarded(Role::User, pages::quarantine::QuarantinePage)/>
                    <Route path=path!("/archive") view=|| guarded(Role::User, pages::archive::ArchivePage)/>
                    <Route path=path!("/msps") view=|| guarded(Role::PlatformAdmin, pages::msps::MspsPage)/>
                    <Route path=path!("/tracking") view=|| guarded(Role::OrgAdmin, pages::tracking::TrackingPage)/>
                    <Route path=path!("/stats") view=|| guarded(Role::OrgAdmin, pages::stats::StatsPage)/>
                    <Route path=path!("/alerts") view=|| guarded(Role::OrgAdmin, pages::alerts::AlertsPage)/>
                    <Route path=path!("/audit") view=|| guarded(Role::OrgAdmin, pages::audit::AuditPage)/>
                    <Route path=path!("/system-mail") view=|| guarded(Role::PlatformAdmin, pages::system_mail::SystemMailPage)/>
                    <Route path=path!("/msps/:id") view=|| guarded(Role::MspAdmin, pages::msps::MspPage)/>
                    <Route path=path!("/orgs") view=|| guarded(Role::MspAdmin, pages::orgs::OrgsPage)/>
                    <Route path=path!("/orgs/:id") view=|| guarded(Role::OrgAdmin, pages::orgs::OrgPage)/>
                    <Route path=path!("/domains/:id") view=|| guarded(Role::OrgAdmin, pages::domain::DomainPage)/>
                    <Route path=path!("/users/:id") view=|| guarded(Role::OrgAdmin, pages::user::UserPage)/>
                </Routes>
            </main>
        </Router>
    }
}

/// Product name, navigation for the caller's role, and the account menu.
#[component]
fn TopBar() -> impl IntoView {
    let session = use_session();
    let branding = session.branding;
    let nav = move || {
        let me = session.me()?;
        let mut links: Vec<(String, &'static str)> = Vec::new();
        if me.role >= Role::PlatformAdmin {
            links.push(("/msps".into(), "MSPs"));
            links.push(("/system-mail".into(), "System mail"));
        }
        if me.role >= Role::MspAdmin {
            links.push(("/orgs".into(), "Organisations"));
        } else if let Some(org) = me.reach.org_id.filter(|_| me.role >= Role::OrgAdmin) {
            links.push((format!("/orgs/{org}"), "My organisation"));
        }
        links.push(("/quarantine".into(), "Quarantine"));
        let on = |f: moat_openapi::Feature| me.features.contains(&f);
        if me.user.is_some() && on(moat_openapi::Feature::LiveArchive) {
            links.push(("/archive".into(), "Live Archive"));
        }
        if me.role >= Role::OrgAdmin {
            links.push(("/tracking".into(), "Tracking"));
            if on(moat_openapi::Feature::Statistics) {
                links.push(("/stats".into(), "Statistics"));
            }
            links.push(("/alerts".into(), "Alerts"));
            links.push(("/audit".into(), "Audit log"));
        }
        links.push(("/account".into(), "My account"));
        let unread = session.unread;
        Some(
            links
                .into_iter()
                .map(|(href, label)| {
                    let badge = (label == "Quarantine").then_some(move || {
                        unread.get().filter(|n| *n > 0).map(|n| {
                            view! { <span class="badge" aria-label=format!("{n} unread")>{n}</span> }
                        })
                    });
                    view! { <li><A href=href>{label}{badge}</A></li> }
                })
                .collect_view(),
        )
    };
    let who = move || session.me().map(|me| me.user.map(|u| u.email).unwrap_or_else(|| "API key".into()));
    view! {
        <div
            class="busy-bar"
            class:busy=move || { session.in_flight.get() > 0 }
            role="progressbar"
            aria-label="Loading"
            aria-hidden=move || { if session.in_flight.get() > 0 { "false" } else { "true" } }
        ></div>
        <header class="topbar">
            <a class="brand" href="/">
                {move || match branding.get().logo_url {
                    Some(url) => view! { <img class="brand-logo" src=url alt=""/> }.into_any(),
                    None => view! {
                        <svg class="brand-mark" viewBox="0 0 24 24" aria-hidden="true">
                            <path d="M3 10h18v10H3z M3 10l3-5h12l3 5 M8 14h8" fill="none" stroke="currentColor" stroke-width="2"/>
                        </svg>
                    }.into_any(),
                }}
                <span class="brand-name">{move || branding.get().product_name}</span>
            </a>
            <Show when=move || matches!(session.auth.get(), Auth::Caller(_))>
                <nav class="mainnav" aria-label="Main">
                    <ul>{nav}</ul>
                </nav>
                <div class="account">
                    <span class="who">{who}</span>
                    <button class="btn btn-ghost" on:click=move |_| {
                        session.logout();
                        let _ = web_sys::window().map(|w| w.location().set_href("/login"));
                    }>"Log out"</button>
                </div>
            </Show>
        </header>
        {move || session.me().and_then(|me| me.banner).map(|text| view! {
            <div class="maintenance-banner" role="status">{text}</div>
        })}
        {move || session.me().and_then(|me| me.domain_id).map(|domain| view! { <pages::continuity::ContinuityBanner domain_id=domain/> })}
    }
}
