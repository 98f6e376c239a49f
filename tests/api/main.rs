//! One integration-test binary; one module per feature.

mod helpers;
mod provider;

mod admin;
mod attack2;
mod attack_oidc;
mod browser;
mod demo;
mod hardening;
mod health;
mod identity;
mod initiate;
mod interop;
mod oidc_checks;
mod operations;
mod process;
mod provider_calls;
mod realworld;
mod refusals;
mod signin;
mod storms;
