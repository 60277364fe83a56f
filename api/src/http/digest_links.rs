//! Digest links, outside `/api/v1`: `GET /d/{token}` shows a confirmation page (a GET never
//! changes anything, so mail scanners that fetch links release nothing) whose button POSTs
//! to the same address, which does the action. Bad, altered or expired links get a plain
//! page with a 4xx. With the recipient's `secure_release` on, the link only opens the web
//! app, where the user signs in first.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::digests::links::{LinkAction, LinkClaim, LinkError};
use crate::digests::mail::{self, DigestEntry};
use crate::extract::{ApiPath, ClientIp};
use crate::html::escape;
use crate::state::AppState;
use crate::store::{Scope, UserRecord};

/// What these pages may load: their own inline style, nothing else; forms post back here.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A standalone HTML page with `status`.
fn page(state: &AppState, status: StatusCode, title: &str, body: &str) -> Response {
    let product = escape(&state.config.branding.product_name);
    let color = escape(&state.config.branding.primary_color);
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width,initial-scale=1\"><title>{title} · {product}</title><style>\
         body{{font-family:sans-serif;color:#222;max-width:640px;margin:2em auto;padding:0 1em}}\
         h1{{color:{color};font-size:1.4em}} .meta{{color:#555}} button{{background:{color};color:#fff;border:0;\
         padding:.6em 1.2em;border-radius:4px;font-size:1em;cursor:pointer;margin:.3em .3em .3em 0}}\
         pre{{white-space:pre-wrap;background:#f5f5f5;padding:1em;border-radius:4px}}</style></head>\
         <body><p class=\"meta\">{product}</p><h1>{title}</h1>{body}</body></html>",
        title = escape(title),
    );
    let mut response = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The page of a refused link.
fn refused(state: &AppState, error: LinkError) -> Response {
    let (status, title, text) = match error {
        LinkError::Malformed => (
            StatusCode::BAD_REQUEST,
            "This link is not valid",
            "The link is incomplete or not one of ours. Copy the whole link from the digest, or open your quarantine in the web app.",
        ),
        LinkError::Tampered => (
            StatusCode::FORBIDDEN,
            "This link is not valid",
            "The link was changed after it was sent, so it does nothing. Use the link exactly as the digest has it, or open your quarantine in the web app.",
        ),
        LinkError::Expired => (
            StatusCode::GONE,
            "This link has expired",
            "The message is no longer kept in quarantine, so its links no longer work.",
        ),
    };
    page(state, status, title, &format!("<p>{text}</p>"))
}

/// What a verified link points at.
struct Resolved {
    claim: LinkClaim,
    user: UserRecord,
    entry: DigestEntry,
    blob_key: String,
    /// The recipient's policy asks for a sign-in before a release.
    secure: bool,
}

/// A verified link's user and message, or the page that says why not.
async fn resolve(state: &AppState, token: &str) -> Result<Resolved, Response> {
    let claim = state.links.verify(token, crate::store::now()).map_err(|e| refused(state, e))?;
    let gone = || {
        page(
            state,
            StatusCode::GONE,
            "This message is no longer held",
            "<p>It was deleted or has expired, or you no longer have access to it.</p>",
        )
    };
    let user = state.store.user_by_id(claim.user_id).await.ok().flatten().ok_or_else(gone)?;
    let org = user.org_id.ok_or_else(gone)?;
    let scope = Scope::User { org_id: org, user_id: user.id };
    let (item, blob_key) =
        state.store.get_quarantine(scope, &claim.message_id).await.ok().flatten().ok_or_else(gone)?;
    let policy = state.store.recipient_policy(item.org_id, &item.recipient).await.map_err(|_| gone())?;
    let entry = DigestEntry::new(item, policy.quarantine_retention_days);
    Ok(Resolved { claim, user, entry, blob_key, secure: policy.secure_release })
}

/// Where a secure-release link sends its reader: the message in the web app (sign-in first).
fn to_web_app(state: &AppState, claim: &LinkClaim) -> Response {
    let id: String = claim.message_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').collect();
    Redirect::to(&format!("{}/quarantine?open={id}", state.config.public_url())).into_response()
}

