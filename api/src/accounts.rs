//! Account life cycle shared by single creation, CSV import and provisioning: validating a
//! new user, hashing its password or issuing its activation email, and reset emails.

use chrono::Duration;
use moat_openapi::{CreateUser, Role};
use uuid::Uuid;

use crate::auth::passwords;
use crate::auth::tokens::{random_secret, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::html::escape;
use crate::state::AppState;
use crate::store::{NewToken, NewUser, SystemMail, UserRecord, now};
use crate::validate;

pub const ACTIVATION: &str = "activation";
pub const PASSWORD_RESET: &str = "password_reset";
const ACTIVATION_TTL: Duration = Duration::days(7);
const RESET_TTL: Duration = Duration::hours(1);

/// Where a new user hangs: an organisation (org roles) or an MSP (MSP admins).
#[derive(Debug, Clone, Copy)]
pub enum Home {
    Org(Uuid),
    Msp(Uuid),
}

/// Checks a `CreateUser` (role fits the home, fields valid) and builds the row to insert,
/// with an activation token and mail when no password is given.
pub async fn build_new_user(state: &AppState, input: &CreateUser, home: Home) -> ApiResult<NewUser> {
    let Checked { email, display_name, time_zone, msp_id, org_id } = check_new_user(input, home)?;
    let password_hash = match &input.password {
        Some(p) => Some(passwords::hash(p).await?),
        None => None,
    };
    let record = UserRecord {
        id: Uuid::new_v4(),
        msp_id,
        org_id,
        email,
        display_name,
        role: input.role,
        active: password_hash.is_some(),
        disabled: false,
        password_hash,
        time_zone,
        quarantine_delegate_id: None,
        created_at: now(),
    };
    let activation = if record.active { None } else { Some(activation_for(state, &record).0) };
    Ok(NewUser { record, activation })
}

/// An organisation user's address must be on one of the organisation's own `domains`:
/// otherwise it could claim (and have its organisation receive) another tenant's mail. The
/// answer names no other tenant.
pub fn check_own_domain(field: &str, email: &str, domains: &std::collections::HashSet<String>) -> ApiResult<()> {
    let email = validate::email(field, email)?;
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    if domains.contains(domain) {
        return Ok(());
    }
    Err(ApiError::invalid(
        field,
        format!("`{email}` is not on a domain of this organisation; add the domain {domain} to it first"),
    ))
}

/// A new user's fields, checked.
pub struct Checked {
    email: String,
    display_name: String,
    time_zone: String,
    msp_id: Option<Uuid>,
    org_id: Option<Uuid>,
}

/// Checks a new user's fields (and its password's strength) without hashing anything: what
/// an import preview needs for every line.
pub fn check_new_user(input: &CreateUser, home: Home) -> ApiResult<Checked> {
    let email = validate::email("email", &input.email)?;
    let display_name = validate::name("display_name", &input.display_name)?;
    let time_zone = match &input.time_zone {
        Some(tz) if !tz.trim().is_empty() => validate::time_zone("time_zone", tz)?,
        _ => "UTC".to_string(),
    };
    let (msp_id, org_id) = match home {
        Home::Org(org) => {
            if !matches!(input.role, Role::User | Role::SpamCzar | Role::OrgAdmin) {
                return Err(ApiError::invalid("role", "organisation users are org_admin, spam_czar or user"));
            }
            (None, Some(org))
        }
        Home::Msp(msp) => {
            if input.role != Role::MspAdmin {
                return Err(ApiError::invalid("role", "users created under an MSP are msp_admin"));
            }
            (Some(msp), None)
        }
    };
    if let Some(p) = &input.password {
        passwords::validate("password", p)?;
    }
    Ok(Checked { email, display_name, time_zone, msp_id, org_id })
}

/// A fresh activation token for `user` and the welcome mail that carries it.
pub fn activation_for(state: &AppState, user: &UserRecord) -> ((NewToken, SystemMail), String) {
    let secret = random_secret();
    let link = format!("{}/activate?token={secret}", state.config.public_url());
    let body = format!(
        "Hello {},\n\nan account was created for you on Moat, the mail security gateway that filters your \
         mail.\nSet your password here (the link works once, for 7 days):\n\n{link}\n",
        user.display_name
    );
    let token = NewToken {
        user_id: user.id,
        purpose: ACTIVATION,
        token_hash: sha256_hex(&secret),
        expires_at: now() + ACTIVATION_TTL,
    };
    let html = html_mail(
        &user.display_name,
        "an account was created for you on Moat, the mail security gateway that filters your mail.",
        ("Set your password", &link),
        "The link works once, for 7 days.",
    );
    ((token, mail(&user.email, "Welcome to Moat: activate your account", body, html)), secret)
}

/// A fresh password-reset token for `user` and the mail that carries it.
pub fn reset_for(state: &AppState, user: &UserRecord) -> (NewToken, SystemMail) {
    let secret = random_secret();
    let link = format!("{}/reset-password?token={secret}", state.config.public_url());
    let body = format!(
        "Hello {},\n\na password reset was requested for your Moat account.\nChoose a new password here \
         (the link works once, for one hour):\n\n{link}\n\nIf you did not ask for this, ignore this mail.\n",
        user.display_name
    );
    let token = NewToken {
        user_id: user.id,
        purpose: PASSWORD_RESET,
        token_hash: sha256_hex(&secret),
        expires_at: now() + RESET_TTL,
    };
    let html = html_mail(
        &user.display_name,
        "a password reset was requested for your Moat account.",
        ("Choose a new password", &link),
        "The link works once, for one hour. If you did not ask for this, ignore this mail.",
    );
    (token, mail(&user.email, "Moat password reset", body, html))
}

fn mail(to: &str, subject: &str, body: String, html: String) -> SystemMail {
    SystemMail {
        id: Uuid::new_v4(),
        recipient: to.to_string(),
        subject: subject.to_string(),
        body,
        html,
        created_at: now(),
    }
}

/// The HTML part of an account mail: greeting, one sentence, one button, a note.
fn html_mail(name: &str, what: &str, (label, link): (&str, &str), note: &str) -> String {
    let (name, what, label, link, note) = (escape(name), escape(what), escape(label), escape(link), escape(note));
    format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;color:#222\">\
         <p>Hello {name},</p><p>{what}</p>\
         <p><a href=\"{link}\" style=\"background:#0b6e5f;color:#fff;padding:10px 16px;border-radius:4px;\
         text-decoration:none\">{label}</a></p><p style=\"color:#555\">{note}</p>\
         <p style=\"color:#555\">{link}</p></body></html>"
    )
}
