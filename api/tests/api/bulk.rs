//! CSV import and one-call provisioning: all or nothing, bad lines named.

use axum::http::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, tenant};

#[tokio::test]
async fn csv_import_creates_all_users_or_none() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "csv").await;
    let path = format!("/api/v1/orgs/{}/users/import", t.org_id);

    let bad = "email,display_name,role\nann@csv.test,Ann,user\nbob@csv.test,Bob,spam_czar\nnot-an-email,Carl,user\n";
    let (status, res) = app.raw(Method::POST, &path, Some(&t.org_admin), "text/csv", bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{res}");
    assert_eq!(res["error"]["line"], 4);
    assert!(res["error"]["message"].as_str().unwrap().starts_with("line 4:"), "{res}");

    // A clash with an existing user is found in the database, still naming the line.
    let clash = "email,display_name\nann@csv.test,Ann\nuser@csv.test,Existing\n";
    let (status, res) = app.raw(Method::POST, &path, Some(&t.org_admin), "text/csv", clash).await;
    assert_eq!(status, StatusCode::CONFLICT, "{res}");
    assert_eq!(res["error"]["line"], 3);

    let (_, users) = app.get(&format!("/api/v1/orgs/{}/users", t.org_id), &t.org_admin).await;
    assert_eq!(users["total"], 2, "nothing was half-imported");

    let good = "email,display_name,role,time_zone\nann@csv.test,Ann,user,Europe/Paris\nbob@csv.test,Bob,spam_czar,\n";
    let (status, res) = app.raw(Method::POST, &path, Some(&t.org_admin), "text/csv", good).await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
    assert_eq!(res["created"].as_array().unwrap().len(), 2);
    assert_eq!(res["created"][0]["time_zone"], "Europe/Paris");
    assert_eq!(res["created"][1]["role"], "spam_czar");
    // Imported users without passwords are sent activation mail.
    assert_eq!(app.state.store.system_mail_to("bob@csv.test").await.unwrap().len(), 1);

    let (status, _) = app.raw(Method::POST, &path, Some(&t.org_admin), "application/json", "{}").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = app.raw(Method::POST, &path, Some(&t.user), "text/csv", good).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn provisioning_is_all_or_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "prov").await;
    let org = app.create("/api/v1/orgs", &t.msp_admin, json!({"name": "Customer", "msp_id": t.msp_id})).await;
    let path = format!("/api/v1/orgs/{org}/provision");
    let mut body = json!({
        "domains": [
            {"name": "customer.test", "destination_host": "10.0.0.5", "destination_port": 25},
            {"name": "customer-mail.test", "destination_host": "exchange.customer.test", "destination_port": 2525}
        ],
        "allowed_ips": ["192.0.2.10", "198.51.100.0/24"],
        "policy": {"quarantine_threshold": 4.5, "greylisting": true},
        "users_csv": "email,display_name,role\nboss@customer.test,Boss,org_admin\nbad line without email,X\n"
    });

    let (status, res) = app.post(&path, &t.msp_admin, body.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{res}");
    assert_eq!(res["error"]["line"], 3);
    assert_eq!(res["error"]["field"], "users_csv");

    // A domain another tenant owns rolls the whole call back too.
    body["users_csv"] =
        json!("email,display_name,role\nboss@customer.test,Boss,org_admin\nstaff@customer.test,Staff,user\n");
    body["domains"][1]["name"] = json!("prov.test");
    let (status, res) = app.post(&path, &t.msp_admin, body.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{res}");
    let (_, domains) = app.get(&format!("/api/v1/orgs/{org}/domains"), &t.msp_admin).await;
    assert_eq!(domains["total"], 0);
    let (_, users) = app.get(&format!("/api/v1/orgs/{org}/users"), &t.msp_admin).await;
    assert_eq!(users["total"], 0);
    let (_, policy) = app.get(&format!("/api/v1/orgs/{org}/policy"), &t.msp_admin).await;
    assert_eq!(policy["greylisting"], false);

    body["domains"][1]["name"] = json!("customer-mail.test");
    let (status, res) = app.post(&path, &t.msp_admin, body).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["domains"].as_array().unwrap().len(), 2);
    assert_eq!(res["allowed_ips"], json!(["192.0.2.10/32", "198.51.100.0/24"]));
    assert_eq!(res["policy"]["quarantine_threshold"], 4.5);
    assert_eq!(res["policy"]["greylisting"], true);
    assert_eq!(res["users"].as_array().unwrap().len(), 2);
    let (_, policy) = app.get(&format!("/api/v1/orgs/{org}/policy"), &t.msp_admin).await;
    assert_eq!(policy["greylisting"], true);
}

