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
    let test_recipient = test_recipient(&state, &caller, &req, &domain).await?;
    let by = caller.name();
    let created = state
        .store
        .create_test_delivery(domain.org_id, domain.id, &domain.name, test_recipient.as_deref(), &by)
        .await?;
    match created {
        Some(test) => Ok((StatusCode::ACCEPTED, Json(test))),
        None => {
            tracing::info!(org = %domain.org_id, "test delivery refused: {MAX_PENDING_TESTS} waiting already");
            Err(ApiError::RateLimited)
        }
    }
}

/// The mailbox the test message goes to: the one asked for, or the caller's own; it must be
/// a mailbox of the domain (the message passes Moat's recipient checks like any other, and
/// the destination delivers it to someone who asked for it).
async fn test_recipient(
    state: &AppState,
    caller: &Caller,
    req: &TestDeliveryRequest,
    domain: &moat_openapi::Domain,
) -> ApiResult<Option<String>> {
    if !req.send_test {
        return match req.test_recipient {
            Some(_) => Err(ApiError::invalid("test_recipient", "a test recipient needs send_test")),
            None => Ok(None),
        };
    }
    let own = caller.user.as_ref().map(|u| u.email.clone());
    let Some(address) = req.test_recipient.clone().or(own).map(|a| a.trim().to_ascii_lowercase()) else {
        return Err(ApiError::invalid(
            "test_recipient",
            format!("name a mailbox of {} for the test message", domain.name),
        ));
    };
    let mailbox = state.store.user_by_email(&address).await?;
    let in_domain = address.rsplit_once('@').is_some_and(|(_, d)| d == domain.name);
    match mailbox {
        Some(user) if in_domain && user.org_id == Some(domain.org_id) => Ok(Some(user.email)),
        _ => Err(ApiError::invalid(
            "test_recipient",
            format!(
                "{} is not a mailbox of {} (the test message goes to one of its users)",
                moat_openapi::bounded(&address, 320),
                domain.name
            ),
        )),
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
