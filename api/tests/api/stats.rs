//! Statistics through the API: worker events become hourly roll-ups (counted once, however
//! often a batch is sent), read by verdict, kind of threat, top recipients and IPs, within
//! the caller's reach only.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, event, node_token, tenant};

fn message(tracking: &str, org: &str, to: &str, ip: &str, verdict: &str, reasons: &[&str]) -> Vec<Value> {
    vec![
        event(
            tracking,
            "received",
            org,
            json!({"direction": "inbound", "sender": "a@ext.test", "recipients": [to],
            "subject": "s", "client_ip": ip}),
        ),
        event(tracking, "verdict", org, json!({"verdict": verdict, "reasons": reasons})),
    ]
}

#[tokio::test]
async fn traffic_is_counted_by_verdict_and_threat_within_reach() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "stats-a").await;
    let b = tenant(&app, &admin, "stats-b").await;
    let node = node_token(&app).await;
    let mut events = Vec::new();
    events.extend(message("s1", &a.org_id, "user@stats-a.test", "192.0.2.1", "deliver", &[]));
    events.extend(message("s2", &a.org_id, "user@stats-a.test", "192.0.2.1", "quarantine", &["BAYES_99 (+5.5)"]));
    events.extend(message("s3", &a.org_id, "admin@stats-a.test", "192.0.2.9", "reject", &["attachment: x.exe"]));
    events.extend(message(
        "s4",
        &b.org_id,
        "user@stats-b.test",
        "192.0.2.7",
        "quarantine",
        &["DMARC: bank.test p=reject"],
    ));
    let batch = json!({"events": events});
    let (status, ack) = app.call(Method::POST, "/api/v1/worker/events", Some(&node), Some(batch.clone())).await;
    assert_eq!((status, ack["accepted"].as_u64()), (StatusCode::OK, Some(8)), "{ack}");
    // The same batch again (a retry) counts nothing twice.
    app.call(Method::POST, "/api/v1/worker/events", Some(&node), Some(batch)).await;
    // A verdict arriving in a later batch than its message still finds its direction.
    let late = json!({"events": [event("s5", "received", &a.org_id, json!({"direction": "outbound", "sender": "user@stats-a.test",
        "recipients": ["x@far.test"], "subject": "o"}))]});
    app.call(Method::POST, "/api/v1/worker/events", Some(&node), Some(late)).await;
    let late = json!({"events": [event("s5", "verdict", &a.org_id, json!({"verdict": "deliver"}))]});
    app.call(Method::POST, "/api/v1/worker/events", Some(&node), Some(late)).await;

    let (status, stats) = app.get(&format!("/api/v1/stats?org_id={}&bucket=hour", a.org_id), &a.org_admin).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let t = &stats["totals"];
    assert_eq!(
        (
            t["inbound"].as_i64(),
            t["outbound"].as_i64(),
            t["delivered"].as_i64(),
            t["quarantined"].as_i64(),
            t["rejected"].as_i64()
        ),
        (Some(3), Some(1), Some(2), Some(1), Some(1)),
        "{stats}"
    );
    assert_eq!(t["threats"], json!([{"kind": "spam", "count": 1}, {"kind": "attachment", "count": 1}]));
    assert_eq!(stats["series"].as_array().unwrap().len(), 1, "one hour of traffic");
    assert_eq!(stats["top_recipients"][0], json!({"key": "user@stats-a.test", "count": 2}));
    assert_eq!(stats["top_ips"][0], json!({"key": "192.0.2.1", "count": 2}));

    // Without a filter an organisation admin still sees only its own; the MSP of b only b's.
    let (_, own) = app.get("/api/v1/stats", &a.org_admin).await;
    assert_eq!(own["totals"]["inbound"], 3);
    let (_, msp) = app.get("/api/v1/stats", &b.msp_admin).await;
    assert_eq!(
        (msp["totals"]["inbound"].as_i64(), msp["totals"]["threats"][0]["kind"].as_str()),
        (Some(1), Some("dmarc"))
    );
    let (_, all) = app.get("/api/v1/stats?bucket=day", &admin).await;
    assert_eq!(all["totals"]["inbound"], 4);

    assert_eq!(app.get(&format!("/api/v1/stats?org_id={}", a.org_id), &b.org_admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/v1/stats?msp_id={}", a.msp_id), &b.msp_admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/stats", &a.user).await.0, StatusCode::FORBIDDEN);
    let (status, err) =
        app.get("/api/v1/stats?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&bucket=hour", &admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (status, _) = app.get("/api/v1/stats?from=2026-03-01T00:00:00Z&to=2026-01-01T00:00:00Z", &admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.get("/api/v1/stats?bucket=week", &admin).await;
    assert!(status.is_client_error());

    // One mailbox: the two messages to user@ and the one it sent; one domain: all of a's.
    let (status, user) = app.get(&format!("/api/v1/stats?user_id={}", a.user_id), &a.org_admin).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    let t = &user["totals"];
    assert_eq!(
        (t["inbound"].as_i64(), t["outbound"].as_i64(), t["quarantined"].as_i64()),
        (Some(2), Some(1), Some(1)),
        "{user}"
    );
    assert_eq!(
        (user["top_recipients"].as_array().map(Vec::len), user["top_ips"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );
    let (_, admin_box) = app.get(&format!("/api/v1/stats?user_id={}", a.org_admin_id), &a.org_admin).await;
    assert_eq!((admin_box["totals"]["rejected"].as_i64(), admin_box["totals"]["inbound"].as_i64()), (Some(1), Some(1)));
    let (status, domain) = app.get(&format!("/api/v1/stats?domain_id={}", a.domain_id), &a.org_admin).await;
    assert_eq!(status, StatusCode::OK, "{domain}");
    assert_eq!(
        (domain["totals"]["inbound"].as_i64(), domain["totals"]["outbound"].as_i64()),
        (Some(3), Some(1)),
        "{domain}"
    );
    assert_eq!(domain["top_recipients"][0], json!({"key": "user@stats-a.test", "count": 2}));
    let (_, b_domain) = app.get(&format!("/api/v1/stats?domain_id={}", b.domain_id), &b.org_admin).await;
    assert_eq!(b_domain["totals"]["inbound"], 1, "{b_domain}");
    // Another tenant's domain or user is not found.
    assert_eq!(
        app.get(&format!("/api/v1/stats?domain_id={}", a.domain_id), &b.org_admin).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(&format!("/api/v1/stats?user_id={}", a.user_id), &b.msp_admin).await.0, StatusCode::NOT_FOUND);
}

/// A message of `tenant`'s at `at`: from `ip` to `to`.
fn dated(tracking: &str, org: &str, to: &str, ip: &str, at: chrono::DateTime<chrono::Utc>) -> Vec<Value> {
    message(tracking, org, to, ip, "deliver", &[])
        .into_iter()
        .map(|mut e| {
            e["at"] = json!(at);
            e
        })
        .collect()
}

#[tokio::test]
async fn finished_days_keep_their_busiest_keys_and_day_buckets_match_the_hours() {
    use chrono::{Duration, DurationRound, Utc};
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "stats-cut").await;
    let second = app
        .create(
            &format!("/api/v1/orgs/{}/domains", a.org_id),
            &admin,
            json!({"name": "second-cut.test", "destination_host": "127.0.0.1", "destination_port": 2525}),
        )
        .await;
    let node = node_token(&app).await;
    let today = Utc::now().duration_trunc(Duration::days(1)).unwrap();
    let (day1, day2) =
        (today - Duration::days(2) + Duration::hours(10), today - Duration::days(1) + Duration::hours(10));
    // Day one: 100 recipients and IPs with two messages each, then one quiet recipient and
    // IP with one message (the 101st of its list) and a recipient of the second domain.
    let mut events = Vec::new();
    for round in 0..2 {
        for k in 0..100 {
            let to = format!("busy-{k:03}@stats-cut.test");
            events.extend(dated(&format!("c{round}-{k}"), &a.org_id, &to, &format!("192.0.2.{k}"), day1));
        }
    }
    events.extend(dated("q1", &a.org_id, "quiet@stats-cut.test", "192.0.2.200", day1));
    events.extend(dated("o1", &a.org_id, "other@second-cut.test", "192.0.2.201", day1));
    // Day two: the quiet ones twice more, so that over both days they would lead with three.
    events.extend(dated("q2", &a.org_id, "quiet@stats-cut.test", "192.0.2.200", day2));
    events.extend(dated("q3", &a.org_id, "quiet@stats-cut.test", "192.0.2.200", day2));
    // Past the keeping of the roll-ups.
    let ancient = today - Duration::days(401);
    events.extend(dated("old", &a.org_id, "quiet@stats-cut.test", "192.0.2.200", ancient));
    let (status, ack) =
        app.call(Method::POST, "/api/v1/worker/events", Some(&node), Some(json!({"events": events}))).await;
    assert_eq!(status, StatusCode::OK, "{ack}");

    let q = |from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>, bucket: &str| {
        format!(
            "/api/v1/stats?org_id={}&from={}&to={}&bucket={bucket}",
            a.org_id,
            urlencoding(&from.to_rfc3339()),
            urlencoding(&to.to_rfc3339())
        )
    };
    let two_days = q(today - Duration::days(2), today, "day");
    let (_, before) = app.get(&two_days, &a.org_admin).await;
    assert_eq!(before["top_recipients"][0], json!({"key": "quiet@stats-cut.test", "count": 3}), "{before}");
    assert_eq!(before["top_ips"][0], json!({"key": "192.0.2.200", "count": 3}), "{before}");
    let ancient_range = q(ancient - Duration::days(1), ancient + Duration::days(1), "day");
    assert_eq!(app.get(&ancient_range, &a.org_admin).await.1["totals"]["inbound"], 1);

    let now = Utc::now();
    assert!(app.state.store.compact_stats(now).await.unwrap() >= 2, "both finished days are cut");
    assert_eq!(app.state.store.compact_stats(now).await.unwrap(), 0, "a day is cut once");
    let (_, after) = app.get(&two_days, &a.org_admin).await;
    // The quiet ones lost their first day; the busy keep theirs.
    assert_eq!(after["top_recipients"][0], json!({"key": "busy-000@stats-cut.test", "count": 2}), "{after}");
    assert!(!after["top_recipients"].to_string().contains("quiet@"), "{after}");
    assert_eq!(after["top_ips"][0], json!({"key": "192.0.2.0", "count": 2}), "{after}");
    assert!(!after["top_ips"].to_string().contains("192.0.2.200\""), "{after}");
    // The counts are not cut, and the second domain's recipient is kept with its domain.
    assert_eq!(after["totals"]["inbound"], 204, "{after}");
    let (_, second_domain) = app
        .get(
            &format!(
                "/api/v1/stats?domain_id={second}&from={}&bucket=day",
                urlencoding(&(today - Duration::days(3)).to_rfc3339())
            ),
            &a.org_admin,
        )
        .await;
    assert_eq!(second_domain["top_recipients"], json!([{"key": "other@second-cut.test", "count": 1}]));
    assert_eq!(app.get(&ancient_range, &a.org_admin).await.1["totals"]["inbound"], 0, "past the keeping");

    // Day buckets over a range that starts and ends within a day count what the hours count.
    let (from, to) = (day1 + Duration::hours(1), day2 + Duration::hours(1));
    let (_, by_day) = app.get(&q(from, to, "day"), &a.org_admin).await;
    let (_, by_hour) = app.get(&q(from, to, "hour"), &a.org_admin).await;
    assert_eq!(by_day["totals"]["inbound"], 2, "only day two's, not day one's at 10:00: {by_day}");
    assert_eq!(by_day["totals"], by_hour["totals"]);
    let (_, whole) = app.get(&q(day1 - Duration::hours(10), today + Duration::days(1), "day"), &a.org_admin).await;
    let series = whole["series"].as_array().unwrap();
    assert_eq!(series.iter().map(|p| p["inbound"].as_i64().unwrap()).collect::<Vec<_>>(), vec![202, 2], "{whole}");
    // Another tenant's MSP read of the same days sees none of it.
    let b = tenant(&app, &admin, "stats-cut-b").await;
    let (_, other) = app.get(&format!("/api/v1/stats?msp_id={}&bucket=day", b.msp_id), &b.msp_admin).await;
    assert_eq!(other["totals"]["inbound"], 0, "{other}");
}

fn urlencoding(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}
