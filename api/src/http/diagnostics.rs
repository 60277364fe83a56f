//! Test delivery: an admin asks, a worker runs the conversation with the domain's
//! destination (the job channel) and reports each stage; the caller polls the result.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use moat_openapi::{ErrorBody, TestDelivery, TestDeliveryRequest};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::store::MAX_PENDING_TESTS;

/// Run a test delivery to a domain's destination: DNS, TCP connect, banner, EHLO, STARTTLS,
/// a `RCPT` probe for `postmaster@<domain>` (and a test message with `send_test`), plus the
/// domain's MX records. Answers at once; poll `GET /diagnostics/test-delivery/{id}`.
#[utoipa::path(post, path = "/diagnostics/test-delivery", tag = "tenancy", request_body = TestDeliveryRequest,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 202, body = TestDelivery), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TestDeliveryRequest>,
) -> ApiResult<(StatusCode, Json<TestDelivery>)> {
    crate::features::require(&state, &caller, moat_openapi::Feature::TestDelivery).await?;
    let domain = caller.manage_domain(&state, req.domain_id).await?;
    let by = caller.name();
    let created = state.store.create_test_delivery(domain.org_id, domain.id, &domain.name, req.send_test, &by).await?;
    match created {
        Some(test) => Ok((StatusCode::ACCEPTED, Json(test))),
        None => {
            tracing::info!(org = %domain.org_id, "test delivery refused: {MAX_PENDING_TESTS} waiting already");
            Err(ApiError::RateLimited)
        }
    }
}

/// A test delivery and, once a worker ran it, its stages.
#[utoipa::path(get, path = "/diagnostics/test-delivery/{id}", tag = "tenancy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = TestDelivery), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<TestDelivery>> {
    crate::features::require(&state, &caller, moat_openapi::Feature::TestDelivery).await?;
    caller.require(moat_openapi::Role::OrgAdmin)?;
    Ok(Json(state.store.get_test_delivery(caller.scope, id).await?.ok_or_else(ApiError::not_found)?))
}
