//! The HTTP surface: `/api/v1` routes (each documented with `#[utoipa::path]`), health and
//! metrics, and the SPA served from `frontend_dir` with an `index.html` fallback.

mod alerts;
mod api_keys;
mod archive;
mod audit;
mod auth;
mod diagnostics;
mod digest_links;
mod digests;
mod domains;
mod features;
mod lists;
mod messages;
mod meta;
mod msps;
mod orgs;
mod provision;
mod quarantine;
mod relay;
mod stats;
mod system_mail;
mod users;
mod worker;

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{Config, MAX_EVENT_BATCH_BYTES, SMALL_BODY_BYTES};
use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Moat API", description = "Multi-tenant email security gateway: tenancy, policy, held mail."),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Login, the caller, activation and password reset"),
        (name = "tenancy", description = "MSPs, organisations, domains, users, provisioning"),
        (name = "policy", description = "Filtering policy"),
        (name = "alerts", description = "Alerts for admins (accounts over their sending limits)"),
        (name = "integrations", description = "API keys for integrations"),
        (name = "tracking", description = "Message tracking"),
        (name = "quarantine", description = "Messages the filter held back"),
        (name = "archive", description = "The Live Archive: every delivered message, readable and answerable; continuity state"),
        (name = "worker", description = "The MTA worker channel (node tokens)"),
        (name = "meta", description = "Health, metrics, this document"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut jwt = Http::new(HttpAuthScheme::Bearer);
        jwt.bearer_format = Some("JWT".into());
        jwt.description = Some("Access token from POST /api/v1/auth/login".into());
        components.add_security_scheme("bearer_jwt", SecurityScheme::Http(jwt));
        let mut key = Http::new(HttpAuthScheme::Bearer);
        key.bearer_format = Some("moat_…".into());
        key.description = Some("Integration API key scoped to an MSP or organisation".into());
        components.add_security_scheme("api_key", SecurityScheme::Http(key));
        let mut node = Http::new(HttpAuthScheme::Bearer);
        node.bearer_format = Some("moatnode_…".into());
        node.description = Some("MTA node token from `moat-api node create`".into());
        components.add_security_scheme("node_token", SecurityScheme::Http(node));
    }
}

/// `router` with a body limit of `bytes` on each of its routes (stated to the extractors,
/// so a 413 names it).
fn limited(router: OpenApiRouter<AppState>, bytes: usize) -> OpenApiRouter<AppState> {
    router.layer(axum::extract::DefaultBodyLimit::max(bytes)).layer(axum::Extension(BodyLimit(bytes)))
}

