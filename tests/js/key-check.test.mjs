// API-key checks against the test provider's fake API through the wasm-bindgen module and the
// driver: a valid key with its identity picked by JSON pointer, a rejected key, a forbidden key.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { startProvider } from "./provider.mjs";
import { loadDriver, loadModule } from "./support.mjs";

let provider;
before(async () => {
  provider = await startProvider();
});
after(async () => {
  await provider?.stop();
});

async function check(key) {
  const keyhole = loadModule();
  const { drive, fetchIo } = await loadDriver();
  const spec = { url: `${provider.issuer}/api/me`, identity: { email: "/email", account: "/id" } };
  return drive(new keyhole.KeyCheck({ key, spec }, Date.now()), fetchIo());
}

test("a valid key: 2xx with the identity fields", async () => {
  const report = await check("key_valid_ada");
  assert.equal(report.status, 200);
  assert.deepEqual(report.identity, { email: "ada@example.test", account: "acct-ada" });
  assert.equal(typeof report.elapsed_ms, "number");
});

test("a rejected key is invalid_key, a forbidden one insufficient_permission", async () => {
  await assert.rejects(check("key_nonsense"), (e) => e.name === "KeyholeError" && e.code === "invalid_key");
  await assert.rejects(check("key_forbidden_bob"), (e) => e.name === "KeyholeError" && e.code === "insufficient_permission");
});
