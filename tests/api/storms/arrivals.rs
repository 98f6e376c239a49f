//! Storms of arrivals: many newcomers, one callback fired many times, a pool of one connection.

use super::*;

on_both_databases! {
    async fn storm_a_hundred_newcomers_at_once(app) {
        logs();
        app.add_tenant("acme", true).await;
        let ready = prepare_all(&app, 0..100, |i| ("acme", format!("p{i}"), person(i))).await;
        let started = std::time::Instant::now();
        let shots = fire(ready).await;
        eprintln!("100 newcomers in {:?}", started.elapsed());
        assert!(shots.iter().all(|s| s.status == StatusCode::SEE_OTHER), "{}", summary(&shots));
        assert_eq!(app.count("profiles").await, 100);
        assert_eq!(app.count("memberships").await, 100);
        assert_eq!(app.count("identities").await, 100);
        let t = trail(&app, "acme").await;
        assert_eq!(kinds(&t, "profile_created"), 100);
        assert_eq!(kinds(&t, "signed_in"), 0);
        assert_eq!(integrity(&app).await, Vec::<String>::new());
        for s in shots.iter().take(5) {
            let (st, me) = session_of(&app, &s.browser).await;
            assert_eq!(st, StatusCode::OK);
            assert_eq!(me["email"], format!("{}@example.com", s.who));
        }
    }
}

on_both_databases! {
    async fn storm_one_callback_fired_ten_times_from_the_same_browser(app) {
        logs();
        app.add_tenant("acme", true).await;
        let r = prepare(&app, "acme", "alice", TestUser::new("sub-alice", "alice@example.com", "Alice", "Anders")).await;
        let ready: Vec<_> = (0..10).map(|_| Ready { who: "alice".into(), browser: r.browser.clone(), callback: r.callback.clone() }).collect();
        let shots = fire(ready).await;
        assert_no_server_errors(&shots);
        let ok = shots.iter().filter(|s| s.status == StatusCode::SEE_OTHER).count();
        assert_eq!(ok, 1, "exactly one success: {}", summary(&shots));
        for s in shots.iter().filter(|s| s.status != StatusCode::SEE_OTHER) {
            assert_eq!(s.status, StatusCode::BAD_REQUEST, "[{}]", excerpt(&s.body));
            assert!(s.body.contains("already used") || s.body.contains("no longer valid"), "[{}]", excerpt(&s.body));
        }
        assert_eq!(app.count("profiles").await, 1);
        let t = trail(&app, "acme").await;
        assert_eq!(kinds(&t, "profile_created"), 1);
        assert_eq!(kinds(&t, "signed_in"), 0, "{:?}", kind_histogram(&t));
        let (st, _) = session_of(&app, &r.browser).await;
        assert_eq!(st, StatusCode::OK, "the browser ends signed in");
    }
}

async fn pool_of_one(backend: Backend) {
    logs();
    let Some(app) = TestApp::spawn_with(backend, |s| s.database.pool_size = 1).await else {
        return;
    };
    app.add_tenant("acme", true).await;
    for i in 0..30 {
        assert_eq!(
            app.sign_in("acme", person(i)).await.status(),
            StatusCode::SEE_OTHER
        );
    }
    let ready = prepare_all(&app, 0..60, |i| ("acme", format!("p{i}"), person(i))).await;
    let started = std::time::Instant::now();
    let shots = fire(ready).await;
    eprintln!("60 sign-ins over one connection in {:?}", started.elapsed());
    assert!(
        shots.iter().all(|s| s.status == StatusCode::SEE_OTHER),
        "{}",
        summary(&shots)
    );
    assert_eq!(app.count("profiles").await, 60);
    let t = trail(&app, "acme").await;
    assert_eq!(kinds(&t, "profile_created"), 60);
    assert_eq!(kinds(&t, "signed_in"), 30);
    assert_eq!(integrity(&app).await, Vec::<String>::new());
}

#[actix_web::test]
async fn storm_mixed_sign_ins_over_a_pool_of_one_connection_sqlite() {
    pool_of_one(Backend::Sqlite).await;
}

#[actix_web::test]
async fn storm_mixed_sign_ins_over_a_pool_of_one_connection_postgres() {
    pool_of_one(Backend::Postgres).await;
}
