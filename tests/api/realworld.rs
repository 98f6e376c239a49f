//! Failures reported by users of other single sign-on products, replayed against ours.
//! Each test names the report it reproduces.

use crate::helpers::*;
use crate::on_both_databases;
use crate::provider::{TestProvider, TestUser, CLIENT_SECRET};
use jit_sso::service::admin::{change_provider, ProviderChange};
use reqwest::StatusCode;
use serde_json::json;

async fn trail_kinds(app: &TestApp, slug: &str) -> Vec<String> {
    jit_sso::service::tenants::audit_trail(&app.db, slug, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

async fn insert_operator_profile(app: &TestApp, slug: &str, email: &str) {
    let tenant = jit_sso::service::tenants::find(&app.db, slug)
        .await
        .unwrap()
        .unwrap();
    let row = operator_profile(&tenant.id, email);
    app.db
        .run(move |c| jit_sso::db::profiles::insert(c, &row).map_err(jit_sso::db::DbError::from))
        .await
        .unwrap();
}

on_both_databases! {
    async fn a_mixed_case_email_from_the_provider_finds_the_existing_lowercase_profile(app) {
        // documenso/documenso#2397: Pat.Doe@Example.COM and pat.doe@example.com became two users.
        app.add_tenant("acme", true).await;
        insert_operator_profile(&app, "acme", "pat.doe@example.com").await;
        let shouting = TestUser::new("sub-pat", "Pat.Doe@Example.COM", "Pat", "Doe");
        assert_eq!(app.sign_in("acme", shouting).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.count("profiles").await, 1, "linked, not duplicated");
        assert_eq!(app.count("identities").await, 1);
    }
}

on_both_databases! {
    async fn two_people_who_swap_addresses_each_keep_their_own_profile(app) {
        // xperseguers/t3ext-oidc#190: two users swapping emails were matched to each other's account.
        app.add_tenant("acme", true).await;
        app.sign_in("acme", TestUser::new("sub-a", "a@acme.example", "Ann", "A")).await;
        app.sign_in("acme", TestUser::new("sub-b", "b@acme.example", "Ben", "B")).await;
        let ids = |roster: Vec<jit_sso::db::profiles::ProfileRow>| {
            let mut v: Vec<(String, String)> =
                roster.into_iter().map(|p| (p.first_name, p.id)).collect();
            v.sort();
            v
        };
        let before = ids(app.profiles("acme").await);
        let ann = TestUser::new("sub-a", "b@acme.example", "Ann", "A");
        let ben = TestUser::new("sub-b", "a@acme.example", "Ben", "B");
        for user in [ann, ben] {
            let browser = app.browser();
            assert_eq!(app.sign_in_with(&browser, "acme", user.clone()).await.status(), StatusCode::SEE_OTHER);
            let me: serde_json::Value =
                browser.get(app.url("/session")).send().await.unwrap().json().await.unwrap();
            assert_eq!(me["first_name"], user.given_name.unwrap(), "signed in as themselves: {me}");
        }
        assert_eq!(ids(app.profiles("acme").await), before, "no profile gained or changed hands");
        assert!(trail_kinds(&app, "acme").await.contains(&"email_conflict".to_owned()));
    }
}

on_both_databases! {
    async fn a_newcomer_given_a_leavers_address_is_refused_not_handed_the_old_profile(app) {
        // e-valuation/EvaP#1992: a reassigned address would take over the previous owner's account.
        app.add_tenant("acme", true).await;
        app.sign_in("acme", TestUser::new("sub-leaver", "j.smith@acme.example", "Jo", "Smith")).await;
        let newcomer = TestUser::new("sub-newcomer", "j.smith@acme.example", "Jamie", "Smith");
        let resp = app.sign_in("acme", newcomer).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(resp.text().await.unwrap().contains("belongs to someone else"));
        let roster = app.profiles("acme").await;
        assert_eq!(roster.len(), 1);
        assert_eq!(roster[0].first_name, "Jo", "the leaver's profile is untouched");
    }
}

on_both_databases! {
    async fn moving_the_tenant_to_a_new_issuer_keeps_one_profile_per_person(app) {
        // okta/okta-spring-boot#187 (an Okta custom domain changes the issuer),
        // urlaubsverwaltung/urlaubsverwaltung#2314 (switching provider must reuse people).
        app.add_tenant("acme", true).await;
        let person = TestUser::new("00u1abc", "lee@acme.example", "Lee", "Li");
        assert_eq!(app.sign_in("acme", person.clone()).await.status(), StatusCode::SEE_OTHER);
        let custom_domain = TestProvider::start_at("/oauth2/default").await;
        let change = ProviderChange { issuer: Some(custom_domain.issuer()), ..Default::default() };
        change_provider(&app.db, &app.keys.secrets, None, "acme", change, "test").await.unwrap();
        custom_domain.login_as(person.clone());
        let browser = app.browser();
        let authorize = app.start_login(&browser, "/t/acme/login").await;
        assert!(authorize.starts_with(&custom_domain.issuer()), "{authorize}");
        let callback = app.authorize(&browser, &authorize).await;
        let resp = browser.get(callback).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{}", resp.text().await.unwrap());
        assert_eq!(app.count("profiles").await, 1, "the same person, not a second profile");
        assert_eq!(app.count("identities").await, 2, "linked under the new issuer as well");
    }
}

on_both_databases! {
    async fn a_re_registered_entra_app_that_changes_every_sub_refuses_people_instead_of_duplicating(app) {
        // Azure/azure-content#5771: Entra's sub is per application, so a new app registration
        // gives everyone a new sub. We never duplicate: people are refused until support
        // staff remove the old link, and then they sign in to their own profile again.
        app.add_tenant("acme", true).await;
        app.sign_in("acme", TestUser::new("pairwise-for-app-1", "kim@acme.example", "Kim", "K")).await;
        let kim = app.profiles("acme").await[0].id.clone();
        let same_person = TestUser::new("pairwise-for-app-2", "kim@acme.example", "Kim", "K");
        let resp = app.sign_in("acme", same_person.clone()).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.count("profiles").await, 1, "never a duplicate");
        assert!(trail_kinds(&app, "acme").await.contains(&"identity_conflict".to_owned()));

        let token = app.staff_token(false).await;
        let unlink = |reason: &str| {
            app.browser()
                .post(app.url(&format!("/admin/v1/tenants/acme/profiles/{kim}/unlink")))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "reason": reason }))
                .send()
        };
        assert_eq!(unlink(" ").await.unwrap().status(), StatusCode::BAD_REQUEST, "a reason is required");
        let removed: serde_json::Value = unlink("app registered again, ticket 7").await.unwrap().json().await.unwrap();
        assert_eq!(removed["removed"][0]["subject"], "pairwise-for-app-1", "{removed}");
        assert_eq!(app.sign_in("acme", same_person).await.status(), StatusCode::SEE_OTHER);
        let roster = app.profiles("acme").await;
        assert_eq!((roster.len(), roster[0].id.as_str()), (1, kim.as_str()), "the same profile");
        assert_eq!(app.count("identities").await, 1);
        assert!(trail_kinds(&app, "acme").await.contains(&"identities_unlinked".to_owned()));
    }
}

