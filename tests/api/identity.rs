//! One person, one profile: identity links, email changes, conflicts, names, lifecycle.

use crate::helpers::*;
use crate::on_both_databases;
use crate::provider::{TestProvider, TestUser};
use jit_sso::db::DbError;
use reqwest::StatusCode;

async fn trail_kinds(app: &TestApp, slug: &str) -> Vec<String> {
    jit_sso::service::tenants::audit_trail(&app.db, slug, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

on_both_databases! {
    async fn an_email_changed_at_the_provider_updates_the_same_profile(app) {
        // The failure other products' users report: zulip/zulip#33096, immich-app/immich#1019.
        app.add_tenant("acme", true).await;
        let old = TestUser::new("sub-alice", "alice@old.example", "Alice", "Anders");
        assert_eq!(app.sign_in("acme", old).await.status(), StatusCode::SEE_OTHER);
        let before = app.profiles("acme").await[0].clone();

        let renamed = TestUser::new("sub-alice", "alice@new.example", "Alice", "Anders");
        assert_eq!(app.sign_in("acme", renamed).await.status(), StatusCode::SEE_OTHER);
        let after = app.profiles("acme").await;
        assert_eq!(after.len(), 1, "no second profile");
        assert_eq!(after[0].id, before.id, "history stays on the same profile");
        assert_eq!(after[0].created_at, before.created_at);
        assert_eq!(after[0].email, "alice@new.example");
        let trail = jit_sso::service::tenants::audit_trail(&app.db, "acme", 100).await.unwrap();
        let change = trail.iter().find(|e| e.kind == "email_changed").expect("audited");
        assert!(change.details.contains("alice@old.example") && change.details.contains("alice@new.example"));
    }
}

on_both_databases! {
    async fn an_email_changed_to_an_address_already_taken_signs_in_without_merging(app) {
        app.add_tenant("acme", true).await;
        app.sign_in("acme", TestUser::new("sub-a", "alice@example.com", "Alice", "A")).await;
        app.sign_in("acme", TestUser::new("sub-b", "bob@example.com", "Bob", "B")).await;
        let resp = app.sign_in("acme", TestUser::new("sub-a", "bob@example.com", "Alice", "A")).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "signed in to the linked profile");
        let mut emails: Vec<String> = app.profiles("acme").await.into_iter().map(|p| p.email).collect();
        emails.sort();
        assert_eq!(emails, vec!["alice@example.com", "bob@example.com"]);
        assert!(trail_kinds(&app, "acme").await.contains(&"email_conflict".to_owned()));
    }
}

on_both_databases! {
    async fn a_profile_linked_to_another_subject_is_never_handed_to_a_newcomer(app) {
        app.add_tenant("acme", true).await;
        app.sign_in("acme", TestUser::new("sub-old", "carol@example.com", "Carol", "C")).await;
        // The provider re-created the account (or gave the address to someone else).
        let resp = app.sign_in("acme", TestUser::new("sub-new", "carol@example.com", "Carol", "C")).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let page = resp.text().await.unwrap();
        assert!(page.contains("belongs to someone else") && page.contains("administrator"), "{page}");
        assert_eq!(app.count("profiles").await, 1);
        assert_eq!(app.count("identities").await, 1);
        assert!(trail_kinds(&app, "acme").await.contains(&"identity_conflict".to_owned()));
    }
}

on_both_databases! {
    async fn the_same_subject_at_another_issuer_is_another_person(app) {
        app.add_tenant("acme", true).await;
        app.sign_in("acme", TestUser::new("s-1", "alice@example.com", "Alice", "A")).await;
        // The tenant moves to a new provider, where "s-1" is somebody else.
        let other = TestProvider::start().await;
        let tenant = jit_sso::service::tenants::find(&app.db, "acme").await.unwrap().unwrap();
        let (id, issuer, secret) = (tenant.id.clone(), other.issuer(), tenant.client_secret_enc.clone());
        app.db.run(move |c| {
            jit_sso::db::tenants::update_provider(c, &id, &issuer, crate::provider::CLIENT_ID, &secret).map_err(DbError::from)
        }).await.unwrap();
        other.login_as(TestUser::new("s-1", "bob@example.com", "Bob", "B"));
        let browser = app.browser();
        let authorize = app.start_login(&browser, "/t/acme/login").await;
        assert!(authorize.starts_with(&other.issuer()));
        let cb = location(&browser.get(&authorize).send().await.unwrap());
        assert_eq!(browser.get(cb).send().await.unwrap().status(), StatusCode::SEE_OTHER);
        let me: serde_json::Value = browser.get(app.url("/session")).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["email"], "bob@example.com");
        assert_eq!(app.count("profiles").await, 2);
    }
}

on_both_databases! {
    async fn names_follow_the_provider_but_an_empty_claim_never_wipes_them(app) {
        app.add_tenant("acme", true).await;
        app.sign_in("acme", TestUser::new("sub-a", "ann@example.com", "Ann", "Lee")).await;
        app.sign_in("acme", TestUser::new("sub-a", "ann@example.com", "Annie", "Lee-Park")).await;
        let p = &app.profiles("acme").await[0];
        assert_eq!((p.first_name.as_str(), p.last_name.as_str()), ("Annie", "Lee-Park"));
        assert!(trail_kinds(&app, "acme").await.contains(&"names_synced".to_owned()));
        let mut blank = TestUser::new("sub-a", "ann@example.com", "Annie", "x");
        blank.family_name = Some("   ".into());
        app.sign_in("acme", blank).await;
        assert_eq!(app.profiles("acme").await[0].last_name, "Lee-Park");
    }
}

