// The browser path on its own: real headless Chromium logs in on the test provider and the redirect
// reaches a loopback callback on a port the provider never saw registered (RFC 8252 §7.3); the code
// is exchanged with PKCE. Needs Debian's /usr/bin/chromium.

import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { after, before, test } from 'node:test';

import { browserLogin } from './browser-login.mjs';
import { CLI_CLIENT_ID, start } from './server.mjs';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

let server;
before(async () => { server = await start({ quiet: true }); });
after(async () => { await server?.close(); });

// A loopback listener standing in for the CLI: resolves with the callback's query parameters.
async function loopback() {
  let resolveCallback;
  const received = new Promise((resolve) => { resolveCallback = resolve; });
  const listener = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('You can close this window.');
    resolveCallback(Object.fromEntries(url.searchParams));
  });
  await new Promise((resolve) => { listener.listen(0, '127.0.0.1', resolve); });
  return { port: listener.address().port, received, close: () => listener.close() };
}

function authorizationUrl({ port, challenge, state }) {
  const url = new URL(`${server.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: CLI_CLIENT_ID,
    response_type: 'code',
    redirect_uri: `http://127.0.0.1:${port}/callback`,
    scope: 'openid email offline_access',
    prompt: 'consent',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  return url.href;
}

test('Chromium logs in, consents and reaches the loopback callback; the code exchanges with PKCE', { timeout: 60_000 }, async () => {
  const callback = await loopback();
  try {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const state = randomBytes(16).toString('base64url');
    const result = await browserLogin({ url: authorizationUrl({ port: callback.port, challenge, state }), login: 'erin' });
    assert.equal(result.callback_reached, true, JSON.stringify(result));
    const params = await callback.received;
    assert.equal(params.state, state);
    assert.ok(params.code);

    const response = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: params.code,
        redirect_uri: `http://127.0.0.1:${callback.port}/callback`,
        client_id: CLI_CLIENT_ID,
        code_verifier: verifier,
      }).toString(),
    });
    const tokens = await response.json();
    assert.equal(response.status, 200, JSON.stringify(tokens));
    assert.ok(tokens.refresh_token);
    const claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url'));
    assert.equal(claims.email, 'erin@example.test');
  } finally {
    callback.close();
  }
});

test('an authorization request without PKCE is refused', async () => {
  const url = new URL(`${server.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: CLI_CLIENT_ID, response_type: 'code', redirect_uri: 'http://127.0.0.1:9/callback', scope: 'openid',
  }).toString();
  const response = await fetch(url, { redirect: 'manual' });
  const location = new URL(response.headers.get('location'));
  assert.equal(location.searchParams.get('error'), 'invalid_request');
  assert.match(location.searchParams.get('error_description'), /PKCE/u);
});

test('denying at consent redirects access_denied to the callback', { timeout: 60_000 }, async () => {
  const callback = await loopback();
  try {
    const challenge = createHash('sha256').update('v'.repeat(43)).digest('base64url');
    const result = await browserLogin({ url: authorizationUrl({ port: callback.port, challenge, state: 's1' }), deny: true });
    assert.equal(result.callback_reached, true, JSON.stringify(result));
    const params = await callback.received;
    assert.equal(params.error, 'access_denied');
    assert.equal(params.state, 's1');
  } finally {
    callback.close();
  }
});

test('Chromium approves a device code from verification_uri_complete', { timeout: 60_000 }, async () => {
  const form = (body) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body).toString(),
  });
  const auth = await (await fetch(`${server.issuer}/device/auth`, form({ client_id: CLI_CLIENT_ID, scope: 'openid email offline_access' }))).json();
  const result = await browserLogin({ url: auth.verification_uri_complete, login: 'gus' });
  assert.equal(result.device_approved, true, JSON.stringify(result));
  const tokens = await (await fetch(`${server.issuer}/token`, form({
    grant_type: DEVICE_GRANT, device_code: auth.device_code, client_id: CLI_CLIENT_ID,
  }))).json();
  assert.ok(tokens.access_token, JSON.stringify(tokens));
  const claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url'));
  assert.equal(claims.email, 'gus@example.test');
});
