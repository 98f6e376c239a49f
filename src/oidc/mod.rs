//! The relying-party side of OpenID Connect: discovery, keys, code exchange and ID token
//! validation, built on the `openidconnect` crate.
//!
//! Discovery documents and key sets are cached per issuer. A token signed with a key we do
//! not know triggers one refetch of the provider's keys (at most once per
//! [`KEY_REFRESH_MIN_INTERVAL`] per issuer), so key rotation at the provider never needs a
//! restart here.

mod cache;

pub use cache::ProviderCache;

use crate::domain::VerifiedIdentity;
use crate::settings::Secret;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
    TokenResponse,
};
use std::time::Duration;

/// Minimum time between two forced key refetches for one issuer.
pub const KEY_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(10);

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider did not answer in time, or answered with a server error.
    #[error("identity provider unreachable: {0}")]
    Unreachable(String),
    /// The tenant's provider settings do not match what the provider says.
    #[error("identity provider misconfigured: {0}")]
    Misconfigured(String),
    /// The token endpoint refused the code (used twice, expired, wrong client...).
    #[error("token endpoint refused the code: {error}")]
    CodeRefused { error: String },
    /// The ID token (or userinfo) failed validation.
    #[error("ID token rejected: {0}")]
    TokenRejected(String),
}

/// One tenant's client registration at its provider.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scopes: Vec<String>,
    pub redirect_uri: String,
}

/// What to remember between the redirect to the provider and the callback.
#[derive(Debug)]
pub struct AuthRequest {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// Issuers must be https, except on loopback hosts (development and tests).
pub fn validate_issuer(issuer: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(issuer).map_err(|e| format!("issuer is not a URL: {e}"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("issuer must not have a query or fragment".into());
    }
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => Ok(url),
        ("http", Some(url::Host::Domain("localhost"))) => Ok(url),
        ("http", Some(url::Host::Ipv4(ip))) if ip.is_loopback() => Ok(url),
        ("http", Some(url::Host::Ipv6(ip))) if ip.is_loopback() => Ok(url),
        _ => Err("issuer must be an https URL (http is allowed only on loopback)".into()),
    }
}

impl ProviderCache {
    /// Builds the authorization URL for a new code flow with PKCE (S256), state and nonce.
    pub async fn start(
        &self,
        cfg: &ClientConfig,
        login_hint: Option<&str>,
    ) -> Result<AuthRequest, OidcError> {
        let provider = self.metadata(&cfg.issuer).await?;
        let client = build_client(&provider.metadata, cfg)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in cfg.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_owned());
        }
        let (url, state, nonce) = request.url();
        Ok(AuthRequest {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code and returns the verified identity, with names and email filled in
    /// from userinfo when the ID token lacks them.
    pub async fn finish(
        &self,
        cfg: &ClientConfig,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<VerifiedIdentity, OidcError> {
        let mut provider = self.metadata(&cfg.issuer).await?;
        let client = build_client(&provider.metadata, cfg)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Misconfigured(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(self.http())
            .await
            .map_err(token_error)?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::TokenRejected("the provider sent no ID token".into()))?;
        let nonce = Nonce::new(nonce.to_owned());

        let mut client = client;
        let claims = loop {
            let result = {
                let verifier = self.id_token_verifier(&client, cfg);
                id_token.claims(&verifier, &nonce).cloned()
            };
            match result {
                Ok(claims) => break claims,
                Err(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                )) if !provider.refreshed => {
                    // The provider may have rotated its keys: refetch once, then retry.
                    provider = self.refresh_keys(&cfg.issuer).await?;
                    client = build_client(&provider.metadata, cfg)?;
                }
                Err(e) => return Err(OidcError::TokenRejected(claims_error(&e))),
            }
        };
        if claims.audiences().len() > 1
            && claims.authorized_party().map(|a| a.as_str()) != Some(cfg.client_id.as_str())
        {
            return Err(OidcError::TokenRejected(
                "several audiences and no matching azp".into(),
            ));
        }
        if let Some(expected) = claims.access_token_hash() {
            let verifier = self.id_token_verifier(&client, cfg);
            let rejected =
                |e: &dyn std::fmt::Display| OidcError::TokenRejected(format!("at_hash: {e}"));
            let alg = id_token.signing_alg().map_err(|e| rejected(&e))?;
            let key = id_token.signing_key(&verifier).map_err(|e| rejected(&e))?;
            let actual =
                openidconnect::AccessTokenHash::from_token(response.access_token(), alg, key)
                    .map_err(|e| rejected(&e))?;
            if actual != *expected {
                return Err(OidcError::TokenRejected("at_hash does not match".into()));
            }
        }

        let mut identity = VerifiedIdentity {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            email_verified: claims.email_verified(),
            given_name: localized(claims.given_name()),
            family_name: localized(claims.family_name()),
            name: localized(claims.name()),
        };
        let needs_userinfo = identity.email.is_none()
            || (identity.given_name.is_none() && identity.name.is_none())
            || (identity.family_name.is_none() && identity.name.is_none());
        if needs_userinfo && provider.metadata.userinfo_endpoint().is_some() {
            self.fill_from_userinfo(
                &client,
                response.access_token(),
                claims.subject(),
                &mut identity,
            )
            .await?;
        }
        Ok(identity)
    }

    async fn fill_from_userinfo(
        &self,
        client: &Client,
        access_token: &openidconnect::AccessToken,
        subject: &openidconnect::SubjectIdentifier,
        identity: &mut VerifiedIdentity,
    ) -> Result<(), OidcError> {
        // The expected subject makes the crate refuse a userinfo `sub` that differs.
        let info: CoreUserInfoClaims = client
            .user_info(access_token.clone(), Some(subject.clone()))
            .map_err(|e| OidcError::Misconfigured(e.to_string()))?
            .request_async(self.http())
            .await
            .map_err(|e| match e {
                openidconnect::UserInfoError::Request(_) => {
                    OidcError::Unreachable("userinfo endpoint".into())
                }
                openidconnect::UserInfoError::ClaimsVerification(c) => {
                    OidcError::TokenRejected(format!("userinfo: {}", claims_error(&c)))
                }
                other => OidcError::TokenRejected(format!("userinfo: {other}")),
            })?;
        if identity.email.is_none() {
            identity.email = info.email().map(|e| e.to_string());
            identity.email_verified = info.email_verified();
        }
        if identity.given_name.is_none() {
            identity.given_name = localized(info.given_name());
        }
        if identity.family_name.is_none() {
            identity.family_name = localized(info.family_name());
        }
        if identity.name.is_none() {
            identity.name = localized(info.name());
        }
        Ok(())
    }

    fn id_token_verifier<'a>(
        &self,
        client: &'a Client,
        cfg: &ClientConfig,
    ) -> openidconnect::IdTokenVerifier<'a, openidconnect::core::CoreJsonWebKey> {
        let skew = chrono::Duration::seconds(self.clock_skew().as_secs() as i64);
        let max_age = chrono::Duration::minutes(10);
        let client_id = cfg.client_id.clone();
        client
            .id_token_verifier()
            // exp is checked against "now minus leeway".
            .set_time_fn(move || chrono::Utc::now() - skew)
            .set_issue_time_verifier_fn(move |iat| {
                let now = chrono::Utc::now();
                if iat > now + skew {
                    Err("issued in the future".into())
                } else if iat < now - max_age - skew {
                    Err("issued too long ago".into())
                } else {
                    Ok(())
                }
            })
            // Extra audiences are acceptable only with azp naming us (checked after).
            .set_other_audience_verifier_fn(move |_aud| !client_id.is_empty())
    }
}

