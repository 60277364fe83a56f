//! Health, readiness, Prometheus metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use axum::Json;
use moat_openapi::Branding;

use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, body = String)))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", tag = "meta", responses((status = 200, body = String), (status = 503, body = String)))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.store.ping().await {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "meta", responses((status = 200, body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, body = Object)))]
pub async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], super::OPENAPI_JSON.as_str())
}

/// Product name, logo and colour for the web app (no login needed: the login page uses it).
#[utoipa::path(get, path = "/branding", tag = "meta", responses((status = 200, body = Branding)))]
pub async fn branding(State(state): State<AppState>) -> Json<Branding> {
    let b = &state.config.branding;
    Json(Branding {
        product_name: b.product_name.clone(),
        logo_url: b.logo_url.clone(),
        primary_color: b.primary_color.clone(),
    })
}

/// The maintenance banner of a domain while one is set, for the login page (no login
/// needed: it is what the domain's admins want its users to read before they sign in).
#[utoipa::path(get, path = "/banner", tag = "meta", params(moat_openapi::BannerQuery),
    responses((status = 200, body = moat_openapi::DomainBanner)))]
pub async fn banner(
    State(state): State<AppState>,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<moat_openapi::BannerQuery>,
) -> crate::error::ApiResult<Json<moat_openapi::DomainBanner>> {
    let domain = q.domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() || domain.len() > 253 {
        return Ok(Json(moat_openapi::DomainBanner::default()));
    }
    Ok(Json(moat_openapi::DomainBanner { banner: state.store.public_domain_banner(&domain).await? }))
}
