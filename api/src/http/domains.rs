//! Customer domains: where their mail is relayed to, and the switches around it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use moat_openapi::{CreateDomain, Domain, DomainList, ErrorBody, PageParams, Policy, PolicyOverrides, UpdateDomain};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::{NewDomain, Paging};
use crate::validate;

/// The longest a domain's mail may wait in the queue: a month of continuity.
pub const MAX_QUEUE_EXPIRY_DAYS: u32 = 30;

/// Validates a domain's fields into a [`NewDomain`].
/// `internal_ok`: the destination may be an internal address (see [`validate::destination`]).
pub fn new_domain(field: &str, req: &CreateDomain, internal_ok: bool) -> ApiResult<NewDomain> {
    let f = |name: &str| if field.is_empty() { name.to_string() } else { format!("{field}.{name}") };
    Ok(NewDomain {
        name: validate::domain_name(&f("name"), &req.name)?,
        destination_host: validate::destination(&f("destination_host"), &req.destination_host, internal_ok)?,
        destination_port: validate::port(&f("destination_port"), req.destination_port)?,
        tls_mode: req.tls_mode.unwrap_or_default(),
        inbound_enabled: req.inbound_enabled.unwrap_or(true),
        outbound_enabled: req.outbound_enabled.unwrap_or(true),
        maintenance_banner: req
            .maintenance_banner
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .map(|b| validate::text(&f("maintenance_banner"), b, validate::MAX_BANNER))
            .transpose()?,
    })
}

#[utoipa::path(get, path = "/orgs/{id}/domains", tag = "tenancy", params(("id" = Uuid, Path), PageParams),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::Page<moat_openapi::Domain>), (status = 404, body = ErrorBody)))]
pub async fn list_domains(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Json<DomainList>> {
    caller.org(&state, id).await?;
    let paging = Paging::new(p.page, p.per_page);
    let (items, total) = state.store.list_domains(caller.scope, id, paging).await?;
    Ok(Json(DomainList::new(items, total, paging.page, paging.per_page)))
}

/// Add a domain to an organisation; its mail is relayed to `destination_host:destination_port`.
#[utoipa::path(post, path = "/orgs/{id}/domains", tag = "tenancy", params(("id" = Uuid, Path)), request_body = CreateDomain,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 201, body = Domain), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_domain(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<CreateDomain>,
) -> ApiResult<(StatusCode, Json<Domain>)> {
    caller.manage_org(&state, id).await?;
    let domain =
        state.store.create_domain(id, new_domain("", &req, caller.may_use_internal_destinations(&state))?).await?;
    tracing::info!(domain_id = %domain.id, org_id = %id, "domain created");
    Ok((StatusCode::CREATED, Json(domain)))
}

#[utoipa::path(get, path = "/domains/{id}", tag = "tenancy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = Domain), (status = 404, body = ErrorBody)))]
pub async fn get_domain(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Domain>> {
    Ok(Json(caller.domain(&state, id).await?))
}

/// Change a domain's destination, TLS mode, switches or maintenance banner.
#[utoipa::path(patch, path = "/domains/{id}", tag = "tenancy", params(("id" = Uuid, Path)), request_body = UpdateDomain,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = Domain), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_domain(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<UpdateDomain>,
) -> ApiResult<Json<Domain>> {
    let mut domain = caller.manage_domain(&state, id).await?;
    // Only a new destination is checked: a form that sends the unchanged one back (one the
    // platform admin may have set to an internal address) changes nothing.
    if let Some(host) =
        req.destination_host.as_deref().filter(|h| !h.trim().eq_ignore_ascii_case(&domain.destination_host))
    {
        let internal_ok = caller.may_use_internal_destinations(&state);
        domain.destination_host = validate::destination("destination_host", host, internal_ok)?;
    }
    if let Some(port) = req.destination_port {
        domain.destination_port = validate::port("destination_port", port)?;
    }
    if let Some(mode) = req.tls_mode {
        domain.tls_mode = mode;
    }
    if let Some(on) = req.inbound_enabled {
        domain.inbound_enabled = on;
    }
    if let Some(on) = req.outbound_enabled {
        domain.outbound_enabled = on;
    }
    if let Some(banner) = &req.maintenance_banner {
        domain.maintenance_banner = banner
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .map(|b| validate::text("maintenance_banner", b, validate::MAX_BANNER))
            .transpose()?;
    }
    if let Some(days) = req.queue_expiry_days {
        if let Some(days) = days.filter(|d| !(1..=MAX_QUEUE_EXPIRY_DAYS).contains(d)) {
            return Err(crate::error::ApiError::invalid(
                "queue_expiry_days",
                format!("queue_expiry_days must be 1 to {MAX_QUEUE_EXPIRY_DAYS} (got {days})"),
            ));
        }
        domain.queue_expiry_days = days;
    }
    state.store.update_domain(&domain).await?;
    Ok(Json(domain))
}

#[utoipa::path(delete, path = "/domains/{id}", tag = "tenancy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_domain(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    caller.manage_domain(&state, id).await?;
    state.store.delete_domain(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The policy that governs the domain: its organisation's, with the fields the domain sets
/// itself.
#[utoipa::path(get, path = "/domains/{id}/policy", tag = "policy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = Policy), (status = 404, body = ErrorBody)))]
pub async fn get_domain_policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Policy>> {
    let domain = caller.domain(&state, id).await?;
    let base = state.store.org_policy(domain.org_id).await?;
    Ok(Json(state.store.domain_policy(id).await?.apply(&base)))
}

/// The fields the domain sets itself (the others are inherited from its organisation).
#[utoipa::path(get, path = "/domains/{id}/policy/overrides", tag = "policy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = PolicyOverrides), (status = 404, body = ErrorBody)))]
pub async fn get_domain_policy_overrides(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<PolicyOverrides>> {
    caller.domain(&state, id).await?;
    Ok(Json(state.store.domain_policy(id).await?))
}

/// Set the fields the domain decides itself (thresholds, DMARC action, attachments,
/// greylisting, back-scatter, block action); a field left out or `null` is inherited from the
/// organisation. Replaces what the domain set before; answers the policy that now governs it.
#[utoipa::path(put, path = "/domains/{id}/policy", tag = "policy", params(("id" = Uuid, Path)), request_body = PolicyOverrides,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = Policy), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_domain_policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<PolicyOverrides>,
) -> ApiResult<Json<Policy>> {
    let domain = caller.manage_domain(&state, id).await?;
    let governing = validate::policy("policy", &req.apply(&state.store.org_policy(domain.org_id).await?))?;
    // Store the cleaned values (extensions lower-cased, sorted) of the fields it sets.
    let own = PolicyOverrides {
        blocked_extensions: req.blocked_extensions.as_ref().map(|_| governing.blocked_extensions.clone()),
        ..req
    };
    state.store.put_domain_policy(id, &own).await?;
    Ok(Json(governing))
}

/// Drop the domain's own policy; its organisation's applies again.
#[utoipa::path(delete, path = "/domains/{id}/policy", tag = "policy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_domain_policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    caller.manage_domain(&state, id).await?;
    state.store.delete_domain_policy(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
