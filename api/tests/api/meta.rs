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

#[tokio::test]
async fn the_spa_is_served_with_deep_links_caching_and_csp() {
    let app = TestApp::spawn().await;
    let dist = app.state.config.frontend_dir.clone();
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html><title>Moat</title>").unwrap();
    std::fs::write(dist.join("assets/app-0123abcd.js"), "export default 1;").unwrap();

    let get = |path: &str| axum::http::Request::builder().uri(path).body(axum::body::Body::empty()).unwrap();
    let res = tower::ServiceExt::oneshot(moat_api::http::router(app.state.clone()), get("/orgs/some/deep/link"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    let body = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("<title>Moat</title>"));

    let res = tower::ServiceExt::oneshot(moat_api::http::router(app.state.clone()), get("/assets/app-0123abcd.js"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["cache-control"].to_str().unwrap().contains("immutable"));

    // Unknown API paths stay JSON 404s, never the SPA.
    let (status, body) = app.call(Method::GET, "/api/v1/no/such/thing", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");

    let (status, branding) = app.call(Method::GET, "/api/v1/branding", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(branding["product_name"], "Moat");
}
