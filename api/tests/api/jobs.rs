//! Scheduled jobs: leases keep each job on one replica; the system-mail job's outcomes are
//! recorded (the real relay is exercised by e2e/system_mail_test.py).

use moat_api::store::now;

use crate::helpers::{TestApp, tenant};

#[tokio::test]
async fn a_lease_keeps_a_job_on_one_replica_until_it_expires() {
    let app = TestApp::spawn().await;
    let store = &app.state.store;
    let soon = now() + chrono::Duration::seconds(30);
    assert!(store.take_lease("job", "replica-a", soon).await.unwrap(), "a free lease is taken");
    assert!(!store.take_lease("job", "replica-b", soon).await.unwrap(), "another replica waits");
    assert!(store.take_lease("job", "replica-a", soon).await.unwrap(), "the holder renews it");
    assert!(store.take_lease("other-job", "replica-b", soon).await.unwrap(), "leases are per job");
    // A holder that stopped renewing loses the lease once it expires.
    let past = now() - chrono::Duration::seconds(1);
    assert!(store.take_lease("job", "replica-a", past).await.unwrap());
    assert!(store.take_lease("job", "replica-b", soon).await.unwrap(), "an expired lease is taken over");
    assert!(!store.take_lease("job", "replica-a", soon).await.unwrap());
}

#[tokio::test]
async fn without_a_relay_nothing_is_sent_and_mail_stays_pending() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "sysmail").await;
    let (status, _) =
        app.post(&format!("/api/v1/users/{}/reset-password", t.user_id), &admin, serde_json::json!({})).await;
    assert_eq!(status.as_u16(), 202);
    assert_eq!(moat_api::jobs::system_mail::drain_once(&app.state).await, 0);
    let (pending, failed) = app.state.store.system_mail_counts().await.unwrap();
    assert!(pending >= 1 && failed == 0, "pending {pending}, failed {failed}");
    let (status, state) = app.get("/api/v1/system-mail/state", &admin).await;
    assert_eq!(status.as_u16(), 200);
    assert_eq!(state["delivery_configured"], false);
    let (status, _) = app.get("/api/v1/system-mail", &t.org_admin).await;
    assert_eq!(status.as_u16(), 403, "the outbox is the platform admin's");
}

#[tokio::test]
async fn quarantined_mail_past_its_organisations_retention_is_purged_with_its_bytes() {
    use chrono::Utc;
    use serde_json::json;
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "keep").await;
    let node = crate::helpers::node_token(&app).await;
    for (id, days) in [("old", 40), ("recent", 10)] {
        let upload = json!({"id": id, "org_id": t.org_id, "user_id": t.user_id, "recipient": "user@keep.test",
            "sender": "spam@ext.test", "subject": id, "score": 9.0, "reasons": [], "raw_base64": "SGk=",
            "received_at": Utc::now() - chrono::Duration::days(days)});
        assert_eq!(app.post("/api/v1/worker/quarantine", &node, upload).await.0.as_u16(), 201);
    }
    let blob = app.state.config.data_dir.join("blobs").join("q-old.eml");
    assert!(blob.exists());
    let (held, _) = moat_api::jobs::retention::purge_once(&app.state).await;
    assert_eq!(held, 1, "only the message past the default 30 days goes");
    assert_eq!(app.get("/api/v1/quarantine/old", &t.user).await.0.as_u16(), 404);
    assert_eq!(app.get("/api/v1/quarantine/recent", &t.user).await.0.as_u16(), 200);
    assert!(!blob.exists(), "its raw bytes go too");
    // A shorter retention set by the org admin applies at the next pass.
    let (_, mut policy) = app.get(&format!("/api/v1/orgs/{}/policy", t.org_id), &t.org_admin).await;
    policy["quarantine_retention_days"] = json!(5);
    let (status, body) = app
        .call(
            axum::http::Method::PUT,
            &format!("/api/v1/orgs/{}/policy", t.org_id),
            Some(&t.org_admin),
            Some(policy.clone()),
        )
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    assert_eq!(moat_api::jobs::retention::purge_once(&app.state).await.0, 1);
    assert_eq!(app.get("/api/v1/quarantine/recent", &t.user).await.0.as_u16(), 404);
    policy["quarantine_retention_days"] = json!(0);
    let (status, body) = app
        .call(axum::http::Method::PUT, &format!("/api/v1/orgs/{}/policy", t.org_id), Some(&t.org_admin), Some(policy))
        .await;
    assert_eq!(
        (status.as_u16(), body["error"]["field"].as_str()),
        (422, Some("policy.quarantine_retention_days")),
        "{body}"
    );
}

