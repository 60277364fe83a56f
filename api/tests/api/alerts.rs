//! Alerts through the API: a worker raises one (repeats ignored), the organisation's admins
//! get a system mail, a blocking alert lists its sender in every worker's snapshot until an
//! admin clears it; other tenants, plain users and strangers can do nothing with it.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, node_token, tenant};

#[tokio::test]
async fn a_blocking_alert_stops_the_sender_on_every_worker_until_an_admin_clears_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "alert-a").await;
    let other = tenant(&app, &admin, "alert-b").await;
    let node = node_token(&app).await;
    let alert = json!({"org_id": t.org_id, "kind": "outbound_limit", "subject": "User@alert-a.test",
        "detail": "3 messages in this hour, the limit is 3", "blocks": true});

    // Only nodes raise alerts, and bad ones change nothing.
    let (status, _) =
        app.call(Method::POST, "/api/v1/worker/alerts", Some(&t.org_admin), Some(json!({"alerts": [alert]}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let long = json!({"alerts": [{"org_id": t.org_id, "kind": "outbound_limit", "subject": "x".repeat(400), "detail": "", "blocks": true}]});
    let (status, err) = app.call(Method::POST, "/api/v1/worker/alerts", Some(&node), Some(long)).await;
    assert_eq!((status, err["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("alerts[0].subject")));
    let (status, _) =
        app.call(Method::POST, "/api/v1/worker/alerts", Some(&node), Some(json!({"alerts": [alert.clone()]}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The same alert again (another worker, a retry) is not a second one.
    let (status, _) =
        app.call(Method::POST, "/api/v1/worker/alerts", Some(&node), Some(json!({"alerts": [alert]}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, list) = app.get("/api/v1/alerts?open=true", &t.org_admin).await;
    assert_eq!((status, list["total"].as_i64()), (StatusCode::OK, Some(1)), "{list}");
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(list["items"][0]["blocks"], true);
    let mails = app.state.store.system_mail_to("admin@alert-a.test").await.unwrap();
    assert_eq!(mails.len(), 1, "one mail to the admin");
    assert!(mails[0].subject.contains("User@alert-a.test") && mails[0].body.contains("3 messages in this hour"));
    assert!(app.state.store.system_mail_to("user@alert-a.test").await.unwrap().is_empty(), "users get none");

    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert_eq!(snap["blocked_senders"], json!([{"org_id": t.org_id, "address": "user@alert-a.test"}]), "{snap}");
    let version = snap["version"].as_i64().unwrap();

    // Nobody outside the organisation's admins sees or clears it.
    assert_eq!(app.get("/api/v1/alerts", &other.org_admin).await.1["total"], 0);
    assert_eq!(app.get("/api/v1/alerts", &t.user).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/alerts", "").await.0, StatusCode::UNAUTHORIZED);
    let clear = format!("/api/v1/alerts/{id}/clear");
    assert_eq!(app.call(Method::POST, &clear, Some(&other.org_admin), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.call(Method::POST, &clear, Some(&other.msp_admin), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.call(Method::POST, &clear, Some(&t.user), None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/alerts", &t.msp_admin).await.1["total"], 1, "its MSP sees it");

    let (status, cleared) = app.call(Method::POST, &clear, Some(&t.org_admin), None).await;
    assert_eq!((status, cleared["cleared_by"].as_str()), (StatusCode::OK, Some("admin@alert-a.test")), "{cleared}");
    assert_eq!(app.call(Method::POST, &clear, Some(&t.org_admin), None).await.0, StatusCode::CONFLICT);
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert!(snap["version"].as_i64().unwrap() > version);
    assert_eq!(snap["blocked_senders"], Value::Array(vec![]));
    assert_eq!(app.get("/api/v1/alerts?open=true", &t.org_admin).await.1["total"], 0);
    assert_eq!(app.get("/api/v1/alerts?open=false", &t.org_admin).await.1["total"], 1);

    // Once cleared, the same account may raise a new alert.
    let again = json!({"alerts": [{"org_id": t.org_id, "kind": "outbound_limit", "subject": "User@alert-a.test",
        "detail": "again", "blocks": false}]});
    app.call(Method::POST, "/api/v1/worker/alerts", Some(&node), Some(again)).await;
    assert_eq!(app.get("/api/v1/alerts?open=true", &t.org_admin).await.1["total"], 1);
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert_eq!(snap["blocked_senders"], Value::Array(vec![]), "a non-blocking alert blocks nobody");
}

#[tokio::test]
async fn outbound_limits_are_part_of_the_organisation_policy() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "limits").await;
    let node = node_token(&app).await;
    let path = format!("/api/v1/orgs/{}/policy", t.org_id);
    let body =
        json!({"outbound": {"user_messages_per_hour": 20, "user_recipients_per_message": 50, "action": "block"}});
    let (status, policy) = app.call(Method::PUT, &path, Some(&t.org_admin), Some(body)).await;
    assert_eq!((status, policy["outbound"]["user_messages_per_hour"].as_u64()), (StatusCode::OK, Some(20)), "{policy}");
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    let ours = snap["policies"].as_array().unwrap().iter().find(|p| p["org_id"] == t.org_id.as_str()).unwrap();
    assert_eq!(ours["policy"]["outbound"]["action"], "block");
    let bad = json!({"outbound": {"action": "shout"}});
    assert_eq!(app.call(Method::PUT, &path, Some(&t.org_admin), Some(bad)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let bad = json!({"outbound": {"user_messages_per_hour": -1}});
    assert_eq!(app.call(Method::PUT, &path, Some(&t.org_admin), Some(bad)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_test_delivery_goes_to_a_worker_and_comes_back_with_its_stages() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "probe-a").await;
    let other = tenant(&app, &admin, "probe-b").await;
    let node = node_token(&app).await;
    let start = |token: &str, domain: &str| {
        let body = json!({"domain_id": domain, "send_test": true});
        let token = token.to_string();
        let app = &app;
        async move { app.call(Method::POST, "/api/v1/diagnostics/test-delivery", Some(&token), Some(body)).await }
    };
    assert_eq!(start(&t.user, &t.domain_id).await.0, StatusCode::FORBIDDEN);
    assert_eq!(start(&other.org_admin, &t.domain_id).await.0, StatusCode::NOT_FOUND);
    let (status, test) = start(&t.org_admin, &t.domain_id).await;
    assert_eq!((status, test["status"].as_str()), (StatusCode::ACCEPTED, Some("pending")), "{test}");
    let id = test["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/diagnostics/test-delivery/{id}");
    assert_eq!(app.get(&path, &other.org_admin).await.0, StatusCode::NOT_FOUND);

    let (_, batch) = app.get("/api/v1/worker/jobs", &node).await;
    let job =
        batch["jobs"].as_array().unwrap().iter().find(|j| j["kind"] == "test_delivery").expect("a test job").clone();
    assert_eq!(job["recipient"], "postmaster@probe-a.test");
    // The test message goes to the caller's own mailbox when it is one of the domain's.
    assert_eq!(job["sender"], "admin@probe-a.test");
    assert_eq!(test["test_recipient"], "admin@probe-a.test");
    let stage = |stage: &str, ok: bool| json!({"stage": stage, "ok": ok, "micros": 1200, "answer": "x", "details": []});
    let report = json!({"node": "mx1", "stages": [stage("mx", false), stage("dns", true), stage("connect", true),
        stage("banner", true), stage("ehlo", true), stage("starttls", true), stage("rcpt", true), stage("data", true),
        stage("delivery", true)]});
    let done = format!("/api/v1/worker/jobs/{}/done", job["id"].as_str().unwrap());
    let (status, _) = app.call(Method::POST, &done, Some(&node), Some(json!({"ok": true, "report": report}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, result) = app.get(&path, &t.org_admin).await;
    // A failed MX check alone does not fail the delivery test.
    assert_eq!((result["status"].as_str(), result["node"].as_str()), (Some("passed"), Some("mx1")), "{result}");
    assert_eq!(result["stages"].as_array().unwrap().len(), 9);
    assert_eq!(app.get(&path, &t.msp_admin).await.0, StatusCode::OK);

    // A failing stage fails it; a worker's report is bounded.
    let (_, second) = start(&t.org_admin, &t.domain_id).await;
    let (_, batch) = app.get("/api/v1/worker/jobs", &node).await;
    let job = batch["jobs"].as_array().unwrap().iter().find(|j| j["kind"] == "test_delivery").unwrap().clone();
    let done = format!("/api/v1/worker/jobs/{}/done", job["id"].as_str().unwrap());
    let too_many = json!({"ok": true, "report": {"node": "mx1", "stages": vec![stage("dns", true); 21]}});
    assert_eq!(app.call(Method::POST, &done, Some(&node), Some(too_many)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let failed =
        json!({"ok": true, "report": {"node": "mx1", "stages": [stage("dns", true), stage("connect", false)]}});
    assert_eq!(app.call(Method::POST, &done, Some(&node), Some(failed.clone())).await.0, StatusCode::NO_CONTENT);
    let (_, result) =
        app.get(&format!("/api/v1/diagnostics/test-delivery/{}", second["id"].as_str().unwrap()), &t.org_admin).await;
    assert_eq!(result["status"], "failed", "{result}");

    // The test message goes to a mailbox of the domain only: not another tenant's, not one
    // that does not exist, not without send_test.
    let with = |to: &str, send: bool| json!({"domain_id": t.domain_id, "send_test": send, "test_recipient": to});
    for (body, why) in [
        (with("user@probe-b.test", true), "another tenant's mailbox"),
        (with("nobody@probe-a.test", true), "no such mailbox"),
        (with("user@probe-a.test", false), "a recipient without send_test"),
    ] {
        let (status, err) =
            app.call(Method::POST, "/api/v1/diagnostics/test-delivery", Some(&t.org_admin), Some(body)).await;
        assert_eq!(
            (status, err["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("test_recipient")),
            "{why}: {err}"
        );
    }
    // An MSP admin (not a mailbox of the domain) must name one; a plain user of it will do.
    let (status, _) = start(&t.msp_admin, &t.domain_id).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, named) = app
        .call(
            Method::POST,
            "/api/v1/diagnostics/test-delivery",
            Some(&t.msp_admin),
            Some(with("User@probe-a.test", true)),
        )
        .await;
    assert_eq!(
        (status, named["test_recipient"].as_str()),
        (StatusCode::ACCEPTED, Some("user@probe-a.test")),
        "{named}"
    );
    let (_, batch) = app.get("/api/v1/worker/jobs", &node).await;
    let job = batch["jobs"].as_array().unwrap().iter().find(|j| j["kind"] == "test_delivery").unwrap().clone();
    assert_eq!(job["sender"], "user@probe-a.test");
    let done = format!("/api/v1/worker/jobs/{}/done", job["id"].as_str().unwrap());
    assert_eq!(app.call(Method::POST, &done, Some(&node), Some(failed.clone())).await.0, StatusCode::NO_CONTENT);

    // At most five wait at once per organisation; another organisation is not held up.
    for _ in 0..5 {
        assert_eq!(start(&t.org_admin, &t.domain_id).await.0, StatusCode::ACCEPTED);
    }
    assert_eq!(start(&t.org_admin, &t.domain_id).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(start(&other.org_admin, &other.domain_id).await.0, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn outbound_content_rules_and_message_size_are_checked_and_reach_the_workers() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "outrules").await;
    let node = node_token(&app).await;
    let path = format!("/api/v1/orgs/{}/policy", t.org_id);
    let body = json!({"max_message_size_mb": 10, "outbound_content": {"quarantine_threshold": 6.5,
        "blocked_extensions": [".EXE", "exe", "Scr"], "blocked_recipient_domains": ["Rival.TEST.", "rival.test"]}});
    let (status, policy) = app.call(Method::PUT, &path, Some(&t.org_admin), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    assert_eq!(policy["outbound_content"]["blocked_extensions"], json!(["exe", "scr"]));
    assert_eq!(policy["outbound_content"]["blocked_recipient_domains"], json!(["rival.test"]));
    for (bad, field) in [
        (json!({"outbound_content": {"quarantine_threshold": -1}}), "policy.outbound_content.quarantine_threshold"),
        (
            json!({"outbound_content": {"blocked_recipient_domains": ["not a domain"]}}),
            "policy.outbound_content.blocked_recipient_domains",
        ),
        (json!({"outbound_content": {"blocked_extensions": ["ex e"]}}), "policy.outbound_content.blocked_extensions"),
        (json!({"max_message_size_mb": 5000}), "policy.max_message_size_mb"),
    ] {
        let (status, res) = app.call(Method::PUT, &path, Some(&t.org_admin), Some(bad)).await;
        assert_eq!((status, res["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{res}");
    }
    // A domain sets its own size limit; outbound rules are the organisation's only.
    let domain_path = format!("/api/v1/domains/{}/policy", t.domain_id);
    let (status, res) =
        app.call(Method::PUT, &domain_path, Some(&t.org_admin), Some(json!({"max_message_size_mb": 2}))).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let own = json!({"outbound_content": {"quarantine_threshold": 1}});
    assert_eq!(
        app.call(Method::PUT, &domain_path, Some(&t.org_admin), Some(own)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (_, governing) = app.get(&domain_path, &t.org_admin).await;
    assert_eq!(
        (governing["max_message_size_mb"].as_u64(), governing["outbound_content"]["quarantine_threshold"].as_f64()),
        (Some(2), Some(6.5))
    );
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    let ours = snap["policies"].as_array().unwrap().iter().find(|p| p["org_id"] == t.org_id.as_str()).unwrap();
    assert_eq!(ours["policy"]["outbound_content"]["blocked_recipient_domains"], json!(["rival.test"]));
    let domain = snap["domains"].as_array().unwrap().iter().find(|d| d["id"] == t.domain_id.as_str()).unwrap();
    assert_eq!(domain["policy"]["max_message_size_mb"], 2, "{domain}");
}

#[tokio::test]
async fn the_outbound_quarantine_is_the_admins_and_its_releases_leave_as_outbound_mail() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "outhold").await;
    let other = tenant(&app, &admin, "outhold-other").await;
    let node = node_token(&app).await;
    let upload = |id: &str, direction: &str| {
        json!({"id": id, "org_id": t.org_id, "user_id": t.user_id, "recipient": "friend@ext.test",
            "sender": "user@outhold.test", "subject": format!("held {id}"), "score": 9.0,
            "reasons": ["outbound policy: spam score 9.0 at or above 5"], "raw_base64": "SGk=",
            "received_at": chrono::Utc::now(), "direction": direction})
    };
    assert_eq!(
        app.post("/api/v1/worker/quarantine", &node, upload("out-1", "bounce")).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(app.post("/api/v1/worker/quarantine", &node, upload("out-1", "outbound")).await.0, StatusCode::CREATED);
    assert_eq!(app.post("/api/v1/worker/quarantine", &node, upload("in-1", "inbound")).await.0, StatusCode::CREATED);
    // Never the sender's: not even when the worker names a user.
    let (_, mine) = app.get("/api/v1/quarantine", &t.user).await;
    let subjects: Vec<&str> = mine["items"].as_array().unwrap().iter().filter_map(|i| i["subject"].as_str()).collect();
    assert_eq!(subjects, ["held in-1"], "{mine}");
    assert_eq!(app.get("/api/v1/quarantine/out-1", &t.user).await.0, StatusCode::NOT_FOUND);
    let (_, outbound) = app.get("/api/v1/quarantine?direction=outbound", &t.org_admin).await;
    assert_eq!(outbound["total"], 1, "{outbound}");
    assert_eq!(
        (outbound["items"][0]["direction"].as_str(), &outbound["items"][0]["user_id"]),
        (Some("outbound"), &Value::Null)
    );
    let (_, inbound) = app.get("/api/v1/quarantine?direction=inbound", &t.org_admin).await;
    assert_eq!((inbound["total"].as_i64(), inbound["items"][0]["direction"].as_str()), (Some(1), Some("inbound")));
    let (_, theirs) = app.get("/api/v1/quarantine?direction=outbound", &other.org_admin).await;
    assert_eq!(theirs["total"], 0, "another tenant sees none of it");
    let release = json!({"ids": ["out-1"]});
    assert_eq!(
        app.post("/api/v1/quarantine/release", &other.org_admin, release.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.post("/api/v1/quarantine/release", &t.user, release.clone()).await.0, StatusCode::NOT_FOUND);
    let (status, res) = app.post("/api/v1/quarantine/release", &t.org_admin, release).await;
    assert!(status.is_success() && res["affected"] == 1, "{status} {res}");
    let (_, batch) = app.get("/api/v1/worker/jobs", &node).await;
    let job = &batch["jobs"][0];
    assert_eq!(
        (job["kind"].as_str(), job["direction"].as_str(), job["recipient"].as_str()),
        (Some("release"), Some("outbound"), Some("friend@ext.test")),
        "{batch}"
    );
}