#[actix_web::test]
async fn a_proxy_that_does_not_forward_the_host_header_does_not_loop_on_login() {
    // grafana/grafana#18299, thenativeweb/forcedomain#19: behind a proxy that sends its own
    // Host (nginx's default proxy_pass), a "wrong host, go to the public URL" redirect loops.
    let port = free_port();
    let mut app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.http.port = port;
        s.http.public_url = "https://training.example.com".into();
    })
    .await
    .unwrap();
    app.address = format!("http://127.0.0.1:{port}");
    app.add_tenant("acme", true).await;
    for proxied_host in ["jit-sso:8080", "127.0.0.1:8080", "training.example.com"] {
        let resp = app
            .browser()
            .get(app.url("/t/acme/login?return_to=/courses"))
            .header("host", proxied_host)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        let target = location(&resp);
        assert!(
            target.starts_with(&app.provider.url("/authorize")),
            "Host {proxied_host}: sent to {target} instead of the provider (a loop behind the proxy)"
        );
    }
}

#[actix_web::test]
async fn a_key_set_with_key_types_we_do_not_know_still_verifies_the_token() {
    // coreos/go-oidc#498, spring-attic/spring-security-oauth#1213, nextcloud/user_oidc#1333:
    // one unsupported key (Ed448, P-521, post-quantum AKP) made the whole key set unusable.
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    app.provider.edit_jwks(|d| {
        let keys = d["keys"].as_array_mut().unwrap();
        let strangers = [
            json!({"kty": "OKP", "crv": "Ed448", "use": "sig", "kid": "ed448", "x": "AAAA"}),
            json!({"kty": "OKP", "crv": "X448", "kid": "x448", "x": "AAAA"}),
            json!({"kty": "EC", "crv": "P-521", "use": "sig", "kid": "p521", "x": "AAAA", "y": "AAAA"}),
            json!({"kty": "AKP", "alg": "ML-DSA-44", "kid": "pq", "pub": "AAAA"}),
            json!({"kty": "RSA", "use": "enc", "alg": "RSA-OAEP", "kid": "enc", "n": "AAAA", "e": "AQAB"}),
        ];
        for (i, k) in strangers.into_iter().enumerate() {
            keys.insert(i, k);
        }
    });
    let resp = app
        .sign_in("acme", TestUser::new("s1", "ivy@acme.example", "Ivy", "I"))
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{}",
        resp.text().await.unwrap()
    );
    assert_eq!(app.count("profiles").await, 1);
}

