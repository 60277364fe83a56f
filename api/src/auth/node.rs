//! The `WorkerNode` extractor: MTA workers authenticate with node tokens (`moatnode_…`),
//! which reach only the worker channel.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use super::tokens::{NODE_TOKEN_PREFIX, sha256_hex};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct WorkerNode {
    pub id: Uuid,
    pub name: String,
}

impl FromRequestParts<AppState> for WorkerNode {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = super::bearer(parts)
            .filter(|t| t.starts_with(NODE_TOKEN_PREFIX))
            .ok_or(ApiError::Unauthorized("a node token is required"))?;
        let (id, name) = state
            .store
            .node_by_token_hash(&sha256_hex(token))
            .await?
            .ok_or(ApiError::Unauthorized("unknown node token"))?;
        Ok(WorkerNode { id, name })
    }
}
