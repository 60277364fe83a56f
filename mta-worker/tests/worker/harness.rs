//! The worker under test, in process: a real API (the `moat-api` library on a fresh SQLite
//! database, served on a loopback port), a worker node started on port 0 against it with
//! its queue worked by the test (`run_due`), and a recording SMTP sink as the customer's
//! mail server. Mail is sent with a real SMTP client (mail-send).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_send::SmtpClientBuilder;
use moat_mta::common::config::{Secret, WorkerConfig};
use moat_mta::start::{Node, QueueMode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const ADMIN_EMAIL: &str = "root@platform.test";
const ADMIN_PASSWORD: &str = "platform-admin-pw";
pub const PASSWORD: &str = "correct horse battery";

/// A message the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub rcpts: Vec<String>,
    pub data: String,
}

/// How the sink answers RCPT TO.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SinkMode {
    Accept,
    /// 451 for every recipient (the server is "down").
    Defer,
}

/// The customer's mail server: records what it accepts. Recipients whose local part starts
/// with `bad` are refused with a 550 whatever the mode.
#[derive(Clone)]
pub struct Sink {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub mode: Arc<Mutex<SinkMode>>,
}

impl Sink {
    pub async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = Sink {
            addr: listener.local_addr().unwrap(),
            received: Default::default(),
            mode: Arc::new(Mutex::new(SinkMode::Accept)),
        };
        let serving = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = serving.clone();
                tokio::spawn(async move { sink.session(stream).await });
            }
        });
        sink
    }

    pub fn set_mode(&self, mode: SinkMode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn session(&self, stream: tokio::net::TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        let _ = write.write_all(b"220 sink.test ESMTP\r\n").await;
        let (mut from, mut rcpts) = (String::new(), Vec::new());
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let upper = line.to_ascii_uppercase();
            let reply: String = if upper.starts_with("EHLO") {
                "250-sink.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n".into()
            } else if upper.starts_with("MAIL FROM:") {
                from = address_in(&line);
                rcpts.clear();
                "250 ok\r\n".into()
            } else if upper.starts_with("RCPT TO:") {
                let rcpt = address_in(&line);
                if rcpt.starts_with("bad") {
                    "550 5.1.1 no such user here\r\n".into()
                } else if *self.mode.lock().unwrap() == SinkMode::Defer {
                    "451 4.3.0 try again later\r\n".into()
                } else {
                    rcpts.push(rcpt);
                    "250 ok\r\n".into()
                }
            } else if upper.starts_with("DATA") {
                let _ = write.write_all(b"354 go ahead\r\n").await;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').filter(|_| line.starts_with("..")).unwrap_or(&line));
                }
                let message = Received { from: from.clone(), rcpts: std::mem::take(&mut rcpts), data };
                self.received.lock().unwrap().push(message);
                "250 2.0.0 queued\r\n".into()
            } else if upper.starts_with("QUIT") {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            } else {
                "250 ok\r\n".into()
            };
            if write.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

fn address_in(line: &str) -> String {
    let start = line.find('<').map(|i| i + 1).unwrap_or(0);
    let end = line[start..].find('>').map(|i| start + i).unwrap_or(line.len());
    line[start..end].trim().to_lowercase()
}

/// The API, the worker and the sink, with one customer organisation (`domain`, users
/// `user@`, `admin@` and `bad@`; its mail server is the sink).
pub struct Harness {
    pub api_url: String,
    pub node: Node,
    pub sink: Sink,
    pub domain: String,
    pub org_id: String,
    pub admin_token: String,
    /// The worker's node token (for calls made as the worker).
    pub node_token: String,
    /// The API's state (its scheduled jobs are stepped by the tests).
    pub api: moat_api::state::AppState,
    dir: PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Harness {
    pub async fn start(tag: &str) -> Harness {
        let dir = std::env::temp_dir().join(format!("moat-worker-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let (api_url, api_state) = start_api(&dir).await;
        let sink = Sink::start().await;
        let http = reqwest::Client::new();
        let admin_token = login(&http, &api_url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let domain = format!("{tag}.test");
        let org_id = seed_tenant(&http, &api_url, &admin_token, &domain, sink.addr.port()).await;
        let (node, node_token) = start_worker(&dir, &api_url, &api_state).await;
        let harness = Harness { api_url, node, sink, domain, org_id, admin_token, node_token, api: api_state, dir };
        harness.wait_for_policy(|p| p.recipient(&format!("user@{}", harness.domain)).is_some()).await;
        harness
    }

    /// Waits until the worker's policy snapshot satisfies `ready`.
    pub async fn wait_for_policy(&self, ready: impl Fn(&moat_mta::policy::PolicyIndex) -> bool) {
        for _ in 0..200 {
            if ready(&self.node.worker.policy.get()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the worker never received the expected policy");
    }

    /// A POST to the API as the platform admin; answers the status and body.
    pub async fn api_post(&self, path: &str, body: Value) -> (u16, Value) {
        self.api_post_as(&self.admin_token, path, body).await
    }

    /// A POST to the API with `token`; answers the status and body.
    pub async fn api_post_as(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1{path}", self.api_url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A GET from the API as the platform admin; answers the status and body.
    pub async fn api_get(&self, path: &str) -> (u16, Value) {
        let res = reqwest::Client::new()
            .get(format!("{}/api/v1{path}", self.api_url))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Sends one message over SMTP; answers the server's refusal, if any.
    pub async fn send(&self, from: &str, to: &[&str], body: &str) -> Result<(), String> {
        let message = mail_send::smtp::message::Message::new(from, to.to_vec(), body.as_bytes());
        let mut client = SmtpClientBuilder::new("127.0.0.1", self.node.smtp.port())
            .map_err(|e| e.to_string())?
            .implicit_tls(false)
            .helo_host("client.harness.test")
            .timeout(Duration::from_secs(10))
            .connect_plain()
            .await
            .map_err(|e| e.to_string())?;
        let sent = client.send(message).await.map_err(|e| e.to_string());
        let _ = client.quit().await;
        sent
    }

    /// One pass of the delivery queue; answers how many messages were attempted.
    pub async fn run_due(&self) -> usize {
        moat_mta::delivery::queue::run_due(&self.node.worker.delivery()).await
    }

    /// The messages still in the spool.
    pub fn spooled(&self) -> Vec<moat_mta::delivery::spool::QueuedMessage> {
        self.node.worker.spool.list().unwrap()
    }
}

async fn start_api(dir: &std::path::Path) -> (String, moat_api::state::AppState) {
    let config = moat_api::config::Config {
        database_url: moat_api::config::Secret::new(format!("sqlite:{}", dir.join("moat.db").display())),
        data_dir: dir.join("api"),
        frontend_dir: dir.join("dist"),
        jwt_secret: Some(moat_api::config::Secret::new("test-secret-test-secret-test-secret-0123")),
        bootstrap_admin_email: Some(ADMIN_EMAIL.into()),
        bootstrap_admin_password: Some(moat_api::config::Secret::new(ADMIN_PASSWORD)),
        allow_internal_destinations: true,
        // System mail leaves through the worker channel (the tests step the hand-over).
        system_mail_via: moat_openapi::SystemMailVia::Worker,
        ..Default::default()
    };
    let state = moat_api::build_state(config).await.expect("API state");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = moat_api::http::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

async fn login(http: &reqwest::Client, api: &str, email: &str, password: &str) -> String {
    let res = http
        .post(format!("{api}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().expect("logged in").to_string()
}

async fn create(http: &reqwest::Client, api: &str, token: &str, path: &str, body: Value) -> String {
    let res = http.post(format!("{api}/api/v1{path}")).bearer_auth(token).json(&body).send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status.as_u16(), 201, "POST {path}: {body}");
    body["id"].as_str().unwrap().to_string()
}

/// An MSP, an organisation with `domain` delivered to the sink, and its users.
async fn seed_tenant(http: &reqwest::Client, api: &str, token: &str, domain: &str, sink_port: u16) -> String {
    let msp = create(http, api, token, "/msps", json!({"name": format!("MSP {domain}")})).await;
    let org = create(http, api, token, "/orgs", json!({"name": format!("Org {domain}"), "msp_id": msp})).await;
    let destination = json!({"name": domain, "destination_host": "127.0.0.1", "destination_port": sink_port,
                             "tls_mode": "none", "outbound_enabled": true});
    create(http, api, token, &format!("/orgs/{org}/domains"), destination).await;
    for (local, role) in [("user", "user"), ("admin", "org_admin"), ("bad", "user")] {
        let user =
            json!({"email": format!("{local}@{domain}"), "display_name": local, "role": role, "password": PASSWORD});
        create(http, api, token, &format!("/orgs/{org}/users"), user).await;
    }
    org
}

async fn start_worker(dir: &std::path::Path, api_url: &str, api: &moat_api::state::AppState) -> (Node, String) {
    let token = format!("moatnode_{}", uuid::Uuid::new_v4().simple());
    let hash = moat_api::auth::tokens::sha256_hex(&token);
    api.store.create_node("mx-harness", &hash).await.unwrap();
    let config = WorkerConfig {
        api_url: api_url.to_string(),
        node_token: Some(Secret::new(&token)),
        smtp_listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("mta"),
        hostname: "mx.harness.test".into(),
        // No DNS in these tests: no authentication checks, and nothing looked up.
        authentication: false,
        dns_server: Some("127.0.0.1:9".parse().unwrap()),
        allow_internal_destinations: true,
        trusted_networks: "127.0.0.1/32".into(),
        tarpit_unknown_max_ms: 0,
        greeting_teaser: false,
        // Retries are due at once, so the test decides when they happen by calling run_due.
        retry_schedule_secs: vec![0],
        ..Default::default()
    };
    (moat_mta::start::start(&config, QueueMode::Manual).await.expect("worker started"), token)
}
