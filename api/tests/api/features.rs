//! Feature flags through the API: the platform admin switches a capability off for the
//! platform and on for one organisation or MSP first; the API refuses it elsewhere and
//! `/auth/me` tells the web app; nobody else may change flags.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, tenant};

#[tokio::test]
async fn a_capability_reaches_some_tenants_first() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "flag-a").await;
    let b = tenant(&app, &admin, "flag-b").await;
    let set = |body: serde_json::Value| {
        let app = &app;
        let admin = admin.clone();
        async move { app.call(Method::PUT, "/api/v1/features", Some(&admin), Some(body)).await }
    };
    assert_eq!(app.get("/api/v1/archive", &a.user).await.0, StatusCode::OK, "on until switched off");

    assert_eq!(set(json!({"feature": "live_archive", "level": "platform", "enabled": false})).await.0, StatusCode::OK);
    let (status, _) =
        set(json!({"feature": "live_archive", "level": "org", "scope_id": a.org_id, "enabled": true})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/archive", &a.user).await.0, StatusCode::OK);
    let (status, err) = app.get("/api/v1/archive", &b.user).await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_enabled")), "{err}");
    let send = json!({"to": ["x@far.test"], "subject": "s", "text": "t"});
    assert_eq!(
        app.call(Method::POST, "/api/v1/archive/send", Some(&b.user), Some(send)).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, me) = app.get("/api/v1/auth/me", &a.user).await;
    assert!(me["features"].as_array().unwrap().contains(&json!("live_archive")), "{me}");
    let (_, me) = app.get("/api/v1/auth/me", &b.user).await;
    assert!(!me["features"].as_array().unwrap().contains(&json!("live_archive")), "{me}");
    assert!(me["features"].as_array().unwrap().contains(&json!("statistics")));

    // An MSP-wide setting reaches its organisations; the organisation's own still wins.
    set(json!({"feature": "live_archive", "level": "msp", "scope_id": b.msp_id, "enabled": true})).await;
    assert_eq!(app.get("/api/v1/archive", &b.user).await.0, StatusCode::OK);
    set(json!({"feature": "statistics", "level": "org", "scope_id": b.org_id, "enabled": false})).await;
    assert_eq!(app.get("/api/v1/stats", &b.org_admin).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/stats", &a.org_admin).await.0, StatusCode::OK);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/diagnostics/test-delivery",
            Some(&b.org_admin),
            Some(json!({"domain_id": b.domain_id})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "another feature is untouched");

    // Only the platform admin sees and sets flags; bad settings change nothing.
    assert_eq!(app.get("/api/v1/features", &a.org_admin).await.0, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/v1/features",
            Some(&a.msp_admin),
            Some(json!({"feature": "live_archive", "level": "org", "scope_id": b.org_id, "enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        set(json!({"feature": "live_archive", "level": "org", "enabled": true})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        set(json!({"feature": "teleport", "level": "platform", "enabled": true})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let ghost = uuid::Uuid::new_v4();
    assert_eq!(
        set(json!({"feature": "statistics", "level": "org", "scope_id": ghost, "enabled": true})).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, all) = app.get("/api/v1/features", &admin).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4, "{all}");

    // Removing the platform setting switches it back on everywhere.
    set(json!({"feature": "live_archive", "level": "platform", "enabled": null})).await;
    set(json!({"feature": "live_archive", "level": "msp", "scope_id": b.msp_id, "enabled": null})).await;
    assert_eq!(app.get("/api/v1/archive", &b.user).await.0, StatusCode::OK);
}
