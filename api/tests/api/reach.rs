//! Who acts on which held messages: a delegate on its delegator's, a spam czar on its whole
//! organisation's, nobody on another tenant's (404, and nothing changes); every action lands
//! in the audit log.

use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, node_token, tenant};

async fn hold(app: &TestApp, node: &str, t: &Tenant, id: &str, user: &str, recipient: &str) {
    let upload = json!({"id": id, "org_id": t.org_id, "user_id": user, "recipient": recipient,
        "sender": "x@ext.test", "subject": format!("about {id}"), "score": 6.0, "reasons": [],
        "raw_base64": "U3ViamVjdDogaGkNCg0KaGkNCg==", "received_at": chrono::Utc::now()});
    assert_eq!(app.post("/api/v1/worker/quarantine", node, upload).await.0.as_u16(), 201);
}

fn ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        list["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().into()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_delegate_and_a_spam_czar_act_on_what_they_reach_and_nothing_else() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "reach").await;
    let o = tenant(&app, &admin, "reach-other").await;
    let mut people = Vec::new();
    for (name, role) in [("bob", "user"), ("carol", "spam_czar"), ("dave", "user")] {
        let body = json!({"email": format!("{name}@reach.test"), "display_name": name, "role": role, "password": "pass-word-123"});
        let id = app.create(&format!("/api/v1/orgs/{}/users", t.org_id), &t.org_admin, body).await;
        people.push((id, app.login(&format!("{name}@reach.test"), "pass-word-123").await));
    }
    let [(bob_id, bob), (_, carol), (dave_id, _)] = people.try_into().unwrap();
    let node = node_token(&app).await;
    hold(&app, &node, &t, "m-user", &t.user_id, "user@reach.test").await;
    hold(&app, &node, &t, "m-dave", &dave_id, "dave@reach.test").await;
    hold(&app, &node, &o, "m-other", &o.user_id, "user@reach-other.test").await;
    let path = format!("/api/v1/users/{}", t.user_id);
    assert_eq!(app.patch(&path, &t.user, json!({"quarantine_delegate_id": bob_id})).await.0.as_u16(), 200);

    // The delegate: the delegator's mail, not a colleague's, not another tenant's.
    assert_eq!(ids(&app.get("/api/v1/quarantine", &bob).await.1), vec!["m-user"]);
    for id in ["m-dave", "m-other"] {
        assert_eq!(app.get(&format!("/api/v1/quarantine/{id}"), &bob).await.0.as_u16(), 404);
    }
    let (status, _) = app.post("/api/v1/quarantine/release", &bob, json!({"ids": ["m-user", "m-dave"]})).await;
    assert_eq!(status.as_u16(), 404, "one id out of reach: all refused");
    let (_, summary) = app.get("/api/v1/quarantine/summary", &t.user).await;
    assert_eq!(summary["unread"], 1, "and nothing changed");
    assert_eq!(app.post("/api/v1/quarantine/release", &bob, json!({"ids": ["m-user"]})).await.0.as_u16(), 202);

    // The spam czar: the whole organisation, nothing of another.
    assert_eq!(ids(&app.get("/api/v1/quarantine", &carol).await.1), vec!["m-dave", "m-user"]);
    assert_eq!(app.get("/api/v1/quarantine/m-other", &carol).await.0.as_u16(), 404);
    for (action, body) in [
        ("reviewed", json!({"ids": ["m-other"], "reviewed": true})),
        ("delete", json!({"ids": ["m-other"]})),
        ("report", json!({"ids": ["m-other"], "spam": true})),
        ("release", json!({"ids": ["m-other"]})),
    ] {
        assert_eq!(app.post(&format!("/api/v1/quarantine/{action}"), &carol, body).await.0.as_u16(), 404, "{action}");
    }
    let (status, r) = app.post("/api/v1/quarantine/report", &carol, json!({"ids": ["m-dave"], "spam": true})).await;
    assert_eq!((status.as_u16(), r["affected"].as_i64()), (200, Some(1)));
    assert_eq!(
        app.get("/api/v1/quarantine/m-other", &o.user).await.0.as_u16(),
        200,
        "the other tenant's mail is intact"
    );

    // Every action is in the organisation's audit log, under who did it.
    let (_, log) = app.get("/api/v1/audit?q=quarantine&per_page=100", &t.org_admin).await;
    let entries: Vec<(String, String, i64)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (e["actor"].as_str().unwrap().into(), e["action"].as_str().unwrap().into(), e["status"].as_i64().unwrap())
        })
        .collect();
    for expected in [
        ("bob@reach.test", "POST /api/v1/quarantine/release", 404),
        ("bob@reach.test", "POST /api/v1/quarantine/release", 202),
        ("carol@reach.test", "POST /api/v1/quarantine/report", 200),
        ("carol@reach.test", "POST /api/v1/quarantine/delete", 404),
    ] {
        assert!(
            entries.iter().any(|(a, w, s)| a == expected.0 && w.starts_with(expected.1) && *s == expected.2),
            "{expected:?} not in {entries:?}"
        );
    }
    let (_, theirs) = app.get("/api/v1/audit?q=quarantine&per_page=100", &o.org_admin).await;
    assert!(!theirs.to_string().contains("reach.test\""), "another tenant's log shows none of it: {theirs}");
}

#[tokio::test]
async fn an_organisations_api_key_reaches_its_own_quarantine_settings_and_digests_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "keyreach").await;
    let o = tenant(&app, &admin, "keyreach-other").await;
    let node = node_token(&app).await;
    hold(&app, &node, &t, "k-own", &t.user_id, "user@keyreach.test").await;
    hold(&app, &node, &o, "k-other", &o.user_id, "user@keyreach-other.test").await;
    let (_, created) = app
        .post("/api/v1/api-keys", &t.org_admin, json!({"name": "PSA", "scope": {"level": "org", "id": t.org_id}}))
        .await;
    let key = created["secret"].as_str().unwrap().to_string();
    assert_eq!(ids(&app.get("/api/v1/quarantine", &key).await.1), vec!["k-own"]);
    let other_settings = format!("/api/v1/users/{}/settings", o.user_id);
    assert_eq!(app.get(&other_settings, &key).await.0.as_u16(), 404);
    let (status, _) = app.post("/api/v1/digests/resend", &key, json!({"user_id": o.user_id})).await;
    assert_eq!(status.as_u16(), 404);
    let (status, err) = app.post("/api/v1/digests/resend", &key, json!({})).await;
    assert_eq!((status.as_u16(), err["error"]["field"].as_str()), (422, Some("user_id")), "a key names the user");
    for (action, body) in [
        ("report", json!({"ids": ["k-other"], "spam": false})),
        ("release", json!({"ids": ["k-other"]})),
        ("delete", json!({"ids": ["k-other"]})),
    ] {
        assert_eq!(app.post(&format!("/api/v1/quarantine/{action}"), &key, body).await.0.as_u16(), 404, "{action}");
    }
    let (status, r) = app.post("/api/v1/digests/resend", &key, json!({"user_id": t.user_id})).await;
    assert_eq!((status.as_u16(), r["messages"].as_i64()), (202, Some(1)), "{r}");
    assert_eq!(app.get("/api/v1/quarantine/k-other", &o.user).await.0.as_u16(), 200);
}
