//! One integration-test binary; one module per feature.

mod helpers;
mod provider;

mod demo;
mod hardening;
mod health;
mod identity;
mod interop;
mod refusals;
mod signin;
