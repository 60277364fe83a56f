//! Login, activation, password reset and API keys.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, tenant};

#[tokio::test]
async fn login_fails_cleanly_and_is_rate_limited_per_account() {
    let app = TestApp::spawn_with(|c| c.login_attempts_per_account = 3).await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "login").await;
    let bad = json!({"email": "user@login.test", "password": "wrong password"});
    let (status, res) = app.call(Method::POST, "/api/v1/auth/login", None, Some(bad.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(res["error"]["code"], "unauthorized");
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "nobody@login.test", "password": "whatever1"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // tenant() used one attempt for this account, the bad one above a second: the third
    // passes, the fourth is over the limit even with the right password.
    let (status, _) = app.call(Method::POST, "/api/v1/auth/login", None, Some(bad.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let good = json!({"email": "user@login.test", "password": "correct horse battery"});
    let (status, res) = app.call(Method::POST, "/api/v1/auth/login", None, Some(good)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{res}");
    assert_eq!(res["error"]["code"], "rate_limited");
    // Other accounts are unaffected.
    let (status, _) = app.call(Method::GET, "/api/v1/auth/me", Some(&t.org_admin), None).await;
    assert_eq!(status, StatusCode::OK);
    // Tokens are checked.
    let (status, _) = app.call(Method::GET, "/api/v1/auth/me", Some("not.a.jwt"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.call(Method::GET, "/api/v1/auth/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_user_without_password_activates_once_through_the_emailed_link() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "activate").await;
    let (status, user) = app
        .post(
            &format!("/api/v1/orgs/{}/users", t.org_id),
            &t.org_admin,
            json!({"email": "new@activate.test", "display_name": "New", "role": "user"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(user["active"], false);
    let (status, _) = app
        .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": "new@activate.test", "password": ""})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let token = app.mailed_token("new@activate.test").await;
    let mails = app.state.store.system_mail_to("new@activate.test").await.unwrap();
    assert!(mails[0].body.contains("https://moat.example/activate?token="), "{}", mails[0].body);
    let activate = json!({"token": token, "password": "my new password"});
    let (status, res) = app.call(Method::POST, "/api/v1/auth/activate", None, Some(activate.clone())).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{res}");
    app.login("new@activate.test", "my new password").await;
    // Single use.
    let (status, res) = app.call(Method::POST, "/api/v1/auth/activate", None, Some(activate)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res["error"]["field"], "token");
    // Once active, a welcome resend is refused.
    let id = user["id"].as_str().unwrap();
    let (status, _) =
        app.call(Method::POST, &format!("/api/v1/users/{id}/resend-welcome"), Some(&t.org_admin), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn password_reset_and_change() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "reset").await;
    // Unknown accounts get the same answer.
    let (status, _) =
        app.call(Method::POST, "/api/v1/auth/password-reset", None, Some(json!({"email": "ghost@reset.test"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(app.state.store.system_mail_to("ghost@reset.test").await.unwrap().is_empty());

    let (status, _) =
        app.call(Method::POST, "/api/v1/auth/password-reset", None, Some(json!({"email": "user@reset.test"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = app.mailed_token("user@reset.test").await;
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            None,
            Some(json!({"token": "forged", "password": "another password"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            None,
            Some(json!({"token": token, "password": "another password"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let user = app.login("user@reset.test", "another password").await;

    // An admin-triggered reset mails a fresh link.
    let (status, _) =
        app.call(Method::POST, &format!("/api/v1/users/{}/reset-password", t.user_id), Some(&t.org_admin), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(app.state.store.system_mail_to("user@reset.test").await.unwrap().len(), 2);

    // Changing one's own password needs the current one.
    let (status, res) = app
        .post(
            "/api/v1/auth/change-password",
            &user,
            json!({"current_password": "wrong one!", "new_password": "third password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res["error"]["field"], "current_password");
    let (status, res) = app
        .post(
            "/api/v1/auth/change-password",
            &user,
            json!({"current_password": "another password", "new_password": "third password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    // The token from before the change is dead; the one answered works.
    let (status, _) = app.get("/api/v1/auth/me", &user).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let fresh = res["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/auth/me", &fresh).await.0, StatusCode::OK);
    app.login("user@reset.test", "third password").await;
}

#[tokio::test]
async fn api_keys_are_shown_once_scoped_and_revocable() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "keys").await;
    let (status, created) = app
        .post(
            "/api/v1/api-keys",
            &t.msp_admin,
            json!({"name": "ConnectWise", "scope": {"level": "msp", "id": t.msp_id}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("moat_"));
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));

    let (status, me) = app.get("/api/v1/auth/me", &secret).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["via"], "api_key");
    assert_eq!(me["role"], "msp_admin");
    assert_eq!(me["reach"]["msp_id"], t.msp_id.as_str());
    // The key acts within its MSP: it can create an org there.
    app.create("/api/v1/orgs", &secret, json!({"name": "From the PSA"})).await;

    let (_, keys) = app.get("/api/v1/api-keys", &t.msp_admin).await;
    assert_eq!(keys["total"], 1);
    assert!(keys["items"][0].get("secret").is_none(), "the secret is never listed");
    assert!(keys["items"][0]["last_used_at"].is_string());

    // Plain users may not create keys; org admins may not create MSP keys.
    let (status, _) =
        app.post("/api/v1/api-keys", &t.user, json!({"name": "x", "scope": {"level": "org", "id": t.org_id}})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post("/api/v1/api-keys", &t.org_admin, json!({"name": "x", "scope": {"level": "msp", "id": t.msp_id}}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let id = created["id"].as_str().unwrap();
    let (status, _) = app.delete(&format!("/api/v1/api-keys/{id}"), &t.msp_admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get("/api/v1/auth/me", &secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_read_only_key_reads_and_every_write_it_tries_is_refused_and_recorded() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "ro-keys").await;
    let scope = json!({"level": "org", "id": t.org_id});
    let (status, created) = app
        .post("/api/v1/api-keys", &t.org_admin, json!({"name": "Kaseya", "scope": scope, "access": "read_only"}))
        .await;
    assert_eq!((status, created["access"].as_str()), (StatusCode::CREATED, Some("read_only")), "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    let (_, full) = app.post("/api/v1/api-keys", &t.org_admin, json!({"name": "Script", "scope": scope})).await;
    assert_eq!(full["access"], "full", "a key without access is a full one: {full}");

    // It reads what an admin of its organisation reads ...
    let users = format!("/api/v1/orgs/{}/users", t.org_id);
    let (status, before) = app.get(&users, &secret).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(app.get("/api/v1/stats", &secret).await.0, StatusCode::OK);
    // ... and every kind of change is refused before it is made.
    let new_user = json!({"email": "new@ro-keys.test", "display_name": "New", "role": "user"});
    let (status, err) = app.post(&users, &secret, new_user.clone()).await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("read_only")), "{err}");
    let (status, _) = app.patch(&format!("/api/v1/users/{}", t.user_id), &secret, json!({"display_name": "X"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.delete(&format!("/api/v1/api-keys/{}", full["id"].as_str().unwrap()), &secret).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&users, &secret).await.1["total"], before["total"], "no user was added");
    let (_, user) = app.get(&format!("/api/v1/users/{}", t.user_id), &t.org_admin).await;
    assert_ne!(user["display_name"], "X");
    let (_, keys) = app.get("/api/v1/api-keys", &t.org_admin).await;
    assert_eq!(keys["total"], 2, "the full key is still there: {keys}");
    // The refused write is in the audit log under the key, not as an anonymous call.
    let (_, log) = app.get("/api/v1/audit?per_page=500", &t.org_admin).await;
    let refused = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == format!("POST {users}") && e["status"] == 403)
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(refused["actor_kind"], "api_key", "{refused}");
    // The same request with the full key goes through; an unknown access is refused.
    let (status, _) = app.post(&users, full["secret"].as_str().unwrap(), new_user).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) =
        app.post("/api/v1/api-keys", &t.org_admin, json!({"name": "x", "scope": scope, "access": "admin"})).await;
    assert!(status.is_client_error(), "{status}");
}

#[tokio::test]
async fn bootstrap_admin_is_created_once() {
    let app = TestApp::spawn().await;
    assert_eq!(app.state.store.count_platform_admins().await.unwrap(), 1);
    // Building the state again against the same database does not add another.
    moat_api::seed::bootstrap_admin(&app.state.store, &app.state.config).await.unwrap();
    assert_eq!(app.state.store.count_platform_admins().await.unwrap(), 1);
    let admin = app.admin_token().await;
    let (_, me) = app.get("/api/v1/auth/me", &admin).await;
    assert_eq!(me["reach"]["level"], "platform");
}
