//! The Live Archive through the API: worker copies filed per mailbox with their delivery
//! state from events, search by a body word, conversations, reach (a user never sees
//! another's mailbox; an admin may, audited), attachments as downloads, sends as worker
//! jobs, retention, and a domain's continuity state.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, event, node_token, tenant};

fn raw(from: &str, to: &str, subject: &str, id: &str, extra: &str, body: &str) -> String {
    STANDARD.encode(format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{extra}\r\n{body}\r\n"
    ))
}

/// Hands an inbound copy for `rcpt` of tenant `t` to the API, as a worker would.
async fn archive_inbound(app: &TestApp, node: &str, t: &Tenant, id: &str, rcpt: &str, raw_base64: String) -> u16 {
    let upload = json!({"id": id, "org_id": t.org_id, "direction": "inbound", "sender": "alice@partner.test",
        "received_at": chrono::Utc::now(), "raw_base64": raw_base64,
        "mailboxes": [{"address": rcpt, "mailbox": "inbox", "tracking_id": format!("{id}.1")}]});
    app.post("/api/v1/worker/archive", node, upload).await.0.as_u16()
}

async fn first(app: &TestApp, token: &str) -> Value {
    items(&app.get("/api/v1/archive", token).await.1)[0].clone()
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_copy_is_filed_for_its_user_with_its_delivery_state_and_found_by_a_body_word() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "arch").await;
    let node = node_token(&app).await;
    let body = raw(
        "Alice <alice@partner.test>",
        "user@arch.test",
        "Quarterly figures",
        "m1@partner.test",
        "",
        "The PINEAPPLE numbers are in.",
    );
    assert_eq!(
        archive_inbound(&app, &node, &t, "20261201000000AAAAAAAAAAA1", "user@arch.test", body.clone()).await,
        201
    );
    assert_eq!(
        archive_inbound(&app, &node, &t, "20261201000000AAAAAAAAAAA1", "user@arch.test", body).await,
        200,
        "idempotent"
    );

    let (status, list) = app.get("/api/v1/archive", &t.user).await;
    assert_eq!(status.as_u16(), 200, "{list}");
    assert_eq!(list["total"], 1);
    let item = &items(&list)[0];
    assert_eq!(item["subject"], "Quarterly figures");
    assert_eq!(item["sender"], "alice@partner.test");
    assert_eq!(item["state"], Value::Null, "no event yet");

    // Its route's events make its state: queued, deferred with the error, delivered.
    let tracking = "20261201000000AAAAAAAAAAA1.1";
    let received = json!({"direction": "inbound", "sender": "alice@partner.test", "recipients": ["user@arch.test"]});
    let batch = json!({"events": [event(tracking, "received", &t.org_id, received), event(tracking, "verdict", &t.org_id, json!({"verdict": "deliver"}))]});
    assert_eq!(app.post("/api/v1/worker/events", &node, batch).await.0.as_u16(), 200);
    assert_eq!(first(&app, &t.user).await["state"], "queued");
    let deferred = json!({"events": [event(tracking, "deferred", &t.org_id, json!({"response": "451 4.4.1 connection refused"}))]});
    app.post("/api/v1/worker/events", &node, deferred).await;
    let now = first(&app, &t.user).await;
    assert_eq!(now["state"], "deferred");
    assert_eq!(now["last_error"], "451 4.4.1 connection refused");
    app.post("/api/v1/worker/events", &node, json!({"events": [event(tracking, "delivered", &t.org_id, json!({}))]}))
        .await;
    let now = first(&app, &t.user).await;
    assert_eq!((now["state"].as_str(), now["last_error"].as_str()), (Some("delivered"), None));

    // Search looks in the text, not only the headers.
    let (_, found) = app.get("/api/v1/archive?q=pineapple", &t.user).await;
    assert_eq!(found["total"], 1, "{found}");
    let (_, none) = app.get("/api/v1/archive?q=mango", &t.user).await;
    assert_eq!(none["total"], 0);
    let (_, sent) = app.get("/api/v1/archive?mailbox=sent", &t.user).await;
    assert_eq!(sent["total"], 0, "an inbound message is in the Inbox only");

    // Reading it: sanitized preview, headers, a conversation of one.
    let (status, message) = app.get("/api/v1/archive/20261201000000AAAAAAAAAAA1", &t.user).await;
    assert_eq!(status.as_u16(), 200, "{message}");
    assert_eq!(message["message_id"], "m1@partner.test");
    assert!(message["preview"]["text"].as_str().unwrap().contains("PINEAPPLE"));
    assert_eq!(message["thread"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_user_never_sees_another_users_mailbox_and_an_admins_look_is_audited() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "priv").await;
    let other = tenant(&app, &admin, "else").await;
    let node = node_token(&app).await;
    let body = raw("alice@partner.test", "admin@priv.test", "Board minutes", "b1@partner.test", "", "Confidential.");
    assert_eq!(archive_inbound(&app, &node, &t, "20261201000000BBBBBBBBBBB1", "admin@priv.test", body).await, 201);
    let id = "20261201000000BBBBBBBBBBB1";

    // The plain user of the same organisation: not its mailbox, so it does not exist.
    assert_eq!(app.get(&format!("/api/v1/archive/{id}"), &t.user).await.0.as_u16(), 404);
    assert_eq!(app.get(&format!("/api/v1/archive?user_id={}", t.org_admin_id), &t.user).await.0.as_u16(), 404);
    assert_eq!(app.get(&format!("/api/v1/archive/{id}?user_id={}", t.org_admin_id), &t.user).await.0.as_u16(), 404);
    assert_eq!(app.get("/api/v1/archive", &t.user).await.1["total"], 0);
    // Another tenant's admin: outside its reach.
    let path = format!("/api/v1/archive/{id}?user_id={}", t.org_admin_id);
    assert_eq!(app.get(&path, &other.org_admin).await.0.as_u16(), 404);
    assert_eq!(app.get(&path, &other.msp_admin).await.0.as_u16(), 404);

    // The MSP admin of the tenant may open it, and the read is in the audit log.
    let (status, message) = app.get(&path, &t.msp_admin).await;
    assert_eq!(status.as_u16(), 200, "{message}");
    assert_eq!(message["subject"], "Board minutes");
    let (_, audit) = app.get(&format!("/api/v1/audit?org_id={}&q=archived", t.org_id), &admin).await;
    let actions: Vec<String> = items(&audit).iter().filter_map(|e| e["action"].as_str().map(str::to_string)).collect();
    assert!(actions.iter().any(|a| a.contains(id) && a.contains("admin@priv.test")), "{actions:?}");
    // A worker cannot file mail for another tenant's user: the address is not one of the
    // copy's organisation, so nothing is filed.
    let foreign = raw("x@partner.test", "user@else.test", "Sneaky", "s1@partner.test", "", "x");
    assert_eq!(archive_inbound(&app, &node, &t, "20261201000000BBBBBBBBBBB2", "user@else.test", foreign).await, 200);
    assert_eq!(app.get("/api/v1/archive", &other.user).await.1["total"], 0);
    assert!(!app.state.config.data_dir.join("blobs").join("a-20261201000000BBBBBBBBBBB2.eml").exists(), "nothing kept");
}

