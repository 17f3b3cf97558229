// The test provider's account API on its own: per-user projects in both shapes, vast's `show user`
// with numbers and nested objects, and key CRUD with permission checks (a created key works, a
// deleted one is refused, a scoped one is refused what it lacks). Run: `node --test tests/provider/`.

import { strict as assert } from 'node:assert';
import { after, before, beforeEach, describe, test } from 'node:test';

import { start } from './server.mjs';

let server;
before(async () => { server = await start({ quiet: true }); });
after(async () => { await server?.close(); });
beforeEach(async () => { await fetch(`${server.issuer}/__test/reset`, { method: 'POST' }); });

async function api(method, path, key, body) {
  const headers = key ? { authorization: `Bearer ${key}` } : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.issuer}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, text, body: text ? JSON.parse(text) : null };
}

const state = async () => (await fetch(`${server.issuer}/__test/state`)).json();

describe('projects', () => {
  test('each user sees their own projects, wrapped or as a bare array', async () => {
    const dana = await api('GET', '/api/projects', 'key_valid_dana');
    assert.equal(dana.status, 200);
    assert.deepEqual(dana.body, {
      projects: [{ id: 'proj-alpha', name: 'Alpha' }, { id: 'proj-dana', name: "dana's sandbox" }],
    });
    const erin = await api('GET', '/api/v1/projects', 'key_valid_erin');
    assert.equal(erin.status, 200);
    assert.ok(Array.isArray(erin.body));
    assert.deepEqual(erin.body.map((p) => p.id), ['proj-alpha', 'proj-erin']);
    assert.equal((await api('GET', '/api/v1/projects', 'nope')).status, 401);
  });
});

describe('vast show user', () => {
  test('numbers, floats and nested objects, different per user', async () => {
    const me = await api('GET', '/api/v0/users/current/', 'key_valid_vera');
    assert.equal(me.status, 200);
    assert.equal(me.body.email, 'vera@example.test');
    assert.equal(typeof me.body.id, 'number');
    assert.equal(me.body.credit, 12.5);
    assert.match(me.text, /"credit":12\.5/u, 'a fractional number on the wire');
    assert.equal(me.body.storage_bytes, 9007199254740991);
    assert.deepEqual(me.body.billing.limits.instances, [1, 2.5, 1e21]);
    const other = await api('GET', '/api/v0/users/current/', 'key_valid_walt');
    assert.notEqual(other.body.id, me.body.id);
    assert.equal((await api('GET', '/api/v0/users/current/')).status, 401);
  });
});

describe('key CRUD', () => {
  test('create, list, show, use, delete, refused', async () => {
    const created = await api('POST', '/api/v0/auth/apikeys/', 'key_valid_vera', { name: 'ci-deploy-key' });
    assert.equal(created.status, 200, created.text);
    assert.equal(created.body.id, 42);
    assert.equal(created.body.name, 'ci-deploy-key');
    assert.match(created.body.key, /^vk_[0-9a-f]{48}$/u);
    const { key, id } = created.body;

    const listed = await api('GET', '/api/v0/auth/apikeys/', 'key_valid_vera');
    assert.deepEqual(listed.body.apikeys.map((k) => k.id), [id]);
    assert.ok(!listed.text.includes(key), 'a listing never shows the secret');
    const shown = await api('GET', `/api/v0/auth/apikeys/${id}/`, 'key_valid_vera');
    assert.equal(shown.body.name, 'ci-deploy-key');
    assert.ok(!shown.text.includes(key));
    assert.ok(!JSON.stringify(await state()).includes(key), 'the test state never shows it either');

    const asNewKey = await api('GET', '/api/v0/users/current/', key);
    assert.equal(asNewKey.status, 200);
    assert.equal(asNewKey.body.email, 'vera@example.test', 'the new key acts for its owner');

    // Another user neither sees nor deletes it.
    assert.equal((await api('GET', `/api/v0/auth/apikeys/${id}/`, 'key_valid_walt')).status, 404);
    assert.equal((await api('DELETE', `/api/v0/auth/apikeys/${id}/`, 'key_valid_walt')).status, 404);
    assert.deepEqual((await api('GET', '/api/v0/auth/apikeys/', 'key_valid_walt')).body.apikeys, []);

    const deleted = await api('DELETE', `/api/v0/auth/apikeys/${id}/`, 'key_valid_vera');
    assert.deepEqual(deleted.body, { success: true, id });
    assert.equal((await api('GET', '/api/v0/users/current/', key)).status, 401, 'a deleted key is refused');
    const again = await api('GET', `/api/v0/auth/apikeys/${id}/`, 'key_valid_vera');
    assert.equal(again.status, 404);
    assert.match(again.body.msg, /42/u, 'the 404 names the id');
  });

  test('a scoped key is refused what it lacks and allowed what it has', async () => {
    const scoped = await api('POST', '/api/api-keys', 'key_valid_vera', {
      name: 'read-only',
      permissions: { api: { user_read: {} } },
    });
    assert.equal(scoped.status, 200, scoped.text);
    assert.deepEqual(scoped.body.permissions, { api: { user_read: {} } });
    const { key } = scoped.body;
    assert.equal((await api('GET', '/api/me', key)).status, 200);
    assert.equal((await api('GET', '/api/api-keys', key)).status, 200);
    const refused = await api('POST', '/api/api-keys', key, { name: 'escalate' });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'insufficient_permissions');
    assert.match(refused.body.msg, /create API keys/u);
    assert.equal((await api('DELETE', `/api/api-keys/${scoped.body.id}`, key)).status, 403);

    const none = await api('POST', '/api/api-keys', 'key_valid_vera', { name: 'nothing', permissions: { api: {} } });
    assert.equal((await api('GET', '/api/me', none.body.key)).status, 403);
    assert.equal((await state()).counters.keys_created, 2);
  });

  test('bad bodies are refused and counted requests show what was sent', async () => {
    assert.equal((await api('POST', '/api/api-keys', 'key_valid_vera', '{nope')).status, 400);
    assert.equal((await api('POST', '/api/api-keys', 'key_valid_vera', { name: '' })).status, 400);
    assert.equal((await api('POST', '/api/api-keys', 'key_valid_vera', { name: 'x', permissions: [1] })).status, 400);
    assert.equal((await api('POST', '/api/api-keys', 'key_valid_vera', { name: 'x', permissions: { api: { root: {} } } })).status, 400);
    assert.equal((await api('POST', '/api/api-keys', 'garbage', { name: 'x' })).status, 401);
    const { counters } = await state();
    assert.equal(counters.api_requests['POST /api/api-keys'], 5);
    assert.equal(counters.keys_created, 0);
    assert.equal(counters.api_requests['POST /api/v0/auth/apikeys/'], undefined);
  });

  test('reset forgets created keys', async () => {
    const created = await api('POST', '/api/api-keys', 'key_valid_vera', { name: 'temp' });
    await fetch(`${server.issuer}/__test/reset`, { method: 'POST' });
    assert.equal((await api('GET', '/api/me', created.body.key)).status, 401);
    assert.equal((await api('POST', '/api/api-keys', 'key_valid_vera', { name: 'next' })).body.id, 42);
  });
});
