//! jit-sso: OpenID Connect sign-in with just-in-time provisioning.
//! See ARCHITECTURE.md (in the shared folder) for the layers and who may import whom.

pub mod cli;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod oidc;
pub mod routes;
pub mod service;
pub mod settings;
pub mod startup;