fn build_client(metadata: &CoreProviderMetadata, cfg: &ClientConfig) -> Result<Client, OidcError> {
    let redirect = RedirectUrl::new(cfg.redirect_uri.clone())
        .map_err(|e| OidcError::Misconfigured(format!("redirect URI: {e}")))?;
    let auth_type = match metadata.token_endpoint_auth_methods_supported() {
        Some(methods)
            if !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && methods.contains(&CoreClientAuthMethod::ClientSecretPost) =>
        {
            AuthType::RequestBody
        }
        _ => AuthType::BasicAuth,
    };
    Ok(CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(cfg.client_id.clone()),
        Some(ClientSecret::new(cfg.client_secret.expose().to_owned())),
    )
    .set_redirect_uri(redirect)
    .set_auth_type(auth_type))
}

fn localized<T: std::ops::Deref<Target = String>>(
    claim: Option<&openidconnect::LocalizedClaim<T>>,
) -> Option<String> {
    claim
        .and_then(|c| c.get(None))
        .map(|v| v.as_str().to_owned())
}

fn token_error<RE: std::error::Error + 'static>(
    e: RequestTokenError<
        RE,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> OidcError {
    match e {
        RequestTokenError::ServerResponse(r) => OidcError::CodeRefused {
            error: r.error().as_ref().to_owned(),
        },
        RequestTokenError::Request(_) => OidcError::Unreachable("token endpoint".into()),
        // Never include the body: it may hold tokens.
        RequestTokenError::Parse(e, _) => {
            OidcError::TokenRejected(format!("token response unreadable at {}", e.path()))
        }
        RequestTokenError::Other(m) => OidcError::Unreachable(format!("token endpoint: {m}")),
    }
}

/// A description of a validation failure without claim values.
fn claims_error(e: &ClaimsVerificationError) -> String {
    match e {
        ClaimsVerificationError::Expired(_) => "expired or issued at an unacceptable time".into(),
        ClaimsVerificationError::InvalidAudience(_) => "wrong audience".into(),
        ClaimsVerificationError::InvalidIssuer(_) => "wrong issuer".into(),
        ClaimsVerificationError::InvalidNonce(_) => "nonce mismatch".into(),
        ClaimsVerificationError::InvalidSubject(_) => "subject mismatch".into(),
        ClaimsVerificationError::SignatureVerification(s) => format!("signature: {s}"),
        ClaimsVerificationError::Unsupported(_) => "unsupported token".into(),
        other => format!("{other}"),
    }
}
