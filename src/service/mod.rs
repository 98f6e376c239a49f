//! Use cases: the sign-in decision, sessions, tenant administration. No HTTP, no SQL.

pub mod admin;
pub mod claims;
pub mod session;
pub mod signin;
pub mod staff;
mod tenant_settings;
pub mod tenants;
