//! Storms about who someone is: email and name changes, two accounts with one address, two tenants.

use super::*;

on_both_databases! {
    async fn storm_email_changed_at_the_provider_signs_in_from_twenty_browsers(app) {
        logs();
        app.add_tenant("acme", true).await;
        let old = TestUser::new("sub-alice", "alice@old.example", "Alice", "Anders");
        assert_eq!(app.sign_in("acme", old).await.status(), StatusCode::SEE_OTHER);
        let id = app.profiles("acme").await[0].id.clone();

        let new = TestUser::new("sub-alice", "Alice@New.example", "Alice", "Anders");
        let ready = prepare_all(&app, 0..20, |i| ("acme", format!("b{i}"), new.clone())).await;
        let shots = fire(ready).await;
        assert_no_server_errors(&shots);
        assert!(shots.iter().all(|s| s.status == StatusCode::SEE_OTHER), "{}", summary(&shots));

        let all = app.profiles("acme").await;
        assert_eq!(all.len(), 1, "one profile");
        assert_eq!(all[0].id, id);
        assert_eq!(all[0].email, "Alice@New.example");
        assert_eq!(all[0].email_normalized, "alice@new.example");
        assert_eq!(app.count("identities").await, 1);
        assert_eq!(app.count("memberships").await, 1);
        for s in &shots[..3] {
            let (st, me) = session_of(&app, &s.browser).await;
            assert_eq!(st, StatusCode::OK);
            assert_eq!(me["email"], "Alice@New.example");
        }
        let t = trail(&app, "acme").await;
        let conflicts: Vec<_> = t.iter().filter(|e| e.kind == "email_conflict").map(|e| e.details.clone()).collect();
        assert!(conflicts.is_empty(), "email_conflict events for a plain change (kinds {:?}): {conflicts:?}", kind_histogram(&t));
        let changed: Vec<_> = t.iter().filter(|e| e.kind == "email_changed").map(|e| e.details.clone()).collect();
        assert_eq!(changed.len(), 1, "the change is audited once (kinds {:?}): {changed:?}", kind_histogram(&t));
        assert_eq!(kinds(&t, "signed_in"), 20, "kinds {:?}", kind_histogram(&t));
        assert_eq!(integrity(&app).await, Vec::<String>::new());
    }
}

on_both_databases! {
    async fn storm_names_changed_at_the_provider_are_synced_and_audited_once(app) {
        logs();
        app.add_tenant("acme", true).await;
        let old = TestUser::new("sub-alice", "alice@example.com", "Alice", "Anders");
        assert_eq!(app.sign_in("acme", old).await.status(), StatusCode::SEE_OTHER);
        let married = TestUser::new("sub-alice", "alice@example.com", "Alice", "Berger");
        let ready = prepare_all(&app, 0..20, |i| ("acme", format!("b{i}"), married.clone())).await;
        let shots = fire(ready).await;
        assert_no_server_errors(&shots);
        assert!(shots.iter().all(|s| s.status == StatusCode::SEE_OTHER), "{}", summary(&shots));
        let all = app.profiles("acme").await;
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].last_name, "Berger");
        let t = trail(&app, "acme").await;
        let synced: Vec<_> = t.iter().filter(|e| e.kind == "names_synced").map(|e| e.details.clone()).collect();
        assert_eq!(synced.len(), 1, "the change is audited once (kinds {:?}): {synced:?}", kind_histogram(&t));
        assert_eq!(kinds(&t, "signed_in"), 20);
    }
}

on_both_databases! {
    async fn storm_two_subjects_with_one_email_first_sign_in_at_once(app) {
        logs();
        app.add_tenant("acme", true).await;
        let old = TestUser::new("sub-old", "sam@example.com", "Sam", "Old");
        let new = TestUser::new("sub-new", "sam@example.com", "Sam", "New");
        let ready = prepare_pairs(&app, 12, ("sub-old", &old), ("sub-new", &new)).await;
        let shots = fire(ready).await;
        assert_no_server_errors(&shots);
        for s in &shots {
            assert!(
                s.status == StatusCode::SEE_OTHER
                    || (s.status == StatusCode::FORBIDDEN && s.body.contains("This account belongs to someone else")),
                "{} got {} [{}]; all: {}", s.who, s.status, excerpt(&s.body), summary(&shots)
            );
        }
        let winners: std::collections::BTreeSet<_> = shots.iter().filter(|s| s.status == StatusCode::SEE_OTHER).map(|s| s.who.clone()).collect();
        assert_eq!(winners.len(), 1, "exactly one subject gets in: {winners:?}; {}", summary(&shots));
        let winner = winners.into_iter().next().unwrap();
        let admitted = shots.iter().filter(|s| s.who == winner && s.status == StatusCode::SEE_OTHER).count();
        assert_eq!(admitted, 12, "every sign-in of the winner succeeds: {}", summary(&shots));
        let all = app.profiles("acme").await;
        assert_eq!(all.len(), 1);
        assert_eq!(app.count("identities").await, 1);
        assert_eq!(app.count("memberships").await, 1);
        let t = trail(&app, "acme").await;
        assert_eq!(kinds(&t, "profile_created"), 1);
        assert_eq!(kinds(&t, "identity_conflict"), 12, "each refusal audited: {:?}", kind_histogram(&t));
        assert_eq!(integrity(&app).await, Vec::<String>::new());
    }
}

