// A real device login through the component's `client` export under jco: the flow runs inside the
// component and reaches the provider through the JS imports (fetch on a worker, a file secret
// store, a prompt handler that hands the code to a person: here approve-device.mjs).

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { remoteClient } from "../../js/host/client.mjs";
import { FileSecrets } from "../../js/host/store.mjs";
import { approveDevice, browserLogin, startProvider } from "./provider.mjs";
import { freePort, loadComponent } from "./support.mjs";

let provider;
let dir;
before(async () => {
  provider = await startProvider({ KEYHOLE_TEST_INTERVAL: "1" });
  dir = mkdtempSync(join(tmpdir(), "keyhole-js-client-"));
});
after(async () => {
  await provider?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const remoteFor = (issuer, extra = {}) => ({
  name: "test",
  issuer,
  endpoints: undefined,
  client: { clientId: "keyhole-cli", clientSecret: undefined, scopes: ["openid", "offline_access"] },
  apiUrl: undefined,
  keyCheck: undefined,
  envPrecedence: "override",
  apiKeyFallback: true,
  accountLabel: undefined,
  ...extra,
});

test("device login, token, status and logout through the component's client export", async () => {
  const storePath = join(dir, "secrets.json");
  const prompts = [];
  let approval;
  const keyhole = await loadComponent({
    secrets: new FileSecrets(storePath),
    showPrompt: (prompt) => {
      prompts.push(prompt);
      // Another process, so it runs while the component blocks this thread.
      approval = approveDevice(provider.issuer, prompt.user_code);
    },
  });

  // The remote is handed over once; the operations are the wrapper's methods.
  const remote = remoteClient(keyhole, remoteFor(provider.issuer));
  const started = Date.now();
  const login = remote.loginDevice(undefined);
  assert.equal((await approval).outcome, "approved");
  assert.equal(prompts.length, 1);
  assert.equal(login.remote, "test");
  assert.equal(login.authType, "oauth");
  assert.ok(login.expiresAtMs > BigInt(started));

  // The credential is in the store, in a file only its owner can read.
  const records = JSON.parse(readFileSync(storePath, "utf8"));
  assert.deepEqual(Object.keys(records), [`test/${login.account}`]);
  assert.equal(statSync(storePath).mode & 0o777, 0o600);

  const options = { prefer: "oauth", envApiKey: undefined };
  const token = remote.token(login.account, options);
  assert.equal(token.kind, "oauth");
  assert.equal(token.source, "store");
  assert.equal(token.tokenType, "Bearer");
  const endpoints = await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json();
  const userinfo = await fetch(endpoints.userinfo_endpoint, { headers: { authorization: `Bearer ${token.secret}` } });
  assert.equal(userinfo.status, 200, "the provider accepts the token the component hands out");

  const status = remote.status(login.account, options);
  assert.equal(status.loggedIn, true);
  assert.equal(status.hasOauth, true);

  const logout = remote.logout(login.account);
  assert.equal(logout.cleared, true);
  assert.ok(logout.revoked.includes("refresh_token"), `revoked ${logout.revoked}`);
  assert.deepEqual(logout.unrevoked, [], "nothing stays valid at the provider");
  assert.deepEqual(JSON.parse(readFileSync(storePath, "utf8")), {});
  assert.throws(() => remote.token(login.account, options), (e) => e.payload?.kind?.tag === "not-logged-in");
});

test("browser login through the client export: Chromium approves, the worker's listener gets the redirect", async () => {
  const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
  assert.ok(existsSync(chromium), `no browser at ${chromium}; install Debian's chromium (apt-get install chromium) or set CHROMIUM`);
  let browser;
  const keyhole = await loadComponent({
    openBrowser: (url) => {
      // Another process, so it runs while the component blocks this thread in wait-callback.
      browser = browserLogin(url);
      return true;
    },
  });
  const port = await freePort();
  const remote = remoteClient(keyhole, remoteFor(provider.issuer));
  const login = remote.loginBrowser(undefined, port, 60n);
  await browser;
  assert.equal(login.authType, "oauth");
  const token = remote.token(login.account, { prefer: "oauth", envApiKey: undefined });
  const endpoints = await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json();
  const userinfo = await fetch(endpoints.userinfo_endpoint, { headers: { authorization: `Bearer ${token.secret}` } });
  assert.equal(userinfo.status, 200);
});

test("API keys through the client export: checked before they are stored, then tested", async () => {
  const keyhole = await loadComponent();
  const keyCheck = { method: "get", url: `${provider.issuer}/api/me`, header: "authorization", scheme: "Bearer", identity: [["email", "/email"]] };
  const remote = remoteClient(keyhole, remoteFor(provider.issuer, { apiUrl: `${provider.issuer}/api`, keyCheck }));
  assert.throws(() => remote.loginApiKey("key_nonsense"), (e) => e.payload?.kind?.tag === "invalid-key");
  const login = remote.loginApiKey("key_valid_ada");
  assert.equal(login.authType, "api-key");
  assert.deepEqual(login.identity, [["email", "ada@example.test"]]);
  const options = { method: "api-key", url: undefined, key: undefined, credential: { prefer: "api-key", envApiKey: undefined } };
  const report = remote.test(login.account, options);
  assert.equal(report.status, 200);
  assert.deepEqual(report.identity, [["email", "ada@example.test"]]);
  // A failing test says what was called and what came back.
  const failing = { ...options, key: "key_forbidden_eve" };
  assert.throws(
    () => remote.test(login.account, failing),
    (e) => e.payload?.error?.kind?.tag === "insufficient-permission" && e.payload.status === 403 && e.payload.url === `${provider.issuer}/api/me`,
  );
  // Replacing the key checks it too; forgetting the account leaves nothing to use.
  assert.throws(() => remote.setKey(login.account, "key_nonsense"), (e) => e.payload?.kind?.tag === "invalid-key");
  assert.equal(remote.setKey(login.account, "key_valid_ada").account, login.account);
  remote.forget(login.account);
  const status = remote.status(login.account, options.credential);
  assert.equal(status.loggedIn, false);
  assert.equal(status.hasApiKey, false);

  // The remote's claims name the account, in its order (issue 12).
  const byId = { ...keyCheck, identity: [["email", "/email"], ["id", "/id"]] };
  const labelled = remoteClient(keyhole, remoteFor(provider.issuer, { keyCheck: byId, accountLabel: ["id", "email"] }));
  assert.equal(labelled.loginApiKey("key_valid_ada").account, "acct-ada");
  labelled.forget("acct-ada");
});

test("a secret store that cannot answer is a storage error from the client, and the instance lives on", async () => {
  const unavailable = () => {
    throw { payload: { tag: "unavailable", val: "the keyring is locked" } };
  };
  const secrets = { get: unavailable, set: unavailable, delete: unavailable, compareAndSwap: unavailable, lock: unavailable, unlock: unavailable };
  const keyhole = await loadComponent({ secrets });
  const remote = remoteClient(keyhole, remoteFor(provider.issuer));
  const options = { prefer: "oauth", envApiKey: undefined };
  assert.throws(
    () => remote.token("default", options),
    (e) => e.payload?.kind?.tag === "storage" && e.payload.kind.val.tag === "unavailable" && typeof e.payload.message === "string",
  );
  // With an environment key the store is not needed (env-precedence override).
  const token = remote.token("default", { prefer: "oauth", envApiKey: "key_valid_env" });
  assert.equal(token.source, "env");
  assert.equal(token.secret, "key_valid_env");
});