/// Every route, with the body limit it states: worker uploads take the largest message a
/// worker may accept, CSV paths their documented maximum, the rest a small limit.
fn api_routes(config: &Config) -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(quarantine::upload))
        .routes(routes!(archive::upload))
        .routes(routes!(archive::send));
    let events = OpenApiRouter::new().routes(routes!(worker::events));
    let csv = OpenApiRouter::new()
        .routes(routes!(provision::import_users))
        .routes(routes!(provision::preview_import))
        .routes(routes!(provision::provision));
    let small = OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::me))
        .routes(routes!(auth::activate))
        .routes(routes!(auth::password_reset))
        .routes(routes!(auth::password_reset_confirm))
        .routes(routes!(auth::change_password))
        .routes(routes!(msps::list_msps, msps::create_msp))
        .routes(routes!(msps::get_msp, msps::update_msp, msps::delete_msp))
        .routes(routes!(msps::list_msp_users, msps::create_msp_user))
        .routes(routes!(orgs::list_orgs, orgs::create_org))
        .routes(routes!(orgs::get_org, orgs::update_org, orgs::delete_org))
        .routes(routes!(orgs::get_org_policy, orgs::put_org_policy))
        .routes(routes!(domains::get_domain_policy, domains::put_domain_policy, domains::delete_domain_policy))
        .routes(routes!(domains::get_domain_policy_overrides))
        .routes(routes!(domains::list_domains, domains::create_domain))
        .routes(routes!(domains::get_domain, domains::update_domain, domains::delete_domain))
        .routes(routes!(users::list_org_users, users::create_org_user))
        .routes(routes!(users::colleagues))
        .routes(routes!(users::get_user, users::update_user, users::delete_user))
        .routes(routes!(users::resend_welcome))
        .routes(routes!(users::reset_password))
        .routes(routes!(system_mail::system_mail_state))
        .routes(routes!(audit::list_audit))
        .routes(routes!(audit::export_audit))
        .routes(routes!(system_mail::list_system_mail))
        .routes(routes!(users::reset_settings))
        .routes(routes!(digests::get_settings, digests::put_settings))
        .routes(routes!(digests::resend))
        .routes(routes!(relay::list_allowed_ips, relay::add_allowed_ip))
        .routes(routes!(relay::remove_allowed_ip))
        .routes(routes!(api_keys::list_api_keys, api_keys::create_api_key))
        .routes(routes!(api_keys::delete_api_key))
        .routes(routes!(meta::openapi_json))
        .routes(routes!(meta::branding))
        .routes(routes!(meta::banner))
        .routes(routes!(messages::list_messages))
        .routes(routes!(messages::get_message))
        .routes(routes!(worker::register))
        .routes(routes!(worker::policy))
        .routes(routes!(alerts::raise))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::clear))
        .routes(routes!(diagnostics::start))
        .routes(routes!(diagnostics::get))
        .routes(routes!(stats::stats))
        .routes(routes!(features::list, features::set))
        .routes(routes!(provision::export_users))
        .routes(routes!(worker::policy_changes))
        .routes(routes!(worker::correspondents))
        .routes(routes!(worker::push_reputation, worker::pull_reputation))
        .routes(routes!(worker::exchange_outbound_counts))
        .routes(routes!(messages::list_reputation))
        .routes(routes!(quarantine::list))
        .routes(routes!(quarantine::summary))
        .routes(routes!(quarantine::mark_reviewed))
        .routes(routes!(quarantine::delete_many))
        .routes(routes!(quarantine::release))
        .routes(routes!(quarantine::report))
        .routes(routes!(worker::training))
        .routes(routes!(worker::lease_jobs))
        .routes(routes!(worker::job_done))
        .routes(routes!(quarantine::get_one))
        .routes(routes!(quarantine::preview))
        .routes(routes!(quarantine::raw))
        .routes(routes!(lists::create, lists::list))
        .routes(routes!(lists::correspondents, lists::forget_correspondent))
        .routes(routes!(lists::delete))
        .routes(routes!(archive::list))
        .routes(routes!(archive::get_one))
        .routes(routes!(archive::attachment))
        .routes(routes!(archive::report))
        .routes(routes!(archive::delivery))
        .routes(routes!(archive::retry));
    let v1 = limited(small, SMALL_BODY_BYTES)
        .merge(limited(csv, config.max_csv_bytes))
        .merge(limited(events, MAX_EVENT_BATCH_BYTES))
        .merge(limited(uploads, config.channel_limits().max_upload_bytes as usize));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1)
        .routes(routes!(digest_links::show, digest_links::confirm))
        .routes(routes!(meta::healthz))
        .routes(routes!(meta::readyz))
        .routes(routes!(meta::metrics))
}

/// The OpenAPI document generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes(&Config::default()).split_for_parts().1
}

/// The document as served and committed (pretty JSON, trailing newline).
pub static OPENAPI_JSON: LazyLock<String> =
    LazyLock::new(|| openapi().to_pretty_json().expect("the OpenAPI document serialises") + "\n");

/// Content-Security-Policy of every answer: nothing loads from elsewhere, no inline
/// scripts or styles; `wasm-unsafe-eval` is what compiling the app's WebAssembly needs.
/// Remote (`https:`) images are allowed only because a quarantine preview shows them when
/// its reader asks; the API removes them from previews otherwise.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
    img-src 'self' data: https:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; \
    form-action 'self'; frame-ancestors 'none'";

/// The built SPA: content-hashed files under `/assets` are cached for a year; every other
/// path answers `index.html` (deep links), which is never cached so new builds are seen.
fn spa_service(dist: &std::path::Path) -> Router<AppState> {
    let immutable = SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, |res: &axum::response::Response<_>| {
        res.status().is_success().then(|| HeaderValue::from_static("public, max-age=31536000, immutable"))
    });
    let no_cache = SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let assets = tower::Layer::layer(&immutable, ServeDir::new(dist.join("assets")));
    let index = tower::Layer::layer(&no_cache, ServeDir::new(dist).fallback(ServeFile::new(dist.join("index.html"))));
    Router::new().nest_service("/assets", assets).fallback_service(index)
}

/// The whole application: API, health, metrics and the SPA.
pub fn router(state: AppState) -> Router {
    let (api, _) = api_routes(&state.config).split_for_parts();
    let spa = spa_service(&state.config.frontend_dir);
    api.route("/api/{*rest}", axum::routing::any(|| async { ApiError::not_found().into_response() }))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::audit::record))
        .merge(spa)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