#[tokio::test]
async fn tracked_messages_past_the_tracking_retention_are_purged() {
    use chrono::Utc;
    use serde_json::json;
    let app = TestApp::spawn_with(|c| c.tracking_retention_days = 30).await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "track").await;
    let node = crate::helpers::node_token(&app).await;
    let event = |id: &str, days: i64| {
        json!({"id": uuid::Uuid::new_v4(), "tracking_id": id, "kind": "received", "org_id": t.org_id,
               "at": Utc::now() - chrono::Duration::days(days),
               "detail": {"direction": "inbound", "sender": "a@ext.test", "recipients": ["user@track.test"],
                          "subject": id, "message_id": "", "size": 10, "client_ip": "192.0.2.1"}})
    };
    let batch = json!({"events": [event("T-old.1", 45), event("T-new.1", 3)]});
    let (status, body) = app.post("/api/v1/worker/events", &node, batch).await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let (_, list) = app.get("/api/v1/messages", &t.org_admin).await;
    assert_eq!(list["total"], 2, "{list}");
    let (_, tracked) = moat_api::jobs::retention::purge_once(&app.state).await;
    assert_eq!(tracked, 1);
    let (_, list) = app.get("/api/v1/messages", &t.org_admin).await;
    assert_eq!((list["total"].as_i64(), list["items"][0]["id"].as_str()), (Some(1), Some("T-new.1")), "{list}");
}

#[tokio::test]
async fn system_mail_can_leave_through_the_workers_and_their_report_sets_its_state() {
    use serde_json::json;
    let app = TestApp::spawn_with(|c| c.system_mail_via = moat_openapi::SystemMailVia::Worker).await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "viaworker").await;
    let body = json!({"email": "new@viaworker.test", "display_name": "New", "role": "user"});
    assert_eq!(app.post(&format!("/api/v1/orgs/{}/users", t.org_id), &admin, body).await.0.as_u16(), 201);
    let (_, state) = app.get("/api/v1/system-mail/state", &admin).await;
    assert_eq!((state["delivery_configured"].as_bool(), state["via"].as_str()), (Some(true), Some("worker")));
    assert_eq!(moat_api::jobs::system_mail::hand_over_once(&app.state).await, 1);
    let node = crate::helpers::node_token(&app).await;
    let (_, batch) = app.get("/api/v1/worker/jobs", &node).await;
    let job = &batch["jobs"][0];
    assert_eq!((job["kind"].as_str(), job["recipient"].as_str()), (Some("system_mail"), Some("new@viaworker.test")));
    assert_eq!(job["org_id"], serde_json::Value::Null);
    let raw = {
        use base64::Engine;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD.decode(job["raw_base64"].as_str().unwrap()).unwrap(),
        )
        .unwrap()
    };
    assert!(raw.contains("Subject: Welcome to Moat"), "{raw}");
    let (_, with_worker) = app.get("/api/v1/system-mail?status=with_worker", &admin).await;
    assert_eq!(with_worker["total"], 1);
    let done = format!("/api/v1/worker/jobs/{}/done", job["id"].as_str().unwrap());
    assert_eq!(app.post(&done, &node, json!({"ok": true})).await.0.as_u16(), 204);
    let (_, sent) = app.get("/api/v1/system-mail?status=sent", &admin).await;
    assert_eq!(sent["total"], 1, "{sent}");
    assert_eq!(app.post(&done, &node, json!({"ok": true})).await.0.as_u16(), 404, "reported once");
}
