//! Bulk paths: CSV user import and one-call MSP self-provisioning. Both are all or
//! nothing, and a bad CSV line is answered 422 naming its line (the header is line 1).

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use moat_openapi::{CreateDomain, CreateUser, ErrorBody, ImportResult, ProvisionRequest, ProvisionResponse, Role};
use uuid::Uuid;

use super::domains::new_domain;
use crate::accounts::{self, Home};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiBody, ApiJson, ApiPath};
use crate::state::AppState;
use crate::store::{NewUser, Provisioning, Scope};
use crate::validate;

/// Most rows one CSV may carry.
const MAX_CSV_ROWS: usize = 50_000;
const COLUMNS: [&str; 5] = ["email", "display_name", "role", "time_zone", "password"];

/// Parses a users CSV into `CreateUser`s with their line numbers, checking every row; the
/// first bad line is the error.
pub fn parse_users_csv(field: &str, text: &str) -> ApiResult<Vec<(u32, CreateUser)>> {
    let (rows, mut problems) = check_users_csv(field, text)?;
    if problems.is_empty() { Ok(rows) } else { Err(problems.swap_remove(0)) }
}

/// A user of a CSV, with its line.
pub type CsvUser = (u32, CreateUser);

/// Every row of a users CSV checked: the good ones, and one error per bad line (in line
/// order). An unreadable header is the only error that stops the check.
pub fn check_users_csv(field: &str, text: &str) -> ApiResult<(Vec<CsvUser>, Vec<ApiError>)> {
    let line_err = |line: u32, msg: String| {
        ApiError::Validation { message: msg, field: Some(field.into()), line: None }.at_line(line)
    };
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| line_err(1, format!("unreadable header: {e}")))?.clone();
    let mut index = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim_start_matches('\u{feff}').to_lowercase();
        if !COLUMNS.contains(&h.as_str()) {
            return Err(line_err(1, format!("unknown column `{h}` (columns: {})", COLUMNS.join(", "))));
        }
        if index.insert(h.clone(), i).is_some() {
            return Err(line_err(1, format!("column `{h}` appears twice")));
        }
    }
    for required in ["email", "display_name"] {
        if !index.contains_key(required) {
            return Err(line_err(1, format!("the header must name the column `{required}`")));
        }
    }
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut lines = Lines::new(text);
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| lines.of(p)).unwrap_or(0);
                problems.push(line_err(line, format!("malformed CSV: {e}")));
                continue;
            }
        };
        let line = record.position().map(|p| lines.of(p)).unwrap_or(0);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if rows.len() + problems.len() >= MAX_CSV_ROWS {
            problems.push(line_err(line, format!("at most {MAX_CSV_ROWS} users per import")));
            break;
        }
        let get = |col: &str| index.get(col).and_then(|&i| record.get(i)).filter(|v| !v.is_empty()).map(str::to_string);
        let role = match get("role") {
            None => Role::User,
            Some(r) => match moat_openapi::from_wire_name::<Role>(&r.to_lowercase()) {
                Some(role) => role,
                None => {
                    problems.push(line_err(line, format!("role: `{r}` is not org_admin, spam_czar or user")));
                    continue;
                }
            },
        };
        let user = CreateUser {
            email: get("email").unwrap_or_default(),
            display_name: get("display_name").unwrap_or_default(),
            role,
            password: get("password"),
            time_zone: get("time_zone"),
        };
        let email = match validate::email("email", &user.email) {
            Ok(e) => e,
            Err(e) => {
                problems.push(e.at_line(line));
                continue;
            }
        };
        if let Some(first) = seen.insert(email.clone(), line) {
            problems.push(line_err(line, format!("email {email} already appears on line {first}")));
            continue;
        }
        rows.push((line, user));
    }
    Ok((rows, problems))
}

