//! The system of record: MSP → org → domain → user, roles and reach.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, tenant};

#[tokio::test]
async fn platform_admin_builds_a_tenant_and_its_user_sees_its_reach() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let msp = app.create("/api/v1/msps", &admin, json!({"name": "Acme IT"})).await;
    let org = app.create("/api/v1/orgs", &admin, json!({"name": "Widgets Inc", "msp_id": msp})).await;
    let (status, domain) = app
        .post(
            &format!("/api/v1/orgs/{org}/domains"),
            &admin,
            json!({"name": "Widgets.TEST", "destination_host": "mail.widgets.test", "destination_port": 25}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{domain}");
    assert_eq!(domain["name"], "widgets.test");
    assert_eq!(domain["tls_mode"], "opportunistic");
    assert_eq!(domain["inbound_enabled"], true);
    let user = app
        .create(
            &format!("/api/v1/orgs/{org}/users"),
            &admin,
            json!({"email": "Ann@Widgets.test", "display_name": "Ann", "role": "user", "password": "s3cret-enough"}),
        )
        .await;

    let token = app.login("ann@widgets.test", "s3cret-enough").await;
    let (status, me) = app.get("/api/v1/auth/me", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "user");
    assert_eq!(me["user"]["id"], user.as_str());
    assert_eq!(me["reach"]["level"], "user");
    assert_eq!(me["reach"]["org_id"], org.as_str());
    assert_eq!(me["reach"]["msp_id"], msp.as_str());
    assert_eq!(me["reach"]["user_ids"], json!([user]));

    let (status, orgs) = app.get("/api/v1/orgs", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(orgs["total"], 1);
    assert_eq!(orgs["items"][0]["id"], org.as_str());
}

#[tokio::test]
async fn msp_admin_sees_only_its_own_orgs() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "alpha").await;
    let b = tenant(&app, &admin, "beta").await;
    let extra = app.create("/api/v1/orgs", &a.msp_admin, json!({"name": "Second org of alpha"})).await;

    let (_, orgs) = app.get("/api/v1/orgs", &a.msp_admin).await;
    let ids: Vec<&str> = orgs["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(orgs["total"], 2);
    assert!(ids.contains(&a.org_id.as_str()) && ids.contains(&extra.as_str()));
    assert!(!ids.contains(&b.org_id.as_str()));

    let (_, msps) = app.get("/api/v1/msps", &a.msp_admin).await;
    assert_eq!(msps["total"], 1);
    assert_eq!(msps["items"][0]["id"], a.msp_id.as_str());

    let (_, all) = app.get("/api/v1/orgs", &admin).await;
    assert_eq!(all["total"], 3);

    // An MSP admin cannot create an org under another MSP.
    let (status, _) = app.post("/api/v1/orgs", &a.msp_admin, json!({"name": "sneaky", "msp_id": b.msp_id})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn roles_limit_what_can_be_changed() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "gamma").await;

    // A plain user sees its org but may not add domains or users, nor create MSPs/orgs.
    let (status, _) = app.get(&format!("/api/v1/orgs/{}", t.org_id), &t.user).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(
            &format!("/api/v1/orgs/{}/domains", t.org_id),
            &t.user,
            json!({"name": "x.test", "destination_host": "h", "destination_port": 25}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.post("/api/v1/msps", &t.org_admin, json!({"name": "nope"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.post("/api/v1/orgs", &t.org_admin, json!({"name": "nope"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A user sees only itself among the org's users; the org admin sees all.
    let (_, users) = app.get(&format!("/api/v1/orgs/{}/users", t.org_id), &t.user).await;
    assert_eq!(users["total"], 1);
    let (_, users) = app.get(&format!("/api/v1/orgs/{}/users", t.org_id), &t.org_admin).await;
    assert_eq!(users["total"], 2);

    // An org admin cannot grant msp_admin, nor can a user change its own role.
    let (status, _) =
        app.patch(&format!("/api/v1/users/{}", t.user_id), &t.org_admin, json!({"role": "msp_admin"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.patch(&format!("/api/v1/users/{}", t.user_id), &t.user, json!({"role": "org_admin"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) =
        app.patch(&format!("/api/v1/users/{}", t.user_id), &t.org_admin, json!({"role": "spam_czar"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "spam_czar");

    // Users edit their own profile.
    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{}", t.user_id),
            &t.user,
            json!({"display_name": "Me", "time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["time_zone"], "Europe/Berlin");
}

#[tokio::test]
async fn quarantine_delegation_extends_a_users_reach() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "delta").await;
    let bob = app
        .create(
            &format!("/api/v1/orgs/{}/users", t.org_id),
            &t.org_admin,
            json!({"email": "bob@delta.test", "display_name": "Bob", "role": "user", "password": "bob-password"}),
        )
        .await;
    let bob_token = app.login("bob@delta.test", "bob-password").await;
    // Bob cannot see the user before the delegation ...
    let (status, _) = app.get(&format!("/api/v1/users/{}", t.user_id), &bob_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // ... the user delegates its quarantine to Bob ...
    let (status, body) =
        app.patch(&format!("/api/v1/users/{}", t.user_id), &t.user, json!({"quarantine_delegate_id": bob})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // ... and now Bob's reach includes the user.
    let (_, me) = app.get("/api/v1/auth/me", &bob_token).await;
    assert_eq!(me["reach"]["user_ids"], json!([bob, t.user_id]));
    let (status, _) = app.get(&format!("/api/v1/users/{}", t.user_id), &bob_token).await;
    assert_eq!(status, StatusCode::OK);
    // Clearing with null removes it.
    let (_, body) =
        app.patch(&format!("/api/v1/users/{}", t.user_id), &t.user, json!({"quarantine_delegate_id": null})).await;
    assert_eq!(body["quarantine_delegate_id"], json!(null));
    // A delegate outside the org is refused.
    let other = tenant(&app, &admin, "epsilon").await;
    let (status, _) = app
        .patch(&format!("/api/v1/users/{}", t.user_id), &t.user, json!({"quarantine_delegate_id": other.user_id}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn domains_update_and_delete_and_orgs_cascade() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "zeta").await;
    let path = format!("/api/v1/domains/{}", t.domain_id);
    let (status, d) = app
        .patch(
            &path,
            &t.org_admin,
            json!({"tls_mode": "required", "maintenance_banner": "Moving servers tonight", "destination_port": 587}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["tls_mode"], "required");
    assert_eq!(d["destination_port"], 587);
    let (_, d) = app.get(&path, &t.user).await;
    assert_eq!(d["maintenance_banner"], "Moving servers tonight");
    // The login page shows it before anyone signs in (no token); other domains have none.
    let (status, b) = app.call(Method::GET, "/api/v1/banner?domain=Zeta.Test", None, None).await;
    assert_eq!((status, &b["banner"]), (StatusCode::OK, &json!("Moving servers tonight")), "{b}");
    assert_eq!(app.call(Method::GET, "/api/v1/banner?domain=other.test", None, None).await.1["banner"], json!(null));
    let (_, d) = app.patch(&path, &t.org_admin, json!({"maintenance_banner": null})).await;
    assert_eq!(d["maintenance_banner"], json!(null));
    assert_eq!(app.call(Method::GET, "/api/v1/banner?domain=zeta.test", None, None).await.1["banner"], json!(null));

    // Deleting an MSP with orgs is refused; deleting the org removes its domains and users.
    let (status, _) = app.delete(&format!("/api/v1/msps/{}", t.msp_id), &admin).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app.delete(&format!("/api/v1/orgs/{}", t.org_id), &t.org_admin).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.delete(&format!("/api/v1/orgs/{}", t.org_id), &t.msp_admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&path, &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&format!("/api/v1/users/{}", t.user_id), &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.delete(&format!("/api/v1/msps/{}", t.msp_id), &admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn lists_are_paged_with_a_total() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let msp = app.create("/api/v1/msps", &admin, json!({"name": "Pager"})).await;
    for i in 0..7 {
        app.create("/api/v1/orgs", &admin, json!({"name": format!("org {i:02}"), "msp_id": msp})).await;
    }
    let (_, page) = app.get("/api/v1/orgs?page=2&per_page=3", &admin).await;
    assert_eq!(page["total"], 7);
    assert_eq!(page["page"], 2);
    let names: Vec<&str> = page["items"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["org 03", "org 04", "org 05"]);
    let (_, last) = app.get("/api/v1/orgs?page=3&per_page=3", &admin).await;
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn colleagues_are_the_other_users_of_ones_own_organisation_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "col-a").await;
    let _b = tenant(&app, &admin, "col-b").await;
    let (status, list) = app.get("/api/v1/users/colleagues", &a.user).await;
    assert_eq!(status, StatusCode::OK);
    let emails: Vec<&str> = list["items"].as_array().unwrap().iter().map(|c| c["email"].as_str().unwrap()).collect();
    assert_eq!(emails, vec!["admin@col-a.test"], "the org's other users, not itself, not another tenant's");
    assert_eq!(list["total"], 1);
    assert!(list["items"][0].get("role").is_none(), "a picker needs no more than id, email and name");
    let (_, list) = app.get("/api/v1/users/colleagues", &a.msp_admin).await;
    assert_eq!(list["total"], 0, "MSP admins belong to no organisation");
}

#[tokio::test]
async fn a_domains_maintenance_banner_reaches_its_users_and_no_one_else() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "banner").await;
    let o = tenant(&app, &admin, "banner-other").await;
    let banner = json!({"maintenance_banner": "Moving servers tonight"});
    let (status, _) = app.patch(&format!("/api/v1/domains/{}", t.domain_id), &t.org_admin, banner).await;
    assert_eq!(status, StatusCode::OK);
    let (_, me) = app.get("/api/v1/auth/me", &t.user).await;
    assert_eq!(me["banner"], "Moving servers tonight");
    let (_, other) = app.get("/api/v1/auth/me", &o.user).await;
    assert_eq!(other["banner"], serde_json::Value::Null, "another tenant's users see nothing");
    let (_, msp) = app.get("/api/v1/auth/me", &t.msp_admin).await;
    assert_eq!(msp["banner"], serde_json::Value::Null, "MSP admins have no domain of their own here");
    let clear = json!({"maintenance_banner": null});
    app.patch(&format!("/api/v1/domains/{}", t.domain_id), &t.org_admin, clear).await;
    let (_, me) = app.get("/api/v1/auth/me", &t.user).await;
    assert_eq!(me["banner"], serde_json::Value::Null, "cleared: gone");
}

#[tokio::test]
async fn an_unchanged_internal_destination_may_be_sent_back_but_not_a_new_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "sendback").await;
    // The tenant's domain points at 127.0.0.1 (set by the platform admin).
    let path = format!("/api/v1/domains/{}", t.domain_id);
    let same = json!({"destination_host": "127.0.0.1", "maintenance_banner": "Back soon"});
    let (status, body) = app.patch(&path, &t.org_admin, same).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.patch(&path, &t.org_admin, json!({"destination_host": "127.0.0.2"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "destination_host");
}