/// The message's sender, subject and time (in the user's zone), for the pages.
fn summary(user: &UserRecord, entry: &DigestEntry) -> String {
    let zone = crate::digests::schedule::zone(&user.time_zone);
    format!(
        "<p><strong>{}</strong><br><span class=\"meta\">from {} · to {} · {} ({})</span></p>",
        escape(&entry.item.subject),
        escape(&entry.item.sender),
        escape(&entry.item.recipient),
        entry.item.received_at.with_timezone(&zone).format("%a %-d %b %Y %H:%M"),
        escape(&user.time_zone),
    )
}

/// A form whose button POSTs the action's own link.
fn button(state: &AppState, user: &UserRecord, entry: &DigestEntry, action: LinkAction, label: &str) -> String {
    let href = mail::link(&state.config, &state.links, user.id, entry, action);
    format!(
        "<form method=\"post\" action=\"{}\"><button type=\"submit\">{}</button></form>",
        escape(&href),
        escape(label)
    )
}

/// The confirmation page of a digest link (changes nothing).
#[utoipa::path(get, path = "/d/{token}", tag = "quarantine", params(("token" = String, Path)),
    responses((status = 200, content_type = "text/html"), (status = 303), (status = 400), (status = 403), (status = 410)))]
pub async fn show(State(state): State<AppState>, ApiPath(token): ApiPath<String>) -> Response {
    let Resolved { claim, user, entry, blob_key, secure } = match resolve(&state, &token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if secure {
        return to_web_app(&state, &claim);
    }
    let release = button(&state, &user, &entry, LinkAction::Release, "Release");
    let allow = button(&state, &user, &entry, LinkAction::ReleaseAllow, "Release and allow the sender");
    match claim.action {
        LinkAction::View => {
            let preview = crate::preview::plain_text(&state.blobs.get(&blob_key).await.unwrap_or_default());
            let body = format!("{}<pre>{}</pre>{release}{allow}", summary(&user, &entry), escape(&preview));
            page(&state, StatusCode::OK, "A message held for you", &body)
        }
        LinkAction::Release => {
            let body = format!("{}<p>Release this message to your mailbox?</p>{release}", summary(&user, &entry));
            page(&state, StatusCode::OK, "Release this message?", &body)
        }
        LinkAction::ReleaseAllow => {
            let body = format!(
                "{}<p>Release this message and always accept mail from {}?</p>{allow}",
                summary(&user, &entry),
                escape(&entry.item.sender)
            );
            page(&state, StatusCode::OK, "Release and allow the sender?", &body)
        }
    }
}

/// Does what a confirmed digest link says (release, or release and allow the sender).
#[utoipa::path(post, path = "/d/{token}", tag = "quarantine", params(("token" = String, Path)),
    responses((status = 200, content_type = "text/html"), (status = 400), (status = 403), (status = 410)))]
pub async fn confirm(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiPath(token): ApiPath<String>,
) -> Response {
    let Resolved { claim, user, entry, secure, .. } = match resolve(&state, &token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if secure || claim.action == LinkAction::View {
        let text =
            "<p>Your organisation asks you to sign in before releasing mail. Open the message in the web app.</p>";
        let status = if secure { StatusCode::FORBIDDEN } else { StatusCode::BAD_REQUEST };
        return page(&state, status, "Sign in to release", text);
    }
    let scope = Scope::User { org_id: entry.item.org_id, user_id: user.id };
    let ids = [entry.item.id.clone()];
    let outcome = async {
        if claim.action == LinkAction::ReleaseAllow {
            super::quarantine::allow_senders_of(&state, scope, &ids).await?;
        }
        let created = state.store.create_release_jobs(scope, &ids, &format!("{} (digest link)", user.email)).await?;
        state.store.add_feedback(scope, &ids, false).await?;
        Ok::<_, crate::error::ApiError>(created)
    }
    .await;
    let action = format!("released {} to {} from a digest link", entry.item.id, entry.item.recipient);
    match outcome {
        Ok(created) => {
            let actor = format!("{} (digest link)", user.email);
            crate::audit::note(&state, None, Some(&actor), ip.to_string(), action, 200, Some(entry.item.org_id), None)
                .await;
            let text = if created > 0 {
                "<p>The message is on its way to your mailbox.</p>"
            } else {
                "<p>This message was already released; it is delivered once.</p>"
            };
            page(&state, StatusCode::OK, "Released", &format!("{}{text}", summary(&user, &entry)))
        }
        Err(err) => {
            tracing::error!(%err, "digest link release failed");
            page(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Nothing was released. Try again later.</p>",
            )
        }
    }
}
