// A real OpenID provider (node-oidc-provider 9) for keyhole's end-to-end tests, plus a tiny fake API
// for key checks. It listens on 127.0.0.1 only and prints one line `READY {"issuer":…,"port":…}`.
//
// Test switches live under /__test/ (this server only, never a real provider):
//   POST /__test/set    JSON, merged into the switches below; answers the new state
//   POST /__test/reset  back to the start-up state, counters cleared
//   GET  /__test/state  switches and counters
// Switches:
//   slow_downs       the next N device-code polls answer `slow_down` (400)
//   interval         put `interval: N` into the device authorization response (null: leave it out)
//   fail_token       the next N token-endpoint requests answer `fail_status` (default 503)
//   fail_status      the status used by fail_token
//   delay_ms         every token-endpoint request waits this long before it is handled
//   access_ttl       access-token lifetime in seconds (for tokens issued from now on)
//   device_code_ttl  device-code lifetime in seconds
//   refresh_ttl      refresh-token lifetime in seconds
//   rotate           rotate refresh tokens on use (default true; false keeps one refresh token)
//   drop_id_token    token responses leave out `id_token` (default false), as many providers
//                    answer device grants
// Counters: token_requests {grant_type: n}, device_authorizations, revocations, last_user_code
// (so a test can approve a code the CLI showed only on a terminal), api_requests {"METHOD /path": n}
// (so a test can prove a request was never sent), keys_created.
//
// Start-up values come from the environment: KEYHOLE_TEST_ACCESS_TTL, KEYHOLE_TEST_DEVICE_CODE_TTL,
// KEYHOLE_TEST_REFRESH_TTL, KEYHOLE_TEST_INTERVAL; PORT (0 = a free port).

import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as querystring from 'node:querystring';

import Provider from 'oidc-provider';

export const CLI_CLIENT_ID = 'keyhole-cli';
export const VENDOR_CLIENT_IDS = ['vtrix-cli', 'truss-cli', 'llamactl-cli', 'sentrix-cli'];
export const INTROSPECTOR_ID = 'keyhole-test-introspector';
export const INTROSPECTOR_SECRET = 'introspector-secret-for-tests-only';

const envInt = (name, fallback) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number.parseInt(raw, 10);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return value;
};

const initialSwitches = () => ({
  slow_downs: 0,
  interval: process.env.KEYHOLE_TEST_INTERVAL ? envInt('KEYHOLE_TEST_INTERVAL', 0) : null,
  fail_token: 0,
  fail_status: 503,
  delay_ms: 0,
  access_ttl: envInt('KEYHOLE_TEST_ACCESS_TTL', 300),
  device_code_ttl: envInt('KEYHOLE_TEST_DEVICE_CODE_TTL', 120),
  refresh_ttl: envInt('KEYHOLE_TEST_REFRESH_TTL', 3600),
  rotate: true,
  // Token responses without `id_token`, as many providers answer device grants.
  drop_id_token: false,
});

const initialCounters = () => ({
  token_requests: {},
  device_authorizations: 0,
  revocations: 0,
  last_user_code: null,
  api_requests: {},
  keys_created: 0,
});

// `keys` (the key API's records, by id as a string) are not shown by /__test/state: they hold
// secrets a test must only see in the creation answer.
const state = {
  switches: initialSwitches(), counters: initialCounters(), keys: new Map(), nextKeyId: 41,
};

const publicState = () => ({ switches: state.switches, counters: state.counters, keys: state.keys.size });

const SWITCH_NAMES = new Set(Object.keys(initialSwitches()));
const BOOLEAN_SWITCHES = new Set(['rotate', 'drop_id_token']);

