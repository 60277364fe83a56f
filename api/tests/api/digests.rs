//! Digests: settings, the schedule in a user's time zone (the test drives the clock by
//! calling the job's pass with chosen instants), the mail, its signed links, secure release
//! and resends. Delivery through a real SMTP server and the rendering are in
//! e2e/browser/digest.test.mjs.

use axum::http::Method;
use chrono::{DateTime, Utc};
use moat_api::jobs::digests::pass;
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, node_token, tenant};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

async fn hold(app: &TestApp, t: &Tenant, id: &str, subject: &str, received: DateTime<Utc>, recipient: &str) {
    let node = node_token(app).await;
    let raw = format!("Subject: {subject}\r\nFrom: bulk@ext.test\r\n\r\nBuy now, {subject}\r\n");
    let upload = json!({"id": id, "org_id": t.org_id, "user_id": t.user_id, "recipient": recipient,
        "sender": "bulk@ext.test", "subject": subject, "score": 9.1, "reasons": ["BAYES_99 (+5.0)"],
        "received_at": received, "raw_base64": base64_of(&raw)});
    assert_eq!(app.post("/api/v1/worker/quarantine", &node, upload).await.0.as_u16(), 201);
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

async fn digests_to(app: &TestApp, address: &str) -> Vec<moat_api::store::SystemMail> {
    app.state.store.system_mail_to(address).await.unwrap().into_iter().filter(|m| m.subject.contains("held")).collect()
}

/// How many release jobs a worker now leases (each is leased once).
async fn new_jobs(app: &TestApp, node: &str) -> usize {
    app.get("/api/v1/worker/jobs", node).await.1["jobs"].as_array().unwrap().len()
}

/// The `/d/…` path of the link after `label` in a digest's text part.
fn link_after(body: &str, label: &str) -> String {
    let line = body.lines().find(|l| l.trim_start().starts_with(label)).expect("the link is there");
    let url = line.rsplit(' ').next().unwrap();
    url.strip_prefix("https://moat.example").expect("links use the public URL").to_string()
}

#[tokio::test]
async fn settings_are_checked_and_only_the_user_and_its_admins_reach_them() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "dset").await;
    let other = tenant(&app, &admin, "dset-other").await;
    let path = format!("/api/v1/users/{}/settings", t.user_id);
    let (status, s) = app.get(&path, &t.user).await;
    assert_eq!(status.as_u16(), 200);
    assert_eq!(s["digest"], json!({"enabled": true, "times": ["08:00"], "only_new": true}), "the default");
    for (body, field) in [
        (json!({"time_zone": "Mars/Olympus"}), "time_zone"),
        (json!({"digest": {"enabled": true, "times": ["8am"], "only_new": true}}), "digest.times"),
        (json!({"digest": {"enabled": true, "times": [], "only_new": true}}), "digest.times"),
        (json!({"digest": {"enabled": true, "times": vec!["08:00"; 25], "only_new": true}}), "digest.times"),
    ] {
        let (status, err) = app.call(Method::PUT, &path, Some(&t.user), Some(body)).await;
        assert_eq!(status.as_u16(), 422, "{err}");
        assert_eq!(err["error"]["field"], field);
    }
    let (_, unchanged) = app.get(&path, &t.user).await;
    assert_eq!(unchanged["time_zone"], "UTC", "a refused change changes nothing");
    // Another tenant's admin and a colleague see nothing; the org admin does.
    assert_eq!(app.get(&path, &other.org_admin).await.0.as_u16(), 404);
    assert_eq!(app.get(&path, &other.user).await.0.as_u16(), 404);
    let body = json!({"digest": {"enabled": false, "times": [], "only_new": true}});
    assert_eq!(app.call(Method::PUT, &path, Some(&other.org_admin), Some(body.clone())).await.0.as_u16(), 404);
    let admin_path = format!("/api/v1/users/{}/settings", t.org_admin_id);
    assert_eq!(app.get(&admin_path, &t.user).await.0.as_u16(), 404, "a user does not reach its admin's settings");
    let (status, off) = app.call(Method::PUT, &path, Some(&t.org_admin), Some(body)).await;
    assert_eq!(status.as_u16(), 200, "{off}");
    assert_eq!(off["digest"]["enabled"], false);
    assert_eq!(off["next_digest_at"], Value::Null);
    // Off means off: held mail makes no digest, however much later.
    hold(&app, &t, "off-1", "Held while off", Utc::now(), "user@dset.test").await;
    assert_eq!(pass(&app.state, Utc::now() + chrono::Duration::days(2)).await.unwrap(), 0);
    assert!(digests_to(&app, "user@dset.test").await.is_empty());
}