on_both_databases! {
    async fn storm_two_subjects_claim_one_preprovisioned_profile_at_once(app) {
        // An operator loaded the roster; the provider has two accounts with that address
        // (re-created account). Only one may be linked; the other must be refused.
        logs();
        app.add_tenant("acme", true).await;
        let tenant = jit_sso::service::tenants::find(&app.db, "acme").await.unwrap().unwrap();
        let row = operator_profile(&tenant.id, "sam@example.com");
        let id = row.id.clone();
        app.db.run(move |c| profiles::insert(c, &row).map_err(DbError::from)).await.unwrap();

        let old = TestUser::new("sub-old", "sam@example.com", "Sam", "Preloaded");
        let new = TestUser::new("sub-new", "sam@example.com", "Sam", "Preloaded");
        let ready = prepare_pairs(&app, 12, ("sub-old", &old), ("sub-new", &new)).await;
        let shots = fire(ready).await;
        assert_no_server_errors(&shots);
        let links = app.db.run({
            let id = id.clone();
            move |c| profiles::identities_of(c, &id).map_err(DbError::from)
        }).await.unwrap();
        let subjects: Vec<_> = links.iter().map(|l| l.subject.clone()).collect();
        let winners: std::collections::BTreeSet<_> = shots.iter().filter(|s| s.status == StatusCode::SEE_OTHER).map(|s| s.who.clone()).collect();
        let mut signed_in_as = Vec::new();
        for who in ["sub-old", "sub-new"] {
            if let Some(s) = shots.iter().find(|s| s.who == who && s.status == StatusCode::SEE_OTHER) {
                let (_, me) = session_of(&app, &s.browser).await;
                signed_in_as.push(format!("{who} -> profile {} ({})", me["id"], me["last_name"]));
            }
        }
        assert_eq!(subjects.len(), 1, "one profile linked to two subjects of one issuer: {subjects:?}; admitted: {winners:?}; sessions: {signed_in_as:?}; {}", summary(&shots));
        assert_eq!(winners.len(), 1, "{winners:?}; {}", summary(&shots));
        for s in &shots {
            assert!(
                s.status == StatusCode::SEE_OTHER
                    || (s.status == StatusCode::FORBIDDEN && s.body.contains("This account belongs to someone else")),
                "{} got {} [{}]", s.who, s.status, excerpt(&s.body)
            );
        }
        assert_eq!(app.count("profiles").await, 1);
        let t = trail(&app, "acme").await;
        assert_eq!(kinds(&t, "identity_linked"), 1, "{:?}", kind_histogram(&t));
        assert_eq!(integrity(&app).await, Vec::<String>::new());
    }
}

on_both_databases! {
    async fn storm_one_person_signs_into_two_tenants_at_once(app) {
        logs();
        app.add_tenant("acme", true).await;
        app.add_tenant("beta", true).await;
        let alice = TestUser::new("sub-alice", "alice@example.com", "Alice", "Anders");
        let ready = prepare_all(&app, 0..24, |i| {
            let slug = if i % 2 == 0 { "acme" } else { "beta" };
            (slug, slug.to_owned(), alice.clone())
        })
        .await;
        let shots = fire(ready).await;
        assert!(shots.iter().all(|s| s.status == StatusCode::SEE_OTHER), "{}", summary(&shots));
        let a = app.profiles("acme").await;
        let b = app.profiles("beta").await;
        assert_eq!((a.len(), b.len()), (1, 1));
        assert_ne!(a[0].id, b[0].id);
        assert_eq!(app.count("profiles").await, 2);
        assert_eq!(app.count("identities").await, 2);
        assert_eq!(app.count("memberships").await, 2);
        for s in &shots {
            let (st, me) = session_of(&app, &s.browser).await;
            assert_eq!(st, StatusCode::OK);
            assert_eq!(me["tenant"], s.who.as_str());
            let expected = if s.who == "acme" { &a[0].id } else { &b[0].id };
            assert_eq!(me["id"], expected.as_str());
        }
        for slug in ["acme", "beta"] {
            let t = trail(&app, slug).await;
            assert_eq!(kinds(&t, "profile_created"), 1, "{slug}: {:?}", kind_histogram(&t));
            assert_eq!(kinds(&t, "signed_in"), 11, "{slug}: {:?}", kind_histogram(&t));
        }
        assert_eq!(integrity(&app).await, Vec::<String>::new());
    }
}

on_both_databases! {
    async fn storm_newcomer_takes_the_address_a_colleague_is_changing_to(app) {
        // Bob's address moves to Alice at the provider while Alice's profile still has an
        // old one: Alice (returning, email changed) and Carol (new, same new address) sign in
        // at once, many times. Never two profiles with one address, never a 5xx, and every
        // refusal a clear page.
        logs();
        app.add_tenant("acme", true).await;
        let alice_old = TestUser::new("sub-alice", "alice@old.example", "Alice", "Anders");
        assert_eq!(app.sign_in("acme", alice_old).await.status(), StatusCode::SEE_OTHER);
        let alice = TestUser::new("sub-alice", "shared@example.com", "Alice", "Anders");
        let carol = TestUser::new("sub-carol", "shared@example.com", "Carol", "Clark");
        let ready = prepare_pairs(&app, 12, ("alice", &alice), ("carol", &carol)).await;
        let shots = fire(ready).await;
        assert_no_server_errors(&shots);
        assert!(shots.iter().filter(|s| s.who == "alice").all(|s| s.status == StatusCode::SEE_OTHER), "alice (known) always signs in: {}", summary(&shots));
        for s in shots.iter().filter(|s| s.who == "carol") {
            assert!(
                s.status == StatusCode::SEE_OTHER
                    || (s.status == StatusCode::FORBIDDEN && s.body.contains("This account belongs to someone else")),
                "carol got {} [{}]", s.status, excerpt(&s.body)
            );
        }
        assert_eq!(integrity(&app).await, Vec::<String>::new());
        let all = app.profiles("acme").await;
        assert!(all.len() <= 2, "{all:?}");
    }
}
