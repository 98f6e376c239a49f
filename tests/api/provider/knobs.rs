//! The test provider's knobs: who signs in, what the next responses hold, how the
//! endpoints misbehave, and what they were asked.

use super::*;

impl TestProvider {
    /// The user every following /authorize approves (until changed).
    pub fn login_as(&self, user: TestUser) {
        self.shared.lock().user = Some(user);
    }
    pub fn tamper_next(&self, t: Tamper) {
        self.shared.lock().next.tamper = Some(t);
    }
    pub fn deny_next(&self, error: &str) {
        self.shared.lock().deny = Some(error.to_owned());
    }
    /// The next token request, whatever it holds, is answered 400 `{"error": error}`.
    pub fn token_error_next(&self, error: &str) {
        self.shared.lock().token_error = Some(error.to_owned());
    }

    /// Which key and algorithm sign ID tokens (and userinfo JWTs). Default: Rsa1, RS256.
    /// Panics on a pair that cannot work (e.g. Ec256 with RS256).
    pub fn sign_with(&self, key: KeyId, alg: Algorithm) {
        assert!(
            key.can_sign(alg),
            "TestProvider: {key:?} cannot sign {alg:?}"
        );
        self.shared.lock().config.signer = Signer { key, alg };
    }
    /// The public keys /jwks serves, in this order. Default: [Rsa1].
    pub fn publish(&self, keys: &[KeyId]) {
        self.shared.lock().config.published = keys.to_vec();
    }
    /// Publishes only `key` and signs with it, with its default algorithm.
    pub fn rotate_to(&self, key: KeyId) {
        self.sign_with(key, key.default_alg());
        self.publish(&[key]);
    }
    pub fn omit_kid_in_jwks(&self, omit: bool) {
        self.shared.lock().config.kids_in_jwks = !omit;
    }
    pub fn omit_kid_next(&self) {
        self.shared.lock().next.omit_kid = true;
    }
    /// The next ID token is HS256 with the PEM of Rsa1's public key as the secret
    /// (key-confusion attack); its header names kid "test-key-1".
    pub fn hmac_with_public_key_next(&self) {
        self.shared.lock().next.hmac_with_public_key = true;
    }
    /// Changes the next ID token's claims just before it is signed.
    pub fn edit_next_claims(&self, f: impl FnOnce(&mut Claims) + Send + 'static) {
        self.shared.lock().next.edit = Some(Box::new(f));
    }
    /// Changes every userinfo response (for a JWT: after `iss` and `aud` are added).
    pub fn edit_userinfo(&self, f: impl Fn(&mut Claims) + Send + Sync + 'static) {
        self.shared.lock().config.userinfo_edit = Some(Arc::new(f));
    }
    /// Userinfo answered as `application/jwt`, signed like the ID tokens.
    pub fn userinfo_as_jwt(&self, on: bool) {
        self.shared.lock().config.userinfo_jwt = on;
    }
    /// The `issuer` stated by discovery; `None` states the real one.
    pub fn set_discovery_issuer(&self, issuer: Option<String>) {
        self.shared.lock().config.discovery_issuer = issuer;
    }
    /// `id_token_signing_alg_values_supported` in discovery. Default: ["RS256"].
    pub fn set_advertised_algs(&self, algs: &[&str]) {
        self.shared.lock().config.advertised_algs = to_strings(algs);
    }
    /// The advertised client authentication methods; the token endpoint accepts only
    /// these. Default: client_secret_basic and client_secret_post.
    pub fn set_auth_methods(&self, methods: &[&str]) {
        self.shared.lock().config.auth_methods = to_strings(methods);
    }
    /// Every endpoint handles a request at once (counting it, consuming codes and `*_next`
    /// knobs) but holds its answer back for `d`.
    pub fn set_delay(&self, d: Duration) {
        self.shared.lock().config.delay = d;
    }

    /// The client authentication method of the last well-formed token request
    /// ("none" when it had no client credentials).
    pub fn last_auth_method(&self) -> Option<String> {
        self.shared.lock().last_auth_method.clone()
    }
    /// Discovery and JWKS answer 503 while `down` (authorize, token, userinfo still work).
    pub fn metadata_down(&self, down: bool) {
        self.shared.lock().config.metadata_down = down;
    }
    pub fn discovery_requests(&self) -> usize {
        self.shared.lock().counts[0]
    }
    pub fn jwks_requests(&self) -> usize {
        self.shared.lock().counts[1]
    }
    pub fn token_requests(&self) -> usize {
        self.shared.lock().counts[2]
    }
    pub fn userinfo_requests(&self) -> usize {
        self.shared.lock().counts[3]
    }
    /// The next token request, whatever it holds, is answered with exactly this.
    pub fn token_raw_next(&self, status: u16, content_type: &str, body: impl Into<Vec<u8>>) {
        self.shared.lock().token_raw = Some(RawReply {
            status,
            content_type: content_type.to_owned(),
            body: body.into(),
        });
    }
    /// Edits the JSON object of the next successful token response.
    pub fn edit_token_response_next(&self, f: impl FnOnce(&mut Claims) + Send + 'static) {
        self.shared.lock().next.token_json = Some(Box::new(f));
    }
    /// Edits every discovery document (after it is built).
    pub fn edit_discovery(&self, f: impl Fn(&mut Value) + Send + Sync + 'static) {
        self.shared.lock().config.discovery_edit = Some(Arc::new(f));
    }
    /// Edits every JWKS document (after it is built).
    pub fn edit_jwks(&self, f: impl Fn(&mut Value) + Send + Sync + 'static) {
        self.shared.lock().config.jwks_edit = Some(Arc::new(f));
    }
    /// The next `n` discovery requests answer HTTP 500.
    pub fn fail_discovery(&self, n: usize) {
        self.shared.lock().config.discovery_failures = n;
    }
    /// The public JWK of a fixture key (with kid, use sig, alg its default).
    pub fn jwk_of(&self, key: KeyId) -> Value {
        serde_json::to_value(self.shared.jwk(key, key.default_alg(), true)).unwrap()
    }

    pub fn last_authorize_query(&self) -> Option<Vec<(String, String)>> {
        self.shared.lock().last_authorize.clone()
    }
}
