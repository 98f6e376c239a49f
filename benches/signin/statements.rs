//! Statements per sign-in on PostgreSQL, counted on the wire in a separate, unmeasured pass.

use crate::browser::{self, new_browser};
use crate::options::Spec;
use crate::pgwire;
use crate::report::round;
use crate::system::{PgDatabase, Service, ServiceEnv};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Statements per sign-in on PostgreSQL: the service is started again (same settings, same
/// port) with its database URL pointing at a counting proxy; sign-ins run one at a time.
pub async fn count_statements(
    env: &ServiceEnv,
    db: &PgDatabase,
    service: &str,
    log: &Path,
    spec: Spec,
    existing: &(dyn Fn(usize) -> String + Send + Sync),
    existing_count: usize,
) -> Result<(f64, Value), String> {
    const N: usize = 20;
    let mut url = url::Url::parse(&db.url()).map_err(|e| e.to_string())?;
    let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = url.port().unwrap_or(5432);
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .map_err(|e| format!("{host}:{port}: {e}"))?
        .next()
        .ok_or("no address for the PostgreSQL server")?;
    let proxy = pgwire::Proxy::start(upstream).map_err(|e| e.to_string())?;
    url.set_host(Some("127.0.0.1")).map_err(|e| e.to_string())?;
    url.set_port(Some(proxy.port()))
        .map_err(|_| "cannot set port")?;
    url.set_query(Some("sslmode=disable"));
    let env = env.with("JIT_SSO__DATABASE__URL", url.as_str());
    let mut svc = Service::spawn(&env, log)?;
    svc.wait_ready(service, Duration::from_secs(60)).await?;
    let b = new_browser();
    let mut fails = Vec::new();
    let mut go = |r: Result<browser::Timing, browser::Failure>| {
        if let Err(f) = r {
            fails.push(f.to_string());
        }
    };
    for i in 0..3 {
        go(browser::sign_in(&b, service, &existing(i % existing_count)).await);
    }
    let s0 = proxy.snapshot();
    for i in 3..3 + N {
        go(browser::sign_in(&b, service, &existing(i % existing_count)).await);
    }
    let s1 = proxy.snapshot();
    for k in 0..N {
        go(browser::sign_in(&b, service, &format!("count{k}@bench.example")).await);
    }
    let s2 = proxy.snapshot();
    svc.stop();
    if !fails.is_empty() {
        return Err(format!(
            "{} sign-ins failed in the counting pass: {}",
            fails.len(),
            fails[0]
        ));
    }
    let kind = |c: pgwire::Counts| {
        let mut list: Vec<(String, u64)> = c.statements.clone().into_iter().collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        json!({
            "statements_per_signin": round(c.total() as f64 / N as f64, 2),
            "round_trips_per_signin": round(c.round_trips as f64 / N as f64, 2),
            "new_connections": c.connections,
            "statements": list.into_iter()
                .map(|(sql, n)| json!({ "per_signin": round(n as f64 / N as f64, 2), "sql": sql }))
                .collect::<Vec<_>>(),
        })
    };
    let returning = kind(s1.since(&s0));
    let new = kind(s2.since(&s1));
    let w = spec.scenario.returning_share();
    let mix = |k: &str| {
        round(
            w * returning[k].as_f64().unwrap_or(0.0) + (1.0 - w) * new[k].as_f64().unwrap_or(0.0),
            2,
        )
    };
    let value = mix("statements_per_signin");
    Ok((
        value,
        json!({
            "value": value,
            "round_trips_per_signin": mix("round_trips_per_signin"),
            "mix": format!("{}% returning, {}% new", (w * 100.0).round(), ((1.0 - w) * 100.0).round()),
            "by_kind": { "returning": returning, "new": new },
            "how": format!("wire-protocol count in a separate pass: {N} returning and {N} new sign-ins, one at a time"),
        }),
    ))
}
