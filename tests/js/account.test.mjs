// Account calls against the test provider's account API (tests/provider/server.mjs, vast.ai's and
// keyhole's shapes) from Node, through every JS surface that exposes them:
//   - the wasm-bindgen module's `AccountCall` class, driven by js/driver.mjs with a secret store;
//   - the component's `machines` export under jco, driven by the same driver (js/host/wit.mjs);
//   - the component's `client` export under jco, through `remoteClient(…).accountCall` (js/host/client.mjs).
// Each runs whoami, list projects, create → list → show → delete a key, a 403 for a scoped key, a 404
// on an unknown id and a 401 for the deleted key; the account JSON keeps the server's key order.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { remoteClient } from "../../js/host/client.mjs";
import { newMachine } from "../../js/host/wit.mjs";
import { startProvider } from "./provider.mjs";
import { loadComponent, loadDriver, loadModule } from "./support.mjs";

let provider;
before(async () => {
  provider = await startProvider();
});
after(async () => {
  await provider?.stop();
});

/** The provider's own answer to `path` for `key`: its text (the key order to expect) and value */
async function direct(path, key) {
  const response = await fetch(`${provider.issuer}${path}`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(response.status, 200, `${path}: ${response.status}`);
  const text = await response.text();
  return { text, value: JSON.parse(text) };
}

/** Every object key of `value`, nested ones included, in the order JS holds them */
function keysInOrder(value, out = []) {
  if (Array.isArray(value)) value.forEach((item) => keysInOrder(item, out));
  else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      out.push(key);
      keysInOrder(item, out);
    }
  }
  return out;
}

/** The server's user JSON must come through as sent: same value, same key order, not sorted */
async function assertUserAsSent(body, key) {
  const sent = await direct("/api/v0/users/current/", key);
  assert.deepEqual(body, sent.value);
  const order = keysInOrder(body);
  assert.deepEqual(order, keysInOrder(sent.value), "the server's key order, nested objects too");
  assert.deepEqual(order.slice(0, 3), ["id", "username", "email"]);
  assert.notDeepEqual(order, [...order].sort(), "the fixture's keys are not sorted");
  assert.equal(body.storage_bytes, 9007199254740991, "numbers stay numbers");
}

// The account API as the vast preset describes it, relative to `${issuer}/api`.
const WHOAMI = { method: "get", path: "v0/users/current/", label: ["/email", "/id"] };
const PROJECTS = { method: "get", path: "projects", list: "/projects", id_field: "id", name_field: "name" };
const KEYS = { method: "get", path: "v0/auth/apikeys/", list: "/apikeys" };
const KEY = "v0/auth/apikeys/{id}/";
const createKey = (name, permissions) => ({
  method: "post",
  path: "v0/auth/apikeys/",
  name,
  ...(permissions ? { permissions } : {}),
  name_field: "name",
  permissions_field: "permissions",
  key_pointer: "/key",
});

// The two machine surfaces: the same config and transcript-form values, different builds.
const SURFACES = {
  "wasm-bindgen module": async () => {
    const keyhole = loadModule();
    return (config) => new keyhole.AccountCall(config, Date.now());
  },
  "component machines under jco": async () => {
    const keyhole = await loadComponent();
    return (config) => newMachine(keyhole.machine, "account_call", config, Date.now());
  },
};

for (const [surface, load] of Object.entries(SURFACES)) {
  describe(`account calls through the ${surface}`, () => {
    test("whoami, projects, the key lifecycle, 403, 404 and 401 against the live API", async () => {
      const build = await load();
      const { drive, fetchIo, MemoryStore, KeyholeError } = await loadDriver();
      // The credential as a host stores it: keyhole's record under `remote/account`.
      const record = (key) => JSON.stringify({ api_key: key, updated_at_ms: Date.now(), version: 1 });
      const store = new MemoryStore({ "vast/vera": record("key_valid_vera") });
      const io = fetchIo({ store });
      const call = (operation, credential = {}) =>
        drive(
          build({
            credential: { key: "vast/vera", prefer: "api_key", ...credential },
            api_base: `${provider.issuer}/api`,
            operation,
          }),
          io,
        );

      const whoami = await call({ whoami: WHOAMI });
      assert.deepEqual(Object.keys(whoami), ["operation", "body", "label"]);
      assert.equal(whoami.operation, "whoami");
      assert.equal(whoami.label, "vera@example.test");
      await assertUserAsSent(whoami.body, "key_valid_vera");

      const projects = await call({ list_projects: PROJECTS });
      assert.deepEqual(projects, {
        operation: "list_projects",
        projects: [
          { id: "proj-alpha", name: "Alpha" },
          { id: "proj-vera", name: "vera's sandbox" },
        ],
      });

      const created = await call({ create_key: createKey("ci-deploy-key") });
      assert.equal(created.operation, "create_key");
      assert.match(created.key, /^vk_[0-9a-f]{48}$/);
      assert.equal(created.body.name, "ci-deploy-key");
      assert.equal(created.body.key, undefined, "the key is taken out of the rest of the answer");
      assert.deepEqual(Object.keys(created.body), ["id", "name", "permissions", "created_at"], "in the server's order");
      const id = String(created.body.id);

      const listed = await call({ list_keys: KEYS });
      assert.equal(listed.operation, "list_keys");
      assert.deepEqual(listed.keys.map((k) => String(k.id)), [id]);
      assert.ok(!JSON.stringify(listed).includes(created.key), "listing never shows a secret");

      const shown = await call({ show_key: { method: "get", path: KEY, id } });
      assert.equal(shown.operation, "show_key");
      assert.deepEqual(Object.keys(shown.body), ["id", "name", "permissions", "created_at"]);
      assert.equal(shown.body.name, "ci-deploy-key");

      // The new key works, through the environment key of the credential config.
      const asNew = await call({ whoami: WHOAMI }, { env_api_key: created.key });
      assert.equal(asNew.body.email, "vera@example.test");

      // A scoped key may read but not write: 403 names the operation.
      const scoped = await call({ create_key: createKey("read-only", { api: { user_read: {} } }) });
      await assert.rejects(
        call({ create_key: createKey("not-allowed") }, { env_api_key: scoped.key }),
        (e) => e instanceof KeyholeError && e.code === "insufficient_permission" && /create API keys/.test(e.message) && !e.message.includes(scoped.key),
      );
      // 404 on an id names the id.
      await assert.rejects(
        call({ show_key: { method: "get", path: KEY, id: "999999" } }),
        (e) => e.code === "not_found" && e.message.includes("999999"),
      );

      const deleted = await call({ delete_key: { method: "delete", path: KEY, id } });
      assert.deepEqual(deleted, { operation: "delete_key", id });
      // The deleted key is refused: a 401 for an API key is invalid_key.
      await assert.rejects(call({ whoami: WHOAMI }, { env_api_key: created.key }), (e) => e.code === "invalid_key");
      await call({ delete_key: { method: "delete", path: KEY, id: String(scoped.body.id) } });
    });
  });
}

