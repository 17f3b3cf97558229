// The test provider on its own, before any keyhole binary is involved: a device flow end to end
// (authorize, approve over HTTP, poll, refresh with rotation, introspect, revoke), the test switches
// and the fake key-check API. Run: `node --test tests/provider/` (after `npm ci` there).

import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';

import { approveDevice } from './approve-device.mjs';
import {
  CLI_CLIENT_ID, INTROSPECTOR_ID, INTROSPECTOR_SECRET, start,
} from './server.mjs';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

let server;
before(async () => { server = await start({ quiet: true }); });
after(async () => { await server?.close(); });

async function post(path, form, headers = {}) {
  const response = await fetch(`${server.issuer}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function setSwitches(patch) {
  const response = await fetch(`${server.issuer}/__test/set`, { method: 'POST', body: JSON.stringify(patch) });
  assert.equal(response.status, 200);
  return response.json();
}

async function testState() {
  return (await fetch(`${server.issuer}/__test/state`)).json();
}

const reset = () => fetch(`${server.issuer}/__test/reset`, { method: 'POST' });

const introspectorAuth = {
  authorization: `Basic ${Buffer.from(`${INTROSPECTOR_ID}:${INTROSPECTOR_SECRET}`).toString('base64')}`,
};

async function introspect(token) {
  const { status, body } = await post('/token/introspection', { token }, introspectorAuth);
  assert.equal(status, 200);
  return body;
}

const deviceAuthorization = () => post('/device/auth', { client_id: CLI_CLIENT_ID, scope: 'openid email offline_access' });
const pollDevice = (deviceCode) => post('/token', { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: CLI_CLIENT_ID });
const refresh = (refreshToken) => post('/token', { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CLI_CLIENT_ID });

async function deviceLogin(login = 'alice') {
  const auth = await deviceAuthorization();
  assert.equal(auth.status, 200);
  await approveDevice({ issuer: server.issuer, userCode: auth.body.user_code, login });
  const tokens = await pollDevice(auth.body.device_code);
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  return tokens.body;
}

describe('device flow', () => {
  test('authorize, pending, approve, tokens, rotate, revoke', async () => {
    await reset();
    const auth = await deviceAuthorization();
    assert.equal(auth.status, 200);
    assert.match(auth.body.user_code, /^[A-Z]{4}-[A-Z]{4}$/u);
    assert.equal(auth.body.verification_uri, `${server.issuer}/device`);
    assert.equal(auth.body.interval, undefined, 'the provider leaves interval out unless asked');

    const pending = await pollDevice(auth.body.device_code);
    assert.equal(pending.status, 400);
    assert.equal(pending.body.error, 'authorization_pending');

    const approval = await approveDevice({ issuer: server.issuer, userCode: auth.body.user_code, login: 'carol' });
    assert.deepEqual(approval, { ok: true, outcome: 'approved', login: 'carol' });

    const tokens = await pollDevice(auth.body.device_code);
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.ok(tokens.body.access_token);
    assert.ok(tokens.body.refresh_token);
    assert.ok(tokens.body.id_token);
    const claims = JSON.parse(Buffer.from(tokens.body.id_token.split('.')[1], 'base64url'));
    assert.equal(claims.email, 'carol@example.test');
    assert.equal(claims.sub, 'carol');

    const rotated = await refresh(tokens.body.refresh_token);
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    assert.notEqual(rotated.body.refresh_token, tokens.body.refresh_token, 'rotation on');
    assert.equal((await introspect(tokens.body.refresh_token)).active, false, 'old refresh token consumed');
    assert.equal((await introspect(rotated.body.refresh_token)).active, true);
    assert.equal((await introspect(rotated.body.access_token)).active, true);

    const revoked = await post('/token/revocation', { token: rotated.body.refresh_token, client_id: CLI_CLIENT_ID });
    assert.equal(revoked.status, 200);
    assert.equal((await introspect(rotated.body.refresh_token)).active, false);
    assert.equal((await introspect(rotated.body.access_token)).active, false, 'revoking the refresh token ends the grant');

    const counts = (await testState()).counters.token_requests;
    assert.equal(counts[DEVICE_GRANT], 2);
    assert.equal(counts.refresh_token, 1);
  });

  test('reusing a rotated refresh token revokes the whole grant', async () => {
    const tokens = await deviceLogin();
    const rotated = await refresh(tokens.refresh_token);
    assert.equal(rotated.status, 200);
    const replay = await refresh(tokens.refresh_token);
    assert.equal(replay.body.error, 'invalid_grant');
    assert.equal((await introspect(rotated.body.refresh_token)).active, false);
  });

  test('denial answers access_denied to the poller', async () => {
    const auth = await deviceAuthorization();
    const result = await approveDevice({ issuer: server.issuer, userCode: auth.body.user_code, deny: true });
    assert.equal(result.outcome, 'denied');
    const polled = await pollDevice(auth.body.device_code);
    assert.equal(polled.body.error, 'access_denied');
  });

  test('device codes expire per the device_code_ttl switch', async () => {
    await reset();
    await setSwitches({ device_code_ttl: 1 });
    const auth = await deviceAuthorization();
    assert.equal(auth.body.expires_in, 1);
    await new Promise((resolve) => { setTimeout(resolve, 2100); });
    const polled = await pollDevice(auth.body.device_code);
    assert.equal(polled.body.error, 'expired_token');
    await reset();
  });
});

describe('test switches', () => {
  test('slow_down and interval injection', async () => {
    await reset();
    await setSwitches({ slow_downs: 2, interval: 1 });
    const auth = await deviceAuthorization();
    assert.equal(auth.body.interval, 1);
    assert.equal((await pollDevice(auth.body.device_code)).body.error, 'slow_down');
    assert.equal((await pollDevice(auth.body.device_code)).body.error, 'slow_down');
    assert.equal((await pollDevice(auth.body.device_code)).body.error, 'authorization_pending');
    const state = await testState();
    assert.equal(state.switches.slow_downs, 0);
    assert.equal(state.counters.token_requests[DEVICE_GRANT], 3);
    assert.equal(state.counters.device_authorizations, 1);
    assert.equal(state.counters.last_user_code, auth.body.user_code);
  });

  test('5xx injection, delay and access-token TTL', async () => {
    await reset();
    const tokens = await deviceLogin();
    await setSwitches({ fail_token: 2, fail_status: 502, delay_ms: 150, access_ttl: 7 });
    const began = Date.now();
    assert.equal((await refresh(tokens.refresh_token)).status, 502);
    assert.equal((await refresh(tokens.refresh_token)).status, 502);
    const ok = await refresh(tokens.refresh_token);
    assert.ok(Date.now() - began >= 450, 'each request waited delay_ms');
    assert.equal(ok.status, 200, 'failures were injected before the provider saw the token');
    assert.equal(ok.body.expires_in, 7);
    assert.equal((await testState()).counters.token_requests.refresh_token, 3);
    await reset();
  });

  test('rotation can be switched off', async () => {
    await reset();
    await setSwitches({ rotate: false });
    const tokens = await deviceLogin();
    const first = await refresh(tokens.refresh_token);
    assert.equal(first.status, 200);
    assert.equal(first.body.refresh_token, tokens.refresh_token, 'the same refresh token comes back');
    assert.equal((await refresh(tokens.refresh_token)).status, 200, 'the same refresh token works again');
    await reset();
  });

  test('unknown switches are refused', async () => {
    const response = await fetch(`${server.issuer}/__test/set`, { method: 'POST', body: '{"nope":1}' });
    assert.equal(response.status, 400);
  });
});

describe('fake API', () => {
  const api = (path, key) => fetch(`${server.issuer}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

  test('valid, forbidden and unknown keys', async () => {
    const valid = await api('/api/me', 'key_valid_dana');
    assert.equal(valid.status, 200);
    assert.deepEqual(await valid.json(), { email: 'dana@example.test', id: 'acct-dana', name: 'dana' });
    assert.equal((await api('/api/me', 'key_forbidden_x')).status, 403);
    assert.equal((await api('/api/me', 'garbage')).status, 401);
    assert.equal((await api('/api/me')).status, 401);
    const projects = await (await api('/api/projects', 'key_valid_dana')).json();
    assert.deepEqual(projects.projects.map((p) => p.id), ['proj-alpha', 'proj-dana']);
  });

  test('an OAuth access token from this provider is accepted for its account', async () => {
    const tokens = await deviceLogin('fred');
    const me = await api('/api/me', tokens.access_token);
    assert.equal(me.status, 200);
    assert.deepEqual(await me.json(), { email: 'fred@example.test', id: 'acct-fred', name: 'fred' });
    await post('/token/revocation', { token: tokens.refresh_token, client_id: CLI_CLIENT_ID });
    assert.equal((await api('/api/me', tokens.access_token)).status, 401, 'revoked with its grant');
  });
});
