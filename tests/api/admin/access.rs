//! Who may call what: tokens, read-only tokens, revocation, the route list.

use super::*;

#[actix_web::test]
async fn every_route_refuses_a_missing_token_and_read_only_tokens_cannot_write() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let reader = Admin {
        token: app.staff_token(true).await,
        app: &app,
    };
    for e in jit_sso::routes::admin::ENDPOINTS {
        let path = e.path.replace("{slug}", "acme").replace("{id}", "missing");
        let method = Method::from_bytes(e.method.to_uppercase().as_bytes()).unwrap();
        let resp = reqwest::Client::new()
            .request(method.clone(), app.url(&format!("/admin/v1{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "{} {path}",
            e.method
        );
        assert!(resp.headers().contains_key("www-authenticate"));
        let body: Value = resp.json().await.unwrap();
        assert!(body["request_id"].is_string() && body["error"] == "unauthorized");
        if e.writes {
            let (status, body) = reader.call(method, &path, Some(json!({}))).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "read-only {} {path}: {body}",
                e.method
            );
        }
    }
    let forged = Admin {
        token: "jss_00000000000000000000000000000000_nope".into(),
        app: &app,
    };
    assert_eq!(
        forged.call(Method::GET, "/tenants", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn a_revoked_token_stops_working() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let token = jit_sso::service::staff::create(&app.db, "temp", false)
        .await
        .unwrap();
    let admin = Admin { token, app: &app };
    assert_eq!(
        admin.call(Method::GET, "/tenants", None).await.0,
        StatusCode::OK
    );
    jit_sso::service::staff::revoke(&app.db, "temp")
        .await
        .unwrap();
    assert_eq!(
        admin.call(Method::GET, "/tenants", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn the_openapi_document_lists_every_admin_route() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let doc: Value = reqwest::get(app.url("/admin/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    for e in jit_sso::routes::admin::ENDPOINTS {
        let op = &doc["paths"][format!("/admin/v1{}", e.path)][e.method];
        assert!(
            op["summary"].is_string(),
            "{} {} missing from the document",
            e.method,
            e.path
        );
    }
    assert_eq!(jit_sso::routes::admin::ENDPOINTS.len(), 12);
}
