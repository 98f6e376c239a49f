//! The back channel to the provider: the code exchange (RFC 6749 4.1.3) and userinfo.

use super::verify::{self, Expected};
use super::{ClientConfig, OidcError, Provider, ProviderCache};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde_json::{Map, Value};

impl ProviderCache {
    /// The token request (RFC 6749 4.1.3) with PKCE; client_secret_basic unless the
    /// provider offers only client_secret_post.
    pub(super) async fn exchange(
        &self,
        provider: &Provider,
        cfg: &ClientConfig,
        code: &str,
        verifier: &str,
    ) -> Result<Map<String, Value>, OidcError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", cfg.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ];
        let post_only = provider.token_auth_methods.as_ref().is_some_and(|m| {
            !m.iter().any(|x| x == "client_secret_basic")
                && m.iter().any(|x| x == "client_secret_post")
        });
        let mut request = self
            .http
            .client()
            .post(&provider.token_endpoint)
            .header(ACCEPT, "application/json");
        if post_only {
            form.push(("client_id", cfg.client_id.as_str()));
            form.push(("client_secret", cfg.client_secret.expose()));
        } else {
            // RFC 6749 2.3.1: both parts form-urlencoded before base64.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let basic = STANDARD.encode(format!(
                "{}:{}",
                enc(&cfg.client_id),
                enc(cfg.client_secret.expose())
            ));
            request = request.header(AUTHORIZATION, format!("Basic {basic}"));
        }
        let reply = self
            .http
            .send(request.form(&form), "token", &cfg.tenant)
            .await?;
        let body: Option<Map<String, Value>> = serde_json::from_slice(&reply.body).ok();
        let error = body
            .as_ref()
            .and_then(|b| b.get("error"))
            .and_then(Value::as_str);
        if !reply.status.is_success() || error.is_some() {
            // RFC 6749 5.2: an error response names its error. Without one (a redirect to a
            // login page, a proxy's HTML) the endpoint is not behaving as a token endpoint,
            // which is nothing the person can fix by signing in again.
            let Some(error) = error else {
                return Err(OidcError::Misconfigured(format!(
                    "the token endpoint answered HTTP {} without an OAuth error",
                    reply.status
                )));
            };
            let error: String = error
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect();
            // A wrong client id or secret is a configuration problem, not the person's.
            if matches!(error.as_str(), "invalid_client" | "unauthorized_client") {
                return Err(OidcError::Misconfigured(format!(
                    "the token endpoint refused our client credentials ({error})"
                )));
            }
            return Err(OidcError::CodeRefused { error });
        }
        // Never include the body in errors: it holds tokens.
        body.ok_or_else(|| OidcError::Misconfigured("token response is not a JSON object".into()))
    }

    /// Userinfo as JSON or as a signed JWT; its `sub` must equal the ID token's.
    pub(super) async fn userinfo(
        &self,
        provider: &Provider,
        cfg: &ClientConfig,
        endpoint: &str,
        access_token: &str,
        subject: &str,
    ) -> Result<Option<Map<String, Value>>, OidcError> {
        // Userinfo only completes what the ID token left out. An endpoint that refuses the
        // access token (Entra issues it for another API) or answers something that is not
        // userinfo leaves the ID token's claims as they are; the decision then says what is
        // missing. A userinfo about someone else is refused.
        let unusable = |why: String| {
            log::warn!(
                "tenant={}: userinfo unusable ({why}); using the ID token's claims only",
                cfg.tenant
            );
            Ok(None)
        };
        // RFC 6750 2.1: a bearer token is printable ASCII; anything else cannot be sent.
        if access_token.is_empty() || !access_token.bytes().all(|b| b.is_ascii_graphic()) {
            return unusable("the access token cannot be sent as a bearer token".into());
        }
        let request = self
            .http
            .client()
            .get(endpoint)
            .bearer_auth(access_token)
            .header(ACCEPT, "application/json, application/jwt");
        let reply = self.http.send(request, "userinfo", &cfg.tenant).await?;
        if !reply.status.is_success() {
            return unusable(format!("HTTP {}", reply.status));
        }
        let claims = if reply.content_type.starts_with("application/jwt") {
            let jwt = String::from_utf8(reply.body).unwrap_or_default();
            let expected = Expected {
                issuer: &cfg.issuer,
                client_id: &cfg.client_id,
                nonce: None,
                skew: self.clock_skew,
                algs: None,
                client_secret: None,
            };
            let mut validation = verify::id_token_validation(&expected);
            // A signed userinfo response need not carry iss, aud or exp; when present they must match.
            validation.set_required_spec_claims::<&str>(&[]);
            validation.validate_exp = false;
            verify::verify_signature(jwt.trim(), &provider.keys, &expected, &validation)
                .map(|(_, claims)| claims)
                .map_err(|r| OidcError::TokenRejected(format!("signed userinfo: {r:?}")))?
        } else {
            match serde_json::from_slice::<Map<String, Value>>(&reply.body) {
                Ok(claims) => claims,
                Err(_) => return unusable("not a JSON object".into()),
            }
        };
        if claims.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(OidcError::TokenRejected(
                "userinfo is about another subject".into(),
            ));
        }
        Ok(Some(claims))
    }
}

/// Adds userinfo claims the ID token lacks. Identity claims are never overridden, and
/// `email_verified` travels with the `email` it describes.
pub(super) fn fill_from_userinfo(merged: &mut Map<String, Value>, info: Map<String, Value>) {
    let email_from_userinfo =
        !merged.contains_key("email") && info.get("email").is_some_and(|e| !e.is_null());
    if email_from_userinfo {
        merged.remove("email_verified");
    }
    for (key, value) in info {
        let protected = matches!(
            key.as_str(),
            "sub" | "iss" | "aud" | "azp" | "nonce" | "exp" | "iat"
        );
        let verified_flag = key == "email_verified";
        if protected
            || value.is_null()
            || merged.contains_key(&key)
            || (verified_flag && !email_from_userinfo)
        {
            continue;
        }
        merged.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn userinfo_never_overrides_identity_claims_or_the_email_decision() {
        let mut merged = map(json!({"sub": "a", "email": "a@x.example", "email_verified": false}));
        fill_from_userinfo(
            &mut merged,
            map(
                json!({"sub": "a", "email": "b@x.example", "email_verified": true, "given_name": "A"}),
            ),
        );
        assert_eq!(merged["email"], "a@x.example");
        assert_eq!(merged["email_verified"], false);
        assert_eq!(merged["given_name"], "A");
    }

    #[test]
    fn an_email_from_userinfo_brings_its_own_verified_flag() {
        let mut merged = map(json!({"sub": "a"}));
        fill_from_userinfo(
            &mut merged,
            map(json!({"sub": "a", "email": "b@x.example"})),
        );
        assert_eq!(merged["email"], "b@x.example");
        assert!(!merged.contains_key("email_verified"));
    }
}
