//! Sign-in storms: many callbacks of the same or different people at the same moment.
//!
//! The pattern: every browser does login + authorize one after the other (the test
//! provider decides who the next authorization is for), then all callbacks are fired at
//! once. Assertions are about what people and support staff notice: status codes, the
//! page, the rows and the audit trail.

use crate::helpers::admin_call as admin;
use crate::helpers::*;
use crate::on_both_databases;
use crate::provider::TestUser;
use jit_sso::db::audit::AuditRow;
use jit_sso::db::profiles;
use jit_sso::db::DbError;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

fn logs() {
    let _ = env_logger::builder().is_test(true).try_init();
}

/// One browser, ready to fire its callback.
struct Ready {
    who: String,
    browser: Client,
    callback: String,
}

/// What came back for one callback.
#[derive(Debug, Clone)]
struct Shot {
    who: String,
    status: StatusCode,
    body: String,
    browser: Client,
}

async fn prepare(app: &TestApp, slug: &str, who: &str, user: TestUser) -> Ready {
    let browser = app.browser();
    app.provider.login_as(user);
    let authorize = app.start_login(&browser, &format!("/t/{slug}/login")).await;
    let callback = app.authorize(&browser, &authorize).await;
    Ready {
        who: who.to_owned(),
        browser,
        callback,
    }
}

/// `prepare` for every `i` of `range`: `each(i)` names the tenant, the browser and the user.
async fn prepare_all(
    app: &TestApp,
    range: std::ops::Range<usize>,
    each: impl Fn(usize) -> (&'static str, String, TestUser),
) -> Vec<Ready> {
    let mut ready = Vec::new();
    for i in range {
        let (slug, who, user) = each(i);
        ready.push(prepare(app, slug, &who, user).await);
    }
    ready
}

/// `pairs` times one browser for each of two people, alternating, in tenant acme.
async fn prepare_pairs(
    app: &TestApp,
    pairs: usize,
    a: (&'static str, &TestUser),
    b: (&'static str, &TestUser),
) -> Vec<Ready> {
    prepare_all(app, 0..2 * pairs, |i| {
        let (who, user) = if i % 2 == 0 { a } else { b };
        ("acme", who.to_owned(), user.clone())
    })
    .await
}

fn spawn_all(ready: Vec<Ready>) -> Vec<tokio::task::JoinHandle<Shot>> {
    ready
        .into_iter()
        .map(|r| {
            tokio::spawn(async move {
                let resp = r
                    .browser
                    .get(&r.callback)
                    .send()
                    .await
                    .expect("callback request");
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                Shot {
                    who: r.who,
                    status,
                    body,
                    browser: r.browser,
                }
            })
        })
        .collect()
}

async fn join(tasks: Vec<tokio::task::JoinHandle<Shot>>) -> Vec<Shot> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

async fn fire(ready: Vec<Ready>) -> Vec<Shot> {
    join(spawn_all(ready)).await
}

/// "303 x18, 403 x2" and one body excerpt per non-303 status.
fn summary(shots: &[Shot]) -> String {
    let mut by: BTreeMap<u16, (usize, String)> = BTreeMap::new();
    for s in shots {
        let e = by.entry(s.status.as_u16()).or_insert((0, excerpt(&s.body)));
        e.0 += 1;
    }
    by.iter()
        .map(|(st, (n, body))| {
            if *st == 303 {
                format!("{st} x{n}")
            } else {
                format!("{st} x{n} [{body}]")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The page's title and text, without markup.
fn excerpt(body: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(240).collect()
}

fn assert_no_server_errors(shots: &[Shot]) {
    assert!(
        shots.iter().all(|s| !s.status.is_server_error()),
        "server errors in the storm: {}",
        summary(shots)
    );
}

async fn sql_count(app: &TestApp, sql: String) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    use diesel::RunQueryDsl;
    app.db
        .run(move |conn| {
            diesel::sql_query(sql)
                .get_result::<N>(conn)
                .map(|r| r.n)
                .map_err(DbError::from)
        })
        .await
        .expect("count")
}

/// Every problem of a half-written or duplicated record, in words (empty: all consistent).
async fn integrity(app: &TestApp) -> Vec<String> {
    let checks = [
        ("JIT profile without an identity link",
         "SELECT COUNT(*) AS n FROM profiles p WHERE p.created_via = 'jit' AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.profile_id = p.id)"),
        ("JIT profile without exactly one membership",
         "SELECT COUNT(*) AS n FROM profiles p WHERE p.created_via = 'jit' AND (SELECT COUNT(*) FROM memberships m WHERE m.profile_id = p.id) <> 1"),
        ("JIT profile without exactly one profile_created event",
         "SELECT COUNT(*) AS n FROM profiles p WHERE p.created_via = 'jit' AND (SELECT COUNT(*) FROM audit_events a WHERE a.profile_id = p.id AND a.kind = 'profile_created') <> 1"),
        ("profile_created event without its profile",
         "SELECT COUNT(*) AS n FROM audit_events a WHERE a.kind = 'profile_created' AND NOT EXISTS (SELECT 1 FROM profiles p WHERE p.id = a.profile_id)"),
        ("two profiles with one email in a tenant",
         "SELECT COUNT(*) AS n FROM (SELECT tenant_id, email_normalized FROM profiles GROUP BY tenant_id, email_normalized HAVING COUNT(*) > 1) d"),
        ("profile linked to several subjects of one issuer",
         "SELECT COUNT(*) AS n FROM (SELECT profile_id, issuer FROM identities GROUP BY profile_id, issuer HAVING COUNT(*) > 1) d"),
        ("identity link crossing tenants",
         "SELECT COUNT(*) AS n FROM identities i JOIN profiles p ON p.id = i.profile_id WHERE p.tenant_id <> i.tenant_id"),
        ("membership crossing tenants",
         "SELECT COUNT(*) AS n FROM memberships m JOIN tenant_groups g ON g.id = m.group_id JOIN profiles p ON p.id = m.profile_id WHERE g.tenant_id <> p.tenant_id"),
    ];
    let mut problems = Vec::new();
    for (what, sql) in checks {
        let n = sql_count(app, sql.to_owned()).await;
        if n != 0 {
            problems.push(format!("{what}: {n}"));
        }
    }
    problems
}

async fn trail(app: &TestApp, slug: &str) -> Vec<AuditRow> {
    jit_sso::service::tenants::audit_trail(&app.db, slug, 100_000)
        .await
        .expect("audit trail")
}

fn kinds(trail: &[AuditRow], kind: &str) -> usize {
    trail.iter().filter(|e| e.kind == kind).count()
}

fn kind_histogram(trail: &[AuditRow]) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for e in trail {
        *h.entry(e.kind.clone()).or_insert(0) += 1;
    }
    h
}

async fn session_of(app: &TestApp, browser: &Client) -> (StatusCode, Value) {
    let resp = browser.get(app.url("/session")).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn person(i: usize) -> TestUser {
    TestUser::new(
        &format!("sub-{i}"),
        &format!("p{i}@example.com"),
        "P",
        &format!("N{i}"),
    )
}

mod arrivals;
mod identity;
mod staff;