/// The 1-based lines records start on (csv's own counter skips blank lines). Records come
/// in order, so each count goes on from the last one: a whole file is read once, not once
/// per record.
struct Lines<'t> {
    bytes: &'t [u8],
    counted_to: usize,
    newlines: usize,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Lines<'t> {
        Lines { bytes: text.as_bytes(), counted_to: 0, newlines: 0 }
    }

    fn of(&mut self, pos: &csv::Position) -> u32 {
        let bytes = self.bytes;
        let mut end = usize::try_from(pos.byte()).unwrap_or(usize::MAX).min(bytes.len());
        // A record's position is where the reader resumed, before any blank lines it skipped.
        while end < bytes.len() && matches!(bytes[end], b'\r' | b'\n') {
            end += 1;
        }
        if end < self.counted_to {
            (self.counted_to, self.newlines) = (0, 0);
        }
        self.newlines += bytes[self.counted_to..end].iter().filter(|&&b| b == b'\n').count();
        self.counted_to = end;
        u32::try_from(self.newlines + 1).unwrap_or(u32::MAX)
    }
}

/// Builds the users of CSV rows for `org`, whose domains are `domains`.
async fn build_users(
    state: &AppState,
    caller: &Caller,
    rows: &[(u32, CreateUser)],
    org: Uuid,
    domains: &HashSet<String>,
) -> ApiResult<Vec<(u32, NewUser)>> {
    let mut users = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        if !caller.may_grant(row.role) {
            return Err(ApiError::invalid(
                "role",
                format!("you cannot grant the role {}", moat_openapi::wire_name(&row.role)),
            )
            .at_line(*line));
        }
        accounts::check_own_domain("email", &row.email, domains).map_err(|e| e.at_line(*line))?;
        let new = accounts::build_new_user(state, row, Home::Org(org)).await.map_err(|e| e.at_line(*line))?;
        users.push((*line, new));
    }
    Ok(users)
}

/// The body of a CSV request as text: `text/csv`, UTF-8.
fn csv_text<'b>(headers: &HeaderMap, body: &'b [u8]) -> ApiResult<&'b str> {
    let is_csv = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("text/csv"));
    if !is_csv {
        return Err(ApiError::UnsupportedMediaType("text/csv"));
    }
    std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the CSV must be UTF-8", Some("csv".into())))
}

/// Import users from CSV (`text/csv`, header row `email,display_name[,role][,time_zone][,password]`).
#[utoipa::path(post, path = "/orgs/{id}/users/import", tag = "tenancy", params(("id" = Uuid, Path)),
    request_body(content = String, content_type = "text/csv"),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 201, body = ImportResult), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult<(StatusCode, Json<ImportResult>)> {
    caller.manage_org(&state, id).await?;
    let text = csv_text(&headers, &body)?;
    let rows = parse_users_csv("csv", text)?;
    let domains = state.store.org_domain_names(id).await?;
    let users = build_users(&state, &caller, &rows, id, &domains).await?;
    state.store.import_users(&users).await?;
    tracing::info!(org_id = %id, count = users.len(), "users imported");
    Ok((StatusCode::CREATED, Json(ImportResult { created: users.iter().map(|(_, u)| u.record.to_wire()).collect() })))
}

