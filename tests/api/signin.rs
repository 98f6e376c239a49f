//! The main job: first sign-in creates a profile, later ones find it.

use crate::helpers::*;
use crate::on_both_databases;
use crate::provider::{Tamper, TestUser};
use jit_sso::db::profiles;
use reqwest::StatusCode;

fn alice() -> TestUser {
    TestUser::new("sub-alice", "Alice@Example.com", "Alice", "Anders")
}

on_both_databases! {
    async fn first_sign_in_creates_exactly_one_profile_with_defaults_roster_membership_and_audit(app) {
        app.add_tenant("acme", true).await;
        let browser = app.browser();
        let resp = app.sign_in_with(&browser, "acme", alice()).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&resp), app.url("/"));

        let profiles = app.profiles("acme").await;
        assert_eq!(profiles.len(), 1);
        let p = &profiles[0];
        assert_eq!((p.first_name.as_str(), p.last_name.as_str()), ("Alice", "Anders"));
        assert_eq!(p.email, "Alice@Example.com");
        assert_eq!(p.email_normalized, "alice@example.com");
        assert_eq!((p.role.as_str(), p.locale.as_str(), p.time_zone.as_str()), ("learner", "en-US", "UTC"));
        assert_eq!((p.status.as_str(), p.created_via.as_str()), ("active", "jit"));
        assert!(p.last_sign_in_at.is_some());

        let groups = app.db.run({
            let id = p.id.clone();
            move |c| profiles::group_names(c, &id).map_err(jit_sso::db::DbError::from)
        }).await.unwrap();
        assert_eq!(groups, vec!["Company Roster".to_owned()]);
        assert_eq!(app.count("memberships").await, 1);
        assert_eq!(app.count("identities").await, 1);
        let trail = jit_sso::service::tenants::audit_trail(&app.db, "acme", 10).await.unwrap();
        assert!(trail.iter().any(|e| e.kind == "profile_created" && e.profile_id.as_deref() == Some(&p.id)));

        // The browser is now signed in as that person.
        let me: serde_json::Value = browser.get(app.url("/session")).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["id"], p.id.as_str());
        assert_eq!(me["tenant"], "acme");
        assert_eq!(me["email"], "Alice@Example.com");
        assert_eq!(me["first_name"], "Alice");
        assert_eq!(me["last_name"], "Anders");
    }
}

on_both_databases! {
    async fn second_sign_in_creates_nothing_and_updates_the_last_sign_in_time(app) {
        app.add_tenant("acme", true).await;
        assert_eq!(app.sign_in("acme", alice()).await.status(), StatusCode::SEE_OTHER);
        let first = app.profiles("acme").await[0].clone();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(app.sign_in("acme", alice()).await.status(), StatusCode::SEE_OTHER);
        let after = app.profiles("acme").await;
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].id, first.id);
        assert!(after[0].last_sign_in_at > first.last_sign_in_at);
        assert_eq!(app.count("memberships").await, 1);
        assert_eq!(app.count("identities").await, 1);
    }
}

on_both_databases! {
    async fn a_returning_sign_in_is_audited_once_with_who_and_when(app) {
        app.add_tenant("acme", true).await;
        assert_eq!(app.sign_in("acme", alice()).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.sign_in("acme", alice()).await.status(), StatusCode::SEE_OTHER);
        let p = app.profiles("acme").await[0].clone();
        let trail = jit_sso::service::tenants::audit_trail(&app.db, "acme", 100).await.unwrap();
        let signed_in: Vec<_> = trail.iter().filter(|e| e.kind == "signed_in").collect();
        assert_eq!(signed_in.len(), 1, "the first sign-in is audited as profile_created only");
        let e = signed_in[0];
        assert_eq!(e.profile_id.as_deref(), Some(p.id.as_str()));
        assert_eq!(e.actor, "sign-in");
        assert_eq!(Some(e.occurred_at), p.last_sign_in_at);
        let details: serde_json::Value = serde_json::from_str(&e.details).unwrap();
        assert_eq!(details["subject"], "sub-alice");
        assert!(details["issuer"].as_str().is_some_and(|i| i.starts_with("http://127.0.0.1:")));
        let created = trail.iter().find(|e| e.kind == "profile_created").expect("creation audited");
        assert_eq!(Some(created.occurred_at), Some(p.created_at));
    }
}