#[tokio::test]
async fn replies_join_their_conversation_and_attachments_download_as_files() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "conv").await;
    let node = node_token(&app).await;
    let first = raw("alice@partner.test", "user@conv.test", "Plans", "p1@partner.test", "", "First.");
    archive_inbound(&app, &node, &t, "20261201000000CCCCCCCCCCC1", "user@conv.test", first).await;
    let mime = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\nIn-Reply-To: <p1@partner.test>\r\nReferences: <p1@partner.test>\r\n";
    let body = "--B\r\nContent-Type: text/plain\r\n\r\nSecond, with the file.\r\n--B\r\nContent-Type: text/html\r\n\
Content-Disposition: attachment; filename=\"evil\\\".html\"\r\n\r\n<script>alert(1)</script>\r\n--B--";
    let second = raw("alice@partner.test", "user@conv.test", "Re: Plans", "p2@partner.test", mime, body);
    archive_inbound(&app, &node, &t, "20261201000000CCCCCCCCCCC2", "user@conv.test", second).await;
    let (_, message) = app.get("/api/v1/archive/20261201000000CCCCCCCCCCC2", &t.user).await;
    let thread: Vec<&str> = message["thread"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(thread, ["20261201000000CCCCCCCCCCC1", "20261201000000CCCCCCCCCCC2"]);
    assert_eq!(message["has_attachments"], true);
    let (status, headers, bytes) =
        app.download("/api/v1/archive/20261201000000CCCCCCCCCCC2/attachments/0", &t.user).await;
    assert_eq!(status.as_u16(), 200);
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=\"") && !disposition.contains("\\"), "{disposition}");
    assert!(String::from_utf8_lossy(&bytes).contains("<script>"), "the file is given as it is, never rendered");
    assert_eq!(app.download("/api/v1/archive/20261201000000CCCCCCCCCCC2/attachments/5", &t.user).await.0.as_u16(), 404);
}

