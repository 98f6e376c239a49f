// A real, certified OpenID Provider (panva's oidc-provider v9) for jit-sso's interop tests.
//
//   REDIRECT_URIS=http://127.0.0.1:8080/cb node provider.mjs
//
// Env: PORT (default 0 = any free port), CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (comma-separated, required).
// Prints exactly one line to stdout, `LISTENING <issuer>`; everything else goes to stderr.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

const PORT = Number(process.env.PORT ?? 0);
const CLIENT_ID = process.env.CLIENT_ID || 'jit-sso-interop';
const CLIENT_SECRET = process.env.CLIENT_SECRET || 'interop-secret-please-change';
const REDIRECT_URIS = (process.env.REDIRECT_URIS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
if (REDIRECT_URIS.length === 0) {
  console.error('provider.mjs: REDIRECT_URIS is required (comma-separated)');
  process.exit(2);
}

// oidc-provider prints its NOTICEs with console.info (stdout): keep stdout for the LISTENING line only.
console.info = console.warn;
console.log = console.warn;
const { default: Provider } = await import('oidc-provider');

// Claims of the account whose id is whatever was typed as "login" in the dev login form.
function claimsFor(login) {
  const email = login.includes('@') ? login : `${login}@interop.example`;
  const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
  const m = /^([^.@]+)\.([^.@]+)@[^@]+$/.exec(login); // first.last@domain
  return {
    sub: login,
    email,
    email_verified: true,
    given_name: m ? cap(m[1]) : login,
    family_name: m ? cap(m[2]) : 'Interop',
    name: m ? `${cap(m[1])} ${cap(m[2])}` : `${login} Interop`,
  };
}

// A fresh RS256 signing key per run (instead of the built-in dev keys, which are public).
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };

const server = http.createServer();
await new Promise((resolve) => server.listen(PORT, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: REDIRECT_URIS,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] }, // signed cookies (`<name>.sig` companions)
  pkce: { required: () => true }, // v9 only implements S256
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['given_name', 'family_name', 'name'],
  },
  // Put the scope's claims in the ID token even though an access token for userinfo is issued too.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } }, // the default; the HTML login/consent forms
  ttl: { // explicit values also silence the "default ttl function called" notices
    AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600,
  },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return claimsFor(id); } };
  },
});

// Errors only, never tokens or secrets.
provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error:', err.message));

server.on('request', provider.callback());

const stop = (sig) => {
  console.error(`provider.mjs: ${sig}, shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

process.stdout.write(`LISTENING ${issuer}\n`);