on_both_databases! {
    async fn jit_off_refuses_an_unknown_person_with_a_clear_page_and_writes_no_profile(app) {
        app.add_tenant("acme", false).await;
        let resp = app.sign_in("acme", alice()).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(resp.headers().get("location").is_none());
        let page = resp.text().await.unwrap();
        assert!(page.contains("You do not have an account yet"), "{page}");
        assert!(page.contains("contact your administrator"), "{page}");
        assert_eq!(app.count("profiles").await, 0);
        assert_eq!(app.count("memberships").await, 0);
        assert_eq!(app.count("identities").await, 0);
    }
}

on_both_databases! {
    async fn jit_off_still_signs_in_a_known_person(app) {
        app.add_tenant("acme", true).await;
        assert_eq!(app.sign_in("acme", alice()).await.status(), StatusCode::SEE_OTHER);
        app.set_jit("acme", false).await;
        let browser = app.browser();
        let resp = app.sign_in_with(&browser, "acme", alice()).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(browser.get(app.url("/session")).send().await.unwrap().status(), StatusCode::OK);
        assert_eq!(app.count("profiles").await, 1);
    }
}

on_both_databases! {
    async fn email_matching_ignores_case_and_links_an_operator_created_profile(app) {
        app.add_tenant("acme", false).await;
        let tenant = jit_sso::service::tenants::find(&app.db, "acme").await.unwrap().unwrap();
        let mut row = operator_profile(&tenant.id, "BOB@example.com");
        (row.first_name, row.last_name) = ("Bob".into(), "Builder".into());
        let id = row.id.clone();
        app.db.run(move |c| profiles::insert(c, &row).map_err(jit_sso::db::DbError::from)).await.unwrap();

        let resp = app.sign_in("acme", TestUser::new("sub-bob", "bob@EXAMPLE.COM", "Bob", "Builder")).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let all = app.profiles("acme").await;
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].id, id);
        assert_eq!(app.count("identities").await, 1);
    }
}

on_both_databases! {
    async fn userinfo_fills_in_names_and_email_missing_from_the_id_token(app) {
        app.add_tenant("acme", true).await;
        app.provider.tamper_next(Tamper::NamesOnlyInUserinfo);
        let resp = app.sign_in("acme", TestUser::new("sub-u", "ursula@example.com", "Ursula", "Ulm")).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.provider.userinfo_requests(), 1);
        let p = &app.profiles("acme").await[0];
        assert_eq!((p.first_name.as_str(), p.last_name.as_str(), p.email.as_str()), ("Ursula", "Ulm", "ursula@example.com"));
    }
}

on_both_databases! {
    async fn return_to_is_followed_for_a_local_path_and_ignored_for_another_site(app) {
        app.add_tenant_with("acme", &app.provider.issuer(), true, Some("/courses")).await;
        app.provider.login_as(alice());
        let long = format!("/lessons/{}", "a".repeat(2030));
        for (return_to, expected) in [
            ("/lessons/7?tab=notes", "/lessons/7?tab=notes"),
            (long.as_str(), long.as_str()),
            ("https://evil.example/", "/courses"),
            ("//evil.example/", "/courses"),
            ("/%2F%2Fevil.example", "/courses"),
        ] {
            let browser = app.browser();
            let login = format!("/t/acme/login?return_to={}", urlencode(return_to));
            let authorize = app.start_login(&browser, &login).await;
            let callback = app.authorize(&browser, &authorize).await;
            let resp = browser.get(callback).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::SEE_OTHER);
            let target = resp.headers()["location"].to_str().unwrap().to_owned();
            assert_eq!(target, expected, "return_to={return_to}");
        }
    }
}

