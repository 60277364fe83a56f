//! The worker channel (policy snapshot, long-poll, events) and message tracking built from
//! the events, scoped by tenant.

use axum::http::{Method, StatusCode};
use chrono::Utc;
use serde_json::{Value, json};

use crate::helpers::{TestApp, event, node_token, tenant};

#[tokio::test]
async fn workers_need_a_node_token() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for path in ["/api/v1/worker/policy", "/api/v1/worker/policy/changes?since=0"] {
        let (status, _) = app.get(path, &admin).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        let (status, _) = app.get(path, "moatnode_forged").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let node = node_token(&app).await;
    let (status, info) = app.post("/api/v1/worker/register", &node, json!({"hostname": "mx1"})).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    // A node token is not a user login.
    let (status, _) = app.get("/api/v1/orgs", &node).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn registered_host_names_reach_every_worker() {
    let app = TestApp::spawn().await;
    let (first, second) = (node_token(&app).await, node_token(&app).await);
    let (_, snap) = app.get("/api/v1/worker/policy", &first).await;
    let version = snap["version"].as_i64().unwrap();
    assert_eq!(snap["node_hostnames"], json!([]));
    assert_eq!(
        app.post("/api/v1/worker/register", &second, json!({"hostname": "MX2.Moat.test."})).await.0,
        StatusCode::OK
    );
    let (status, err) = app.post("/api/v1/worker/register", &second, json!({"hostname": "not a host!"})).await;
    assert_eq!((status, err["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("hostname")));
    // The other node sees the new name, under a new version (its long-poll wakes up).
    let (_, snap) = app.get("/api/v1/worker/policy", &first).await;
    assert_eq!(snap["node_hostnames"], json!(["mx2.moat.test"]));
    let bumped = snap["version"].as_i64().unwrap();
    assert!(bumped > version, "{bumped} after {version}");
    // Registering again under the same name changes nothing.
    assert_eq!(
        app.post("/api/v1/worker/register", &second, json!({"hostname": "mx2.moat.test"})).await.0,
        StatusCode::OK
    );
    assert_eq!(app.get("/api/v1/worker/policy", &first).await.1["version"].as_i64().unwrap(), bumped);
}

#[tokio::test]
async fn the_snapshot_follows_every_change_and_long_poll_wakes_up() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "snap").await;
    let node = node_token(&app).await;
    let (status, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert_eq!(status, StatusCode::OK);
    let version = snap["version"].as_i64().unwrap();
    assert_eq!(snap["domains"][0]["name"], "snap.test");
    assert_eq!(snap["domains"][0]["destination_port"], 2525);
    let emails: Vec<&str> =
        snap["recipients"].as_array().unwrap().iter().map(|r| r["email"].as_str().unwrap()).collect();
    assert_eq!(emails, vec!["admin@snap.test", "user@snap.test"], "MSP admins are not mailboxes");

    // Nothing changes: the long-poll answers 204 after its wait.
    let (status, _) = app.get(&format!("/api/v1/worker/policy/changes?since={version}&wait=1"), &node).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // A user created while a worker waits wakes it with the new snapshot.
    let waiting = {
        let path = format!("/api/v1/worker/policy/changes?since={version}&wait=10");
        let node = node.clone();
        let app = &app;
        async move { app.get(&path, &node).await }
    };
    let create = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        app.create(
            &format!("/api/v1/orgs/{}/users", t.org_id),
            &t.org_admin,
            json!({"email": "late@snap.test", "display_name": "Late", "role": "user"}),
        )
        .await
    };
    let started = std::time::Instant::now();
    let ((status, snap), _) = tokio::join!(waiting, create);
    assert_eq!(status, StatusCode::OK);
    assert!(snap["version"].as_i64().unwrap() > version);
    assert!(snap["recipients"].to_string().contains("late@snap.test"));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // Domain and policy changes bump the version too.
    let v1 = snap["version"].as_i64().unwrap();
    app.patch(&format!("/api/v1/domains/{}", t.domain_id), &t.org_admin, json!({"destination_port": 2600})).await;
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert!(snap["version"].as_i64().unwrap() > v1);
    assert_eq!(snap["domains"][0]["destination_port"], 2600);
}

#[tokio::test]
async fn events_build_tracking_once_and_tracking_is_scoped() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "track-a").await;
    let b = tenant(&app, &admin, "track-b").await;
    let node = node_token(&app).await;
    let received = json!({"direction": "inbound", "sender": "Sender@Ext.test", "recipients": ["user@track-a.test"],
        "subject": "Quarterly report", "message_id": "<abc@ext.test>", "size": 1234, "client_ip": "192.0.2.9"});
    let batch = json!({"events": [
        event("m1", "received", &a.org_id, received),
        event("m1", "verdict", &a.org_id, json!({"verdict": "deliver", "reasons": ["clean"]})),
        event("m1", "deferred", &a.org_id, json!({"response": "421 4.3.2 try later", "destination": "127.0.0.1:2525"})),
        event("m1", "delivered", &a.org_id, json!({"response": "250 2.0.0 ok"})),
        event("m2", "received", &b.org_id, json!({"sender": "x@ext.test", "recipients": ["user@track-b.test"], "subject": "For B"})),
        event("m3", "received", &a.org_id, json!({"sender": "y@ext.test", "recipients": ["admin@track-a.test"], "subject": "For the admin"})),
    ]});
    let (status, ack) = app.post("/api/v1/worker/events", &node, batch.clone()).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack, json!({"accepted": 6, "duplicates": 0}));
    // A retried batch (the worker did not see the answer) changes nothing.
    let (_, ack) = app.post("/api/v1/worker/events", &node, batch).await;
    assert_eq!(ack, json!({"accepted": 0, "duplicates": 6}));

    let (status, m) = app.get("/api/v1/messages/m1", &a.org_admin).await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["status"], "delivered");
    assert_eq!(m["attempts"], 2);
    assert_eq!(m["verdict"], "deliver");
    assert_eq!(m["message_id"], "abc@ext.test");
    assert_eq!(m["events"].as_array().unwrap().len(), 4);

    let (_, list) = app.get("/api/v1/messages", &a.org_admin).await;
    assert_eq!(list["total"], 2);
    let (_, list) = app.get("/api/v1/messages?q=quarterly", &a.org_admin).await;
    assert_eq!(list["total"], 1);
    let (_, list) = app.get("/api/v1/messages?sender=sender%40ext.test&status=delivered", &a.org_admin).await;
    assert_eq!(list["total"], 1);
    let (_, list) = app.get("/api/v1/messages?message_id=%3Cabc%40ext.test%3E", &a.org_admin).await;
    assert_eq!(list["total"], 1);
    let (_, list) = app.get("/api/v1/messages?status=bounced", &a.org_admin).await;
    assert_eq!(list["total"], 0);
    let (status, _) = app.get("/api/v1/messages?from=yesterday", &a.org_admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Other tenants and plain users see only their part.
    let (status, _) = app.get("/api/v1/messages/m1", &b.org_admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/api/v1/messages", &b.msp_admin).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], "m2");
    let (_, list) = app.get("/api/v1/messages", &a.user).await;
    assert_eq!(list["total"], 1, "the user sees mail to itself, not the admin's");
    let (status, _) = app.get("/api/v1/messages/m3", &a.user).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.call(Method::GET, "/api/v1/messages", Some(&admin), None).await;
    assert_eq!(list["total"], 3);
}

#[tokio::test]
async fn quarantined_copies_are_stored_once_and_listed_within_reach() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "qa").await;
    let b = tenant(&app, &admin, "qb").await;
    let node = node_token(&app).await;
    let upload = |id: &str, org: &str, user: &str, rcpt: &str| {
        json!({"id": id, "org_id": org, "user_id": user, "recipient": rcpt, "sender": "spam@ext.test",
               "subject": "Cheap pills", "score": 12.5, "reasons": ["GTUBE"], "received_at": Utc::now(),
               "raw_base64": "U3ViamVjdDogQ2hlYXAgcGlsbHMNCg0KYnV5DQo="})
    };
    let (status, _) =
        app.post("/api/v1/worker/quarantine", &node, upload("q1.1-1", &a.org_id, &a.user_id, "user@qa.test")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) =
        app.post("/api/v1/worker/quarantine", &node, upload("q1.1-1", &a.org_id, &a.user_id, "user@qa.test")).await;
    assert_eq!(status, StatusCode::OK, "a retried upload is not stored twice");
    app.post("/api/v1/worker/quarantine", &node, upload("q2.1-1", &b.org_id, &b.user_id, "user@qb.test")).await;
    let (status, _) = app.post("/api/v1/worker/quarantine", &node, json!({"id": "x"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, list) = app.get("/api/v1/quarantine", &a.user).await;
    assert_eq!(list["total"], 1);
    let item = &list["items"][0];
    for field in ["id", "subject", "sender", "recipient", "score", "reasons", "received_at", "reviewed"] {
        assert!(item.get(field).is_some(), "missing {field}");
    }
    assert_eq!((item["reasons"][0].as_str(), item["reviewed"].as_bool()), (Some("GTUBE"), Some(false)));
    let (_, list) = app.get("/api/v1/quarantine", &a.org_admin).await;
    assert_eq!(list["total"], 1);
    let (_, list) = app.get("/api/v1/quarantine", &b.msp_admin).await;
    assert_eq!((list["total"].as_i64(), list["items"][0]["id"].as_str()), (Some(1), Some("q2.1-1")));
    let (_, list) = app.get("/api/v1/quarantine?q=pills", &admin).await;
    assert_eq!(list["total"], 2);
    let (_, list) = app.get(&format!("/api/v1/quarantine?org_id={}", b.org_id), &a.org_admin).await;
    assert_eq!(list["total"], 0, "another tenant's org filter finds nothing");
}

#[tokio::test]
async fn reverse_whitelist_pairs_reach_the_snapshot_and_only_new_ones_bump_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "rw").await;
    let node = node_token(&app).await;
    let batch = json!({"correspondents": [{"user_id": t.user_id, "address": "Friend@Ext.test"}]});
    let (status, _) = app.post("/api/v1/worker/correspondents", &node, batch.clone()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert_eq!(snap["correspondents"], json!([{"user_id": t.user_id, "address": "friend@ext.test"}]));
    let version = snap["version"].as_i64().unwrap();
    app.post("/api/v1/worker/correspondents", &node, batch).await;
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert_eq!(snap["version"].as_i64().unwrap(), version, "a known pair only refreshes its date");
    let (status, res) = app
        .post(
            "/api/v1/worker/correspondents",
            &node,
            json!({"correspondents": [{"user_id": t.user_id, "address": "nope"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res["error"]["field"], "correspondents[0].address");
}

#[tokio::test]
async fn a_domain_policy_overrides_its_orgs_and_reaches_the_workers() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "dompol").await;
    let node = node_token(&app).await;
    let (org, domain) = (&t.org_id, &t.domain_id);
    let path = format!("/api/v1/domains/{domain}/policy");

    // Without its own policy a domain answers its organisation's.
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/orgs/{org}/policy"),
            Some(&t.org_admin),
            Some(json!({"quarantine_threshold": 6.5})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, policy) = app.get(&path, &t.user).await;
    assert_eq!((status, policy["quarantine_threshold"].as_f64()), (StatusCode::OK, Some(6.5)), "{policy}");
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert_eq!(snap["domains"][0]["policy"], Value::Null, "{snap}");
    let version = snap["version"].as_i64().unwrap();

    // Users may read it but not change it; bad values change nothing.
    let (status, _) = app.call(Method::PUT, &path, Some(&t.user), Some(json!({"dmarc_action": "reject"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, err) = app
        .call(Method::PUT, &path, Some(&t.org_admin), Some(json!({"quarantine_threshold": 20, "reject_threshold": 10})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (status, err) = app.call(Method::PUT, &path, Some(&t.org_admin), Some(json!({"dmarc_action": "maybe"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (_, policy) = app.get(&path, &t.org_admin).await;
    assert_eq!(policy["dmarc_action"], "quarantine");

    // Its own policy wins and is in the next snapshot.
    let (status, policy) = app
        .call(Method::PUT, &path, Some(&t.org_admin), Some(json!({"dmarc_action": "reject", "reject_threshold": 9})))
        .await;
    assert_eq!((status, &policy["dmarc_action"]), (StatusCode::OK, &json!("reject")), "{policy}");
    // Every other field is inherited: the organisation's threshold, not the default.
    let (_, policy) = app.get(&path, &t.org_admin).await;
    assert_eq!((policy["reject_threshold"].as_f64(), policy["quarantine_threshold"].as_f64()), (Some(9.0), Some(6.5)));
    let (_, own) = app.get(&format!("{path}/overrides"), &t.org_admin).await;
    assert_eq!(own, json!({"dmarc_action": "reject", "reject_threshold": 9.0}));
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert!(snap["version"].as_i64().unwrap() > version);
    assert_eq!(snap["domains"][0]["policy"]["dmarc_action"], "reject", "{snap}");
    assert_eq!(snap["domains"][0]["policy"]["quarantine_threshold"].as_f64(), Some(6.5), "{snap}");

    // A later change of the organisation reaches the domain's inherited fields, not its own.
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/orgs/{org}/policy"),
            Some(&t.org_admin),
            Some(json!({"quarantine_threshold": 7, "greylisting": true, "dmarc_action": "none"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    let governing = &snap["domains"][0]["policy"];
    assert_eq!((governing["greylisting"].as_bool(), governing["dmarc_action"].as_str()), (Some(true), Some("reject")));
    assert_eq!(governing["quarantine_threshold"].as_f64(), Some(7.0));

    // A domain may switch greylisting off for itself; organisation-wide settings are refused
    // at domain level and change nothing.
    let (status, _) = app
        .call(Method::PUT, &path, Some(&t.org_admin), Some(json!({"greylisting": false, "block_action": "drop"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) =
        app.call(Method::PUT, &path, Some(&t.org_admin), Some(json!({"quarantine_retention_days": 3}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (_, own) = app.get(&format!("{path}/overrides"), &t.org_admin).await;
    assert_eq!(own, json!({"greylisting": false, "block_action": "drop"}));
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    let governing = &snap["domains"][0]["policy"];
    assert_eq!((governing["greylisting"].as_bool(), governing["block_action"].as_str()), (Some(false), Some("drop")));
    assert_eq!(governing["dmarc_action"], "none", "dmarc is inherited again: {snap}");
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/orgs/{org}/policy"),
            Some(&t.org_admin),
            Some(json!({"quarantine_threshold": 6.5})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Dropping it brings the organisation's back.
    let (status, _) = app.delete(&path, &t.org_admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, policy) = app.get(&path, &t.org_admin).await;
    assert_eq!(policy["quarantine_threshold"].as_f64(), Some(6.5));
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert_eq!(snap["domains"][0]["policy"], Value::Null);
}

#[tokio::test]
async fn text_search_finds_substrings_across_tenants_within_reach() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "find-a").await;
    let b = tenant(&app, &admin, "find-b").await;
    let node = node_token(&app).await;
    let received = |sender: &str, to: &str, subject: &str| json!({"direction": "inbound", "sender": sender, "recipients": [to], "subject": subject});
    let batch = json!({"events": [
        event("s1", "received", &a.org_id, received("Offer42@Promo.test", "user@find-a.test", "Save 50% now")),
        event("s2", "received", &b.org_id, received("news@ext.test", "user@find-b.test", "Quarterly \"numbers\" inside")),
        event("s3", "received", &a.org_id, received("x@ext.test", "admin@find-a.test", "first subject")),
        // The same message told again (a retried hand-over): its searchable text changes.
        event("s3", "received", &a.org_id, received("x@ext.test", "admin@find-a.test", "changed subject")),
    ]});
    let (status, ack) = app.post("/api/v1/worker/events", &node, batch).await;
    assert_eq!(status, StatusCode::OK, "{ack}");

    let ids = |list: &Value| -> Vec<String> {
        let mut ids: Vec<String> =
            list["items"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
        ids.sort();
        ids
    };
    for (query, expected) in [
        ("q=OFFER42", vec!["s1"]),
        ("sender=promo", vec!["s1"]),
        ("sender=quarterly", vec![]),
        ("subject=quarterly", vec!["s2"]),
        ("recipient=find-b", vec!["s2"]),
        ("q=50%25", vec!["s1"]),
        ("q=%25", vec!["s1"]),
        ("q=%22numbers%22", vec!["s2"]),
        ("q=ext.test", vec!["s2", "s3"]),
        ("q=changed", vec!["s3"]),
        ("q=first", vec![]),
        ("q=ext.test&subject=changed", vec!["s3"]),
    ] {
        let (status, list) = app.get(&format!("/api/v1/messages?{query}"), &admin).await;
        assert_eq!(status, StatusCode::OK, "{query}: {list}");
        assert_eq!(ids(&list), expected, "{query}");
        assert_eq!(list["total"], expected.len(), "{query}");
        assert_eq!(list["total_capped"], false, "{query}");
    }
    // Within an MSP's or an org's reach only.
    let (_, list) = app.get("/api/v1/messages?q=ext.test", &a.msp_admin).await;
    assert_eq!(ids(&list), ["s3"]);
    let (_, list) = app.get("/api/v1/messages?q=ext.test", &b.org_admin).await;
    assert_eq!(ids(&list), ["s2"]);
}

#[tokio::test]
async fn one_message_is_shown_safely_within_reach_and_downloaded_only_by_admins() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "pa").await;
    let b = tenant(&app, &admin, "pb").await;
    let node = node_token(&app).await;
    let raw = "From: spam@ext.test\r\nSubject: Invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n\
--B\r\nContent-Type: text/html\r\n\r\n<p onmouseover=\"x()\">Pay <a href=\"javascript:go()\">now</a></p>\
<img src=\"https://tracker.test/p.gif\"><script>alert(1)</script>\r\n--B\r\nContent-Type: application/zip\r\n\
Content-Disposition: attachment; filename=\"invoice.zip\"\r\n\r\nZIPDATA\r\n--B--\r\n";
    let upload = json!({"id": "p1.1-1", "org_id": a.org_id, "user_id": a.user_id, "recipient": "user@pa.test",
        "sender": "spam@ext.test", "subject": "Invoice", "score": 9.0, "reasons": ["BAYES_99"], "received_at": Utc::now(),
        "raw_base64": base64::engine::general_purpose::STANDARD.encode(raw)});
    assert_eq!(app.post("/api/v1/worker/quarantine", &node, upload).await.0, StatusCode::CREATED);

    let (status, one) = app.get("/api/v1/quarantine/p1.1-1", &a.user).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["subject"], "Invoice");
    assert_eq!(one["attachments"][0]["name"], "invoice.zip");
    assert_eq!(one["explanation"]["code"], "spam");
    assert_eq!(
        one["explanation"]["text"],
        "Looks like spam: scored 9.0 where 5 holds mail. Main signs: its wording resembles spam this system has learned."
    );
    let (_, list) = app.get("/api/v1/quarantine", &a.user).await;
    assert_eq!(list["items"][0]["explanation"]["code"], "spam", "the list explains too");
    assert!(one["headers"].as_array().unwrap().iter().any(|h| h["name"] == "Subject"));
    let (_, shown) = app.get("/api/v1/quarantine/p1.1-1/preview", &a.user).await;
    let html = shown["html"].as_str().unwrap();
    for bad in ["<script", "onmouseover", "javascript:", "tracker.test"] {
        assert!(!html.contains(bad), "{bad} survived: {html}");
    }
    assert_eq!(shown["remote_images_blocked"], 1);
    let (_, shown) = app.get("/api/v1/quarantine/p1.1-1/preview?images=true", &a.user).await;
    assert!(shown["html"].as_str().unwrap().contains("https://tracker.test/p.gif"));

    // Other tenants, even their admins, do not learn it exists.
    for token in [&b.user, &b.org_admin, &b.msp_admin] {
        for path in ["/api/v1/quarantine/p1.1-1", "/api/v1/quarantine/p1.1-1/preview", "/api/v1/quarantine/p1.1-1/raw"]
        {
            assert_eq!(app.get(path, token).await.0, StatusCode::NOT_FOUND, "{path}");
        }
    }
    // The raw message: admins download it, users may not.
    assert_eq!(app.download("/api/v1/quarantine/p1.1-1/raw", &a.user).await.0, StatusCode::FORBIDDEN);
    let (status, headers, bytes) = app.download("/api/v1/quarantine/p1.1-1/raw", &a.org_admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "message/rfc822");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(bytes, raw.as_bytes());
}

#[tokio::test]
async fn reviewed_marks_and_deletes_act_only_within_reach_and_move_the_unread_count() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "ra").await;
    let b = tenant(&app, &admin, "rb").await;
    let node = node_token(&app).await;
    let upload = |id: &str, org: &str, user: &str, rcpt: &str| {
        json!({"id": id, "org_id": org, "user_id": user, "recipient": rcpt, "sender": "spam@ext.test",
               "subject": "Offer", "score": 8.0, "reasons": ["BAYES_99"], "received_at": Utc::now(),
               "raw_base64": "U3ViamVjdDogT2ZmZXINCg0KYnV5DQo="})
    };
    for id in ["r1", "r2", "r3"] {
        app.post("/api/v1/worker/quarantine", &node, upload(id, &a.org_id, &a.user_id, "user@ra.test")).await;
    }
    app.post("/api/v1/worker/quarantine", &node, upload("theirs", &b.org_id, &b.user_id, "user@rb.test")).await;
    let (_, summary) = app.get("/api/v1/quarantine/summary", &a.user).await;
    assert_eq!((summary["unread"].as_i64(), summary["total"].as_i64()), (Some(3), Some(3)), "{summary}");
    assert_eq!(summary["users"][0]["user_id"], a.user_id.as_str());

    let (status, res) =
        app.post("/api/v1/quarantine/reviewed", &a.user, json!({"ids": ["r1", "r2", "r1"], "reviewed": true})).await;
    assert_eq!((status, res["affected"].as_i64()), (StatusCode::OK, Some(2)));
    let (_, summary) = app.get("/api/v1/quarantine/summary", &a.user).await;
    assert_eq!(summary["unread"], 1);
    let (_, summary) = app.get("/api/v1/quarantine/summary", &a.org_admin).await;
    assert_eq!(summary["unread"], 1, "the organisation's count moves too");

    // Another tenant's id, alone or mixed in: 404 and nothing changes.
    for ids in [json!(["theirs"]), json!(["r3", "theirs"])] {
        let (status, _) =
            app.post("/api/v1/quarantine/reviewed", &a.org_admin, json!({"ids": ids, "reviewed": true})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app.post("/api/v1/quarantine/delete", &a.org_admin, json!({"ids": ids})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (_, summary) = app.get("/api/v1/quarantine/summary", &b.user).await;
    assert_eq!(summary["unread"], 1, "the other tenant's message is untouched");
    let (_, summary) = app.get("/api/v1/quarantine/summary", &a.user).await;
    assert_eq!(summary["unread"], 1, "r3 was not marked by the refused call");

    // Bounds.
    let many: Vec<String> = (0..1001).map(|n| format!("id{n}")).collect();
    let (status, body) = app.post("/api/v1/quarantine/delete", &a.user, json!({"ids": many})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("ids")));
    let (status, _) = app.post("/api/v1/quarantine/delete", &a.user, json!({"ids": []})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Unread again, then delete: gone from lists, previews and counts.
    app.post("/api/v1/quarantine/reviewed", &a.user, json!({"ids": ["r1"], "reviewed": false})).await;
    let (_, summary) = app.get("/api/v1/quarantine/summary", &a.user).await;
    assert_eq!(summary["unread"], 2);
    let (status, res) = app.post("/api/v1/quarantine/delete", &a.user, json!({"ids": ["r1", "r3"]})).await;
    assert_eq!((status, res["affected"].as_i64()), (StatusCode::OK, Some(2)));
    assert_eq!(app.get("/api/v1/quarantine/r1", &a.user).await.0, StatusCode::NOT_FOUND);
    let (_, summary) = app.get("/api/v1/quarantine/summary", &a.user).await;
    assert_eq!((summary["unread"].as_i64(), summary["total"].as_i64()), (Some(0), Some(1)));
}

#[tokio::test]
async fn a_release_is_one_job_leased_by_one_node_and_allow_sender_lists_the_sender_for_its_user() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "la").await;
    let b = tenant(&app, &admin, "lb").await;
    let node = node_token(&app).await;
    let other_node = node_token(&app).await;
    let upload = json!({"id": "rel1", "org_id": a.org_id, "user_id": a.user_id, "recipient": "user@la.test",
        "sender": "News@Partner.test", "subject": "Newsletter", "score": 6.0, "reasons": ["BULK"], "received_at": Utc::now(),
        "raw_base64": "U3ViamVjdDogTmV3c2xldHRlcg0KDQpoaQ0K"});
    app.post("/api/v1/worker/quarantine", &node, upload).await;
    // Another tenant cannot release it, and learns nothing.
    let (status, _) = app.post("/api/v1/quarantine/release", &b.org_admin, json!({"ids": ["rel1"]})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, jobs) = app.get("/api/v1/worker/jobs", &node).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "no job from a refused release");

    let (status, res) =
        app.post("/api/v1/quarantine/release", &a.user, json!({"ids": ["rel1"], "allow_sender": true})).await;
    assert_eq!((status, res["affected"].as_i64()), (StatusCode::ACCEPTED, Some(1)));
    let (_, summary) = app.get("/api/v1/quarantine/summary", &a.user).await;
    assert_eq!(summary["unread"], 0, "a released message counts as reviewed");
    let (_, lists) = app.get(&format!("/api/v1/lists?level=user&scope_id={}", a.user_id), &a.user).await;
    assert!(
        lists["items"].as_array().unwrap().iter().any(|e| e["pattern"] == "news@partner.test" && e["kind"] == "allow"),
        "{lists}"
    );

    let (status, jobs) = app.get("/api/v1/worker/jobs", &node).await;
    assert_eq!(status, StatusCode::OK);
    let job = &jobs["jobs"][0];
    assert_eq!((job["kind"].as_str(), job["recipient"].as_str()), (Some("release"), Some("user@la.test")));
    assert_eq!(job["released_by"], "user@la.test");
    let (_, again) = app.get("/api/v1/worker/jobs", &other_node).await;
    assert_eq!(again["jobs"].as_array().unwrap().len(), 0, "a leased job goes to one node");
    let id = job["id"].as_str().unwrap();
    let (status, _) = app.post(&format!("/api/v1/worker/jobs/{id}/done"), &node, json!({"ok": true})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.post(&format!("/api/v1/worker/jobs/{id}/done"), &node, json!({"ok": true})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a finished job is not finished twice");
    let (_, res) = app.post("/api/v1/quarantine/release", &a.user, json!({"ids": ["rel1"]})).await;
    assert_eq!(res["affected"], 0, "releasing twice delivers once");
    assert_eq!(app.get("/api/v1/worker/jobs", &a.org_admin).await.0, StatusCode::UNAUTHORIZED, "jobs are for nodes");
}