#[tokio::test]
async fn a_tokyo_users_digests_go_out_at_eight_and_four_local_time() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "tokyo").await;
    let body =
        json!({"time_zone": "Asia/Tokyo", "digest": {"enabled": true, "times": ["16:00", "08:00"], "only_new": true}});
    let (status, s) =
        app.call(Method::PUT, &format!("/api/v1/users/{}/settings", t.user_id), Some(&t.user), Some(body)).await;
    assert_eq!(status.as_u16(), 200, "{s}");
    assert_eq!(s["digest"]["times"], json!(["08:00", "16:00"]));
    // Force the first due time from a chosen "now": 22:00 UTC on 1 Dec is 07:00 on 2 Dec in Tokyo.
    let row = moat_api::store::DigestRow {
        user_id: t.user_id.parse().unwrap(),
        schedule: serde_json::from_value(s["digest"].clone()).unwrap(),
        next_at: None,
        last_sent_at: None,
    };
    app.state.store.save_digest_settings(&row).await.unwrap();
    assert_eq!(pass(&app.state, at("2026-12-01T22:00:00Z")).await.unwrap(), 0, "scheduled, nothing due");
    let (_, s) = app.get(&format!("/api/v1/users/{}/settings", t.user_id), &t.user).await;
    assert_eq!(s["next_digest_at"], "2026-12-01T23:00:00Z", "08:00 in Tokyo");
    hold(&app, &t, "tk-1", "Cheap watches", at("2026-12-01T21:00:00Z"), "user@tokyo.test").await;
    assert_eq!(pass(&app.state, at("2026-12-01T22:59:00Z")).await.unwrap(), 0, "07:59 local: not yet");
    assert_eq!(pass(&app.state, at("2026-12-01T23:00:00Z")).await.unwrap(), 1, "08:00 local");
    assert_eq!(pass(&app.state, at("2026-12-01T23:01:00Z")).await.unwrap(), 0, "once");
    let mails = digests_to(&app, "user@tokyo.test").await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].body.contains("Cheap watches") && mails[0].body.contains("Wed 2 Dec 06:00"), "{}", mails[0].body);
    assert!(mails[0].body.contains("scored 9.1 where 5 holds mail"), "plain-word reason: {}", mails[0].body);
    assert!(mails[0].html.contains("Release and allow sender"));
    // Only new since the last digest: 16:00 local (07:00 UTC) with nothing new sends nothing.
    assert_eq!(pass(&app.state, at("2026-12-02T07:00:00Z")).await.unwrap(), 0, "nothing new at 16:00");
    hold(&app, &t, "tk-2", "Replica bags", at("2026-12-02T10:00:00Z"), "user@tokyo.test").await;
    assert_eq!(pass(&app.state, at("2026-12-02T22:59:59Z")).await.unwrap(), 0);
    assert_eq!(pass(&app.state, at("2026-12-02T23:00:00Z")).await.unwrap(), 1, "08:00 on the 3rd");
    let mails = digests_to(&app, "user@tokyo.test").await;
    assert_eq!(mails.len(), 2);
    assert!(mails[0].body.contains("Replica bags") && !mails[0].body.contains("Cheap watches"), "{}", mails[0].body);
}