on_both_databases! {
    async fn a_deactivated_profile_is_not_revived_by_jit(app) {
        app.add_tenant("acme", true).await;
        app.sign_in("acme", TestUser::new("sub-d", "dan@example.com", "Dan", "D")).await;
        app.execute("UPDATE profiles SET status = 'deactivated'").await;
        let resp = app.sign_in("acme", TestUser::new("sub-d", "dan@example.com", "Dan", "D")).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(resp.text().await.unwrap().contains("deactivated"));
        let all = app.profiles("acme").await;
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].status, "deactivated");
    }
}

on_both_databases! {
    async fn a_deleted_profile_takes_its_links_and_memberships_with_it(app) {
        app.add_tenant("acme", true).await;
        app.sign_in("acme", TestUser::new("sub-e", "eve@example.com", "Eve", "E")).await;
        app.execute("DELETE FROM profiles").await;
        assert_eq!(app.count("identities").await, 0);
        assert_eq!(app.count("memberships").await, 0);
    }
}

on_both_databases! {
    async fn a_person_without_an_email_claim_gets_a_page_naming_the_claim_to_add(app) {
        app.add_tenant("acme", true).await;
        let mut user = TestUser::new("sub-x", "x@example.com", "Xi", "Xu");
        user.email = None;
        let resp = app.sign_in("acme", user).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let page = resp.text().await.unwrap();
        assert!(page.contains("email") && page.contains("administrator"), "{page}");
        assert_eq!(app.count("profiles").await, 0);
    }
}

on_both_databases! {
    async fn names_in_any_script_are_stored_and_shown_exactly(app) {
        app.add_tenant("acme", true).await;
        for (i, (given, family)) in [("İlkay", "Işık"), ("美咲", "山田"), ("سارا", "محمدی"), ("Zoë", "Straße")].iter().enumerate() {
            let browser = app.browser();
            let email = format!("person{i}@example.com");
            let resp = app.sign_in_with(&browser, "acme", TestUser::new(&format!("s{i}"), &email, given, family)).await;
            assert_eq!(resp.status(), StatusCode::SEE_OTHER);
            let me: serde_json::Value = browser.get(app.url("/session")).send().await.unwrap().json().await.unwrap();
            assert_eq!((me["first_name"].as_str().unwrap(), me["last_name"].as_str().unwrap()), (*given, *family));
            let home = browser.get(app.url("/")).send().await.unwrap().text().await.unwrap();
            assert!(home.contains(given));
        }
    }
}

on_both_databases! {
    async fn oversize_values_are_cut_or_refused_never_a_500(app) {
        app.add_tenant("acme", true).await;
        let long_name = "Ä".repeat(150);
        let resp = app.sign_in("acme", TestUser::new("s-long", "long@example.com", &long_name, "L")).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.profiles("acme").await[0].first_name.chars().count(), 100);
        let long_email = format!("{}@example.com", "a".repeat(300));
        let resp = app.sign_in("acme", TestUser::new("s-mail", &long_email, "M", "M")).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.count("profiles").await, 1);
    }
}

on_both_databases! {
    async fn an_entra_token_without_email_uses_preferred_username_only_when_the_tenant_trusts_it(app) {
        app.add_tenant("contoso", true).await;
        let entra_user = || {
            let mut u = TestUser::new("oid-1", "unused@example.com", "Lena", "Lund");
            u.email = None;
            u
        };
        let username = |c: &mut crate::provider::Claims| {
            c.insert("preferred_username".into(), serde_json::json!("lena.lund@contoso.example"));
        };
        app.provider.edit_next_claims(username);
        let resp = app.sign_in("contoso", entra_user()).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "a username is not a verified email by default");
        assert_eq!(app.count("profiles").await, 0);

        let changes = jit_sso::db::tenants::TenantChanges { trust_username_email: Some(true), ..Default::default() };
        jit_sso::service::tenants::update_settings(&app.db, "contoso", changes, "test").await.unwrap();
        app.provider.edit_next_claims(username);
        assert_eq!(app.sign_in("contoso", entra_user()).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.profiles("contoso").await[0].email, "lena.lund@contoso.example");
    }
}

on_both_databases! {
    async fn name_sync_can_be_switched_off_per_tenant(app) {
        app.add_tenant("acme", true).await;
        let changes = jit_sso::db::tenants::TenantChanges { sync_names: Some(false), ..Default::default() };
        jit_sso::service::tenants::update_settings(&app.db, "acme", changes, "test").await.unwrap();
        app.sign_in("acme", TestUser::new("sub-n", "ned@example.com", "Ned", "North")).await;
        app.sign_in("acme", TestUser::new("sub-n", "ned@example.com", "Edward", "North")).await;
        assert_eq!(app.profiles("acme").await[0].first_name, "Ned");
    }
}