function json(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// The fake API: an API key's prefix decides the answer and the rest names the account; an OAuth
// access token issued by this provider is accepted too (as a real API would), for its account; so is
// a key created through the key API below, with the permissions it was created with.
//
// Account API, in two shapes (the paths a vendor describes in its Product):
//   keyhole's defaults   GET /api/me, GET /api/projects ({"projects":[…]}), /api/api-keys[/ID]
//   vast.ai's            GET /api/v0/users/current/, /api/v0/auth/apikeys/[ID/]
//   LlamaCloud's         GET /api/v1/projects (a bare array)
// Keys: POST {"name","permissions"?} → 200 {"id","key","name","permissions","created_at"} (the key is
// in this answer only); GET → {"keys"|"apikeys":[…]} without secrets; GET ID → one; DELETE ID →
// {"success":true,"id"}. A key created with `permissions` {"api":{RIGHT:{},…}} has only those
// rights (user_read: whoami, projects, list/show keys; user_write: create/delete keys); without
// `permissions` it has them all. Lacking a right → 403 {"error":"insufficient_permissions"}.
// Every /api/ request is counted in `api_requests` by "METHOD /path".
const RIGHTS = ['user_read', 'user_write'];

const projectsOf = (name) => [
  { id: 'proj-alpha', name: 'Alpha' },
  { id: `proj-${name}`, name: `${name}'s sandbox` },
];

// Keys in no sorted order, so a host that passes the JSON through can be told from one that sorts.
const identityOf = (name) => ({ id: `acct-${name}`, name, email: `${name}@example.test` });

// A stable number per account name, so two users differ and a test can predict it.
const numericId = (name) => {
  let n = 0;
  for (const ch of name) n = (n * 31 + ch.codePointAt(0)) % 900000;
  return 100000 + n;
};

// vast's `show user`: integers, a fractional balance, a large integer and nested objects, keys in
// no sorted order (as vast's page shows them: id, email, credit, ssh_key), so a client that passes
// JSON through can be told from one that re-encodes it or sorts its keys.
const vastUserOf = (name) => ({
  id: numericId(name),
  username: name,
  email: `${name}@example.test`,
  credit: 12.5,
  balance: -0.75,
  total_spend: 1234567.891,
  storage_bytes: 9007199254740991,
  verified: true,
  ssh_key: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${name} ${name}@example.test`,
  billing: { limits: { instances: [1, 2.5, 1e21], daily: 250 }, currency: 'USD' },
  team: null,
});

const KEY_ROUTES = [
  { prefix: '/api/api-keys', slash: false, list: 'keys' },
  { prefix: '/api/v0/auth/apikeys', slash: true, list: 'apikeys' },
];

const fullRights = () => new Set(RIGHTS);

async function apiIdentity(req, provider) {
  const header = req.headers.authorization ?? '';
  const match = /^(?:Bearer|Api-Key) (.+)$/u.exec(header);
  const key = match ? match[1] : (req.headers['x-api-key'] ?? '');
  if (key.startsWith('key_valid_')) {
    const name = key.slice('key_valid_'.length) || 'user';
    return { status: 200, name, rights: fullRights() };
  }
  // Valid but not allowed: only the insufficient_scope challenge says so (RFC 6750 3.1).
  if (key.startsWith('key_forbidden_')) {
    return {
      status: 403,
      body: { error: 'forbidden', message: 'this key may not use the API' },
      headers: { 'www-authenticate': 'Bearer realm="api", error="insufficient_scope", scope="api:read"' },
    };
  }
  // A bare 403, as some servers answer for revoked keys.
  if (key.startsWith('key_refused_')) {
    return { status: 403, body: { error: 'forbidden', message: 'this key was revoked' } };
  }
  const created = key ? [...state.keys.values()].find((k) => k.key === key) : undefined;
  if (created) return { status: 200, name: created.owner, rights: created.rights };
  const token = key ? await provider.AccessToken.find(key) : undefined;
  if (token && !token.isExpired) {
    return { status: 200, name: token.accountId, rights: fullRights() };
  }
  return { status: 401, body: { error: 'unauthorized', message: 'unknown or missing API key' } };
}

const publicKey = (k) => ({ id: k.id, name: k.name, permissions: k.permissions, created_at: k.created_at });

function parsePermissions(value) {
  if (value === undefined || value === null) return { rights: fullRights(), permissions: null };
  const api = value?.api;
  if (typeof value !== 'object' || Array.isArray(value) || typeof api !== 'object' || api === null || Array.isArray(api)) {
    return { error: 'permissions must be an object like {"api": {"user_read": {}}}' };
  }
  const unknown = Object.keys(api).filter((r) => !RIGHTS.includes(r));
  if (unknown.length) return { error: `unknown permission ${unknown[0]}; known: ${RIGHTS.join(', ')}` };
  return { rights: new Set(Object.keys(api)), permissions: value };
}

// The key API under `route`; `rest` is the path after its prefix.
async function handleKeys(req, res, route, rest, who) {
  const need = (right, operation) => {
    if (who.rights.has(right)) return true;
    json(res, 403, {
      success: false,
      error: 'insufficient_permissions',
      msg: `this API key lacks ${right}, needed to ${operation}`,
    });
    return false;
  };
  const idPath = route.slash ? /^\/([^/]+)\/$/u : /^\/([^/]+)$/u;
  if (rest === '' || rest === '/') {
    if (route.slash !== (rest === '/')) return json(res, 404, { error: 'not_found' });
    if (req.method === 'GET') {
      if (!need('user_read', 'list API keys')) return undefined;
      const mine = [...state.keys.values()].filter((k) => k.owner === who.name).map(publicKey);
      return json(res, 200, { [route.list]: mine });
    }
    if (req.method === 'POST') {
      if (!need('user_write', 'create API keys')) return undefined;
      let body;
      try {
        body = JSON.parse(await readBody(req));
      } catch (error) {
        return json(res, 400, { error: 'invalid_request', msg: `body must be JSON: ${error.message}` });
      }
      if (typeof body?.name !== 'string' || body.name.trim() === '') {
        return json(res, 400, { error: 'invalid_request', msg: 'name is required' });
      }
      const parsed = parsePermissions(body.permissions);
      if (parsed.error) return json(res, 400, { error: 'invalid_request', msg: parsed.error });
      state.nextKeyId += 1;
      const record = {
        id: state.nextKeyId,
        name: body.name,
        key: `vk_${randomBytes(24).toString('hex')}`,
        owner: who.name,
        rights: parsed.rights,
        permissions: parsed.permissions,
        created_at: Date.now() / 1000,
      };
      state.keys.set(String(record.id), record);
      state.counters.keys_created += 1;
      return json(res, 200, { ...publicKey(record), key: record.key });
    }
    return json(res, 405, { error: 'method_not_allowed' });
  }
  const match = idPath.exec(rest);
  if (!match) return json(res, 404, { error: 'not_found' });
  const record = state.keys.get(match[1]);
  const notFound = () => json(res, 404, { error: 'not_found', msg: `no API key ${match[1]}` });
  if (req.method === 'GET') {
    if (!need('user_read', 'show API keys')) return undefined;
    if (!record || record.owner !== who.name) return notFound();
    return json(res, 200, publicKey(record));
  }
  if (req.method === 'DELETE') {
    if (!need('user_write', 'delete API keys')) return undefined;
    if (!record || record.owner !== who.name) return notFound();
    state.keys.delete(match[1]);
    return json(res, 200, { success: true, id: record.id });
  }
  return json(res, 405, { error: 'method_not_allowed' });
}

async function handleApi(req, res, path, provider) {
  const counts = state.counters.api_requests;
  const counted = `${req.method} ${path}`;
  counts[counted] = (counts[counted] ?? 0) + 1;
  const who = await apiIdentity(req, provider);
  if (who.status !== 200) return json(res, who.status, who.body, who.headers);
  const read = (operation) => {
    if (who.rights.has('user_read')) return true;
    json(res, 403, {
      success: false,
      error: 'insufficient_permissions',
      msg: `this API key lacks user_read, needed to ${operation}`,
    });
    return false;
  };
  for (const route of KEY_ROUTES) {
    if (path === route.prefix || path.startsWith(`${route.prefix}/`)) {
      return handleKeys(req, res, route, path.slice(route.prefix.length), who);
    }
  }
  if (req.method !== 'GET') return json(res, 405, { error: 'method_not_allowed' });
  if (path === '/api/me') return read('show the account') && json(res, 200, identityOf(who.name));
  if (path === '/api/v0/users/current/') {
    return read('show the account') && json(res, 200, vastUserOf(who.name));
  }
  if (path === '/api/projects') {
    return read('list projects') && json(res, 200, { projects: projectsOf(who.name) });
  }
  if (path === '/api/v1/projects') return read('list projects') && json(res, 200, projectsOf(who.name));
  return json(res, 404, { error: 'not_found' });
}

async function handleTest(req, res, path) {
  if (path === '/__test/state' && req.method === 'GET') {
    return json(res, 200, publicState());
  }
  if (path === '/__test/reset' && req.method === 'POST') {
    state.switches = initialSwitches();
    state.counters = initialCounters();
    state.keys = new Map();
    state.nextKeyId = 41;
    return json(res, 200, publicState());
  }
  if (path === '/__test/set' && req.method === 'POST') {
    let patch;
    try {
      patch = JSON.parse(await readBody(req));
    } catch (error) {
      return json(res, 400, { error: `body must be a JSON object: ${error.message}` });
    }
    for (const [name, value] of Object.entries(patch ?? {})) {
      if (!SWITCH_NAMES.has(name)) return json(res, 400, { error: `unknown switch ${name}` });
      const boolean = BOOLEAN_SWITCHES.has(name);
      const valid = boolean
        ? typeof value === 'boolean'
        : value === null || (typeof value === 'number' && value >= 0);
      if (!valid) {
        return json(res, 400, { error: `switch ${name} takes ${boolean ? 'a boolean' : 'a non-negative number or null'}` });
      }
    }
    Object.assign(state.switches, patch);
    return json(res, 200, publicState());
  }
  return json(res, 404, { error: 'unknown test route' });
}

// Token endpoint front: count, delay, inject failures and slow_down, then hand the already-read body
// to the provider (oidc-provider reads `req.body` when the stream has been consumed).
async function frontTokenEndpoint(req, res, next) {
  const raw = await readBody(req);
  const params = querystring.parse(raw);
  const grantType = typeof params.grant_type === 'string' ? params.grant_type : '(none)';
  const counts = state.counters.token_requests;
  counts[grantType] = (counts[grantType] ?? 0) + 1;

  const { switches } = state;
  if (switches.delay_ms > 0) await sleep(switches.delay_ms);
  if (switches.fail_token > 0) {
    switches.fail_token -= 1;
    return json(res, switches.fail_status, {
      error: 'temporarily_unavailable',
      error_description: 'injected failure (test switch fail_token)',
    });
  }
  if (grantType === 'urn:ietf:params:oauth:grant-type:device_code' && switches.slow_downs > 0) {
    switches.slow_downs -= 1;
    return json(res, 400, {
      error: 'slow_down',
      error_description: 'injected slow_down (test switch slow_downs)',
    });
  }
  req.body = raw;
  return next();
}

function findAccount(_ctx, id) {
  return {
    accountId: id,
    async claims() {
      return { sub: id, email: `${id}@example.test`, email_verified: true };
    },
  };
}

function buildProvider(issuer) {
  const provider = new Provider(issuer, {
    // keyhole's CLI, and the seed CLIs built on keyhole (host-native/examples), each with its own id.
    clients: [CLI_CLIENT_ID, ...VENDOR_CLIENT_IDS].map((clientId) => ({
        client_id: clientId,
        client_name: `${clientId} CLI`,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: [
          'urn:ietf:params:oauth:grant-type:device_code',
          'authorization_code',
          'refresh_token',
        ],
        response_types: ['code'],
        // RFC 8252 §7.3: a native client's loopback redirect matches on any port.
        redirect_uris: ['http://127.0.0.1/callback'],
      })).concat([
      {
        client_id: INTROSPECTOR_ID,
        client_secret: INTROSPECTOR_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
    ]),
    findAccount,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
    },
    scopes: ['openid', 'email', 'offline_access'],
    // Put the email into the ID token too, as the common hosted providers do.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
    rotateRefreshToken: () => state.switches.rotate,
    // A refresh token for every grant of the CLI client, even when offline_access was dropped.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      AccessToken: () => state.switches.access_ttl,
      AuthorizationCode: 60,
      DeviceCode: () => state.switches.device_code_ttl,
      IdToken: () => state.switches.access_ttl,
      RefreshToken: () => state.switches.refresh_ttl,
      Grant: () => Math.max(state.switches.refresh_ttl, 3600),
      Interaction: 600,
      Session: 3600,
    },
    cookies: { keys: ['keyhole-test-cookie-key-not-secret'] },
    // The default renderer leaks stack traces to the page; keep errors short and textual.
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><title>error</title><h1>oops</h1><pre id="error">${
        String(out.error).replace(/[<>&]/gu, '')}: ${String(out.error_description ?? '').replace(/[<>&]/gu, '')}</pre>`;
    },
  });
  provider.proxy = false;

  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'device_authorization' && ctx.status === 200) {
      state.counters.device_authorizations += 1;
      state.counters.last_user_code = ctx.body?.user_code ?? null;
      if (state.switches.interval !== null && ctx.body && typeof ctx.body === 'object') {
        ctx.body = { ...ctx.body, interval: state.switches.interval };
      }
    }
    if (ctx.oidc?.route === 'token' && state.switches.drop_id_token
        && ctx.body && typeof ctx.body === 'object') {
      const { id_token: _dropped, ...rest } = ctx.body;
      ctx.body = rest;
    }
    if (ctx.oidc?.route === 'revocation') state.counters.revocations += 1;
  });
  return provider;
}

