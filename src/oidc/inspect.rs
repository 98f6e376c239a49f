//! The integration check: what is right and wrong with a tenant's provider, item by item.

use super::keys::KeySet;
use super::{validate_endpoint, validate_issuer, OidcError, ProviderCache};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize)]
pub struct CheckItem {
    pub item: &'static str,
    pub ok: bool,
    pub detail: String,
}

fn item(item: &'static str, ok: bool, detail: impl Into<String>) -> CheckItem {
    CheckItem {
        item,
        ok,
        detail: detail.into(),
    }
}

fn list(doc: &Value, key: &str) -> Option<Vec<String>> {
    doc.get(key)?.as_array().map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

impl ProviderCache {
    /// Fetches the discovery document and keys afresh (not from the cache) and reports.
    pub async fn inspect(
        &self,
        issuer: &str,
        tenant: &str,
        scopes: &[String],
        claims: &[&str],
    ) -> Vec<CheckItem> {
        let mut out = Vec::new();
        if let Err(m) = validate_issuer(issuer) {
            out.push(item("issuer_url", false, format!("{issuer:?}: {m}")));
            return out;
        }
        out.push(item("issuer_url", true, issuer));
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc = match self.http.get_json(&url, "discovery", tenant).await {
            Ok(doc) => doc,
            Err(e) => {
                let what = if matches!(e, OidcError::Unreachable(_)) {
                    "unreachable"
                } else {
                    "invalid"
                };
                out.push(item("discovery", false, format!("{url} is {what}: {e}")));
                return out;
            }
        };
        out.push(item("discovery", true, url));
        let discovered = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
        out.push(item(
            "issuer_match",
            discovered == issuer,
            format!("configured {issuer:?}, discovered {discovered:?}"),
        ));
        for key in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
            let value = doc.get(key).and_then(Value::as_str).unwrap_or("");
            let ok = validate_endpoint(value).is_ok();
            out.push(item(
                key,
                ok,
                if value.is_empty() {
                    "missing".to_owned()
                } else {
                    value.to_owned()
                },
            ));
        }
        let userinfo = doc.get("userinfo_endpoint").and_then(Value::as_str);
        out.push(item(
            "userinfo_endpoint",
            true,
            userinfo.unwrap_or("none (names and email must be in the ID token)"),
        ));
        if let Some(jwks_uri) = doc.get("jwks_uri").and_then(Value::as_str) {
            match self.http.get_json(jwks_uri, "keys", tenant).await {
                Ok(jwks) => {
                    let total = jwks
                        .get("keys")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    let usable = KeySet::from_jwks(&jwks).map(|k| k.len()).unwrap_or(0);
                    let detail = format!("{usable} usable signing key(s) of {total} published");
                    out.push(item("keys", usable > 0, detail));
                }
                Err(e) => out.push(item("keys", false, e.to_string())),
            }
        }
        match list(&doc, "scopes_supported") {
            Some(offered) => {
                let missing: Vec<&String> =
                    scopes.iter().filter(|s| !offered.contains(s)).collect();
                let detail = if missing.is_empty() {
                    "all requested scopes are offered".to_owned()
                } else {
                    format!("not offered: {missing:?}")
                };
                out.push(item("scopes", missing.is_empty(), detail));
            }
            None => out.push(item(
                "scopes",
                true,
                "the provider does not list its scopes",
            )),
        }
        match list(&doc, "claims_supported") {
            Some(offered) => {
                let missing: Vec<&&str> = claims
                    .iter()
                    .filter(|c| !offered.iter().any(|o| o == *c))
                    .collect();
                let detail = if missing.is_empty() {
                    "all needed claims are offered".to_owned()
                } else {
                    format!("not offered: {missing:?}")
                };
                out.push(item("claims", missing.is_empty(), detail));
            }
            None => out.push(item(
                "claims",
                true,
                "the provider does not list its claims",
            )),
        }
        if let Some(algs) = list(&doc, "id_token_signing_alg_values_supported") {
            let usable = algs.iter().any(|a| {
                a.parse::<jsonwebtoken::Algorithm>().is_ok_and(|alg| {
                    super::ACCEPTED_ALGS.contains(&alg) || super::verify::is_mac(alg)
                })
            });
            let detail = if usable {
                format!("offered: {algs:?}")
            } else {
                format!("offered: {algs:?}; none is one we verify (RSA, EC, Ed25519 or HMAC with the client secret)")
            };
            out.push(item("id_token_signing", usable, detail));
        }
        let methods = list(&doc, "token_endpoint_auth_methods_supported")
            .unwrap_or_else(|| vec!["client_secret_basic".into()]);
        let ok = methods
            .iter()
            .any(|m| m == "client_secret_basic" || m == "client_secret_post");
        out.push(item("token_auth", ok, format!("offered: {methods:?}")));
        if let Some(pkce) = list(&doc, "code_challenge_methods_supported") {
            out.push(item(
                "pkce",
                pkce.iter().any(|m| m == "S256"),
                format!("offered: {pkce:?}"),
            ));
        }
        out
    }
}
