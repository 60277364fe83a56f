//! Statistics for admins: counts by verdict and kind of threat per hour or day, from the
//! roll-ups kept as events arrive, with the most targeted users and busiest sending IPs.

use axum::Json;
use axum::extract::State;
use chrono::Duration;
use moat_openapi::{ErrorBody, Role, StatsBucket, StatsQuery, StatsReport};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;
use crate::store::stats::{StatsFilter, domain_key, user_key};

/// Longest range one call covers (as long as the roll-ups are kept), and the longest in
/// hourly buckets.
const MAX_DAYS: i64 = crate::store::stats::KEEP_DAYS;
const MAX_HOURLY_DAYS: i64 = 31;

/// Message counts by verdict and by kind of threat over time, within the caller's reach
/// (organisation admins: their organisation; MSP admins: theirs; the platform: everything,
/// with connections refused before any recipient), or for one domain (`domain_id`: mail to
/// and from it) or one mailbox (`user_id`: mail to and from it). Top recipients and IPs are
/// per organisation; with `domain_id`, that domain's recipients only; with `user_id`, none.
#[utoipa::path(get, path = "/stats", tag = "tenancy", params(StatsQuery),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = StatsReport), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> ApiResult<Json<StatsReport>> {
    crate::features::require(&state, &caller, moat_openapi::Feature::Statistics).await?;
    caller.require(Role::OrgAdmin)?;
    if let Some(org) = q.org_id {
        caller.org(&state, org).await?;
    }
    if let Some(msp) = q.msp_id {
        caller.msp(&state, msp).await?;
    }
    let mut filter = StatsFilter { org: q.org_id, msp: q.msp_id, key: None };
    if let Some(domain) = q.domain_id {
        let domain = caller.domain(&state, domain).await?;
        (filter.org, filter.key) = (Some(domain.org_id), Some(domain_key(&domain.name)));
    }
    if let Some(user) = q.user_id {
        let user = caller.user(&state, user).await?;
        let org = user.org_id.ok_or_else(|| ApiError::invalid("user_id", "only organisation users have mail"))?;
        (filter.org, filter.key) = (Some(org), Some(user_key(&user.email)));
    }
    let to = q.to.unwrap_or_else(crate::store::now);
    let from = q.from.unwrap_or(to - Duration::days(30));
    let bucket = q.bucket.unwrap_or_default();
    if from >= to {
        return Err(ApiError::invalid("from", "from must be before to"));
    }
    let limit = if bucket == StatsBucket::Hour { MAX_HOURLY_DAYS } else { MAX_DAYS };
    if to - from > Duration::days(limit) {
        return Err(ApiError::invalid(
            "to",
            format!("at most {limit} days at once in {bucket:?} buckets").to_lowercase(),
        ));
    }
    let (series, totals) = state.store.stats_series(caller.scope, &filter, (from, to), bucket).await?;
    // The top lists are kept per organisation: a domain gets its own recipients, a mailbox none.
    let (top_recipients, top_ips) = match filter.key.as_deref() {
        Some(key) if key.starts_with("user:") => (Vec::new(), Vec::new()),
        Some(_) => (state.store.stats_top(caller.scope, &filter, (from, to), "recipient").await?, Vec::new()),
        None => (
            state.store.stats_top(caller.scope, &filter, (from, to), "recipient").await?,
            state.store.stats_top(caller.scope, &filter, (from, to), "ip").await?,
        ),
    };
    Ok(Json(StatsReport { from, to, bucket, series, totals, top_recipients, top_ips }))
}
