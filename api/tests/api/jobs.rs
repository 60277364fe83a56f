//! Scheduled jobs: leases keep each job on one replica; the system-mail job's outcomes are
//! recorded (the real relay is exercised by e2e/system_mail_test.py).

use moat_api::store::now;

use crate::helpers::{TestApp, tenant};

#[tokio::test]
async fn a_lease_keeps_a_job_on_one_replica_until_it_expires() {
    let app = TestApp::spawn().await;
    let store = &app.state.store;
    let soon = now() + chrono::Duration::seconds(30);
    assert!(store.take_lease("job", "replica-a", soon).await.unwrap(), "a free lease is taken");
    assert!(!store.take_lease("job", "replica-b", soon).await.unwrap(), "another replica waits");
    assert!(store.take_lease("job", "replica-a", soon).await.unwrap(), "the holder renews it");
    assert!(store.take_lease("other-job", "replica-b", soon).await.unwrap(), "leases are per job");
    // A holder that stopped renewing loses the lease once it expires.
    let past = now() - chrono::Duration::seconds(1);
    assert!(store.take_lease("job", "replica-a", past).await.unwrap());
    assert!(store.take_lease("job", "replica-b", soon).await.unwrap(), "an expired lease is taken over");
    assert!(!store.take_lease("job", "replica-a", soon).await.unwrap());
}

#[tokio::test]
async fn without_a_relay_nothing_is_sent_and_mail_stays_pending() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "sysmail").await;
    let (status, _) =
        app.post(&format!("/api/v1/users/{}/reset-password", t.user_id), &admin, serde_json::json!({})).await;
    assert_eq!(status.as_u16(), 202);
    assert_eq!(moat_api::jobs::system_mail::drain_once(&app.state).await, 0);
    let (pending, failed) = app.state.store.system_mail_counts().await.unwrap();
    assert!(pending >= 1 && failed == 0, "pending {pending}, failed {failed}");
    let (status, state) = app.get("/api/v1/system-mail/state", &admin).await;
    assert_eq!(status.as_u16(), 200);
    assert_eq!(state["delivery_configured"], false);
    let (status, _) = app.get("/api/v1/system-mail", &t.org_admin).await;
    assert_eq!(status.as_u16(), 403, "the outbox is the platform admin's");
}
