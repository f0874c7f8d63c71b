// A real OpenID Connect provider (panva/oidc-provider) for the Python integration tests.
//
//   node server.mjs PORT        (or $OIDC_PROVIDER_PORT)
//
// Issuer http://127.0.0.1:PORT. The clients come from the JSON file named by
// $OIDC_PROVIDER_CLIENTS (written by tests/oidc_provider/fixtures.py). Every key (ID token
// signing, cookies) is generated at start: nothing secret lives in the repository.
//
// Routes of our own, beside the provider's:
//   GET  /interaction/:uid  signs in the fixed test account and grants what the client asked
//                           for, with no page: a test follows redirects from the auth URL to
//                           the callback over plain HTTP.
//   GET  /test/stats        token requests by grant and client authentication method, errors,
//                           revocations, and the last client assertion's header (JSON).
//   POST /test/reset        zeroes those counters.
//   GET  /test/api          a resource server: 200 with the token's facts for a live bearer
//                           access token (either grant), 401 otherwise.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const ACCOUNT = 'test-user';

const port = Number(process.argv[2] ?? process.env.OIDC_PROVIDER_PORT);
if (!Number.isInteger(port) || port <= 0) {
  throw new Error('usage: node server.mjs PORT (or set OIDC_PROVIDER_PORT)');
}
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(readFileSync(process.env.OIDC_PROVIDER_CLIENTS, 'utf8'));

function signingKey() {
  // ID tokens are signed RS256 by default, so the provider needs an RSA key.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'test-signing' };
}

const configuration = {
  clients,
  jwks: { keys: [signingKey()] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  scopes: ['openid', 'offline_access', 'api'],
  features: {
    devInteractions: { enabled: false }, // replaced by the page-less /interaction route below
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  // Only S256, and always required: what the app sends by default.
  pkce: { methods: ['S256'], required: () => true },
  // Every refresh returns a new refresh token (as Entra ID does), so the tests can check the app
  // saves it. issueRefreshToken keeps the default rule: only for a granted offline_access, which
  // the provider grants only when the request says prompt=consent (OIDC Core 11).
  rotateRefreshToken: true,
  enabledJWA: { clientAuthSigningAlgValues: ['HS256', 'RS256', 'PS256'] },
  ttl: {
    AccessToken: 300,
    ClientCredentials: 300,
    AuthorizationCode: 60,
    RefreshToken: 3600,
    IdToken: 300,
    Interaction: 300,
    Session: 3600,
    Grant: 3600,
  },
  // Errors as JSON, so a failing test shows the provider's reason instead of an HTML page.
  renderError: async (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
};

const provider = new Provider(issuer, configuration);

// --- counters -------------------------------------------------------------------------------

function emptyStats() {
  return { token: {}, token_errors: {}, revocations: 0, server_errors: 0, last_assertion_header: null };
}
let stats = emptyStats();

function bump(table, key) {
  table[key] = (table[key] ?? 0) + 1;
}

function assertionHeader(ctx) {
  const assertion = ctx.oidc?.params?.client_assertion;
  if (typeof assertion !== 'string') return null;
  try {
    return JSON.parse(Buffer.from(assertion.split('.')[0], 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

function countToken(ctx, outcome) {
  const grant = ctx.oidc?.params?.grant_type ?? 'unknown';
  const method = ctx.oidc?.client?.clientAuthMethod ?? 'unknown';
  bump(outcome, `${grant}:${method}`);
  stats.last_assertion_header = assertionHeader(ctx) ?? stats.last_assertion_header;
}

provider.on('grant.success', (ctx) => countToken(ctx, stats.token));
provider.on('grant.error', (ctx, err) => {
  bump(stats.token_errors, `${ctx.oidc?.params?.grant_type ?? 'unknown'}:${err.error ?? err.message}`);
  stats.last_assertion_header = assertionHeader(ctx) ?? stats.last_assertion_header;
});
provider.on('server_error', (_ctx, err) => {
  stats.server_errors += 1;
  console.error('server_error', err);
});

// --- our own routes -------------------------------------------------------------------------

async function interact(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: ACCOUNT } };
  } else {
    // consent: grant exactly what the provider says is missing.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

async function findLiveToken(value) {
  for (const model of [provider.AccessToken, provider.ClientCredentials]) {
    const token = await model.find(value);
    if (token && !token.isExpired) return token;
  }
  return undefined;
}

async function api(req, res) {
  const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  const token = match && (await findLiveToken(match[1]));
  if (!token) return sendJson(res, 401, { error: 'invalid_token' });
  return sendJson(res, 200, {
    kind: token.kind,
    client_id: token.clientId,
    sub: token.accountId ?? null,
    scope: token.scope ?? '',
  });
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function route(req, res) {
  const { pathname } = new URL(req.url, issuer);
  if (req.method === 'GET' && pathname.startsWith('/interaction/')) return interact(req, res);
  if (req.method === 'GET' && pathname.replace(/\/$/, '') === '/test/stats') return sendJson(res, 200, stats);
  if (req.method === 'POST' && pathname.replace(/\/$/, '') === '/test/reset') {
    stats = emptyStats();
    return sendJson(res, 200, stats);
  }
  if (req.method === 'GET' && pathname === '/test/api') return api(req, res);
  if (req.method === 'POST' && pathname === '/token/revocation') stats.revocations += 1;
  return handleWithProvider(req, res);
}

const handleWithProvider = provider.callback();

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    console.error(err);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(err) });
  });
});

server.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));

// The Python fixture stops us with SIGTERM: close promptly so the port is free again.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