#[tokio::test]
async fn a_digest_link_confirms_before_it_releases_and_a_changed_link_does_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "dlink").await;
    hold(&app, &t, "dl-1", "Invoice 42", Utc::now(), "user@dlink.test").await;
    let (status, r) = app.post("/api/v1/digests/resend", &t.user, json!({})).await;
    assert_eq!(status.as_u16(), 202, "{r}");
    assert_eq!(r, json!({"queued": true, "messages": 1}));
    let mail = digests_to(&app, "user@dlink.test").await.remove(0);
    let view = link_after(&mail.body, "View:");
    let (status, page) = app.call(Method::GET, &view, None, None).await;
    assert_eq!(status.as_u16(), 200);
    let page = page.as_str().unwrap().to_string();
    assert!(page.contains("Buy now, Invoice 42") && page.matches("<form method=\"post\"").count() == 2, "{page}");
    assert_eq!(app.call(Method::POST, &view, None, None).await.0.as_u16(), 400, "a view link releases nothing");
    let release = link_after(&mail.body, "Release:");
    let (status, page) = app.call(Method::GET, &release, None, None).await;
    assert_eq!(status.as_u16(), 200);
    let page = page.as_str().unwrap().to_string();
    assert!(page.contains("<form method=\"post\"") && page.contains("Invoice 42"), "{page}");
    let node = node_token(&app).await;
    assert_eq!(new_jobs(&app, &node).await, 0, "a GET releases nothing");
    // A changed token: another message id in the payload, the old signature.
    let token = release.strip_prefix("/d/").unwrap();
    let (payload, tag) = token.split_once('.').unwrap();
    let forged = {
        use base64::Engine;
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let text = String::from_utf8(b.decode(payload).unwrap()).unwrap().replace("dl-1", "dl-2");
        format!("/d/{}.{tag}", b.encode(text))
    };
    let (status, page) = app.call(Method::POST, &forged, None, None).await;
    assert_eq!(status.as_u16(), 403);
    assert!(page.as_str().unwrap().contains("This link is not valid"));
    assert_eq!(app.call(Method::GET, "/d/garbage", None, None).await.0.as_u16(), 400);
    assert_eq!(new_jobs(&app, &node).await, 0);
    let (status, page) = app.call(Method::POST, &release, None, None).await;
    assert_eq!(status.as_u16(), 200);
    assert!(page.as_str().unwrap().contains("on its way"), "{page}");
    assert_eq!(new_jobs(&app, &node).await, 1, "one release job");
    let (_, page) = app.call(Method::POST, &release, None, None).await;
    assert!(page.as_str().unwrap().contains("already released"));
    let (_, audit) = app.get("/api/v1/audit?q=digest%20link", &t.org_admin).await;
    assert_eq!(audit["total"], 2, "{audit}");
    // Release and allow: the sender lands on the user's own allow list.
    hold(&app, &t, "dl-3", "Newsletter", Utc::now(), "user@dlink.test").await;
    let user = app.state.store.user_by_id(t.user_id.parse().unwrap()).await.unwrap().unwrap();
    let policy = app.state.store.org_policy(t.org_id.parse().unwrap()).await.unwrap();
    let digest = moat_api::jobs::digests::compose(&app.state, &policy, &user, true).await.unwrap().unwrap();
    assert_eq!(digest.listed, vec!["dl-3"], "only what no digest listed yet");
    let allow = link_after(&digest.mail.body, "Release and allow the sender:");
    assert_eq!(app.call(Method::POST, &allow, None, None).await.0.as_u16(), 200);
    let (_, lists) = app.get(&format!("/api/v1/lists?level=user&id={}", t.user_id), &t.user).await;
    assert!(lists.to_string().contains("bulk@ext.test"), "{lists}");
}

#[tokio::test]
async fn with_secure_release_a_link_opens_the_web_app_and_releases_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "dsecure").await;
    let policy_path = format!("/api/v1/orgs/{}/policy", t.org_id);
    let (_, mut policy) = app.get(&policy_path, &t.org_admin).await;
    policy["secure_release"] = json!(true);
    assert_eq!(app.call(Method::PUT, &policy_path, Some(&t.org_admin), Some(policy)).await.0.as_u16(), 200);
    hold(&app, &t, "ds-1", "Quarterly report", Utc::now(), "user@dsecure.test").await;
    assert_eq!(app.post("/api/v1/digests/resend", &t.user, json!({})).await.0.as_u16(), 202);
    let mail = digests_to(&app, "user@dsecure.test").await.remove(0);
    let release = link_after(&mail.body, "Release:");
    let req = axum::http::Request::builder().uri(&release).body(axum::body::Body::empty()).unwrap();
    let res = tower::ServiceExt::oneshot(moat_api::http::router(app.state.clone()), req).await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "https://moat.example/quarantine?open=ds-1");
    assert_eq!(app.call(Method::POST, &release, None, None).await.0.as_u16(), 403);
    let node = node_token(&app).await;
    assert_eq!(app.get("/api/v1/worker/jobs", &node).await.1["jobs"], json!([]));
}

