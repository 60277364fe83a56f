//! A user's settings (time zone, digest schedule) and digest resends on request.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use moat_openapi::{
    DigestResendRequest, DigestResendResult, DigestSchedule, ErrorBody, MAX_DIGEST_TIMES, UpdateUserSettings,
    UserSettings,
};
use uuid::Uuid;

use crate::auth::Caller;
use crate::digests::schedule;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::store::{DigestRow, UserRecord};
use crate::validate;

/// The shortest time between two resends of one user's digest.
const RESEND_GAP: chrono::Duration = chrono::Duration::minutes(5);

/// The stored schedule of `user`, or the default one (none for users without a quarantine).
async fn current(state: &AppState, user: &UserRecord) -> ApiResult<DigestRow> {
    let stored = state.store.digest_settings(user.id).await?;
    Ok(stored.unwrap_or_else(|| DigestRow {
        user_id: user.id,
        schedule: if user.org_id.is_some() {
            DigestSchedule::default()
        } else {
            DigestSchedule { enabled: false, times: Vec::new(), only_new: true }
        },
        next_at: None,
        last_sent_at: None,
    }))
}

fn wire(user: &UserRecord, row: DigestRow) -> UserSettings {
    UserSettings {
        user_id: user.id,
        time_zone: user.time_zone.clone(),
        next_digest_at: row.next_at.filter(|_| row.schedule.enabled),
        last_digest_at: row.last_sent_at,
        digest: row.schedule,
    }
}

/// A user's settings: time zone and digest schedule.
#[utoipa::path(get, path = "/users/{id}/settings", tag = "tenancy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = UserSettings), (status = 404, body = ErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<UserSettings>> {
    let user = caller.self_or_managed(&state, id).await?;
    let row = current(&state, &user).await?;
    Ok(Json(wire(&user, row)))
}

/// Checks a schedule: distinct `HH:MM` times, 1 to 24 of them when digests are on.
fn checked_schedule(mut digest: DigestSchedule) -> ApiResult<DigestSchedule> {
    if digest.times.len() > MAX_DIGEST_TIMES {
        return Err(ApiError::invalid("digest.times", format!("give at most {MAX_DIGEST_TIMES} digest times")));
    }
    if let Some(bad) = digest.times.iter().find(|t| schedule::parse_time(t).is_none()) {
        return Err(ApiError::invalid("digest.times", format!("`{bad}` is not a time of day as HH:MM (24-hour)")));
    }
    if digest.enabled && digest.times.is_empty() {
        return Err(ApiError::invalid("digest.times", "give at least one digest time, or turn digests off"));
    }
    digest.times.sort();
    digest.times.dedup();
    Ok(digest)
}

/// Changes a user's time zone and digest schedule; the next digest is worked out at once.
#[utoipa::path(put, path = "/users/{id}/settings", tag = "tenancy", params(("id" = Uuid, Path)),
    request_body = UpdateUserSettings, security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = UserSettings), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<UpdateUserSettings>,
) -> ApiResult<Json<UserSettings>> {
    let mut user = caller.self_or_managed(&state, id).await?;
    let mut row = current(&state, &user).await?;
    let time_zone = match &req.time_zone {
        Some(tz) => validate::time_zone("time_zone", tz)?,
        None => user.time_zone.clone(),
    };
    if let Some(digest) = req.digest {
        if user.org_id.is_none() && digest.enabled {
            return Err(ApiError::invalid("digest", "only organisation users have a quarantine to digest"));
        }
        row.schedule = checked_schedule(digest)?;
    }
    if time_zone != user.time_zone {
        user.time_zone = time_zone;
        state.store.update_user(&user).await?;
    }
    row.next_at = if row.schedule.enabled {
        schedule::next_for(state.config.schedule_now(), &user.time_zone, &row.schedule.times)
    } else {
        None
    };
    if user.org_id.is_some() {
        state.store.save_digest_settings(&row).await?;
    }
    Ok(Json(wire(&user, row)))
}

/// Sends a digest now: the caller's own, or that of a user it manages. It lists every
/// unreviewed held message; with nothing held no mail is made (`queued: false`). At most one
/// resend per user every 5 minutes (429).
#[utoipa::path(post, path = "/digests/resend", tag = "quarantine", request_body = DigestResendRequest,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 202, body = DigestResendResult), (status = 200, body = DigestResendResult),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn resend(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<DigestResendRequest>,
) -> ApiResult<(StatusCode, Json<DigestResendResult>)> {
    let id = req.user_id.or(caller.user_id()).ok_or_else(|| ApiError::invalid("user_id", "name the user"))?;
    let user = caller.self_or_managed(&state, id).await?;
    if user.org_id.is_none() {
        return Err(ApiError::invalid("user_id", "only organisation users have a quarantine to digest"));
    }
    let now = crate::store::now();
    if !state.store.take_resend_slot(user.id, now, now - RESEND_GAP).await? {
        return Err(ApiError::RateLimited);
    }
    let policy = state.store.org_policy(user.org_id.unwrap_or_default()).await?;
    match crate::jobs::digests::compose(&state, &policy, &user, false).await? {
        Some(digest) => {
            state.store.queue_digest(&digest.mail, &digest.listed).await?;
            Ok((StatusCode::ACCEPTED, Json(DigestResendResult { queued: true, messages: digest.total })))
        }
        None => Ok((StatusCode::OK, Json(DigestResendResult { queued: false, messages: 0 }))),
    }
}
