//! The README's first command: the demo tenant and the built-in development provider.

use crate::helpers::*;
use reqwest::StatusCode;

/// The value of `name="..." value="..."` hidden inputs on a page.
fn hidden_fields(page: &str) -> Vec<(String, String)> {
    page.split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|chunk| {
            let name = chunk.split("name=\"").nth(1)?.split('"').next()?;
            let value = chunk.split("value=\"").nth(1)?.split('"').next()?;
            Some((name.to_owned(), value.replace("&amp;", "&")))
        })
        .collect()
}

#[actix_web::test]
async fn a_person_typed_at_the_demo_provider_is_signed_in_and_gets_a_profile() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.demo.enabled = true)
        .await
        .unwrap();
    let browser = app.browser();
    let home = browser
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("/t/demo/login"),
        "home page offers the demo sign-in"
    );

    let authorize = app.start_login(&browser, "/t/demo/login").await;
    assert!(authorize.starts_with(&app.url("/dev-idp/authorize")));
    let page = browser
        .get(&authorize)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("First name") && page.contains("Email"));
    let mut form = hidden_fields(&page);
    form.push(("given_name".into(), "Zoë".into()));
    form.push(("family_name".into(), "Ødegård".into()));
    form.push(("email".into(), "zoe@demo.example".into()));
    let resp = browser
        .post(app.url("/dev-idp/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let callback = location(&resp);
    let done = browser.get(callback).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);

    let welcome = browser
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(welcome.contains("Welcome, Zoë!"), "{welcome}");
    assert!(welcome.contains("zoe@demo.example"));
    let profiles = app.profiles("demo").await;
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0].last_name, "Ødegård");
}

#[actix_web::test]
async fn the_demo_provider_is_absent_unless_demo_mode_is_on() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let resp = app
        .browser()
        .get(app.url("/dev-idp/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(jit_sso::service::tenants::find(&app.db, "demo")
        .await
        .unwrap()
        .is_none());
}
