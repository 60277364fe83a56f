//! Feature flags (platform admin): every setting, and one at a time set or removed.

use axum::Json;
use axum::extract::State;
use moat_openapi::{ErrorBody, FeatureLevel, FeatureSetting, FeatureSettings, Role};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::store::Scope;

/// Every feature flag setting (unset: on).
#[utoipa::path(get, path = "/features", tag = "tenancy",
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = FeatureSettings), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<FeatureSettings>> {
    caller.require(Role::PlatformAdmin)?;
    Ok(Json(FeatureSettings { items: state.store.feature_settings().await? }))
}

/// Switch a capability on or off for the platform, an MSP or an organisation (`enabled:
/// null` removes the setting). Answers every setting.
#[utoipa::path(put, path = "/features", tag = "tenancy", request_body = FeatureSetting,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = FeatureSettings), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<FeatureSetting>,
) -> ApiResult<Json<FeatureSettings>> {
    caller.require(Role::PlatformAdmin)?;
    match (req.level, req.scope_id) {
        (FeatureLevel::Platform, None) => {}
        (FeatureLevel::Platform, Some(_)) => {
            return Err(ApiError::invalid("scope_id", "a platform setting has no scope id"));
        }
        (_, None) => return Err(ApiError::invalid("scope_id", "name the MSP or organisation")),
        (FeatureLevel::Msp, Some(id)) => {
            state.store.get_msp(Scope::Platform, id).await?.ok_or_else(ApiError::not_found)?;
        }
        (FeatureLevel::Org, Some(id)) => {
            state.store.get_org(Scope::Platform, id).await?.ok_or_else(ApiError::not_found)?;
        }
    }
    state.store.set_feature(&req).await?;
    Ok(Json(FeatureSettings { items: state.store.feature_settings().await? }))
}