/// Check a users CSV without importing anything: every bad line with its problem (format,
/// role, email, duplicates, domain, an email already taken, a role the caller cannot grant),
/// and the users an import would create.
#[utoipa::path(post, path = "/orgs/{id}/users/import/preview", tag = "tenancy", params(("id" = Uuid, Path)),
    request_body(content = String, content_type = "text/csv"),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = moat_openapi::ImportPreview), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn preview_import(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult<Json<moat_openapi::ImportPreview>> {
    caller.manage_org(&state, id).await?;
    let text = csv_text(&headers, &body)?;
    let (rows, errors) = check_users_csv("csv", text)?;
    let domains = state.store.org_domain_names(id).await?;
    let mut problems: Vec<moat_openapi::ImportProblem> = errors.iter().filter_map(problem_of).collect();
    let mut ok = Vec::new();
    for (line, row) in rows {
        match preview_row(&state, &caller, &row, id, &domains).await {
            Ok(()) => ok.push(moat_openapi::ImportRow {
                line,
                email: row.email,
                display_name: row.display_name,
                role: row.role,
            }),
            Err(e) => problems.extend(problem_of(&e.at_line(line))),
        }
    }
    problems.sort_by_key(|p| p.line);
    Ok(Json(moat_openapi::ImportPreview { users: ok, problems }))
}

/// What an import would say of one row (without hashing its password): a role the caller
/// may not grant, an address outside the organisation's domains, bad fields, an email taken.
async fn preview_row(
    state: &AppState,
    caller: &Caller,
    row: &CreateUser,
    org: Uuid,
    domains: &HashSet<String>,
) -> ApiResult<()> {
    if !caller.may_grant(row.role) {
        return Err(ApiError::invalid(
            "role",
            format!("you cannot grant the role {}", moat_openapi::wire_name(&row.role)),
        ));
    }
    accounts::check_own_domain("email", &row.email, domains)?;
    accounts::check_new_user(row, Home::Org(org))?;
    if state.store.user_by_email(&row.email.trim().to_lowercase()).await?.is_some() {
        return Err(ApiError::conflict("email", format!("a user with the email {} exists already", row.email)));
    }
    Ok(())
}

/// A line's problem for the preview.
fn problem_of(e: &ApiError) -> Option<moat_openapi::ImportProblem> {
    match e {
        ApiError::Validation { message, line: Some(line), .. }
        | ApiError::Conflict { message, line: Some(line), .. } => {
            Some(moat_openapi::ImportProblem { line: *line, message: message.clone() })
        }
        _ => None,
    }
}

/// The organisation's users as CSV (`email,display_name,role,time_zone,status`), for
/// spreadsheets and PSA tools; importable again.
#[utoipa::path(get, path = "/orgs/{id}/users/export.csv", tag = "tenancy", params(("id" = Uuid, Path)),
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
pub async fn export_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    caller.manage_org(&state, id).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| ApiError::Internal(e.into());
    out.write_record(["email", "display_name", "role", "time_zone", "status"]).map_err(csv_err)?;
    let mut page = 1;
    loop {
        let paging = crate::store::Paging { page, per_page: crate::store::Paging::MAX_PER_PAGE };
        let (users, total) = state.store.list_users(caller.scope, crate::store::UserParent::Org(id), paging).await?;
        for u in &users {
            let role = moat_openapi::wire_name(&u.role);
            let status = if u.active { "active" } else { "invited" };
            out.write_record([u.email.as_str(), u.display_name.as_str(), role.as_str(), u.time_zone.as_str(), status])
                .map_err(csv_err)?;
        }
        if users.is_empty() || i64::from(page) * i64::from(paging.per_page) >= total {
            break;
        }
        page += 1;
    }
    let bytes = out.into_inner().map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"users.csv\""),
        ],
        bytes,
    )
        .into_response())
}

/// Provision an organisation in one call: domains, allowed outbound IPs, policy and users.
/// Creates the organisation with this id first when none exists and `name` is given.
#[utoipa::path(post, path = "/orgs/{id}/provision", tag = "tenancy", params(("id" = Uuid, Path)), request_body = ProvisionRequest,
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses((status = 200, body = ProvisionResponse), (status = 201, body = ProvisionResponse),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn provision(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<ProvisionRequest>,
) -> ApiResult<(StatusCode, Json<ProvisionResponse>)> {
    let create_org = org_to_create(&state, &caller, id, &req).await?;
    let domains = new_domains(&state, &caller, id, &req)?;
    let allowed_ips = new_relay_servers(&state, &caller, id, &req, create_org.is_none()).await?;
    let policy = req.policy.as_ref().map(|p| validate::policy("policy", p)).transpose()?;
    let rows = match &req.users_csv {
        Some(csv) => parse_users_csv("users_csv", csv)?,
        None => Vec::new(),
    };
    // Users may be on the organisation's domains, those it has and those this call adds.
    let mut own_domains = if create_org.is_some() { HashSet::new() } else { state.store.org_domain_names(id).await? };
    own_domains.extend(domains.iter().map(|d| d.name.clone()));
    let users = build_users(&state, &caller, &rows, id, &own_domains).await?;
    let created = create_org.is_some();
    let plan = Provisioning { org_id: id, create_org, domains, allowed_ips, policy, users };
    state.store.provision(&plan).await?;
    tracing::info!(org_id = %id, created, domains = plan.domains.len(), users = plan.users.len(), "org provisioned");
    let response = ProvisionResponse {
        org_id: id,
        allowed_ips: state.store.allowed_ips(id).await?,
        policy: state.store.org_policy(id).await?,
        domains: plan.domains,
        users: plan.users.iter().map(|(_, u)| u.record.to_wire()).collect(),
    };
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(response)))
}

