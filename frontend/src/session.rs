//! Who is logged in, and the branding of the page; provided as context to every screen.

use leptos::prelude::*;
use leptos::task::spawn_local;
use moat_openapi::{Branding, LoginResponse, Me, Role};

use crate::api;

/// Where the session stands: not yet known (token being checked), anonymous, or a caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    Checking,
    Anonymous,
    Caller(Box<Me>),
}

#[derive(Clone, Copy)]
pub struct Session {
    pub auth: RwSignal<Auth>,
    pub branding: RwSignal<Branding>,
    /// API requests in flight (drives the loading bar).
    pub in_flight: RwSignal<u32>,
    /// Unread quarantined messages within the caller's reach (the navigation badge).
    pub unread: RwSignal<Option<i64>>,
}

impl Session {
    /// Creates the session, resuming a stored token and loading the branding.
    pub fn start() -> Session {
        let session = Session {
            auth: RwSignal::new(if api::token().is_some() { Auth::Checking } else { Auth::Anonymous }),
            branding: RwSignal::new(Branding {
                product_name: "Moat".into(),
                logo_url: None,
                primary_color: "#0b6e5f".into(),
            }),
            in_flight: RwSignal::new(0),
            unread: RwSignal::new(None),
        };
        api::track_in_flight(session.in_flight);
        api::on_unauthorized(move || session.auth.set(Auth::Anonymous));
        if api::token().is_some() {
            session.refresh();
        }
        spawn_local(async move {
            if let Ok(b) = api::get::<Branding>("/branding").await {
                apply_branding(&b);
                session.branding.set(b);
            }
        });
        session
    }

    /// Reloads `/auth/me` (after login or a profile change).
    pub fn refresh(self) {
        spawn_local(async move {
            match api::get::<Me>("/auth/me").await {
                Ok(me) => {
                    self.auth.set(Auth::Caller(Box::new(me)));
                    self.refresh_unread();
                }
                Err(_) => {
                    api::set_token(None);
                    self.auth.set(Auth::Anonymous);
                }
            }
        });
    }

    /// Reloads the unread count (after login and after every quarantine action).
    pub fn refresh_unread(self) {
        spawn_local(async move {
            let summary = api::get::<moat_openapi::QuarantineSummary>("/quarantine/summary").await;
            self.unread.set(summary.ok().map(|s| s.unread));
        });
    }

    pub fn logged_in(self, login: LoginResponse) {
        api::set_token(Some(login.access_token));
        self.auth.set(Auth::Checking);
        self.refresh();
    }

    pub fn logout(self) {
        api::set_token(None);
        self.auth.set(Auth::Anonymous);
    }

    pub fn me(self) -> Option<Me> {
        match self.auth.get() {
            Auth::Caller(me) => Some(*me),
            _ => None,
        }
    }

    pub fn role(self) -> Option<Role> {
        self.me().map(|m| m.role)
    }

    /// Whether the caller's role is at least `min` (reactive).
    pub fn at_least(self, min: Role) -> bool {
        self.role().is_some_and(|r| r >= min)
    }
}

/// Sets the accent colour through the CSSOM (allowed by the strict CSP, unlike inline styles).
fn apply_branding(b: &Branding) {
    let valid = b.primary_color.len() == 7
        && b.primary_color.starts_with('#')
        && b.primary_color[1..].bytes().all(|c| c.is_ascii_hexdigit());
    let root = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element());
    if let Some(el) =
        root.filter(|_| valid).and_then(|r| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(r).ok())
    {
        let _ = el.style().set_property("--accent", &b.primary_color);
    }
    if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
        doc.set_title(&b.product_name);
    }
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}