#[tokio::test]
async fn a_send_becomes_one_worker_job_from_the_users_own_address() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "send").await;
    let node = node_token(&app).await;
    let first = raw("alice@partner.test", "user@send.test", "Question", "q1@partner.test", "", "Can you?");
    archive_inbound(&app, &node, &t, "20261201000000DDDDDDDDDDD1", "user@send.test", first).await;
    let reply = json!({"to": ["alice@partner.test"], "cc": ["admin@send.test"], "subject": "Re: Question",
        "text": "Yes, I can.", "in_reply_to": "20261201000000DDDDDDDDDDD1",
        "attachments": [{"name": "plan.txt", "content_type": "text/plain", "data_base64": STANDARD.encode("THE PLAN")}]});
    let (status, sent) = app.post("/api/v1/archive/send", &t.user, reply.clone()).await;
    assert_eq!(status.as_u16(), 202, "{sent}");
    let (_, batch) = app.get("/api/v1/worker/jobs", &node).await;
    let jobs = batch["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{batch}");
    let job = &jobs[0];
    assert_eq!(job["kind"], "archive_send");
    assert_eq!(job["sender"], "user@send.test");
    assert_eq!(job["recipients"], json!(["alice@partner.test", "admin@send.test"]));
    let message = String::from_utf8(STANDARD.decode(job["raw_base64"].as_str().unwrap()).unwrap()).unwrap();
    assert!(
        message.contains("From: \"User\" <user@send.test>") || message.contains("From: User <user@send.test>"),
        "{message}"
    );
    assert!(message.contains("In-Reply-To: <q1@partner.test>"), "{message}");
    assert!(message.contains("plan.txt"), "{message}");
    assert!(message.contains(sent["message_id"].as_str().unwrap()));
    // The external recipient is now a trusted sender for the user (reverse whitelist).
    let snapshot = app.get("/api/v1/worker/policy", &node).await.1;
    let pairs = snapshot["correspondents"].as_array().unwrap();
    assert!(
        pairs.iter().any(|c| c["address"] == "alice@partner.test" && c["user_id"] == t.user_id.as_str()),
        "{pairs:?}"
    );
    assert!(!pairs.iter().any(|c| c["address"] == "admin@send.test"), "colleagues are not taught");

    // Bad input changes nothing.
    for (body, field) in [
        (json!({"to": [], "subject": "x", "text": "x"}), "to"),
        (json!({"to": ["not an address"], "subject": "x", "text": "x"}), "to[0]"),
        (json!({"to": ["a@partner.test"], "subject": "x", "text": "x", "in_reply_to": "nope"}), "in_reply_to"),
        (
            json!({"to": ["a@partner.test"], "subject": "x", "text": "x", "attachments": [{"name": "a", "data_base64": "@@"}]}),
            "attachments[0].data_base64",
        ),
    ] {
        let (status, error) = app.post("/api/v1/archive/send", &t.user, body).await;
        assert_eq!(status.as_u16(), 422, "{error}");
        assert_eq!(error["error"]["field"], field);
    }
    // Another user's message cannot be answered or forwarded through one's own send.
    let other = tenant(&app, &admin, "snoop").await;
    let steal =
        json!({"to": ["x@partner.test"], "subject": "x", "text": "x", "forward_of": "20261201000000DDDDDDDDDDD1"});
    assert_eq!(app.post("/api/v1/archive/send", &other.user, steal).await.0.as_u16(), 422);
    // An API key has no address of its own to send from.
    let (_, key) = app.post("/api/v1/api-keys", &t.org_admin, json!({"name": "k", "org_id": t.org_id})).await;
    if let Some(key) = key["key"].as_str() {
        assert_eq!(app.post("/api/v1/archive/send", key, reply).await.0.as_u16(), 403);
    }
    let (_, batch) = app.get("/api/v1/worker/jobs", &node).await;
    assert!(batch["jobs"].as_array().unwrap().is_empty(), "no other job was made: {batch}");
}

