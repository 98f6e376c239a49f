//! The support staff API, /admin/v1: a small client for it, and one module per resource.

mod access;
mod roster;
mod tenants;

use crate::helpers::*;
use crate::on_both_databases;
use crate::provider::TestUser;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Admin<'a> {
    app: &'a TestApp,
    token: String,
}

impl Admin<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        admin_call(self.app, &self.token, method, path, body).await
    }

    /// The status and the field an error names (the whole body when it names none).
    async fn refusal(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        let (status, b) = self.call(method, path, body).await;
        let field = b["field"].as_str().map(str::to_owned);
        (status, field.unwrap_or_else(|| b.to_string()))
    }
}

fn new_tenant(app: &TestApp, slug: &str) -> Value {
    json!({ "slug": slug, "name": "Beta GmbH", "issuer": app.provider.issuer(),
            "client_id": crate::provider::CLIENT_ID, "client_secret": crate::provider::CLIENT_SECRET })
}
