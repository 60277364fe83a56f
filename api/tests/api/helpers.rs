//! Test harness: a real app (router + store) on a fresh database per test. SQLite by
//! default; PostgreSQL when `MOAT_TEST_DATABASE_URL` names a server (a new database is
//! created on it per test, named `moat_test_…`).

use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use moat_api::config::{Config, Secret};
use moat_api::state::AppState;
use serde_json::{Value, json};
use sqlx::Connection;
use tower::ServiceExt;

pub const ADMIN_EMAIL: &str = "root@platform.test";
pub const ADMIN_PASSWORD: &str = "platform-admin-pw";

pub struct TestApp {
    pub state: AppState,
    router: Router,
    dir: PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn database_url(dir: &std::path::Path) -> String {
    match std::env::var("MOAT_TEST_DATABASE_URL") {
        Ok(server) if !server.is_empty() => {
            let name = format!("moat_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&server).await.expect("MOAT_TEST_DATABASE_URL reachable");
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
            conn.close().await.ok();
            let (base, query) =
                server.split_once('?').map(|(b, q)| (b, format!("?{q}"))).unwrap_or((&server, String::new()));
            let (root, _) = base.rsplit_once('/').expect("postgres URL with a database path");
            format!("{root}/{name}{query}")
        }
        _ => format!("sqlite:{}", dir.join("moat.db").display()),
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = std::env::temp_dir().join(format!("moat-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = Config {
            database_url: Secret::new(database_url(&dir).await),
            data_dir: dir.clone(),
            frontend_dir: dir.join("dist"),
            jwt_secret: Some(Secret::new("test-secret-test-secret-test-secret-0123")),
            bootstrap_admin_email: Some(ADMIN_EMAIL.into()),
            bootstrap_admin_password: Some(Secret::new(ADMIN_PASSWORD)),
            public_url: Some("https://moat.example".into()),
            ..Config::default()
        };
        tweak(&mut config);
        let state = moat_api::build_state(config).await.expect("app state");
        let router = moat_api::http::router(state.clone());
        TestApp { state, router, dir }
    }

    /// Sends one request through the real router; answers status and JSON (or the text as a
    /// JSON string, or null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.send(req).await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path).header(header::CONTENT_TYPE, content_type);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.send(req.body(Body::from(body.to_string())).unwrap()).await
    }

    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, value)
    }

    /// A GET answering status, headers and the body's bytes (for downloads).
    pub async fn download(&self, path: &str, token: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let req = Request::builder()
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        (status, headers, res.into_body().collect().await.unwrap().to_bytes().to_vec())
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": password})))
            .await;
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Creates something and answers its id, asserting 201.
    pub async fn create(&self, path: &str, token: &str, body: Value) -> String {
        let (status, res) = self.post(path, token, body).await;
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {res}");
        res["id"].as_str().unwrap().to_string()
    }

    /// The newest system mail to `email`, and the token in its link.
    pub async fn mailed_token(&self, email: &str) -> String {
        let mails = self.state.store.system_mail_to(email).await.unwrap();
        let body = &mails.first().expect("a mail was sent").body;
        let start = body.find("token=").expect("a token link") + "token=".len();
        body[start..].split_whitespace().next().unwrap().to_string()
    }
}

/// One tenant tree: an MSP with an admin, an org with a domain, an org admin and a user.
pub struct Tenant {
    pub msp_id: String,
    pub org_id: String,
    pub domain_id: String,
    pub msp_admin_id: String,
    pub org_admin_id: String,
    pub user_id: String,
    pub msp_admin: String,
    pub org_admin: String,
    pub user: String,
}

pub async fn tenant(app: &TestApp, admin: &str, tag: &str) -> Tenant {
    let msp_id = app.create("/api/v1/msps", admin, json!({"name": format!("MSP {tag}")})).await;
    let org_id = app.create("/api/v1/orgs", admin, json!({"name": format!("Org {tag}"), "msp_id": msp_id})).await;
    let domain = format!("{tag}.test");
    let domain_id = app
        .create(
            &format!("/api/v1/orgs/{org_id}/domains"),
            admin,
            json!({"name": domain, "destination_host": "127.0.0.1", "destination_port": 2525}),
        )
        .await;
    let pw = "correct horse battery";
    let msp_admin_id = app
        .create(
            &format!("/api/v1/msps/{msp_id}/users"),
            admin,
            json!({"email": format!("msp@{domain}"), "display_name": "MSP admin", "role": "msp_admin", "password": pw}),
        )
        .await;
    let org_admin_id = app
        .create(
            &format!("/api/v1/orgs/{org_id}/users"),
            admin,
            json!({"email": format!("admin@{domain}"), "display_name": "Org admin", "role": "org_admin", "password": pw}),
        )
        .await;
    let user_id = app
        .create(
            &format!("/api/v1/orgs/{org_id}/users"),
            admin,
            json!({"email": format!("user@{domain}"), "display_name": "User", "role": "user", "password": pw}),
        )
        .await;
    Tenant {
        msp_admin: app.login(&format!("msp@{domain}"), pw).await,
        org_admin: app.login(&format!("admin@{domain}"), pw).await,
        user: app.login(&format!("user@{domain}"), pw).await,
        msp_id,
        org_id,
        domain_id,
        msp_admin_id,
        org_admin_id,
        user_id,
    }
}

/// A new MTA node's token.
pub async fn node_token(app: &TestApp) -> String {
    let token = format!("moatnode_{}", uuid::Uuid::new_v4().simple());
    let hash = moat_api::auth::tokens::sha256_hex(&token);
    app.state.store.create_node(&format!("mx-{}", uuid::Uuid::new_v4().simple()), &hash).await.unwrap();
    token
}

/// A worker event as JSON.
pub fn event(tracking: &str, kind: &str, org: &str, detail: Value) -> Value {
    json!({"id": uuid::Uuid::new_v4(), "tracking_id": tracking, "kind": kind, "at": chrono::Utc::now(), "org_id": org,
           "detail": detail})
}
