//! Allow/block lists: patterns, who may add at which level, reach, and the worker snapshot.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, tenant};

#[tokio::test]
async fn list_entries_follow_levels_reach_and_reach_the_snapshot() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "la").await;
    let b = tenant(&app, &admin, "lb").await;
    let entry = |level: &str, id: Option<&str>, kind: &str, pattern: &str| json!({"scope": {"level": level, "id": id}, "kind": kind, "pattern": pattern});
    // Patterns are checked and normalised.
    let (status, e) =
        app.post("/api/v1/lists", &a.org_admin, entry("org", Some(&a.org_id), "block", "@Spam.Example")).await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    assert_eq!(e["pattern"], "@spam.example");
    for bad in ["not a pattern", "@", "@.", "300.1.1.1", "a@b"] {
        let (status, res) = app.post("/api/v1/lists", &a.org_admin, entry("org", Some(&a.org_id), "block", bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {res}");
        assert_eq!(res["error"]["field"], "pattern");
    }
    let (status, _) =
        app.post("/api/v1/lists", &a.org_admin, entry("org", Some(&a.org_id), "block", "@spam.example")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Levels: a user lists for itself, not for others; org admins not globally; MSP admins their MSP.
    let (status, _) =
        app.post("/api/v1/lists", &a.user, entry("user", Some(&a.user_id), "allow", "friend@ext.test")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) =
        app.post("/api/v1/lists", &a.user, entry("user", Some(&a.org_admin_id), "allow", "x@ext.test")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.post("/api/v1/lists", &a.user, entry("org", Some(&a.org_id), "allow", "x@ext.test")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.post("/api/v1/lists", &a.org_admin, entry("global", None, "block", "192.0.2.0/24")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.post("/api/v1/lists", &admin, entry("global", None, "allow", "@.bigmail.example")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) =
        app.post("/api/v1/lists", &a.msp_admin, entry("msp", Some(&a.msp_id), "block", "198.51.100.7")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) =
        app.post("/api/v1/lists", &a.org_admin, entry("domain", Some(&b.domain_id), "block", "@x.example")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's domain");
    let (status, _) =
        app.post("/api/v1/lists", &a.org_admin, entry("domain", Some(&a.domain_id), "allow", "@partner.example")).await;
    assert_eq!(status, StatusCode::CREATED);

    // Reach: tenant B sees only the global entry; A's org admin sees A's and the global ones.
    let (_, list) = app.get("/api/v1/lists", &b.org_admin).await;
    assert_eq!(list["total"], 1);
    let (_, list) = app.get("/api/v1/lists", &a.org_admin).await;
    assert_eq!(list["total"], 4, "{list}");
    let (_, list) = app.get("/api/v1/lists", &a.msp_admin).await;
    assert_eq!(list["total"], 5);
    let (_, list) = app.get("/api/v1/lists", &a.user).await;
    assert_eq!(list["total"], 2, "its own and the global entry: {list}");
    // Search, filters and paging are done by the database, within reach.
    let (_, list) = app.get("/api/v1/lists?q=PARTNER", &a.org_admin).await;
    assert_eq!((list["total"].as_i64(), list["items"][0]["pattern"].as_str()), (Some(1), Some("@partner.example")));
    assert_eq!(app.get("/api/v1/lists?q=partner", &b.org_admin).await.1["total"], 0);
    let (_, list) = app.get("/api/v1/lists?kind=block&level=org", &a.org_admin).await;
    assert_eq!((list["total"].as_i64(), list["items"][0]["pattern"].as_str()), (Some(1), Some("@spam.example")));
    let (_, page) = app.get("/api/v1/lists?per_page=3&page=2", &a.org_admin).await;
    assert_eq!((page["total"].as_i64(), page["items"].as_array().unwrap().len()), (Some(4), 1));
    let id = e["id"].as_str().unwrap();
    let (status, _) = app.delete(&format!("/api/v1/lists/{id}"), &b.org_admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The worker snapshot carries every entry and each org's MSP; changes bump the version.
    let node = format!("moatnode_{}", uuid::Uuid::new_v4().simple());
    app.state.store.create_node("mx-lists", &moat_api::auth::tokens::sha256_hex(&node)).await.unwrap();
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert_eq!(snap["lists"].as_array().unwrap().len(), 5);
    assert!(snap["orgs"].to_string().contains(&a.msp_id));
    let version = snap["version"].as_i64().unwrap();
    let (status, _) = app.delete(&format!("/api/v1/lists/{id}"), &a.org_admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert!(snap["version"].as_i64().unwrap() > version);
    assert_eq!(snap["lists"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn a_user_sees_and_removes_its_reverse_whitelist_entries() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = tenant(&app, &admin, "rw-a").await;
    let b = tenant(&app, &admin, "rw-b").await;
    let node = crate::helpers::node_token(&app).await;
    let pairs = json!({"correspondents": [{"user_id": a.user_id, "address": "Partner@Ext.test"},
        {"user_id": a.user_id, "address": "other@ext.test"}]});
    let (status, _) = app.call(Method::POST, "/api/v1/worker/correspondents", Some(&node), Some(pairs)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let path = format!("/api/v1/users/{}/correspondents", a.user_id);
    let (status, list) = app.get(&path, &a.user).await;
    assert_eq!((status, list["total"].as_i64()), (StatusCode::OK, Some(2)), "{list}");
    assert_eq!(app.get(&path, &a.org_admin).await.0, StatusCode::OK);
    assert_eq!(app.get(&path, &b.org_admin).await.0, StatusCode::NOT_FOUND);
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    let version = snap["version"].as_i64().unwrap();
    assert!(snap["correspondents"].to_string().contains("partner@ext.test"));

    assert_eq!(
        app.call(Method::DELETE, &format!("{path}?address=partner@ext.test"), Some(&b.org_admin), None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.call(Method::DELETE, &path, Some(&a.user), None).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.call(Method::DELETE, &format!("{path}?address=PARTNER@ext.test"), Some(&a.user), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.call(Method::DELETE, &format!("{path}?address=partner@ext.test"), Some(&a.user), None).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = app.get(&path, &a.user).await;
    assert_eq!((list["total"].as_i64(), list["items"][0]["address"].as_str()), (Some(1), Some("other@ext.test")));
    let (_, snap) = app.get("/api/v1/worker/policy", &node).await;
    assert!(snap["version"].as_i64().unwrap() > version, "the workers learn of it");
    assert!(!snap["correspondents"].to_string().contains("partner@ext.test"));
}
