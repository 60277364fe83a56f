//! The start page: sends each role to its main screen.

use leptos::prelude::*;
use leptos_router::components::Redirect;
use moat_openapi::Role;

use crate::components::Spinner;
use crate::session::{Auth, use_session};

#[component]
pub fn HomePage() -> impl IntoView {
    let session = use_session();
    move || match session.auth.get() {
        Auth::Checking => view! { <Spinner/> }.into_any(),
        Auth::Anonymous => view! { <Redirect path="/login"/> }.into_any(),
        Auth::Caller(me) => {
            let target = match (me.role, me.reach.org_id) {
                (Role::PlatformAdmin, _) => "/msps".to_string(),
                (Role::MspAdmin, _) => "/orgs".to_string(),
                (Role::OrgAdmin, Some(org)) => format!("/orgs/{org}"),
                _ => "/quarantine".to_string(),
            };
            view! { <Redirect path=target/> }.into_any()
        }
    }
}
