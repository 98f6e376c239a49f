//! Tenants: registering one, switching JIT, bad input, the integration check.

use super::*;

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

        // Switching to the state it is already in changes nothing and records nothing.
        let (status, again) = admin.call(Method::PUT, "/tenants/beta/jit", Some(json!({"enabled": true, "reason": "double click"}))).await;
        assert_eq!((status, &again["previous"]), (StatusCode::OK, &json!(true)), "{again}");
        let (_, trail) = admin.call(Method::GET, "/tenants/beta/audit?kind=jit_changed", None).await;
        assert_eq!(trail["items"].as_array().unwrap().len(), 1, "{trail}");
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
        // An update that changes nothing records nothing.
        for same in [json!({}), json!({"default_locale": "de-DE"})] {
            assert_eq!(admin.call(Method::PATCH, "/tenants/beta", Some(same)).await.0, StatusCode::OK);
        }
        let (_, trail) = admin.call(Method::GET, "/tenants/beta/audit?kind=tenant_updated", None).await;
        assert_eq!(trail["items"].as_array().unwrap().len(), 1, "{trail}");
    }
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
            p if p.ends_with("activate") || p.ends_with("unlink") => Some(json!({"reason": "r"})),
            _ if e.method == "patch" => Some(json!({"name": "X"})),
            _ => None,
        };
        let (status, b) = admin.call(method, &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{} {path}: {b}", e.method);
    }
    let mut bad = new_tenant(&app, "Bad Slug");
    assert_eq!(
        admin
            .refusal(Method::POST, "/tenants", Some(bad.clone()))
            .await,
        (StatusCode::BAD_REQUEST, "slug".into())
    );
    bad["slug"] = json!("ok-slug");
    bad["issuer"] = json!("http://idp.example.com");
    assert_eq!(
        admin
            .refusal(Method::POST, "/tenants", Some(bad.clone()))
            .await,
        (StatusCode::BAD_REQUEST, "issuer".into())
    );
    bad.as_object_mut().unwrap().remove("client_id");
    assert_eq!(
        admin.refusal(Method::POST, "/tenants", Some(bad)).await,
        (StatusCode::BAD_REQUEST, "client_id".into())
    );
    admin
        .call(Method::POST, "/tenants", Some(new_tenant(&app, "gamma")))
        .await;
    let jit = "/tenants/gamma/jit";
    for (method, path, body, field) in [
        (Method::PUT, jit, json!({"enabled": true}), "reason"),
        (
            Method::PUT,
            jit,
            json!({"enabled": true, "reason": "  "}),
            "reason",
        ),
        (
            Method::PATCH,
            "/tenants/gamma",
            json!({"allowed_email_domains": ["not a domain"]}),
            "allowed_email_domains",
        ),
        // A wrong type deep in a body names the element, and the body is not applied.
        (
            Method::PATCH,
            "/tenants/gamma",
            json!({"name": "Renamed", "allowed_email_domains": ["gamma.example", 5]}),
            "allowed_email_domains[1]",
        ),
    ] {
        let refusal = admin.refusal(method, path, Some(body)).await;
        assert_eq!(refusal, (StatusCode::BAD_REQUEST, field.into()));
    }
    let (_, gamma) = admin.call(Method::GET, "/tenants/gamma", None).await;
    assert_ne!(gamma["name"], "Renamed", "{gamma}");
    let (status, b) = admin
        .call(Method::GET, "/tenants/gamma/profiles?cursor=%%%", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(
        admin
            .refusal(Method::POST, "/tenants", Some(new_tenant(&app, "gamma")))
            .await,
        (StatusCode::CONFLICT, "slug".into())
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

on_both_databases! {
    // PostgreSQL cannot store or even compare a NUL character: one in a path, a query
    // parameter or a body must be the client's 4xx, not the database's 500.
    async fn nul_characters_in_admin_input_are_refused_not_a_server_error(app) {
        app.add_tenant("acme", true).await;
        app.sign_in("acme", TestUser::new("s-n", "nia@example.com", "Nia", "N")).await;
        let id = app.profiles("acme").await[0].id.clone();
        let admin = Admin { token: app.staff_token(false).await, app: &app };
        for path in ["/tenants/%00", "/tenants/acme/profiles/%00", "/tenants/a%00b/audit"] {
            let (status, b) = admin.call(Method::GET, path, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {b}");
        }
        for (path, field) in [
            ("/tenants/acme/profiles?q=%00", "q"),
            ("/tenants/acme/profiles?created_via=jit%00", "created_via"),
            ("/tenants/acme/audit?kind=%00", "kind"),
            ("/tenants/acme/audit?profile=x%00", "profile"),
        ] {
            assert_eq!(admin.refusal(Method::GET, path, None).await, (StatusCode::BAD_REQUEST, field.into()), "{path}");
        }
        let deactivate = format!("/tenants/acme/profiles/{id}/deactivate");
        for (method, path, body, field) in [
            (Method::PATCH, "/tenants/acme", json!({"name": "Ac\u{0}me"}), "name"),
            (Method::PATCH, "/tenants/acme", json!({"allowed_email_domains": ["a.example", "b\u{0}.example"]}), "allowed_email_domains[1]"),
            (Method::PUT, "/tenants/acme/jit", json!({"enabled": false, "reason": "off\u{0}"}), "reason"),
            (Method::POST, deactivate.as_str(), json!({"reason": "\u{0}"}), "reason"),
            (Method::POST, "/tenants", json!({"slug": "nul", "name": "N\u{0}", "issuer": app.provider.issuer(), "client_id": "c", "client_secret": "s"}), "name"),
        ] {
            assert_eq!(admin.refusal(method, path, Some(body)).await, (StatusCode::BAD_REQUEST, field.into()));
        }
        // Nothing was half-applied.
        let (_, acme) = admin.call(Method::GET, "/tenants/acme", None).await;
        assert_eq!((acme["name"].as_str(), acme["jit_enabled"].as_bool()), (Some("acme Inc."), Some(true)), "{acme}");
        assert_eq!(app.profiles("acme").await[0].status, "active");
        assert_eq!(admin.call(Method::GET, "/tenants/nul", None).await.0, StatusCode::NOT_FOUND);
    }
}

on_both_databases! {
    // A provider change and settings changes are one write: when the database fails on the
    // settings (a trigger stands in for a failure half-way), the provider is not changed.
    async fn a_tenant_update_the_database_fails_half_way_changes_nothing(app) {
        app.add_tenant("acme", true).await;
        let failing_locale = if app.db.backend() == jit_sso::db::Backend::Postgres {
            app.execute("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql").await;
            "CREATE TRIGGER refuse_locale BEFORE UPDATE ON tenants FOR EACH ROW WHEN (NEW.default_locale = 'xx-FAIL') EXECUTE FUNCTION refuse()"
        } else {
            "CREATE TRIGGER refuse_locale BEFORE UPDATE ON tenants WHEN NEW.default_locale = 'xx-FAIL' BEGIN SELECT RAISE(ABORT, 'injected'); END"
        };
        app.execute(failing_locale).await;
        let admin = Admin { token: app.staff_token(false).await, app: &app };
        let (_, before) = admin.call(Method::GET, "/tenants/acme", None).await;
        let patch = json!({"issuer": "https://new-idp.example.com", "default_locale": "xx-FAIL"});
        let (status, b) = admin.call(Method::PATCH, "/tenants/acme", Some(patch)).await;
        assert!(status.is_server_error(), "{status} {b}");
        let (_, after) = admin.call(Method::GET, "/tenants/acme", None).await;
        assert_eq!(after["issuer"], before["issuer"], "the provider change was rolled back");
        let (_, trail) = admin.call(Method::GET, "/tenants/acme/audit?kind=provider_changed", None).await;
        assert_eq!(trail["items"].as_array().unwrap().len(), 0, "{trail}");
    }
}
