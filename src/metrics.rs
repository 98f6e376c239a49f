//! Prometheus metrics. Labels are bounded: tenant slugs (as many as tenants), outcomes,
//! endpoints. Never an email, subject or token.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::sync::LazyLock;

pub struct Metrics {
    registry: Registry,
    pub signins: IntCounterVec,
    pub callback_seconds: HistogramVec,
    pub provider_requests: IntCounterVec,
    pub provider_seconds: HistogramVec,
    pub key_refetches: IntCounterVec,
    pub pool_connections: IntGaugeVec,
    pub pool_max: IntGauge,
}

fn build() -> Metrics {
    let registry = Registry::new_custom(Some("jit_sso".into()), None).expect("valid prefix");
    let signins = IntCounterVec::new(
        Opts::new("signins_total", "Sign-in decisions by tenant and outcome"),
        &["tenant", "outcome"],
    )
    .expect("valid metric");
    let callback_seconds = HistogramVec::new(
        HistogramOpts::new(
            "callback_duration_seconds",
            "Time to answer the sign-in callback",
        )
        .buckets(vec![
            0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
        &["tenant"],
    )
    .expect("valid metric");
    let provider_requests = IntCounterVec::new(
        Opts::new(
            "provider_requests_total",
            "Calls to identity providers by tenant, endpoint and result",
        ),
        &["tenant", "endpoint", "result"],
    )
    .expect("valid metric");
    let provider_seconds = HistogramVec::new(
        HistogramOpts::new(
            "provider_request_duration_seconds",
            "Latency of calls to identity providers",
        )
        .buckets(vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ]),
        &["tenant", "endpoint"],
    )
    .expect("valid metric");
    let key_refetches = IntCounterVec::new(
        Opts::new(
            "key_refetches_total",
            "Key set refetches forced by an unknown signing key",
        ),
        &["tenant"],
    )
    .expect("valid metric");
    let pool_connections = IntGaugeVec::new(
        Opts::new("db_pool_connections", "Database pool connections by state"),
        &["state"],
    )
    .expect("valid metric");
    let pool_max =
        IntGauge::new("db_pool_max_connections", "Database pool size").expect("valid metric");
    let build_info = IntGaugeVec::new(Opts::new("build_info", "Build information"), &["version"])
        .expect("valid metric");
    build_info
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
    for c in [
        Box::new(signins.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(callback_seconds.clone()),
        Box::new(provider_requests.clone()),
        Box::new(provider_seconds.clone()),
        Box::new(key_refetches.clone()),
        Box::new(pool_connections.clone()),
        Box::new(pool_max.clone()),
        Box::new(build_info),
    ] {
        registry.register(c).expect("metric registered once");
    }
    Metrics {
        registry,
        signins,
        callback_seconds,
        provider_requests,
        provider_seconds,
        key_refetches,
        pool_connections,
        pool_max,
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(build);

pub fn get() -> &'static Metrics {
    &METRICS
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&METRICS.registry.gather(), &mut out)
        .expect("text encoding does not fail");
    String::from_utf8(out).unwrap_or_default()
}
