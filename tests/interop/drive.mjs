// Drives provider.mjs like a browser + a fake relying party, with no jit-sso involved:
// authorization request (PKCE S256, state, nonce) -> dev login form -> consent form -> code -> token.
//
//   node drive.mjs <issuer> [login]
//
// Env: CLIENT_ID, CLIENT_SECRET, REDIRECT_URI (defaults match provider.mjs and http://127.0.0.1:1/cb).
// Every hop is logged to stderr; the verified ID token claims are printed as JSON on stdout.
import * as crypto from 'node:crypto';

const issuer = process.argv[2];
const login = process.argv[3] || 'ada.lovelace@example.com';
if (!issuer) {
  console.error('usage: node drive.mjs <issuer> [login]');
  process.exit(2);
}
const CLIENT_ID = process.env.CLIENT_ID || 'jit-sso-interop';
const CLIENT_SECRET = process.env.CLIENT_SECRET || 'interop-secret-please-change';
const REDIRECT_URI = process.env.REDIRECT_URI || 'http://127.0.0.1:1/cb';

const fail = (msg) => { console.error(`drive.mjs: FAIL: ${msg}`); process.exit(1); };
const b64url = (buf) => Buffer.from(buf).toString('base64url');

// --- a tiny cookie jar: name -> { value, path }; one host, so no domain handling -------------
const jar = new Map();
function storeCookies(res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';').map((s) => s.trim());
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    const attr = (k) => attrs.find((a) => a.toLowerCase().startsWith(`${k}=`))?.split('=')[1];
    const path = attr('path') || '/';
    const expired = value === '' || (attr('expires') && Date.parse(attr('expires')) <= Date.now());
    const key = `${name}\u0000${path}`;
    if (expired) jar.delete(key); else jar.set(key, { name, value, path });
  }
}
function cookieHeader(url) {
  const { pathname } = new URL(url);
  return [...jar.values()]
    .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
    .map((c) => `${c.name}=${c.value}`).join('; ');
}

// --- one HTTP hop, no redirects followed ----------------------------------------------------
async function hop(method, url, { form, headers = {} } = {}) {
  const cookie = cookieHeader(url);
  const res = await fetch(url, {
    method,
    redirect: 'manual',
    headers: { ...headers, ...(cookie && { cookie }), ...(form && { 'content-type': 'application/x-www-form-urlencoded' }) },
    body: form ? new URLSearchParams(form) : undefined,
  });
  storeCookies(res);
  const location = res.headers.get('location');
  const set = res.headers.getSetCookie().map((l) => l.split(';')[0].split('=')[0] + (/path=([^;]*)/i.exec(l)?.[1] ? `(path=${/path=([^;]*)/i.exec(l)[1]})` : ''));
  const u = new URL(url);
  console.error(`${method} ${u.pathname}${u.search ? '?…' : ''} [cookies: ${cookie.split('; ').filter(Boolean).map((c) => c.split('=')[0]).join(',') || '-'}]`
    + ` -> ${res.status}${location ? ` Location: ${location.replace(/\?.*/, '?…')}` : ''}${set.length ? ` Set-Cookie: ${set.join(', ')}` : ''}`);
  return { res, location: location && new URL(location, url).href };
}

// --- discovery --------------------------------------------------------------------------------
const meta = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
if (meta.issuer !== issuer) fail(`issuer mismatch: ${meta.issuer}`);

// --- authorization request ----------------------------------------------------------------------
const verifier = b64url(crypto.randomBytes(32));
const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
const state = b64url(crypto.randomBytes(16));
const nonce = b64url(crypto.randomBytes(16));
const authUrl = new URL(meta.authorization_endpoint);
authUrl.search = new URLSearchParams({
  response_type: 'code',
  client_id: CLIENT_ID,
  redirect_uri: REDIRECT_URI,
  scope: 'openid email profile',
  state,
  nonce,
  code_challenge: challenge,
  code_challenge_method: 'S256',
});

// Follow Location hop by hop; answer the login and consent forms; stop at the redirect_uri.
let next = { method: 'GET', url: authUrl.href };
let callback;
for (let i = 0; i < 15 && !callback; i += 1) {
  const { res, location } = await hop(next.method, next.url, { form: next.form });
  if (location) {
    if (location.startsWith(REDIRECT_URI)) callback = new URL(location);
    else next = { method: 'GET', url: location };
    continue;
  }
  if (res.status !== 200) fail(`unexpected ${res.status}: ${(await res.text()).slice(0, 500)}`);
  const html = await res.text();
  const action = /<form[^>]*action="([^"]+)"[^>]*method="post"/i.exec(html)?.[1]?.replace(/&amp;/g, '&');
  const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
  if (!action || !prompt) fail(`no interaction form in page: ${html.slice(0, 500)}`);
  const form = prompt === 'login' ? { prompt, login, password: 'any' } : { prompt };
  next = { method: 'POST', url: new URL(action, res.url).href, form };
}
if (!callback) fail('never redirected to the redirect_uri');
const params = callback.searchParams;
if (params.get('error')) fail(`authorization error: ${params.get('error')} ${params.get('error_description')}`);
if (params.get('state') !== state) fail('state mismatch');
if (params.get('iss') !== issuer) fail(`iss parameter mismatch: ${params.get('iss')}`); // RFC 9207
const code = params.get('code');
if (!code) fail('no code');

// --- token request (client_secret_basic) --------------------------------------------------------
const basic = Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64');
const tokenRes = await fetch(meta.token_endpoint, {
  method: 'POST',
  headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
});
const tokens = await tokenRes.json();
console.error(`POST ${new URL(meta.token_endpoint).pathname} -> ${tokenRes.status} fields: ${Object.keys(tokens).join(',')}`);
if (!tokenRes.ok) fail(`token error: ${JSON.stringify(tokens)}`);

// --- verify the ID token (RS256 against the jwks_uri) and print its claims ----------------------
const [h, p, s] = tokens.id_token.split('.');
const header = JSON.parse(Buffer.from(h, 'base64url'));
const { keys } = await (await fetch(meta.jwks_uri)).json();
const jwk = keys.find((k) => k.kid === header.kid);
if (header.alg !== 'RS256' || !jwk) fail(`unexpected ID token header ${JSON.stringify(header)}`);
const ok = crypto.verify('RSA-SHA256', Buffer.from(`${h}.${p}`), crypto.createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
const claims = JSON.parse(Buffer.from(p, 'base64url'));
if (!ok) fail('bad ID token signature');
if (claims.iss !== issuer || claims.aud !== CLIENT_ID || claims.nonce !== nonce) fail(`bad iss/aud/nonce: ${JSON.stringify(claims)}`);

const userinfo = await (await fetch(meta.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } })).json();
console.error(`GET ${new URL(meta.userinfo_endpoint).pathname} -> ${JSON.stringify(userinfo)}`);
console.log(JSON.stringify(claims, null, 2));
