//! Isolation: every endpoint, called by every kind of caller of tenant A with tenant B's
//! ids, answers 404 and changes nothing.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, tenant};

#[tokio::test]
async fn every_endpoint_answers_404_for_another_tenants_ids() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "tenant-a").await;
    let b = tenant(&app, &admin, "tenant-b").await;

    let (status, key) = app
        .post("/api/v1/api-keys", &a.org_admin, json!({"name": "psa", "scope": {"level": "org", "id": a.org_id}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let a_org_key = key["secret"].as_str().unwrap().to_string();
    let (_, key) = app
        .post("/api/v1/api-keys", &a.msp_admin, json!({"name": "rmm", "scope": {"level": "msp", "id": a.msp_id}}))
        .await;
    let a_msp_key = key["secret"].as_str().unwrap().to_string();
    let (_, key) = app
        .post("/api/v1/api-keys", &b.org_admin, json!({"name": "b-key", "scope": {"level": "org", "id": b.org_id}}))
        .await;
    let b_key_id = key["id"].as_str().unwrap().to_string();
    let (status, relay) =
        app.post(&format!("/api/v1/orgs/{}/allowed-ips", b.org_id), &b.org_admin, json!({"cidr": "192.0.2.25"})).await;
    assert_eq!(status, StatusCode::CREATED, "{relay}");
    let b_relay_id = relay["id"].as_str().unwrap().to_string();

    let domain = json!({"name": "new-domain.test", "destination_host": "127.0.0.1", "destination_port": 25});
    let user =
        json!({"email": "intruder@tenant-b.test", "display_name": "X", "role": "user", "password": "long-enough-pw"});
    let msp_user = json!({"email": "intruder2@tenant-b.test", "display_name": "X", "role": "msp_admin", "password": "long-enough-pw"});
    let (m, o, d) = (&b.msp_id, &b.org_id, &b.domain_id);
    let mut calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/msps/{m}"), None),
        (Method::PATCH, format!("/api/v1/msps/{m}"), Some(json!({"name": "pwned"}))),
        (Method::DELETE, format!("/api/v1/msps/{m}"), None),
        (Method::GET, format!("/api/v1/msps/{m}/users"), None),
        (Method::POST, format!("/api/v1/msps/{m}/users"), Some(msp_user)),
        (Method::GET, format!("/api/v1/orgs/{o}"), None),
        (Method::PATCH, format!("/api/v1/orgs/{o}"), Some(json!({"name": "pwned"}))),
        (Method::DELETE, format!("/api/v1/orgs/{o}"), None),
        (Method::GET, format!("/api/v1/orgs/{o}/policy"), None),
        (Method::PUT, format!("/api/v1/orgs/{o}/policy"), Some(json!({"greylisting": true}))),
        (Method::GET, format!("/api/v1/orgs/{o}/domains"), None),
        (Method::POST, format!("/api/v1/orgs/{o}/domains"), Some(domain.clone())),
        (Method::GET, format!("/api/v1/orgs/{o}/users"), None),
        (Method::POST, format!("/api/v1/orgs/{o}/users"), Some(user)),
        (Method::POST, format!("/api/v1/orgs/{o}/provision"), Some(json!({"domains": [domain]}))),
        (Method::GET, format!("/api/v1/orgs/{o}/allowed-ips"), None),
        (Method::POST, format!("/api/v1/orgs/{o}/allowed-ips"), Some(json!({"cidr": "198.51.100.7"}))),
        (Method::DELETE, format!("/api/v1/orgs/{o}/allowed-ips/{b_relay_id}"), None),
        (Method::GET, format!("/api/v1/domains/{d}"), None),
        (Method::PATCH, format!("/api/v1/domains/{d}"), Some(json!({"destination_port": 26}))),
        (Method::GET, format!("/api/v1/domains/{d}/policy"), None),
        (Method::PUT, format!("/api/v1/domains/{d}/policy"), Some(json!({"dmarc_action": "none"}))),
        (Method::DELETE, format!("/api/v1/domains/{d}/policy"), None),
        (Method::DELETE, format!("/api/v1/domains/{d}"), None),
        (Method::DELETE, format!("/api/v1/api-keys/{b_key_id}"), None),
        (Method::POST, "/api/v1/api-keys".into(), Some(json!({"name": "k", "scope": {"level": "org", "id": o}}))),
        (Method::POST, "/api/v1/api-keys".into(), Some(json!({"name": "k", "scope": {"level": "msp", "id": m}}))),
    ];
    for target in [&b.user_id, &b.org_admin_id, &b.msp_admin_id] {
        calls.push((Method::GET, format!("/api/v1/users/{target}"), None));
        calls.push((Method::PATCH, format!("/api/v1/users/{target}"), Some(json!({"display_name": "pwned"}))));
        calls.push((Method::DELETE, format!("/api/v1/users/{target}"), None));
        for action in ["resend-welcome", "reset-password", "reset-settings"] {
            calls.push((Method::POST, format!("/api/v1/users/{target}/{action}"), None));
        }
    }

    let callers = [
        ("msp admin", a.msp_admin.as_str()),
        ("org admin", a.org_admin.as_str()),
        ("user", a.user.as_str()),
        ("org api key", a_org_key.as_str()),
        ("msp api key", a_msp_key.as_str()),
    ];
    for (who, token) in callers {
        for (method, path, body) in &calls {
            let (status, res) = app.call(method.clone(), path, Some(token), body.clone()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{who}: {method} {path} answered {status}: {res}");
            assert_eq!(res["error"]["code"], "not_found", "{who}: {method} {path}");
        }
        let (status, res) = app
            .raw(
                Method::POST,
                &format!("/api/v1/orgs/{o}/users/import"),
                Some(token),
                "text/csv",
                "email,display_name\nx@tenant-b.test,X\n",
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who}: import answered {res}");
        // Lists never include the other tenant.
        let (_, orgs) = app.get("/api/v1/orgs", token).await;
        assert!(!orgs.to_string().contains(o.as_str()), "{who} lists B's org");
        let (_, keys) = app.get("/api/v1/api-keys", token).await;
        assert!(!keys.to_string().contains(&b_key_id), "{who} lists B's key");
    }

    // Tenant B is untouched.
    let (_, org) = app.get(&format!("/api/v1/orgs/{o}"), &b.org_admin).await;
    assert_eq!(org["name"], "Org tenant-b");
    let (_, users) = app.get(&format!("/api/v1/orgs/{o}/users"), &b.org_admin).await;
    assert_eq!(users["total"], 2);
    let (_, domains) = app.get(&format!("/api/v1/orgs/{o}/domains"), &b.org_admin).await;
    assert_eq!(domains["total"], 1);
    assert_eq!(domains["items"][0]["destination_port"], 2525);
    let (status, _) = app.get("/api/v1/auth/me", &b.user).await;
    assert_eq!(status, StatusCode::OK);
    let (_, relays) = app.get(&format!("/api/v1/orgs/{o}/allowed-ips"), &b.org_admin).await;
    assert_eq!(relays["items"].as_array().map(|a| a.len()), Some(1), "{relays}");
    assert_eq!(relays["items"][0]["cidr"], "192.0.2.25/32");
}