#[actix_web::test]
async fn a_token_with_hundreds_of_groups_signs_in_and_the_session_cookie_stays_small() {
    // oauth2-proxy/oauth2-proxy#1902, kiali/kiali#3874: big group claims made cookies over
    // 4 KB that browsers drop, so the login silently looped.
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let groups: Vec<String> = (0..400)
        .map(|i| format!("CN=training-platform-group-{i:04},OU=Groups,DC=acme"))
        .collect();
    app.provider.edit_next_claims(move |c| {
        c.insert("groups".into(), json!(groups));
    });
    let resp = app
        .sign_in("acme", TestUser::new("s1", "gus@acme.example", "Gus", "G"))
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    for cookie in resp.headers().get_all("set-cookie") {
        let len = cookie.as_bytes().len();
        assert!(len < 1024, "a Set-Cookie of {len} bytes");
    }
}

on_both_databases! {
    async fn going_back_to_the_callback_after_signing_in_says_already_signed_in(app) {
        // mozilla/mozilla-django-oidc#435, fsr-de/myHPI#631: the back button (or a reloaded
        // tab) replays the callback and the user gets a "state not found" error.
        app.add_tenant_with("acme", &app.provider.issuer(), true, Some("/home")).await;
        let browser = app.browser();
        app.provider.login_as(TestUser::new("s1", "bo@acme.example", "Bo", "B"));
        let authorize = app.start_login(&browser, "/t/acme/login").await;
        let callback = app.authorize(&browser, &authorize).await;
        assert_eq!(browser.get(&callback).send().await.unwrap().status(), StatusCode::SEE_OTHER);
        let exchanges = app.provider.token_requests();
        let again = browser.get(&callback).send().await.unwrap();
        let page = again.text().await.unwrap();
        assert!(page.contains("already signed in") && page.contains("/home"), "{page}");
        assert_eq!(app.provider.token_requests(), exchanges, "nothing exchanged again");
        assert_eq!(app.count("profiles").await, 1);
    }
}

/// The next ID token is re-signed with HS256 and `secret`.
fn hs256_next(app: &TestApp, secret: &'static str) {
    app.provider.edit_token_response_next(move |t| {
        use base64::Engine;
        let original = t["id_token"].as_str().unwrap().to_owned();
        let payload = original.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        let hs = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap();
        t.insert("id_token".into(), json!(hs));
    });
}

