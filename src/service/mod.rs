//! Use cases: the sign-in decision, sessions, tenant administration. No HTTP, no SQL.

pub mod claims;
pub mod session;
pub mod signin;
pub mod tenants;
