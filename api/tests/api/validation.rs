//! Bad input gets a clear 4xx in the one error shape, names the field, and changes nothing.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, tenant};

#[tokio::test]
async fn malformed_and_mistyped_json_is_refused_with_the_field_named() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;

    let (status, body) = app.raw(Method::POST, "/api/v1/msps", Some(&admin), "application/json", "{\"name\": ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "bad_request");

    let (status, body) = app.raw(Method::POST, "/api/v1/msps", Some(&admin), "text/plain", "{\"name\":\"x\"}").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");

    let cases = [
        ("/api/v1/msps", json!({"name": "ok", "colour": "red"}), "colour"),
        ("/api/v1/msps", json!({"name": 42}), "name"),
        ("/api/v1/msps", json!({}), "name"),
        ("/api/v1/msps", json!({"name": "x".repeat(201)}), "name"),
        ("/api/v1/msps", json!({"name": "   "}), "name"),
        ("/api/v1/orgs", json!({"name": "o", "msp_id": "not-a-uuid"}), "msp_id"),
    ];
    for (path, body, field) in cases {
        let (status, res) = app.post(path, &admin, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {res}");
        assert_eq!(res["error"]["code"], "validation");
        assert_eq!(res["error"]["field"], field, "{body} → {res}");
    }
    let (_, msps) = app.get("/api/v1/msps", &admin).await;
    assert_eq!(msps["total"], 0, "nothing was created");

    let (status, res) = app.get("/api/v1/orgs/not-a-uuid", &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(res["error"]["field"], "id");
    let (status, res) = app.get("/api/v1/nowhere", &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(res["error"]["code"], "not_found");
}

#[tokio::test]
async fn bad_domains_emails_ports_and_time_zones_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "valid").await;
    let domains = format!("/api/v1/orgs/{}/domains", t.org_id);
    let users = format!("/api/v1/orgs/{}/users", t.org_id);
    let cases = [
        (&domains, json!({"name": "no_underscores.test", "destination_host": "h", "destination_port": 25}), "name"),
        (
            &domains,
            json!({"name": "ok.test", "destination_host": "bad host!", "destination_port": 25}),
            "destination_host",
        ),
        (&domains, json!({"name": "ok.test", "destination_host": "h", "destination_port": 0}), "destination_port"),
        (&domains, json!({"name": "ok.test", "destination_host": "h", "destination_port": 70000}), "destination_port"),
        (
            &domains,
            json!({"name": "ok.test", "destination_host": "h", "destination_port": 25, "tls_mode": "sometimes"}),
            "tls_mode",
        ),
        (&users, json!({"email": "not-an-email", "display_name": "X", "role": "user"}), "email"),
        (&users, json!({"email": "x@valid.test", "display_name": "X", "role": "overlord"}), "role"),
        (
            &users,
            json!({"email": "x@valid.test", "display_name": "X", "role": "user", "time_zone": "Mars/Base"}),
            "time_zone",
        ),
        (
            &users,
            json!({"email": "x@valid.test", "display_name": "X", "role": "user", "password": "short"}),
            "password",
        ),
        (&users, json!({"email": "x@valid.test", "display_name": "X", "role": "platform_admin"}), "role"),
    ];
    for (path, body, field) in cases {
        let (status, res) = app.post(path, &t.org_admin, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {res}");
        assert_eq!(res["error"]["field"], field, "{body} → {res}");
    }
    let (_, list) = app.get(&domains, &t.org_admin).await;
    assert_eq!(list["total"], 1);
    let (_, list) = app.get(&users, &t.org_admin).await;
    assert_eq!(list["total"], 2);

    let (status, res) =
        app.put_policy(&t.org_id, &t.org_admin, json!({"quarantine_threshold": 20, "reject_threshold": 10})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{res}");
}

#[tokio::test]
async fn duplicates_answer_409_with_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "dup").await;
    let (status, res) = app.post("/api/v1/msps", &admin, json!({"name": "MSP dup"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(res["error"]["field"], "name");
    let (status, res) = app
        .post(
            &format!("/api/v1/orgs/{}/domains", t.org_id),
            &admin,
            json!({"name": "DUP.test", "destination_host": "h", "destination_port": 25}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{res}");
    assert_eq!(res["error"]["field"], "name");
    let (status, res) = app
        .post(
            &format!("/api/v1/orgs/{}/users", t.org_id),
            &admin,
            json!({"email": "USER@dup.test", "display_name": "Again", "role": "user"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{res}");
    assert_eq!(res["error"]["field"], "email");
}

impl TestApp {
    pub async fn put_policy(&self, org: &str, token: &str, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
        self.call(Method::PUT, &format!("/api/v1/orgs/{org}/policy"), Some(token), Some(body)).await
    }
}