#[tokio::test]
async fn resends_are_rate_limited_per_user_and_stay_inside_the_tenant() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "dresend").await;
    let other = tenant(&app, &admin, "dresend-other").await;
    let (status, r) = app.post("/api/v1/digests/resend", &t.user, json!({})).await;
    assert_eq!(status.as_u16(), 200, "nothing held: no mail");
    assert_eq!(r, json!({"queued": false, "messages": 0}));
    assert_eq!(app.post("/api/v1/digests/resend", &t.user, json!({})).await.0.as_u16(), 429);
    for (caller, target) in [(&other.org_admin, &t.user_id), (&other.user, &t.user_id), (&t.user, &t.org_admin_id)] {
        let (status, _) = app.post("/api/v1/digests/resend", caller, json!({"user_id": target})).await;
        assert_eq!(status.as_u16(), 404);
    }
    hold(&app, &t, "dr-1", "Hello", Utc::now(), "user@dresend.test").await;
    let (status, _) = app.post("/api/v1/digests/resend", &t.org_admin, json!({"user_id": t.user_id})).await;
    assert_eq!(status.as_u16(), 429, "the limit is per user, whoever asks");
    assert!(digests_to(&app, "user@dresend.test").await.is_empty());
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in_gets_no_digest_or_links_until_enabled_again() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "disable").await;
    let other = tenant(&app, &admin, "disable-other").await;
    let path = format!("/api/v1/users/{}", t.user_id);
    let off = json!({"disabled": true});
    assert_eq!(app.patch(&path, &other.org_admin, off.clone()).await.0.as_u16(), 404, "another tenant's admin");
    assert_eq!(app.patch(&path, &t.user, off.clone()).await.0.as_u16(), 422, "not oneself");
    let admin_path = format!("/api/v1/users/{}", t.org_admin_id);
    assert!(app.patch(&admin_path, &t.user, off.clone()).await.0.is_client_error(), "a user cannot disable its admin");
    assert_eq!(app.patch(&admin_path, &t.org_admin, off.clone()).await.0.as_u16(), 422);
    let (status, user) = app.patch(&path, &t.org_admin, off).await;
    assert_eq!(status.as_u16(), 200, "{user}");
    assert_eq!(user["disabled"], true);
    // Its session ends, it cannot sign in, and no emailed link reaches it.
    assert_eq!(app.get("/api/v1/auth/me", &t.user).await.0.as_u16(), 401);
    let login = json!({"email": "user@disable.test", "password": "correct horse battery"});
    assert_eq!(app.call(Method::POST, "/api/v1/auth/login", None, Some(login)).await.0.as_u16(), 401);
    let reset = json!({"email": "user@disable.test"});
    assert_eq!(app.call(Method::POST, "/api/v1/auth/password-reset", None, Some(reset)).await.0.as_u16(), 202);
    assert!(app.state.store.system_mail_to("user@disable.test").await.unwrap().is_empty(), "no reset mail");
    let admin_reset = format!("{path}/reset-password");
    assert_eq!(app.call(Method::POST, &admin_reset, Some(&t.org_admin), None).await.0.as_u16(), 409);
    // Held mail makes no digest while disabled; once enabled, the digest goes out.
    hold(&app, &t, "dis-1", "Held while disabled", Utc::now(), "user@disable.test").await;
    let later = Utc::now() + chrono::Duration::days(2);
    pass(&app.state, later).await.unwrap(); // schedules the next digest after `later`
    let due = later + chrono::Duration::days(1);
    assert_eq!(pass(&app.state, due).await.unwrap(), 0);
    assert!(digests_to(&app, "user@disable.test").await.is_empty());
    let (_, listed) = app.get(&format!("/api/v1/orgs/{}/users", t.org_id), &t.org_admin).await;
    let row = listed["items"].as_array().unwrap().iter().find(|u| u["id"] == t.user_id.as_str()).unwrap().clone();
    assert_eq!(row["disabled"], true, "the list shows it");
    let (status, user) = app.patch(&path, &t.org_admin, json!({"disabled": false})).await;
    assert_eq!((status.as_u16(), user["disabled"].clone()), (200, json!(false)));
    assert_eq!(pass(&app.state, due).await.unwrap(), 1);
    assert_eq!(digests_to(&app, "user@disable.test").await.len(), 1);
    app.login("user@disable.test", "correct horse battery").await;
}