#[tokio::test]
async fn sends_stop_at_the_organisations_hourly_limit() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "limit").await;
    let (_, mut policy) = app.get(&format!("/api/v1/orgs/{}/policy", t.org_id), &t.org_admin).await;
    policy["outbound_hourly_limit"] = json!(2);
    let put = app
        .call(axum::http::Method::PUT, &format!("/api/v1/orgs/{}/policy", t.org_id), Some(&t.org_admin), Some(policy))
        .await;
    assert_eq!(put.0.as_u16(), 200);
    let mail = json!({"to": ["x@partner.test"], "subject": "hi", "text": "hi"});
    assert_eq!(app.post("/api/v1/archive/send", &t.user, mail.clone()).await.0.as_u16(), 202);
    assert_eq!(app.post("/api/v1/archive/send", &t.user, mail.clone()).await.0.as_u16(), 202);
    assert_eq!(app.post("/api/v1/archive/send", &t.user, mail).await.0.as_u16(), 429);
}

#[tokio::test]
async fn archived_mail_past_its_retention_is_purged_with_its_bytes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "ret").await;
    let node = node_token(&app).await;
    for (id, days) in [("20261101000000EEEEEEEEEEE1", 10), ("20261101000000EEEEEEEEEEE2", 3)] {
        let upload = json!({"id": id, "org_id": t.org_id, "direction": "inbound", "sender": "a@partner.test",
            "received_at": chrono::Utc::now() - chrono::Duration::days(days),
            "raw_base64": raw("a@partner.test", "user@ret.test", id, &format!("{id}@p"), "", "x"),
            "mailboxes": [{"address": "user@ret.test", "mailbox": "inbox", "tracking_id": format!("{id}.1")}]});
        assert_eq!(app.post("/api/v1/worker/archive", &node, upload).await.0.as_u16(), 201);
    }
    let blob = app.state.config.data_dir.join("blobs").join("a-20261101000000EEEEEEEEEEE1.eml");
    assert!(blob.exists());
    moat_api::jobs::retention::purge_once(&app.state).await;
    let (_, list) = app.get("/api/v1/archive", &t.user).await;
    assert_eq!(list["total"], 1, "the default 7 days keep only the recent one: {list}");
    assert!(!blob.exists());
    // The organisation's own retention applies at the next pass; out-of-range values are refused.
    let path = format!("/api/v1/orgs/{}/policy", t.org_id);
    let (_, mut policy) = app.get(&path, &t.org_admin).await;
    for bad in [0, 366] {
        policy["archive_retention_days"] = json!(bad);
        let (status, _) = app.call(axum::http::Method::PUT, &path, Some(&t.org_admin), Some(policy.clone())).await;
        assert_eq!(status.as_u16(), 422);
    }
    policy["archive_retention_days"] = json!(2);
    let (status, _) = app.call(axum::http::Method::PUT, &path, Some(&t.org_admin), Some(policy)).await;
    assert_eq!(status.as_u16(), 200);
    moat_api::jobs::retention::purge_once(&app.state).await;
    assert_eq!(app.get("/api/v1/archive", &t.user).await.1["total"], 0, "two days keep neither");
}

#[tokio::test]
async fn a_domains_continuity_state_comes_from_the_workers_reports_and_admins_can_retry() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "cont").await;
    let other = tenant(&app, &admin, "nosy").await;
    let node = node_token(&app).await;
    let path = format!("/api/v1/domains/{}/delivery", t.domain_id);
    let (status, state) = app.get(&path, &t.user).await;
    assert_eq!(status.as_u16(), 200, "{state}");
    assert_eq!((state["reachable"].as_bool(), state["waiting"].as_i64()), (Some(true), Some(0)));
    let since = chrono::Utc::now() - chrono::Duration::minutes(30);
    let report = json!({"destinations": [{"domain": "cont.test", "waiting": 37, "oldest_at": since,
        "unreachable_since": since, "last_error": "451 4.4.1 connection refused"}]});
    assert_eq!(app.post("/api/v1/worker/delivery", &node, report).await.0.as_u16(), 204);
    let (_, state) = app.get(&path, &t.user).await;
    assert_eq!(state["reachable"], false);
    assert_eq!(state["waiting"], 37);
    assert_eq!(state["last_error"], "451 4.4.1 connection refused");
    // Another tenant learns nothing of it; a plain user may not ask for a retry.
    assert_eq!(app.get(&path, &other.org_admin).await.0.as_u16(), 404);
    assert_eq!(app.post(&format!("{path}/retry"), &t.user, json!({})).await.0.as_u16(), 403);
    assert_eq!(app.post(&format!("{path}/retry"), &other.org_admin, json!({})).await.0.as_u16(), 404);
    let (status, state) = app.post(&format!("{path}/retry"), &t.org_admin, json!({})).await;
    assert_eq!(status.as_u16(), 200, "{state}");
    assert!(state["retry_requested_at"].is_string());
    // The request and a longer queue expiry reach the workers in the policy snapshot.
    let patch =
        app.patch(&format!("/api/v1/domains/{}", t.domain_id), &t.org_admin, json!({"queue_expiry_days": 14})).await;
    assert_eq!(patch.0.as_u16(), 200, "{}", patch.1);
    let bad =
        app.patch(&format!("/api/v1/domains/{}", t.domain_id), &t.org_admin, json!({"queue_expiry_days": 99})).await;
    assert_eq!(bad.0.as_u16(), 422);
    let (_, snapshot) = app.get("/api/v1/worker/policy", &node).await;
    let domain = snapshot["domains"].as_array().unwrap().iter().find(|d| d["name"] == "cont.test").unwrap().clone();
    assert_eq!(domain["queue_expiry_days"], 14);
    assert!(domain["retry_requested_at"].is_string());
    // The node recovered: its next report has nothing for the domain.
    app.post("/api/v1/worker/delivery", &node, json!({"destinations": []})).await;
    assert_eq!(app.get(&path, &t.user).await.1["reachable"], true);
    // /auth/me names the user's domain, for the banner.
    assert_eq!(app.get("/api/v1/auth/me", &t.user).await.1["domain_id"], t.domain_id.as_str());
}