export async function start({ port = 0, quiet = false } = {}) {
  let callback = null;
  let provider = null;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const path = url.pathname;
    const fail = (error) => {
      if (!res.headersSent) json(res, 500, { error: 'server_error', error_description: String(error?.message ?? error) });
      else res.destroy();
    };
    try {
      if (path.startsWith('/__test/')) return void handleTest(req, res, path).catch(fail);
      if (path.startsWith('/api/')) return void handleApi(req, res, path, provider).catch(fail);
      if (path === '/token' && req.method === 'POST') {
        return void frontTokenEndpoint(req, res, () => callback(req, res)).catch(fail);
      }
      return void callback(req, res);
    } catch (error) {
      return void fail(error);
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const actualPort = server.address().port;
  const issuer = `http://127.0.0.1:${actualPort}`;
  provider = buildProvider(issuer);
  if (quiet) provider.on('server_error', () => {});
  callback = provider.callback();
  return {
    issuer,
    port: actualPort,
    provider,
    close: () => new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const { issuer, port, close } = await start({ port: envInt('PORT', 0) });
  process.stdout.write(`READY ${JSON.stringify({ issuer, port })}\n`);
  const stop = () => { close().finally(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // --die-with-stdin: the harness holds our stdin; when it goes away (the test died), so do we.
  if (process.argv.includes('--die-with-stdin')) {
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
    process.stdin.resume();
  }
}
