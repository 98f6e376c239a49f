//! The support staff API, /admin/v1.

use crate::helpers::*;
use crate::on_both_databases;
use crate::provider::TestUser;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Admin<'a> {
    app: &'a TestApp,
    token: String,
}

impl Admin<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = reqwest::Client::new()
            .request(method, self.app.url(&format!("/admin/v1{path}")))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

fn new_tenant(app: &TestApp, slug: &str) -> Value {
    json!({ "slug": slug, "name": "Beta GmbH", "issuer": app.provider.issuer(),
            "client_id": crate::provider::CLIENT_ID, "client_secret": crate::provider::CLIENT_SECRET })
}

on_both_databases! {
    async fn staff_register_a_tenant_switch_jit_and_see_the_new_profile_and_audit(app) {
        let admin = Admin { token: app.staff_token(false).await, app: &app };
        let (status, t) = admin.call(Method::POST, "/tenants", Some(new_tenant(&app, "beta"))).await;
        assert_eq!(status, StatusCode::CREATED, "{t}");
        assert_eq!(t["jit_enabled"], false, "JIT starts off");
        assert!(t.get("client_secret").is_none() && !t.to_string().contains(crate::provider::CLIENT_SECRET));

        let (status, j) = admin.call(Method::PUT, "/tenants/beta/jit", Some(json!({"enabled": true, "reason": "customer asked, ticket 42"}))).await;
        assert_eq!(status, StatusCode::OK, "{j}");
        assert_eq!(app.sign_in("beta", TestUser::new("s-h", "hana@beta.example", "Hana", "Hoff")).await.status(), StatusCode::SEE_OTHER);

        let (_, page) = admin.call(Method::GET, "/tenants/beta/profiles?q=HANA", None).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
        let id = page["items"][0]["id"].as_str().unwrap().to_owned();
        let (_, one) = admin.call(Method::GET, &format!("/tenants/beta/profiles/{id}"), None).await;
        assert_eq!(one["identities"][0]["subject"], "s-h");

        let (_, trail) = admin.call(Method::GET, "/tenants/beta/audit?kind=jit_changed", None).await;
        let change = &trail["items"][0];
        assert_eq!(change["actor"], "staff:support");
        assert_eq!(change["details"]["old"], false);
        assert_eq!(change["details"]["new"], true);
        assert_eq!(change["details"]["reason"], "customer asked, ticket 42");
        let (_, all) = admin.call(Method::GET, "/tenants/beta/audit", None).await;
        assert!(all["items"].as_array().unwrap().iter().any(|e| e["kind"] == "profile_created"));

        // A settings change is audited field by field, old -> new; unchanged fields are not listed.
        let patch = json!({"default_locale": "de-DE", "sync_names": true});
        let (status, b) = admin.call(Method::PATCH, "/tenants/beta", Some(patch)).await;
        assert_eq!(status, StatusCode::OK, "{b}");
        let (_, trail) = admin.call(Method::GET, "/tenants/beta/audit?kind=tenant_updated", None).await;
        let changes = &trail["items"][0]["details"]["changes"];
        assert_eq!(changes["default_locale"], json!({"old": "en-US", "new": "de-DE"}), "{trail}");
        assert!(changes.get("sync_names").is_none(), "sync_names was already on: {changes}");
    }
}