#[tokio::test]
async fn pages_of_a_mailbox_count_every_match() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "pages").await;
    let node = node_token(&app).await;
    for n in 1..=5 {
        let word = if n % 2 == 0 { "even" } else { "odd" };
        let body = raw("a@partner.test", "user@pages.test", &format!("Note {n}"), &format!("n{n}@p"), "", word);
        archive_inbound(&app, &node, &t, &format!("20261201000000FFFFFFFFFFF{n}"), "user@pages.test", body).await;
    }
    for (path, total, shown) in [
        ("/api/v1/archive?per_page=2", 5, 2),
        ("/api/v1/archive?per_page=2&page=3", 5, 1),
        ("/api/v1/archive?per_page=2&page=4", 5, 0),
        ("/api/v1/archive?per_page=2&q=odd", 3, 2),
        ("/api/v1/archive?per_page=2&q=odd&page=2", 3, 1),
        ("/api/v1/archive?per_page=2&q=even", 2, 2),
    ] {
        let (_, list) = app.get(path, &t.user).await;
        assert_eq!((list["total"].as_i64(), items(&list).len()), (Some(total), shown), "{path}: {list}");
    }
}

#[tokio::test]
async fn an_org_admin_opens_a_users_archive_and_the_read_is_audited() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "oadm").await;
    let node = node_token(&app).await;
    let body = raw("alice@partner.test", "user@oadm.test", "Holiday plans", "h1@partner.test", "", "KIWI");
    assert_eq!(archive_inbound(&app, &node, &t, "20261201000000GGGGGGGGGGG1", "user@oadm.test", body).await, 201);
    // Without naming the user, the admin sees its own (empty) mailbox.
    assert_eq!(app.get("/api/v1/archive", &t.org_admin).await.1["total"], 0);
    assert_eq!(app.get("/api/v1/archive/20261201000000GGGGGGGGGGG1", &t.org_admin).await.0.as_u16(), 404);
    let (status, list) = app.get(&format!("/api/v1/archive?q=kiwi&user_id={}", t.user_id), &t.org_admin).await;
    assert_eq!((status.as_u16(), list["total"].as_i64()), (200, Some(1)), "{list}");
    let path = format!("/api/v1/archive/20261201000000GGGGGGGGGGG1?user_id={}", t.user_id);
    assert_eq!(app.get(&path, &t.org_admin).await.0.as_u16(), 200);
    let (_, audit) = app.get("/api/v1/audit?q=archive", &t.org_admin).await;
    let actions: Vec<String> = items(&audit).iter().filter_map(|e| e["action"].as_str().map(str::to_string)).collect();
    assert!(actions.iter().any(|a| a == "opened the archive of user@oadm.test"), "{actions:?}");
    assert!(
        actions.iter().any(|a| a == "read the archived message 20261201000000GGGGGGGGGGG1 of user@oadm.test"),
        "{actions:?}"
    );
    // The user's own reads are its business: not audited.
    app.get("/api/v1/archive/20261201000000GGGGGGGGGGG1", &t.user).await;
    let (_, audit) = app.get("/api/v1/audit?q=archive", &t.org_admin).await;
    assert_eq!(items(&audit).len(), actions.len());
}