/// `None` when the organisation exists (and the caller may change it); its MSP and name when
/// this call creates it. Another tenant's organisation, or a caller who could not create one,
/// answers not found.
async fn org_to_create(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    req: &ProvisionRequest,
) -> ApiResult<Option<(Uuid, String)>> {
    if state.store.get_org(caller.scope, id).await?.is_some() {
        caller.require(Role::OrgAdmin)?;
        return Ok(None);
    }
    if caller.role < Role::MspAdmin || state.store.org_exists(id).await? {
        return Err(ApiError::not_found());
    }
    let name =
        req.name.as_deref().ok_or_else(|| ApiError::invalid("name", "name is required to create the organisation"))?;
    let msp_id = match (req.msp_id, caller.scope) {
        (Some(msp), _) => caller.msp(state, msp).await?.id,
        (None, Scope::Msp(own)) => own,
        (None, _) => return Err(ApiError::invalid("msp_id", "msp_id is required")),
    };
    Ok(Some((msp_id, validate::name("name", name)?)))
}

/// The request's domains, validated, each named once.
fn new_domains(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    req: &ProvisionRequest,
) -> ApiResult<Vec<moat_openapi::Domain>> {
    let mut domains = Vec::new();
    let mut names = HashSet::new();
    for (i, d) in req.domains.iter().enumerate() {
        let field = format!("domains[{i}]");
        let create = CreateDomain {
            name: d.name.clone(),
            destination_host: d.destination_host.clone(),
            destination_port: d.destination_port,
            tls_mode: d.tls_mode,
            inbound_enabled: None,
            outbound_enabled: None,
            maintenance_banner: None,
        };
        let domain = new_domain(&field, &create, caller.may_use_internal_destinations(state))?.into_domain(id);
        if !names.insert(domain.name.clone()) {
            return Err(ApiError::invalid(&format!("{field}.name"), format!("{} is listed twice", domain.name)));
        }
        domains.push(domain);
    }
    Ok(domains)
}

/// The request's relay servers that the organisation does not list yet (a server listed
/// already is kept rather than refused), each within the caller's width limit, and no more
/// than the organisation may have.
async fn new_relay_servers(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    req: &ProvisionRequest,
    org_exists: bool,
) -> ApiResult<Vec<String>> {
    let mut cidrs = Vec::new();
    for (i, ip) in req.allowed_ips.iter().enumerate() {
        let cidr = validate::relay_cidr(&format!("allowed_ips[{i}]"), ip, caller.may_set_wide_relay_ranges())?;
        if !cidrs.contains(&cidr) {
            cidrs.push(cidr);
        }
    }
    let have: HashSet<String> =
        if org_exists { state.store.allowed_ips(id).await?.into_iter().collect() } else { HashSet::new() };
    cidrs.retain(|c| !have.contains(c));
    if have.len() + cidrs.len() > super::relay::MAX_RELAY_SERVERS {
        return Err(ApiError::invalid(
            "allowed_ips",
            format!("an organisation lists at most {} relay servers", super::relay::MAX_RELAY_SERVERS),
        ));
    }
    Ok(cidrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_carry_their_line_numbers() {
        let rows =
            parse_users_csv("csv", "email,display_name,role\na@x.test,A,user\n\nb@x.test,B,spam_czar\n").unwrap();
        assert_eq!(rows.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![2, 4]);
        assert_eq!(rows[1].1.role, Role::SpamCzar);
    }

    #[test]
    fn bad_lines_are_named() {
        let err = parse_users_csv("csv", "email,display_name\na@x.test,A\nnot-an-email,B\n").unwrap_err();
        assert!(matches!(err, ApiError::Validation { line: Some(3), .. }), "{err:?}");
        let err = parse_users_csv("csv", "email,display_name\na@x.test,A\nA@x.test,B\n").unwrap_err();
        assert!(matches!(err, ApiError::Validation { line: Some(3), .. }), "{err:?}");
        let err = parse_users_csv("csv", "mail,display_name\n").unwrap_err();
        assert!(matches!(err, ApiError::Validation { line: Some(1), .. }), "{err:?}");
        let err = parse_users_csv("csv", "email,display_name\na@x.test,A,extra\n").unwrap_err();
        assert!(matches!(err, ApiError::Validation { line: Some(2), .. }), "{err:?}");
    }
}