on_both_databases! {
    async fn two_tabs_started_together_both_finish(app) {
        app.add_tenant("acme", true).await;
        app.provider.login_as(alice());
        let browser = app.browser();
        let first = app.start_login(&browser, "/t/acme/login?return_to=/one").await;
        let second = app.start_login(&browser, "/t/acme/login?return_to=/two").await;
        let cb_second = app.authorize(&browser, &second).await;
        let cb_first = app.authorize(&browser, &first).await;
        let r2 = browser.get(cb_second).send().await.unwrap();
        let r1 = browser.get(cb_first).send().await.unwrap();
        assert_eq!(r2.headers()["location"], "/two");
        assert_eq!(r1.headers()["location"], "/one");
        assert_eq!(app.count("profiles").await, 1);
    }
}

on_both_databases! {
    async fn many_simultaneous_first_sign_ins_of_one_person_make_one_profile(app) {
        app.add_tenant("acme", true).await;
        app.provider.login_as(alice());
        let n = 50;
        let started = std::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..n {
            let browser = app.browser();
            let authorize = app.start_login(&browser, "/t/acme/login").await;
            let callback = app.authorize(&browser, &authorize).await;
            tasks.push(tokio::spawn(async move { browser.get(callback).send().await.map(|r| r.status()) }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap().unwrap());
        }
        eprintln!("{n} parallel first sign-ins finished in {:?}", started.elapsed());
        assert!(statuses.iter().all(|s| *s == StatusCode::SEE_OTHER), "{statuses:?}");
        assert_eq!(app.count("profiles").await, 1);
        assert_eq!(app.count("identities").await, 1);
        assert_eq!(app.count("memberships").await, 1);
        let created = jit_sso::service::tenants::audit_trail(&app.db, "acme", 1000).await.unwrap()
            .into_iter().filter(|e| e.kind == "profile_created").count();
        assert_eq!(created, 1);
    }
}

on_both_databases! {
    async fn a_storm_of_returning_and_new_sign_ins_all_succeed_and_each_is_recorded_once(app) {
        // Monday 9 a.m.: known people and newcomers arrive at the same moment. On
        // SQLite every writer must queue for the lock (never "database is locked", a 503).
        const KNOWN: usize = 80;
        const NEW: usize = 20;
        app.add_tenant("acme", true).await;
        let person = |i: usize| TestUser::new(&format!("sub-{i}"), &format!("p{i}@example.com"), "P", &format!("N{i}"));
        for i in 0..KNOWN {
            let resp = app.sign_in_with(&app.browser(), "acme", person(i)).await;
            assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        }
        let mut callbacks = Vec::new();
        for i in 0..KNOWN + NEW {
            let browser = app.browser();
            app.provider.login_as(person(i));
            let authorize = app.start_login(&browser, "/t/acme/login").await;
            callbacks.push((browser.clone(), app.authorize(&browser, &authorize).await));
        }
        let tasks: Vec<_> = callbacks.into_iter().map(|(browser, callback)| {
            tokio::spawn(async move {
                let r = browser.get(callback).send().await.unwrap();
                (r.status(), r.text().await.unwrap_or_default())
            })
        }).collect();
        for t in tasks {
            let (status, body) = t.await.unwrap();
            assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        }
        assert_eq!(app.count("profiles").await, (KNOWN + NEW) as i64);
        let trail = jit_sso::service::tenants::audit_trail(&app.db, "acme", 10_000).await.unwrap();
        let kinds = |k: &str| trail.iter().filter(|e| e.kind == k).count();
        assert_eq!(kinds("profile_created"), KNOWN + NEW);
        assert_eq!(kinds("signed_in"), KNOWN, "each returning sign-in is recorded once");
    }
}

on_both_databases! {
    async fn logout_ends_the_session(app) {
        app.add_tenant("acme", true).await;
        let browser = app.browser();
        let resp = app.sign_in_with(&browser, "acme", alice()).await;
        let cookie = resp.headers().get_all("set-cookie").iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("jit_sso_session=")).expect("session cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(!cookie.contains("Secure"), "http public URL: no Secure flag expected: {cookie}");
        assert_eq!(browser.get(app.url("/session")).send().await.unwrap().status(), StatusCode::OK);
        let out = browser.post(app.url("/logout")).send().await.unwrap();
        assert_eq!(out.status(), StatusCode::SEE_OTHER);
        assert_eq!(browser.get(app.url("/session")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
