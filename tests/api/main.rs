//! One integration-test binary; one module per feature.

mod helpers;
mod provider;

mod demo;
mod health;
mod interop;
mod refusals;
mod signin;
