//! The roster: paging and filters, deactivation.

use super::*;

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
    assert_eq!(
        admin
            .refusal(
                Method::GET,
                "/tenants/acme/profiles?created_via=magic",
                None
            )
            .await,
        (StatusCode::BAD_REQUEST, "created_via".into())
    );
    // A value of the wrong type names its parameter, not the whole query string.
    assert_eq!(
        admin
            .refusal(Method::GET, "/tenants/acme/profiles?limit=abc", None)
            .await,
        (StatusCode::BAD_REQUEST, "limit".into())
    );
    assert_eq!(
        admin
            .refusal(Method::GET, "/tenants/acme/audit?since=yesterday", None)
            .await,
        (StatusCode::BAD_REQUEST, "since".into())
    );
}
