//! Tenant boundaries: what an organisation admin, an API key or a plain user may not do to
//! the platform or to another tenant (relay ranges, addresses on foreign domains, internal
//! destinations, other tenants' reputation and Bcc recipients), and the body limits of each
//! route (worker uploads and CSV take large bodies, the rest a small one).

use axum::http::{Method, StatusCode};
use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::{TestApp, event, node_token, tenant};

fn recipients(snapshot: &Value) -> Vec<String> {
    snapshot["recipients"].as_array().unwrap().iter().map(|r| r["email"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn relay_ranges_name_servers_not_networks() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "relay").await;
    let (_, key) = app
        .post("/api/v1/api-keys", &t.org_admin, json!({"name": "psa", "scope": {"level": "org", "id": t.org_id}}))
        .await;
    let org_key = key["secret"].as_str().unwrap().to_string();
    let provision = format!("/api/v1/orgs/{}/provision", t.org_id);
    let add = format!("/api/v1/orgs/{}/allowed-ips", t.org_id);
    for token in [&t.org_admin, &t.msp_admin, &org_key] {
        for wide in ["0.0.0.0/0", "::/0", "10.0.0.0/8", "192.0.2.0/23", "2001:db8::/32"] {
            let (status, res) = app.post(&provision, token, json!({"allowed_ips": ["192.0.2.1", wide]})).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{wide} via provision: {res}");
            assert_eq!(res["error"]["field"], "allowed_ips[1]");
            let (status, res) = app.post(&add, token, json!({"cidr": wide})).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{wide} via allowed-ips: {res}");
            assert_eq!(res["error"]["field"], "cidr");
        }
    }
    // Nothing of the refused calls was stored (provisioning is all or nothing).
    let (_, list) = app.get(&add, &t.org_admin).await;
    assert_eq!(list["total"], 0, "{list}");

    // Servers and small networks are fine; the list, a duplicate and removal behave.
    let (status, one) = app.post(&add, &t.org_admin, json!({"cidr": "192.0.2.10"})).await;
    assert_eq!((status, one["cidr"].as_str()), (StatusCode::CREATED, Some("192.0.2.10/32")), "{one}");
    let (status, _) = app.post(&add, &org_key, json!({"cidr": "2001:db8:5::/48"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) =
        app.post(&provision, &t.msp_admin, json!({"allowed_ips": ["198.51.100.0/24", "192.0.2.10"]})).await;
    assert_eq!(status, StatusCode::OK, "provisioning keeps servers already listed");
    let (status, dup) = app.post(&add, &t.org_admin, json!({"cidr": "192.0.2.10/32"})).await;
    assert_eq!((status, dup["error"]["field"].as_str()), (StatusCode::CONFLICT, Some("cidr")));
    let (status, res) = app.post(&add, &t.org_admin, json!({"cidr": "not an address"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{res}");
    let (_, list) = app.get(&add, &t.org_admin).await;
    let cidrs: Vec<&str> = list["items"].as_array().unwrap().iter().map(|i| i["cidr"].as_str().unwrap()).collect();
    assert_eq!(cidrs, ["192.0.2.10/32", "198.51.100.0/24", "2001:db8:5::/48"]);
    // Users and spam czars do not manage relay servers.
    let (status, _) = app.get(&add, &t.user).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.delete(&format!("{add}/{}", one["id"].as_str().unwrap()), &t.org_admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.delete(&format!("{add}/{}", one["id"].as_str().unwrap()), &t.org_admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The platform operator may name any range, and workers see what is listed.
    let (status, _) = app.post(&add, &admin, json!({"cidr": "0.0.0.0/0"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let node = node_token(&app).await;
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    let nets: Vec<&str> =
        snap["relay_networks"].as_array().unwrap().iter().map(|n| n["cidr"].as_str().unwrap()).collect();
    assert_eq!(nets, ["0.0.0.0/0", "198.51.100.0/24", "2001:db8:5::/48"]);
}

#[tokio::test]
async fn users_live_on_their_own_organisations_domains() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "owner-a").await;
    let b = tenant(&app, &admin, "owner-b").await;
    let users = format!("/api/v1/orgs/{}/users", a.org_id);
    let claim = json!({"email": "invoices@owner-b.test", "display_name": "Invoices", "role": "user"});
    for token in [&a.org_admin, &a.msp_admin, &admin] {
        let (status, res) = app.post(&users, token, claim.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{res}");
        assert_eq!(res["error"]["field"], "email");
        assert!(!res.to_string().contains("Org owner-b"), "the answer names no other tenant: {res}");
    }
    let (status, res) = app
        .raw(
            Method::POST,
            &format!("{users}/import"),
            Some(&a.org_admin),
            "text/csv",
            "email,display_name\nok@owner-a.test,Ok\ninvoices@owner-b.test,Invoices\n",
        )
        .await;
    assert_eq!((status, res["error"]["line"].as_u64()), (StatusCode::UNPROCESSABLE_ENTITY, Some(3)), "{res}");
    let (status, res) = app
        .post(
            &format!("/api/v1/orgs/{}/provision", a.org_id),
            &a.org_admin,
            json!({"users_csv": "email,display_name\ninvoices@owner-b.test,Invoices\n"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{res}");
    // A domain added in the same provisioning call counts as the organisation's own.
    let (status, res) = app
        .post(
            &format!("/api/v1/orgs/{}/provision", a.org_id),
            &a.org_admin,
            json!({"domains": [{"name": "second-a.test", "destination_host": "mx.second-a.test", "destination_port": 25}],
                   "users_csv": "email,display_name\nann@second-a.test,Ann\n"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    // The real owner is not blocked out of its own address.
    let (status, res) = app.post(&format!("/api/v1/orgs/{}/users", b.org_id), &b.org_admin, claim).await;
    assert_eq!(status, StatusCode::CREATED, "{res}");

    // A mailbox whose domain moved to another tenant receives nothing through the gateway.
    let (status, domain) = app
        .post(
            &format!("/api/v1/orgs/{}/domains", a.org_id),
            &a.org_admin,
            json!({"name": "moving.test", "destination_host": "mx.moving.test", "destination_port": 25}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{domain}");
    app.create(&users, &a.org_admin, json!({"email": "old@moving.test", "display_name": "Old", "role": "user"})).await;
    let node = node_token(&app).await;
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert!(recipients(&snap).contains(&"old@moving.test".to_string()));
    let (status, _) = app.delete(&format!("/api/v1/domains/{}", domain["id"].as_str().unwrap()), &a.org_admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.create(
        &format!("/api/v1/orgs/{}/domains", b.org_id),
        &b.org_admin,
        json!({"name": "moving.test", "destination_host": "mx.moving.test", "destination_port": 25}),
    )
    .await;
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    let now = recipients(&snap);
    assert!(!now.contains(&"old@moving.test".to_string()), "{now:?}");
    assert!(now.contains(&"invoices@owner-b.test".to_string()) && now.contains(&"ann@second-a.test".to_string()));
    // Admins of MSPs and of the platform may use any address, but are never mailboxes.
    assert!(!now.iter().any(|r| r.starts_with("msp@")), "{now:?}");
}

#[tokio::test]
async fn destinations_are_customer_servers_not_internal_addresses() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "dest").await;
    let domain = format!("/api/v1/domains/{}", t.domain_id);
    // From a customer server (an unchanged destination sent back is no change, see tenancy.rs).
    let (status, _) = app.patch(&domain, &admin, json!({"destination_host": "mx.customer-dest.test"})).await;
    assert_eq!(status, StatusCode::OK);
    for host in ["127.0.0.1", "::1", "169.254.169.254", "localhost", "metadata.google.internal", "0.0.0.0"] {
        for token in [&t.org_admin, &t.msp_admin] {
            let (status, res) = app.patch(&domain, token, json!({"destination_host": host})).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{host}: {res}");
            assert_eq!(res["error"]["field"], "destination_host");
        }
        let (status, res) = app
            .post(
                &format!("/api/v1/orgs/{}/domains", t.org_id),
                &t.org_admin,
                json!({"name": "other-dest.test", "destination_host": host, "destination_port": 25}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{host}: {res}");
    }
    let (status, res) = app.patch(&domain, &t.org_admin, json!({"destination_host": "mx.dest.test"})).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    // The operator may, and so may everyone on a deployment configured for it (development).
    let (status, _) = app.patch(&domain, &admin, json!({"destination_host": "127.0.0.1"})).await;
    assert_eq!(status, StatusCode::OK);
    let dev = TestApp::spawn_with(|c| c.allow_internal_destinations = true).await;
    let dev_admin = dev.admin_token().await;
    let d = tenant(&dev, &dev_admin, "devdest").await;
    let (status, _) =
        dev.patch(&format!("/api/v1/domains/{}", d.domain_id), &d.org_admin, json!({"destination_host": "::1"})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn bodies_are_limited_per_route() {
    let app = TestApp::spawn_with(|c| c.max_message_size = 6 * 1024 * 1024).await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "limits").await;
    let node = node_token(&app).await;
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert_eq!(snap["limits"]["max_message_bytes"], 6 * 1024 * 1024, "{}", snap["limits"]);
    let upload_limit = snap["limits"]["max_upload_bytes"].as_u64().unwrap();

    // A 5 MB held message (an attachment) is taken: twice axum's 2 MB default.
    let raw = format!("Subject: big\r\n\r\n{}\r\n", "A".repeat(5 * 1024 * 1024));
    let upload = |id: &str, raw: &str| {
        json!({"id": id, "org_id": t.org_id, "user_id": t.user_id, "recipient": "user@limits.test",
               "sender": "x@ext.test", "subject": "big", "score": 0.0, "reasons": ["attachment: a.exe"],
               "received_at": chrono::Utc::now(),
               "raw_base64": base64::engine::general_purpose::STANDARD.encode(raw)})
    };
    let (status, res) = app.post("/api/v1/worker/quarantine", &node, upload("big.1-1", &raw)).await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
    let (_, list) = app.get("/api/v1/quarantine", &t.user).await;
    assert_eq!(list["items"][0]["subject"], "big");
    // Past the stated limit: 413 in the error shape, naming the limit.
    let huge = "A".repeat(upload_limit as usize);
    let (status, res) = app.post("/api/v1/worker/quarantine", &node, upload("huge.1-1", &huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res["error"]["code"], "payload_too_large");
    assert!(res["error"]["message"].as_str().unwrap().contains(&upload_limit.to_string()), "{res}");

    // Everything else keeps a small limit.
    let padded = json!({"scope": {"level": "org", "id": t.org_id}, "kind": "block", "pattern": "x".repeat(2 << 20)});
    let (status, res) = app.post("/api/v1/lists", &t.org_admin, padded).await;
    assert_eq!((status, res["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));

    // A CSV of several MB is read (and judged line by line).
    let mut csv = String::from("email,display_name\nnot-an-address,X\n");
    while csv.len() < 3 << 20 {
        csv.push_str("filler@limits.test,Filler\n");
    }
    let (status, res) = app
        .raw(Method::POST, &format!("/api/v1/orgs/{}/users/import", t.org_id), Some(&t.org_admin), "text/csv", &csv)
        .await;
    assert_eq!((status, res["error"]["line"].as_u64()), (StatusCode::UNPROCESSABLE_ENTITY, Some(2)), "{res}");
}

#[tokio::test]
async fn the_csv_limit_is_the_configured_one() {
    let app = TestApp::spawn_with(|c| c.max_csv_bytes = 4096).await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "csvlimit").await;
    let mut csv = String::from("email,display_name\n");
    for i in 0..200 {
        csv.push_str(&format!("u{i}@csvlimit.test,User {i}\n"));
    }
    let path = format!("/api/v1/orgs/{}/users/import", t.org_id);
    let (status, res) = app.raw(Method::POST, &path, Some(&t.org_admin), "text/csv", &csv).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{res}");
    assert!(res["error"]["message"].as_str().unwrap().contains("4096"), "{res}");
    let (status, res) = app.raw(Method::POST, &path, Some(&t.org_admin), "text/csv", &csv[..1000]).await;
    assert_ne!(status, StatusCode::PAYLOAD_TOO_LARGE, "{res}");
}

#[tokio::test]
async fn event_text_is_bounded_and_a_huge_subject_is_tracked_truncated() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "bounded").await;
    let node = node_token(&app).await;
    let subject = "S".repeat(2 * 1024 * 1024);
    let many: Vec<String> = (0..1500).map(|i| format!("r{i}@bounded.test")).collect();
    let batch = json!({"events": [
        event("big-subject", "received", &t.org_id, json!({"sender": "x@ext.test", "recipients": many, "subject": subject})),
        event("after", "received", &t.org_id, json!({"sender": "x@ext.test", "recipients": ["user@bounded.test"], "subject": "later"})),
    ]});
    let (status, ack) = app.post("/api/v1/worker/events", &node, batch).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    let (_, m) = app.get("/api/v1/messages/big-subject", &t.org_admin).await;
    let kept = m["subject"].as_str().unwrap();
    assert_eq!(kept.chars().count(), moat_openapi::MAX_SUBJECT_CHARS, "{}", &kept[..40]);
    assert!(kept.ends_with('…'));
    assert_eq!(m["recipients"].as_array().unwrap().len(), moat_openapi::MAX_EVENT_RECIPIENTS);
    let (status, _) = app.get("/api/v1/messages/after", &t.org_admin).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn plain_users_see_only_themselves_among_recipients() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "bcc").await;
    let node = node_token(&app).await;
    let rcpts = json!(["user@bcc.test", "boss@bcc.test", "secret-bcc@bcc.test"]);
    let batch = json!({"events": [
        event("bcc1", "received", &t.org_id, json!({"sender": "x@ext.test", "recipients": rcpts, "subject": "hi"})),
        event("bcc1", "delivered", &t.org_id, json!({"recipients": rcpts, "response": "250 ok"})),
    ]});
    let (status, _) = app.post("/api/v1/worker/events", &node, batch).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = app.get("/api/v1/messages", &t.user).await;
    assert_eq!(list["items"][0]["recipients"], json!(["user@bcc.test"]), "{list}");
    let (_, one) = app.get("/api/v1/messages/bcc1", &t.user).await;
    assert_eq!(one["recipients"], json!(["user@bcc.test"]));
    assert!(!one.to_string().contains("secret-bcc"), "{one}");
    let (_, one) = app.get("/api/v1/messages/bcc1", &t.org_admin).await;
    assert_eq!(one["recipients"].as_array().unwrap().len(), 3, "admins see every recipient");
}

#[tokio::test]
async fn admins_see_reputation_only_for_traffic_to_their_own_organisations() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "rep-a").await;
    let b = tenant(&app, &admin, "rep-b").await;
    let node = node_token(&app).await;
    let entry = |ip: &str| json!({"ip": ip, "connections": 3, "messages": 2});
    let (status, _) = app
        .post("/api/v1/worker/reputation", &node, json!({"entries": [entry("192.0.2.1"), entry("192.0.2.2")]}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let batch = json!({"events": [
        event("ra", "received", &a.org_id, json!({"client_ip": "192.0.2.1", "recipients": ["user@rep-a.test"]})),
        event("rb", "received", &b.org_id, json!({"client_ip": "192.0.2.2", "recipients": ["user@rep-b.test"]})),
    ]});
    app.post("/api/v1/worker/events", &node, batch).await;
    let ips = |list: &Value| -> Vec<String> {
        list["items"].as_array().unwrap().iter().map(|i| i["ip"].as_str().unwrap().to_string()).collect()
    };
    let (_, list) = app.get("/api/v1/reputation", &a.org_admin).await;
    assert_eq!((ips(&list), list["total"].as_i64()), (vec!["192.0.2.1".to_string()], Some(1)));
    let (_, list) = app.get("/api/v1/reputation?ip=192.0.2.2", &a.org_admin).await;
    assert_eq!(list["total"], 0, "{list}");
    let (_, list) = app.get("/api/v1/reputation", &b.msp_admin).await;
    assert_eq!(ips(&list), vec!["192.0.2.2".to_string()]);
    let (_, list) = app.get("/api/v1/reputation", &admin).await;
    assert_eq!(list["total"], 2);
}

#[tokio::test]
async fn password_links_are_checked_first_rate_limited_and_voided_by_a_change() {
    let app = TestApp::spawn_with(|c| c.login_attempts_per_ip = 20).await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "links").await;
    let confirm = "/api/v1/auth/password-reset/confirm";
    // A bad token is refused before the password is even looked at (or hashed).
    let (status, res) = app.call(Method::POST, confirm, None, Some(json!({"token": "forged", "password": "x"}))).await;
    assert_eq!((status, res["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("token")), "{res}");

    let ask = json!({"email": "user@links.test"});
    app.call(Method::POST, "/api/v1/auth/password-reset", None, Some(ask.clone())).await;
    let first = app.mailed_token("user@links.test").await;
    app.call(Method::POST, "/api/v1/auth/password-reset", None, Some(ask)).await;
    let second = app.mailed_token("user@links.test").await;
    assert_ne!(first, second);
    let (status, _) =
        app.call(Method::POST, confirm, None, Some(json!({"token": first, "password": "brand new password"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an earlier link dies when a new one is sent");
    let (status, res) =
        app.call(Method::POST, confirm, None, Some(json!({"token": second, "password": "brand new password"}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{res}");
    // Tokens from before the reset stop working.
    let (status, res) = app.get("/api/v1/auth/me", &t.user).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{res}");
    app.login("user@links.test", "brand new password").await;

    // Guessing links is rate limited like logging in.
    let mut limited = false;
    for i in 0..12 {
        let body = json!({"token": format!("guess-{i}"), "password": "whatever password"});
        let (status, _) = app.call(Method::POST, "/api/v1/auth/activate", None, Some(body)).await;
        limited |= status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "activation guesses were never rate limited");
}

#[tokio::test]
async fn a_revoked_node_is_refused() {
    let app = TestApp::spawn().await;
    let token = format!("moatnode_{}", uuid::Uuid::new_v4().simple());
    app.state.store.create_node("mx-revoke", &moat_api::auth::tokens::sha256_hex(&token)).await.unwrap();
    assert_eq!(app.get("/api/v1/worker/policy", &token).await.0, StatusCode::OK);
    assert!(app.state.store.revoke_node("mx-revoke").await.unwrap());
    assert!(!app.state.store.revoke_node("mx-revoke").await.unwrap(), "revoking twice finds no live token");
    assert_eq!(app.get("/api/v1/worker/policy", &token).await.0, StatusCode::UNAUTHORIZED);
}
