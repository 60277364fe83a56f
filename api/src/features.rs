//! Feature flags as handlers apply them: which capabilities the caller's tenant has, and a
//! guard that answers 403 `not_enabled` for one it has not.

use moat_openapi::Feature;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::Scope;

/// The features on for the caller's organisation (or MSP); the platform has them all.
pub async fn enabled_for(state: &AppState, caller: &Caller) -> ApiResult<Vec<Feature>> {
    let (org, msp) = match caller.scope {
        Scope::Platform => return Ok(Feature::ALL.to_vec()),
        Scope::Msp(msp) => (None, Some(msp)),
        Scope::Org(org) | Scope::User { org_id: org, .. } => {
            (Some(org), state.store.get_org(Scope::Platform, org).await?.map(|o| o.msp_id))
        }
    };
    Ok(state.store.features_for(org, msp).await?)
}

/// Refuses a capability the caller's tenant has not been given.
pub async fn require(state: &AppState, caller: &Caller, feature: Feature) -> ApiResult<()> {
    if enabled_for(state, caller).await?.contains(&feature) {
        Ok(())
    } else {
        Err(ApiError::NotEnabled(feature.label()))
    }
}