#[actix_web::test]
async fn rp_id_token_sig_hs256() {
    // OIDC Core 3.1.3.7 (8) and 10.1: an ID token MACed with the client secret is valid from
    // a provider that signs so. authentik does without a signing key (goauthentik/authentik#4824).
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    app.provider.set_advertised_algs(&["HS256"]);
    hs256_next(&app, CLIENT_SECRET);
    let hal = TestUser::new("s1", "hal@acme.example", "Hal", "H");
    assert_eq!(
        app.sign_in("acme", hal).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.count("profiles").await, 1);

    // Any other MAC key is a forgery.
    hs256_next(&app, "not-the-client-secret-at-all");
    let eve = TestUser::new("s2", "eve@acme.example", "Eve", "E");
    assert_eq!(
        app.sign_in("acme", eve.clone()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.count("profiles").await,
        1,
        "nothing created for a rejected token"
    );

    // A provider that does not advertise HS256 never has its tokens read as MACs.
    let other = TestApp::spawn(Backend::Sqlite).await.unwrap();
    other.add_tenant("acme", true).await;
    hs256_next(&other, CLIENT_SECRET);
    assert_eq!(
        other.sign_in("acme", eve).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(other.count("profiles").await, 0);
}

on_both_databases! {
    async fn a_token_from_another_entra_directory_never_claims_a_profile_by_its_email(app) {
        // descope.com/blog/post/noauth ("nOAuth"): an attacker's own Entra directory sets any
        // email claim; apps matching on email handed over the victim's account.
        app.add_tenant("acme", true).await;
        insert_operator_profile(&app, "acme", "ceo@acme.example").await;
        app.provider.edit_next_claims(|c| {
            c.insert(
                "iss".into(),
                json!("https://login.microsoftonline.com/attacker-directory/v2.0"),
            );
        });
        let resp = app.sign_in("acme", TestUser::new("attacker", "ceo@acme.example", "Eve", "E")).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.count("identities").await, 0, "the CEO's profile stays unclaimed");
    }
}

#[actix_web::test]
async fn a_provider_clock_slightly_ahead_signs_in_and_a_far_off_one_gets_a_clear_page() {
    // DuendeArchive/IdentityServer4#1298, puiterwijk/flask-oidc#7: "iat is in the future"
    // when the provider's clock is a few seconds ahead of the relying party's.
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let now = jit_sso::db::now_millis() / 1000;
    app.provider.edit_next_claims(move |c| {
        c.insert("iat".into(), json!(now + 45));
        c.insert("nbf".into(), json!(now + 45));
    });
    let resp = app
        .sign_in("acme", TestUser::new("s1", "cy@acme.example", "Cy", "C"))
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "45 s of skew is within the leeway"
    );
    app.provider.edit_next_claims(move |c| {
        c.insert("iat".into(), json!(now + 900));
    });
    let resp = app
        .sign_in("acme", TestUser::new("s1", "cy@acme.example", "Cy", "C"))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("could not verify your identity"));
}

on_both_databases! {
    async fn an_unverified_email_never_links_to_a_profile_support_staff_created(app) {
        // deskhq/the-desk#553, mcdonc/klangk#166: an email claim linked to an existing account
        // without checking email_verified, so a self-asserted address took the account over.
        app.add_tenant("acme", true).await;
        insert_operator_profile(&app, "acme", "boss@acme.example").await;
        let mut squatter = TestUser::new("self-signup", "boss@acme.example", "Eve", "E");
        squatter.email_verified = Some(false);
        let resp = app.sign_in("acme", squatter.clone()).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(resp.text().await.unwrap().contains("not verified"));
        // A tenant that requires the flag also refuses a token that does not state it.
        let strict = jit_sso::db::tenants::TenantChanges {
            trust_unstated_email: Some(false),
            ..Default::default()
        };
        jit_sso::service::tenants::update_settings(&app.db, "acme", strict, "test").await.unwrap();
        squatter.email_verified = None;
        assert_eq!(app.sign_in("acme", squatter).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.count("identities").await, 0, "the profile stays unclaimed");
        assert_eq!(app.count("profiles").await, 1);
    }
}
