//! The audit log: state-changing calls, logins and raw reads recorded with who, what,
//! outcome and tenant; read back within reach only; exported as CSV by admins.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, tenant};

fn actions(list: &Value) -> Vec<(String, String, i64)> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["status"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_change_and_login_is_recorded_and_read_back_only_within_reach() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "aud-a").await;
    let b = tenant(&app, &admin, "aud-b").await;
    // A failed login, a change by the org admin, one refused change.
    let (status, _) = app
        .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": "user@aud-a.test", "password": "wrong"})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) =
        app.patch(&format!("/api/v1/users/{}", a.user_id), &a.org_admin, json!({"display_name": "Renamed"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) =
        app.post("/api/v1/quarantine/reviewed", &a.user, json!({"ids": ["nope"], "reviewed": true})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, list) = app.get("/api/v1/audit?per_page=500", &a.org_admin).await;
    assert_eq!(status, StatusCode::OK);
    let seen = actions(&list);
    assert!(seen.contains(&("user@aud-a.test".into(), "login (refused)".into(), 401)), "{seen:?}");
    assert!(seen.contains(&("admin@aud-a.test".into(), "login".into(), 200)), "{seen:?}");
    assert!(seen.contains(&("admin@aud-a.test".into(), format!("PATCH /api/v1/users/{}", a.user_id), 200)), "{seen:?}");
    assert!(seen.contains(&("user@aud-a.test".into(), "POST /api/v1/quarantine/reviewed".into(), 404)), "{seen:?}");
    assert!(
        seen.iter().any(|(actor, action, _)| actor == "root@platform.test"
            && action.starts_with(&format!("POST /api/v1/orgs/{}/users", a.org_id))),
        "the platform admin's changes to the organisation are the organisation's too: {seen:?}"
    );
    assert!(seen.iter().all(|(actor, _, _)| !actor.ends_with("@aud-b.test")), "nothing of the other tenant: {seen:?}");

    // The other tenant's admin sees none of it; a plain user sees its own actions only.
    let (_, theirs) = app.get("/api/v1/audit?per_page=500", &b.org_admin).await;
    assert!(actions(&theirs).iter().all(|(actor, _, _)| !actor.ends_with("@aud-a.test")), "{theirs}");
    let (_, own) = app.get("/api/v1/audit?per_page=500", &a.user).await;
    let own = actions(&own);
    assert!(!own.is_empty() && own.iter().all(|(actor, _, _)| actor == "user@aud-a.test"), "{own:?}");
    // The MSP admin sees its organisation's entries; search narrows them.
    let (_, msp) = app.get("/api/v1/audit?per_page=500&q=quarantine/reviewed", &a.msp_admin).await;
    assert_eq!(actions(&msp), vec![("user@aud-a.test".into(), "POST /api/v1/quarantine/reviewed".into(), 404)]);

    // CSV for admins.
    let (status, headers, csv) = app.download("/api/v1/audit/export.csv", &a.org_admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("at,actor_kind,actor,ip,action,status,org_id,msp_id\n"), "{csv}");
    assert!(csv.contains("PATCH /api/v1/users/"));
    assert!(!csv.contains("@aud-b.test"));
    assert_eq!(app.download("/api/v1/audit/export.csv", &a.user).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_opening_a_users_quarantine_or_message_is_audited_and_the_user_itself_is_not() {
    let app = crate::helpers::TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = crate::helpers::tenant(&app, &admin, "auditread").await;
    let node = crate::helpers::node_token(&app).await;
    let upload = serde_json::json!({"id": "ar-1", "org_id": t.org_id, "user_id": t.user_id,
        "recipient": "user@auditread.test", "sender": "x@ext.test", "subject": "s", "score": 6.0, "reasons": [],
        "raw_base64": "U3ViamVjdDogcw0KDQpoaQ0K", "received_at": chrono::Utc::now()});
    assert_eq!(app.post("/api/v1/worker/quarantine", &node, upload).await.0.as_u16(), 201);
    app.get("/api/v1/quarantine/ar-1/preview", &t.user).await;
    let (_, log) = app.get("/api/v1/audit?q=read%20the%20message", &t.org_admin).await;
    assert_eq!(log["total"], 0, "a user reading its own mail is not audited: {log}");
    app.get(&format!("/api/v1/quarantine?user_id={}", t.user_id), &t.org_admin).await;
    app.get("/api/v1/quarantine/ar-1", &t.org_admin).await;
    let (_, log) = app.get("/api/v1/audit?q=the%20message%20ar-1", &t.org_admin).await;
    assert_eq!(log["total"], 1, "{log}");
    let (_, log) = app.get(&format!("/api/v1/audit?q=quarantine%20of%20user%20{}", t.user_id), &t.org_admin).await;
    assert_eq!(log["total"], 1, "{log}");
}
