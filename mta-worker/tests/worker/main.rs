//! Worker behaviour from `cargo test`: delivery, retries and bounces, routing, and
//! back-scatter protection, against a real API and a real SMTP peer (see `harness`).

mod harness;
mod learning;

use harness::{Harness, SinkMode};

fn message(from: &str, to: &str, subject: &str, extra_headers: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{}@client.harness.test>\r\n{extra_headers}\r\nHello.\r\n",
        uuid::Uuid::new_v4().simple()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_mail_is_delivered_to_the_customer_server_once_and_leaves_the_spool() {
    let h = Harness::start("deliver").await;
    let to = format!("user@{}", h.domain);
    h.send("ann@far.test", &[&to], &message("ann@far.test", &to, "hello", "")).await.expect("accepted");
    assert_eq!(h.spooled().len(), 1, "the message is durable before delivery");
    assert_eq!(h.sink.messages().len(), 0, "nothing is delivered before the queue runs");
    assert_eq!(h.run_due().await, 1);
    let got = h.sink.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].rcpts, vec![to.clone()]);
    assert_eq!(got[0].from, "ann@far.test");
    assert!(got[0].data.starts_with("Received: from client.harness.test ([127.0.0.1])"), "{}", got[0].data);
    assert!(got[0].data.contains("by mx.harness.test (Moat)"));
    assert!(got[0].data.contains("X-Moat-Verdict: deliver"));
    assert!(h.spooled().is_empty(), "a delivered message leaves the spool");
    assert_eq!(h.run_due().await, 0, "and is not delivered twice");
    assert_eq!(h.sink.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_delivery_stays_queued_and_is_retried_until_delivered() {
    let h = Harness::start("retry").await;
    let to = format!("user@{}", h.domain);
    h.sink.set_mode(SinkMode::Defer);
    h.send("ann@far.test", &[&to], &message("ann@far.test", &to, "later", "")).await.expect("accepted");
    assert_eq!(h.run_due().await, 1);
    assert!(h.sink.messages().is_empty());
    let queued = h.spooled();
    assert_eq!(queued.len(), 1, "a deferred message is kept");
    assert_eq!(queued[0].routes[0].failures, 1);
    assert!(queued[0].routes[0].last_error.as_deref().unwrap_or_default().starts_with("451"), "{queued:?}");
    h.sink.set_mode(SinkMode::Accept);
    assert_eq!(h.run_due().await, 1);
    assert_eq!(h.sink.messages().len(), 1, "delivered on the retry");
    assert!(h.spooled().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_bounces_to_the_sender_with_a_dsn_and_the_others_are_delivered() {
    let h = Harness::start("bounce").await;
    let (good, bad, sender) =
        (format!("user@{}", h.domain), format!("bad@{}", h.domain), format!("admin@{}", h.domain));
    h.send(&sender, &[&good, &bad], &message(&sender, &good, "to two", "")).await.expect("accepted");
    assert_eq!(h.run_due().await, 1);
    let got = h.sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpts, vec![good.clone()], "the valid recipient got its copy");
    // The bounce is a new message in the queue, from the null sender to the sender.
    let queued = h.spooled();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].sender, "");
    assert_eq!(queued[0].routes[0].recipients[0].address, sender);
    assert_eq!(h.run_due().await, 1);
    let got = h.sink.messages();
    assert_eq!(got.len(), 2);
    let dsn = &got[1];
    assert_eq!(dsn.from, "", "bounces come from the null sender");
    assert_eq!(dsn.rcpts, vec![sender]);
    assert!(dsn.data.contains("Undelivered Mail Returned to Sender"), "{}", dsn.data);
    assert!(dsn.data.contains(&bad), "the DSN names the failed recipient");
    assert!(dsn.data.contains("550 5.1.1"), "and the server's answer");
    assert!(h.spooled().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_and_foreign_domains_are_refused_at_rcpt() {
    let h = Harness::start("routing").await;
    let unknown = format!("nobody@{}", h.domain);
    let err = h.send("ann@far.test", &[&unknown], &message("ann@far.test", &unknown, "x", "")).await.unwrap_err();
    assert!(err.contains("550") && err.contains("user unknown"), "{err}");
    let err =
        h.send("ann@far.test", &["bob@elsewhere.test"], &message("ann@far.test", "bob@elsewhere.test", "x", "")).await;
    let err = err.unwrap_err();
    assert!(err.contains("550") && err.contains("relaying denied"), "{err}");
    // Case and a trailing dot do not hide a known user; the address is stored as known.
    let shouted = format!("USER@{}.", h.domain.to_uppercase());
    h.send("ann@far.test", &[&shouted], &message("ann@far.test", &shouted, "x", "")).await.expect("accepted");
    h.run_due().await;
    assert_eq!(h.sink.messages()[0].rcpts, vec![format!("user@{}", h.domain)]);
    assert!(h.spooled().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounce_is_accepted_only_when_it_answers_mail_this_node_relayed() {
    let h = Harness::start("backscatter").await;
    let to = format!("user@{}", h.domain);
    let bounce = |quoted: &str| {
        format!(
            "From: MAILER-DAEMON@far.test\r\nTo: <{to}>\r\nSubject: Undelivered\r\n\r\nYour message\r\n\r\nMessage-ID: <{quoted}>\r\ncould not be delivered.\r\n"
        )
    };
    let err = h.send("", &[&to], &bounce("never-sent@client.harness.test")).await.unwrap_err();
    assert!(err.contains("550") && err.contains("back-scatter"), "{err}");
    // The customer's server relays a message out through Moat; a bounce quoting it is let in.
    let (status, body) =
        h.api_post(&format!("/orgs/{}/allowed-ips", h.org_id), serde_json::json!({"cidr": "127.0.0.1/32"})).await;
    assert_eq!(status, 201, "{body}");
    h.wait_for_policy(|p| p.sending_org("127.0.0.1".parse().unwrap(), &to).is_ok_and(|o| o.is_some())).await;
    let sent_id = format!("{}@{}", uuid::Uuid::new_v4().simple(), h.domain);
    let outbound =
        format!("From: <{to}>\r\nTo: <bob@far.test>\r\nSubject: out\r\nMessage-ID: <{sent_id}>\r\n\r\nHi.\r\n");
    h.send(&to, &["bob@far.test"], &outbound).await.expect("relayed");
    h.send("", &[&to], &bounce(&sent_id)).await.expect("a bounce for our own mail is accepted");
    let inbound: Vec<_> = h.spooled().into_iter().filter(|m| m.sender.is_empty()).collect();
    assert_eq!(inbound.len(), 1, "the accepted bounce is queued for the user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_messages_are_delivered_once_each_with_who_released_them() {
    use base64::Engine;
    let h = Harness::start("release").await;
    let to = format!("user@{}", h.domain);
    let user_id = h.node.worker.policy.get().recipient(&to).unwrap().user_id;
    let ids: Vec<String> = (1..=3).map(|n| format!("held{n}.1-1")).collect();
    for (n, id) in ids.iter().enumerate() {
        let raw = format!("From: <spam@far.test>\r\nTo: <{to}>\r\nSubject: held {n}\r\n\r\nbody {n}\r\n");
        let upload = serde_json::json!({"id": id, "org_id": h.org_id, "user_id": user_id, "recipient": to,
            "sender": "spam@far.test", "subject": format!("held {n}"), "score": 9.0, "reasons": ["BAYES_99"],
            "received_at": chrono::Utc::now(), "raw_base64": base64::engine::general_purpose::STANDARD.encode(raw)});
        let (status, body) = h.api_post_as(&h.node_token, "/worker/quarantine", upload).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = h.api_post("/quarantine/release", serde_json::json!({"ids": ids})).await;
    assert_eq!((status, body["affected"].as_i64()), (202, Some(3)), "{body}");
    let (status, body) = h.api_post("/quarantine/release", serde_json::json!({"ids": ids})).await;
    assert_eq!((status, body["affected"].as_i64()), (202, Some(0)), "releasing again adds nothing: {body}");
    // The worker leases the jobs in the background and spools them (a generous bound: a
    // loaded CI machine is slow, and this waits on the outcome, not on a speed).
    for _ in 0..600 {
        if h.spooled().len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(h.spooled().len(), 3, "three released messages spooled");
    assert_eq!(h.run_due().await, 3);
    let got = h.sink.messages();
    assert_eq!(got.len(), 3, "{got:?}");
    for m in &got {
        assert_eq!(m.rcpts, vec![to.clone()]);
        assert_eq!(m.from, "spam@far.test", "the original envelope sender");
        assert!(m.data.starts_with("X-Moat-Released: root@platform.test\r\n"), "{}", m.data);
    }
    let mut subjects: Vec<String> =
        got.iter().filter_map(|m| m.data.lines().find(|l| l.starts_with("Subject:")).map(str::to_string)).collect();
    subjects.sort();
    assert_eq!(subjects, vec!["Subject: held 0", "Subject: held 1", "Subject: held 2"]);
    // Nothing more comes, however long the worker polls.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(h.spooled().is_empty());
    assert_eq!(h.run_due().await, 0);
    assert_eq!(h.sink.messages().len(), 3, "each released message is delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_mail_handed_to_the_workers_reaches_the_recipient_and_its_link_sets_the_password() {
    let h = Harness::start("sysmail").await;
    let to = format!("newcomer@{}", h.domain);
    let (status, body) = h
        .api_post(
            &format!("/orgs/{}/users", h.org_id),
            serde_json::json!({"email": to, "display_name": "New", "role": "user"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(moat_api::jobs::system_mail::hand_over_once(&h.api).await, 1, "the welcome mail becomes a job");
    assert_eq!(moat_api::jobs::system_mail::hand_over_once(&h.api).await, 0, "once");
    let (_, handed) = h.api_get("/system-mail?status=with_worker").await;
    assert_eq!(handed["total"], 1, "{handed}");
    for _ in 0..200 {
        if h.spooled().len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(h.run_due().await, 1, "the worker queued it");
    let got = h.sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpts, vec![to.clone()]);
    assert!(!got[0].data.contains("X-Moat-Released"), "system mail is not a release");
    let (_, sent) = h.api_get("/system-mail?status=sent").await;
    assert_eq!(sent["total"], 1, "the worker's report marks it sent: {sent}");
    // The link in the mail sets the password.
    let message = mail_parser::MessageParser::default().parse(got[0].data.as_bytes()).unwrap();
    let text = message.body_text(0).unwrap().to_string();
    let token = text.split("token=").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let (status, body) =
        h.api_post("/auth/activate", serde_json::json!({"token": token, "password": "a fine new password"})).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    let (status, _) =
        h.api_post("/auth/login", serde_json::json!({"email": to, "password": "a fine new password"})).await;
    assert_eq!(status, 200);
}