#[tokio::test]
async fn provisioning_can_create_the_org() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = tenant(&app, &admin, "newprov").await;
    let id = Uuid::new_v4();
    let body = json!({"name": "Brand new", "domains": [{"name": "brandnew.test", "destination_host": "mx.brandnew.test", "destination_port": 25}]});
    // An org user cannot create orgs this way.
    let (status, _) = app.post(&format!("/api/v1/orgs/{id}/provision"), &t.org_admin, body.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, res) = app.post(&format!("/api/v1/orgs/{id}/provision"), &t.msp_admin, body).await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
    let (status, org) = app.get(&format!("/api/v1/orgs/{id}"), &t.msp_admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(org["msp_id"], t.msp_id.as_str());
    assert_eq!(org["name"], "Brand new");
}

#[tokio::test]
async fn a_users_csv_is_previewed_line_by_line_and_exported() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let t = crate::helpers::tenant(&app, &admin, "csvp").await;
    let other = crate::helpers::tenant(&app, &admin, "csvq").await;
    let path = format!("/api/v1/orgs/{}/users/import/preview", t.org_id);
    let csv = "email,display_name,role\n\
        ann@csvp.test,Ann,user\n\
        not-an-email,Bob,user\n\
        cy@elsewhere.test,Cy,user\n\
        user@csvp.test,Taken,user\n\
        dee@csvp.test,Dee,wizard\n\
        ann@csvp.test,Ann again,user\n\
        eve@csvp.test,Eve,spam_czar\n";
    let (status, preview) = app.raw(Method::POST, &path, Some(&t.org_admin), "text/csv", csv).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let lines: Vec<u64> = preview["problems"].as_array().unwrap().iter().map(|p| p["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7], "{preview}");
    assert!(preview["problems"][1]["message"].as_str().unwrap().contains("elsewhere.test"), "{preview}");
    assert!(preview["problems"][2]["message"].as_str().unwrap().contains("exists already"), "{preview}");
    let ok: Vec<&str> = preview["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(ok, vec!["ann@csvp.test", "eve@csvp.test"]);
    // Nothing was written, and the import itself still refuses the whole file.
    assert!(app.state.store.user_by_email("ann@csvp.test").await.unwrap().is_none());
    let import = format!("/api/v1/orgs/{}/users/import", t.org_id);
    assert_eq!(
        app.raw(Method::POST, &import, Some(&t.org_admin), "text/csv", csv).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Another tenant's admin and plain users cannot preview here.
    assert_eq!(app.raw(Method::POST, &path, Some(&other.org_admin), "text/csv", csv).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.raw(Method::POST, &path, Some(&t.user), "text/csv", csv).await.0, StatusCode::FORBIDDEN);

    let (status, headers, body) =
        app.download(&format!("/api/v1/orgs/{}/users/export.csv", t.org_id), &t.org_admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let body = String::from_utf8(body).unwrap();
    assert!(body.starts_with("email,display_name,role,time_zone,status\n"), "{body}");
    assert!(body.contains("user@csvp.test,User,user,"), "{body}");
    assert!(!body.contains("csvq.test"));
    assert_eq!(
        app.download(&format!("/api/v1/orgs/{}/users/export.csv", t.org_id), &other.org_admin).await.0,
        StatusCode::NOT_FOUND
    );
}
