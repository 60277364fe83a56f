//! Learning from users: a class of messages the global model holds as spam is delivered
//! once the organisation's own model has learned from its users' releases (ham) and spam
//! reports; the platform's global model (which every other organisation uses) is untouched.

use std::time::Duration;

use base64::Engine;
use moat_mta::content::scan::bayes::Model;
use moat_mta::content::scan::tokens::{Bodies, Tokens};
use serde_json::{Value, json};

use crate::harness::Harness;

fn watches(n: usize, to: &str) -> String {
    format!(
        "From: <deals{n}@watch-outlet.test>\r\nTo: <{to}>\r\nSubject: Luxury watches {n} at a fraction of the price\r\n\
         Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <w{n}.{}@watch-outlet.test>\r\n\r\n\
         Our new collection of luxury watches: chronograph, automatic movement, sapphire crystal. \
         Collectors edition watches with warranty, shipped from our boutique. Catalogue number {n}.\r\n",
        uuid::Uuid::new_v4().simple()
    )
}

fn pills(n: usize, to: &str) -> String {
    format!(
        "From: <rx{n}@pharma.test>\r\nTo: <{to}>\r\nSubject: Cheap pills {n} online\r\n\
         Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <p{n}@pharma.test>\r\n\r\n\
         Pharmacy pills without prescription, lowest prices, discreet delivery, order pills now {n}.\r\n"
    )
}

fn business(n: usize) -> String {
    format!(
        "From: <colleague{n}@partner.test>\r\nTo: <team@partner.test>\r\nSubject: Project meeting {n}\r\n\
         Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <b{n}@partner.test>\r\n\r\n\
         Hello team, here are the minutes of the project meeting; the budget review is next week. Regards {n}.\r\n"
    )
}

/// The platform's global model: watches and pills are spam, business mail is ham.
fn global_model() -> Model {
    let mut model = Model::default();
    let mut learn = |raw: String, spam: bool| {
        let message = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        model.learn(&Tokens::from_message(&message, &Bodies::of(&message)), spam);
    };
    for n in 100..120 {
        learn(watches(n, "x@y.test"), true);
        learn(pills(n, "x@y.test"), true);
        learn(business(n), false);
    }
    model
}

async fn quarantine_subjects(h: &Harness, q: &str) -> Vec<(String, String)> {
    let (_, list) = h.api_get(&format!("/quarantine?per_page=100&q={q}")).await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap().into(), i["subject"].as_str().unwrap().into()))
        .collect()
}

async fn wait_for_held(h: &Harness, q: &str, n: usize) -> Vec<(String, String)> {
    for _ in 0..200 {
        let held = quarantine_subjects(h, q).await;
        if held.len() >= n {
            return held;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} messages matching {q} never reached the quarantine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_and_spam_reports_teach_the_organisations_model() {
    let h = Harness::start("learning").await;
    let to = format!("user@{}", h.domain);
    global_model().save(&h.node.worker.config.spam_model_path()).unwrap();
    h.node.worker.scanner.reload();
    // The global model holds every watches message.
    for n in 0..10 {
        h.send(&format!("deals{n}@watch-outlet.test"), &[&to], &watches(n, &to)).await.unwrap();
    }
    let held = wait_for_held(&h, "watches", 10).await;
    assert!(h.spooled().is_empty(), "none was delivered");
    // The users release them (ham) and report pills as spam.
    let ids: Vec<&str> = held.iter().map(|(id, _)| id.as_str()).collect();
    let (status, body) = h.api_post("/quarantine/release", json!({"ids": ids})).await;
    assert_eq!(status, 202, "{body}");
    let user_id = h.node.worker.policy.get().recipient(&to).unwrap().user_id;
    let mut pill_ids = Vec::new();
    for n in 0..10 {
        let id = format!("pills{n}.1-1");
        let upload = json!({"id": id, "org_id": h.org_id, "user_id": user_id, "recipient": to,
            "sender": format!("rx{n}@pharma.test"), "subject": format!("Cheap pills {n} online"), "score": 4.0,
            "reasons": [], "received_at": chrono::Utc::now(),
            "raw_base64": base64::engine::general_purpose::STANDARD.encode(pills(n, &to))});
        assert_eq!(h.api_post_as(&h.node_token, "/worker/quarantine", upload).await.0, 201);
        pill_ids.push(id);
    }
    let (status, body) = h.api_post("/quarantine/report", json!({"ids": pill_ids, "spam": true})).await;
    assert_eq!((status, body["affected"].as_i64()), (200, Some(10)), "{body}");
    let (status, again) = h.api_post("/quarantine/report", json!({"ids": pill_ids, "spam": true})).await;
    assert_eq!((status, again["affected"].as_i64()), (200, Some(0)), "a message counts once: {again}");
    let learner = moat_mta::start::learner(&h.node.worker);
    assert_eq!(learner.learn_once().await.unwrap(), 20, "ten releases and ten reports");
    assert_eq!(learner.learn_once().await.unwrap(), 0, "nothing new");
    let org_model = h.node.worker.config.models_path().join(format!("{}.model", h.org_id));
    let model = Model::load(&org_model).unwrap();
    assert_eq!((model.spam_messages, model.ham_messages), (10, 10));
    let global = Model::load(&h.node.worker.config.spam_model_path()).unwrap();
    assert_eq!((global.spam_messages, global.ham_messages), (40, 20), "one tenant's feedback stays its own");
    // Released messages were spooled for delivery; clear them out of the way.
    for _ in 0..100 {
        if h.spooled().len() == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.run_due().await;
    let delivered_before = h.sink.messages().len();
    // The same class of message is now delivered, not held.
    h.send("deals50@watch-outlet.test", &[&to], &watches(50, &to)).await.unwrap();
    assert_eq!(h.run_due().await, 1, "the next watches message is queued for delivery");
    let got = h.sink.messages();
    assert_eq!(got.len(), delivered_before + 1);
    let last: &Value = &json!(got.last().unwrap().data);
    assert!(last.as_str().unwrap().contains("Luxury watches 50"), "{last}");
    assert!(last.as_str().unwrap().contains("BAYES_00"), "the organisation's model judged it: {last}");
}
