//! Health, readiness, metrics and the OpenAPI contract.

use axum::http::{Method, StatusCode};

use crate::helpers::TestApp;

#[tokio::test]
async fn committed_openapi_document_matches_the_served_one() {
    let app = TestApp::spawn().await;
    let (status, served) = app.call(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let committed_text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json"))
        .expect("openapi/openapi.json is committed (run `make openapi`)");
    let committed: serde_json::Value = serde_json::from_str(&committed_text).unwrap();
    assert!(
        served == committed && committed_text == *moat_api::http::OPENAPI_JSON,
        "openapi/openapi.json is stale: run `make openapi` and commit it"
    );
    assert_eq!(served["openapi"], "3.1.0");
    let schemes = &served["components"]["securitySchemes"];
    assert_eq!(schemes["bearer_jwt"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
    assert!(served["paths"]["/api/v1/orgs/{id}/provision"]["post"].is_object());
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let (status, body) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, Some("ok\n")));
    let (status, _) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    app.admin_token().await;
    let (status, body) = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap();
    assert!(text.contains("moat_api_logins_total{outcome=\"ok\"} 1"), "{text}");
    assert!(text.contains("route=\"/api/v1/auth/login\""), "{text}");

    app.state.store.close().await;
    let (status, _) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}