#[actix_web::test]
async fn deactivation_is_audited_and_keeps_the_person_out() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    app.sign_in("acme", TestUser::new("s-i", "ivo@example.com", "Ivo", "I"))
        .await;
    let id = app.profiles("acme").await[0].id.clone();
    let admin = Admin {
        token: app.staff_token(false).await,
        app: &app,
    };
    let (status, p) = admin
        .call(
            Method::POST,
            &format!("/tenants/acme/profiles/{id}/deactivate"),
            Some(json!({"reason": "left the company"})),
        )
        .await;
    assert_eq!(
        (status, p["status"].as_str()),
        (StatusCode::OK, Some("deactivated"))
    );
    assert_eq!(
        app.sign_in("acme", TestUser::new("s-i", "ivo@example.com", "Ivo", "I"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let (status, _) = admin
        .call(
            Method::POST,
            &format!("/tenants/acme/profiles/{id}/reactivate"),
            Some(json!({"reason": "came back"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.sign_in("acme", TestUser::new("s-i", "ivo@example.com", "Ivo", "I"))
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

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
async fn unknown_tenants_are_404_and_bad_input_names_the_field() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let admin = Admin {
        token: app.staff_token(false).await,
        app: &app,
    };
    for e in jit_sso::routes::admin::ENDPOINTS
        .iter()
        .filter(|e| e.path.contains("{slug}"))
    {
        let path = e.path.replace("{slug}", "nobody").replace("{id}", "x");
        let method = Method::from_bytes(e.method.to_uppercase().as_bytes()).unwrap();
        let body = match e.path {
            p if p.ends_with("/jit") => Some(json!({"enabled": true, "reason": "r"})),
            p if p.ends_with("activate") => Some(json!({"reason": "r"})),
            _ if e.method == "patch" => Some(json!({"name": "X"})),
            _ => None,
        };
        let (status, b) = admin.call(method, &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{} {path}: {b}", e.method);
    }
    let mut bad = new_tenant(&app, "Bad Slug");
    let (status, b) = admin
        .call(Method::POST, "/tenants", Some(bad.clone()))
        .await;
    assert_eq!(
        (status, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("slug")),
        "{b}"
    );
    bad["slug"] = json!("ok-slug");
    bad["issuer"] = json!("http://idp.example.com");
    let (status, b) = admin
        .call(Method::POST, "/tenants", Some(bad.clone()))
        .await;
    assert_eq!(
        (status, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("issuer")),
        "{b}"
    );
    bad.as_object_mut().unwrap().remove("client_id");
    let (status, b) = admin.call(Method::POST, "/tenants", Some(bad)).await;
    assert_eq!(
        (status, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("client_id")),
        "{b}"
    );
    admin
        .call(Method::POST, "/tenants", Some(new_tenant(&app, "gamma")))
        .await;
    let (status, b) = admin
        .call(
            Method::PUT,
            "/tenants/gamma/jit",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(
        (status, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("reason")),
        "{b}"
    );
    let (status, b) = admin
        .call(
            Method::PUT,
            "/tenants/gamma/jit",
            Some(json!({"enabled": true, "reason": "  "})),
        )
        .await;
    assert_eq!(
        (status, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("reason")),
        "{b}"
    );
    let (status, b) = admin
        .call(
            Method::PATCH,
            "/tenants/gamma",
            Some(json!({"allowed_email_domains": ["not a domain"]})),
        )
        .await;
    assert_eq!(
        (status, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("allowed_email_domains")),
        "{b}"
    );
    let (status, b) = admin
        .call(Method::GET, "/tenants/gamma/profiles?cursor=%%%", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    let (status, b) = admin
        .call(Method::POST, "/tenants", Some(new_tenant(&app, "gamma")))
        .await;
    assert_eq!(
        (status, b["field"].as_str()),
        (StatusCode::CONFLICT, Some("slug")),
        "{b}"
    );
}

#[actix_web::test]
async fn the_roster_pages_with_a_stable_cursor_and_filters() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    for i in 0..5 {
        app.sign_in(
            "acme",
            TestUser::new(
                &format!("s{i}"),
                &format!("p{i}@example.com"),
                "P",
                &format!("N{i}"),
            ),
        )
        .await;
    }
    let admin = Admin {
        token: app.staff_token(true).await,
        app: &app,
    };
    let mut seen = Vec::new();
    let mut path = "/tenants/acme/profiles?limit=2".to_owned();
    loop {
        let (_, page) = admin.call(Method::GET, &path, None).await;
        for p in page["items"].as_array().unwrap() {
            seen.push(p["email"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/tenants/acme/profiles?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        (0..5)
            .map(|i| format!("p{i}@example.com"))
            .collect::<Vec<_>>()
    );
    let (_, none) = admin
        .call(
            Method::GET,
            "/tenants/acme/profiles?created_via=operator",
            None,
        )
        .await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    let (status, b) = admin
        .call(
            Method::GET,
            "/tenants/acme/profiles?created_via=magic",
            None,
        )
        .await;
    assert_eq!(
        (status, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("created_via"))
    );
}

#[actix_web::test]
async fn the_integration_check_reports_item_by_item() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    app.sign_in("acme", TestUser::new("s", "kai@example.com", "Kai", "K"))
        .await;
    let admin = Admin {
        token: app.staff_token(true).await,
        app: &app,
    };
    let (status, report) = admin.call(Method::POST, "/tenants/acme/check", None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["last_successful_sign_in"].is_number());
    assert!(report["register_at_provider"]["redirect_uri"]
        .as_str()
        .unwrap()
        .ends_with("/t/acme/callback"));
    // A wrong issuer is reported with both values.
    app.provider
        .set_discovery_issuer(Some("https://elsewhere.example".into()));
    let (_, report) = admin.call(Method::POST, "/tenants/acme/check", None).await;
    assert_eq!(report["ok"], false);
    let item = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "issuer_match")
        .unwrap()
        .clone();
    assert_eq!(item["ok"], false);
    assert!(item["detail"]
        .as_str()
        .unwrap()
        .contains("elsewhere.example"));
    // An unreachable provider is reported, not a 500.
    app.add_tenant_with("down", "http://127.0.0.1:9", false, None)
        .await;
    let (status, report) = admin.call(Method::POST, "/tenants/down/check", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        report["items"].to_string().contains("unreachable"),
        "{report}"
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
    assert_eq!(jit_sso::routes::admin::ENDPOINTS.len(), 11);
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
