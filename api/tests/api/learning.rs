//! The training feed: releases are ham, reports spam or ham, within reach only; workers read
//! it with their node token (the worker trains on it: mta-worker/tests/worker/learning.rs).

use serde_json::json;

use crate::helpers::{node_token, tenant};

#[tokio::test]
async fn reports_and_releases_feed_the_classifier_and_stay_in_their_tenant() {
    let app = crate::helpers::TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "learn").await;
    let other = tenant(&app, &admin, "learn-other").await;
    let node = node_token(&app).await;
    for id in ["l-1", "l-2"] {
        let upload = json!({"id": id, "org_id": t.org_id, "user_id": t.user_id, "recipient": "user@learn.test",
            "sender": "x@ext.test", "subject": id, "score": 6.0, "reasons": [], "raw_base64": "U3ViamVjdDogaGkNCg0KaGkNCg==",
            "received_at": chrono::Utc::now()});
        assert_eq!(app.post("/api/v1/worker/quarantine", &node, upload).await.0.as_u16(), 201);
    }
    // Another tenant can neither report nor release these.
    for caller in [&other.user, &other.org_admin] {
        assert_eq!(
            app.post("/api/v1/quarantine/report", caller, json!({"ids": ["l-1"], "spam": false})).await.0.as_u16(),
            404
        );
    }
    let (status, r) = app.post("/api/v1/quarantine/report", &t.user, json!({"ids": ["l-1"], "spam": true})).await;
    assert_eq!((status.as_u16(), r["affected"].as_i64()), (200, Some(1)));
    assert_eq!(app.post("/api/v1/quarantine/release", &t.user, json!({"ids": ["l-2"]})).await.0.as_u16(), 202);
    assert_eq!(app.get("/api/v1/worker/training", &t.org_admin).await.0.as_u16(), 401, "for workers only");
    let (status, feed) = app.get("/api/v1/worker/training?after=0", &node).await;
    assert_eq!(status.as_u16(), 200, "{feed}");
    let items = feed["items"].as_array().unwrap();
    let classes: Vec<(bool, &str)> =
        items.iter().map(|i| (i["spam"].as_bool().unwrap(), i["org_id"].as_str().unwrap())).collect();
    assert_eq!(classes, vec![(true, t.org_id.as_str()), (false, t.org_id.as_str())]);
    let next = feed["next"].as_i64().unwrap();
    let (_, rest) = app.get(&format!("/api/v1/worker/training?after={next}"), &node).await;
    assert_eq!(rest["items"], json!([]));
    assert_eq!(rest["next"], next);
    let (_, summary) = app.get("/api/v1/quarantine/summary", &t.user).await;
    assert_eq!(summary["unread"], 0, "reported and released messages count as reviewed");
}
