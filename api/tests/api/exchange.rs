//! What worker nodes share through the API: IP reputation and outbound sending counts,
//! each node's own absolute counters, summed over nodes (outbound: over the others).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, node_token, tenant};

#[tokio::test]
async fn reputation_is_summed_over_nodes_and_pushes_are_idempotent() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (a, b) = (node_token(&app).await, node_token(&app).await);
    let entry = |n: i64| json!({"ip": "192.0.2.7", "connections": n, "messages": n, "early_talks": 1});
    let (status, _) = app
        .post("/api/v1/worker/reputation", &a, json!({"entries": [entry(3), {"ip": "192.0.2.0/24", "connections": 3}]}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, changes) = app.get("/api/v1/worker/reputation?since=0", &b).await;
    let cursor = changes["cursor"].as_i64().unwrap();
    assert_eq!(changes["entries"].as_array().unwrap().len(), 2);
    // B's own counters add to A's; A repeating its push changes nothing.
    app.post("/api/v1/worker/reputation", &b, json!({"entries": [entry(2)]})).await;
    app.post("/api/v1/worker/reputation", &a, json!({"entries": [entry(3)]})).await;
    let (_, changes) = app.get(&format!("/api/v1/worker/reputation?since={cursor}"), &a).await;
    let e = &changes["entries"][0];
    assert_eq!(
        (e["ip"].as_str(), e["connections"].as_i64(), e["early_talks"].as_i64()),
        (Some("192.0.2.7"), Some(5), Some(2))
    );
    assert_eq!(changes["entries"].as_array().unwrap().len(), 1, "only what changed");
    let (status, _) = app.post("/api/v1/worker/reputation", &a, json!({"entries": [{"ip": "not-an-ip"}]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Admins can look it up; plain users cannot.
    let (status, list) = app.get("/api/v1/reputation?ip=192.0.2.7", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["messages"], 5);
    let t = tenant(&app, &admin, "rep").await;
    let (status, _) = app.get("/api/v1/reputation", &t.user).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn outbound_counts_are_summed_over_the_other_nodes() {
    let app = TestApp::spawn().await;
    let (a, b, c) = (node_token(&app).await, node_token(&app).await, node_token(&app).await);
    let org = uuid::Uuid::new_v4();
    let key = format!("{org}/ann@example.test");
    let count = |hour: i64, hour_messages: i64, day_messages: i64| {
        json!({"key": key, "hour": hour, "hour_messages": hour_messages, "day": 20_000, "day_messages": day_messages,
               "day_recipients": day_messages * 3})
    };
    let exchange = |token: String, since: i64, counts: Vec<Value>| {
        let app = &app;
        async move {
            let (status, body) = app
                .call(
                    Method::POST,
                    "/api/v1/worker/outbound-counts",
                    Some(&token),
                    Some(json!({"since": since, "counts": counts})),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    // Node a sent 2 this hour (5 today), node b 3 (4 today); a repeated push changes nothing.
    exchange(a.clone(), 0, vec![count(480_001, 2, 5)]).await;
    exchange(b.clone(), 0, vec![count(480_001, 3, 4)]).await;
    let seen_by_b = exchange(b.clone(), 0, vec![count(480_001, 3, 4)]).await;
    // Each node gets the others' counts, not its own.
    let seen_by_a = exchange(a.clone(), 0, vec![]).await;
    assert_eq!(seen_by_a["counts"], json!([count(480_001, 3, 4)]), "{seen_by_a}");
    assert_eq!(seen_by_b["counts"], json!([count(480_001, 2, 5)]), "{seen_by_b}");
    let seen_by_c = exchange(c.clone(), 0, vec![]).await;
    assert_eq!(
        (seen_by_c["counts"][0]["hour_messages"].as_i64(), seen_by_c["counts"][0]["day_messages"].as_i64()),
        (Some(5), Some(9)),
        "{seen_by_c}"
    );
    // From its cursor on, c hears of a key only when it changes; a node's older hour counts
    // nothing in the newer one.
    let cursor = seen_by_c["cursor"].as_i64().unwrap();
    assert_eq!(exchange(c.clone(), cursor, vec![]).await["counts"], json!([]));
    exchange(a.clone(), 0, vec![count(480_002, 1, 6)]).await;
    let later = exchange(c.clone(), cursor, vec![]).await;
    assert_eq!(
        (
            later["counts"][0]["hour"].as_i64(),
            later["counts"][0]["hour_messages"].as_i64(),
            later["counts"][0]["day_messages"].as_i64()
        ),
        (Some(480_002), Some(1), Some(10)),
        "{later}"
    );
    assert_eq!(later["more"], false);

    // Bad pushes are refused and change nothing.
    for (bad, field) in [
        (
            json!({"counts": [{"key": "not-an-org/ann@x.test", "hour": 1, "hour_messages": 1, "day": 1, "day_messages": 1, "day_recipients": 1}]}),
            "counts[0].key",
        ),
        (
            json!({"counts": [{"key": org.to_string(), "hour": 1, "hour_messages": -1, "day": 1, "day_messages": 1, "day_recipients": 1}]}),
            "counts[0]",
        ),
        (json!({"since": -1, "counts": []}), "since"),
        (json!({"counts": vec![count(480_003, 1, 1); 1001]}), "counts"),
    ] {
        let (status, err) = app.call(Method::POST, "/api/v1/worker/outbound-counts", Some(&a), Some(bad)).await;
        assert_eq!((status, err["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{err}");
    }
    let cursor = later["cursor"].as_i64().unwrap();
    assert_eq!(exchange(c.clone(), cursor, vec![]).await["counts"], json!([]));

    // A pull is bounded: after six pushes of 1,000 senders, c gets them in two answers.
    for push in 0..6 {
        let counts = (0..1000)
            .map(|i| {
                json!({"key": format!("{org}/s{push}-{i}@example.test"), "hour": 480_002, "hour_messages": 1,
                            "day": 20_000, "day_messages": 1, "day_recipients": 1})
            })
            .collect();
        exchange(a.clone(), 0, counts).await;
    }
    let first = exchange(c.clone(), cursor, vec![]).await;
    let n = first["counts"].as_array().unwrap().len();
    assert!(first["more"] == true && (1000..=5000).contains(&n), "{n} {}", first["more"]);
    let rest = exchange(c.clone(), first["cursor"].as_i64().unwrap(), vec![]).await;
    assert_eq!((rest["more"].as_bool(), n + rest["counts"].as_array().unwrap().len()), (Some(false), 6000));
    // Only nodes may exchange counts.
    let admin = app.admin_token().await;
    let (status, _) =
        app.call(Method::POST, "/api/v1/worker/outbound-counts", Some(&admin), Some(json!({"counts": []}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