describe("account calls through the component's client export (remoteClient(…).accountCall)", () => {
  const wit = {
    whoami: { tag: "whoami", val: { method: "get", path: WHOAMI.path, label: WHOAMI.label } },
    projects: { tag: "list-projects", val: { method: "get", path: "projects", list: "/projects", idField: "id", nameField: "name" } },
    listKeys: { tag: "list-keys", val: { method: "get", path: KEYS.path, list: KEYS.list } },
    create: (name, permissions) => ({
      tag: "create-key",
      val: {
        method: "post",
        path: KEYS.path,
        name,
        permissionsJson: permissions === undefined ? undefined : JSON.stringify(permissions),
        nameField: "name",
        permissionsField: "permissions",
        keyPointer: "/key",
      },
    }),
    showKey: (id) => ({ tag: "show-key", val: { method: "get", path: KEY, id } }),
    deleteKey: (id) => ({ tag: "delete-key", val: { method: "delete", path: KEY, id } }),
  };

  test("a stored key runs every operation; errors are the WIT auth-error", async () => {
    const keyhole = await loadComponent();
    const remote = remoteClient(keyhole, {
      name: "vast",
      issuer: undefined,
      endpoints: undefined,
      client: { clientId: "vastai", clientSecret: undefined, scopes: [] },
      apiUrl: `${provider.issuer}/api`,
      keyCheck: undefined,
      envPrecedence: "override",
    });
    const login = remote.loginApiKey("key_valid_vera");
    assert.equal(login.authType, "api-key");
    const options = { prefer: "api-key", envApiKey: undefined };
    const call = (operation, opts = options) => remote.accountCall(login.account, opts, operation);

    const whoami = call(wit.whoami);
    assert.equal(whoami.tag, "whoami");
    assert.deepEqual(Object.keys(whoami.val).sort(), ["bodyJson", "label"]);
    assert.equal(whoami.val.label, "vera@example.test");
    const sent = await direct("/api/v0/users/current/", "key_valid_vera");
    assert.equal(whoami.val.bodyJson, sent.text, "the server's JSON text, unchanged");
    await assertUserAsSent(JSON.parse(whoami.val.bodyJson), "key_valid_vera");

    const projects = call(wit.projects);
    assert.deepEqual(projects, {
      tag: "projects",
      val: [
        { id: "proj-alpha", name: "Alpha" },
        { id: "proj-vera", name: "vera's sandbox" },
      ],
    });

    const created = call(wit.create("ci-deploy-key"));
    assert.equal(created.tag, "created-key");
    assert.match(created.val.key, /^vk_[0-9a-f]{48}$/);
    const body = JSON.parse(created.val.bodyJson);
    assert.deepEqual(Object.keys(body), ["id", "name", "permissions", "created_at"]);
    const id = String(body.id);

    const listed = call(wit.listKeys);
    assert.equal(listed.tag, "keys");
    assert.deepEqual(listed.val.map((k) => String(JSON.parse(k).id)), [id]);
    const shown = call(wit.showKey(id));
    assert.equal(shown.tag, "key");
    assert.equal(JSON.parse(shown.val).name, "ci-deploy-key");

    // The environment key (override) is the credential: the new key works.
    const asNew = call(wit.whoami, { prefer: "api-key", envApiKey: created.val.key });
    assert.equal(JSON.parse(asNew.val.bodyJson).email, "vera@example.test");

    const scoped = call(wit.create("read-only", { api: { user_read: {} } }));
    assert.throws(
      () => call(wit.create("not-allowed"), { prefer: "api-key", envApiKey: scoped.val.key }),
      (e) => e.payload?.kind?.tag === "insufficient-permission" && /create API keys/.test(e.payload.message),
    );
    assert.throws(
      () => call(wit.showKey("999999")),
      (e) => e.payload?.kind?.tag === "not-found" && e.payload.kind.val === "999999",
    );

    assert.deepEqual(call(wit.deleteKey(id)), { tag: "deleted", val: id });
    assert.throws(
      () => call(wit.whoami, { prefer: "api-key", envApiKey: created.val.key }),
      (e) => e.payload?.kind?.tag === "invalid-key",
    );
    call(wit.deleteKey(JSON.parse(scoped.val.bodyJson).id.toString()));
  });
});
