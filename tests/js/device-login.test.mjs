// Real device logins against the test provider, from Node: the wasm-bindgen module driven by
// js/driver.mjs, and the component's machines driven by the same driver.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { newMachine } from "../../js/host/wit.mjs";
import { approveDevice, startProvider } from "./provider.mjs";
import { loadComponent, loadDriver, loadModule } from "./support.mjs";

const CLIENT = { client_id: "keyhole-cli", scopes: ["openid", "offline_access"] };

let provider;
before(async () => {
  // A one-second polling interval keeps the test short; the machine still honours it.
  provider = await startProvider({ KEYHOLE_TEST_INTERVAL: "1" });
});
after(async () => {
  await provider?.stop();
});

/** Discovery, then a device login approved (or denied) through the provider's pages */
async function deviceLogin(build, { deny = false } = {}) {
  const { drive, fetchIo } = await loadDriver();
  let approval;
  const prompts = [];
  const io = fetchIo({
    show: (prompt) => {
      prompts.push(prompt);
      approval = approveDevice(provider.issuer, prompt.user_code, { deny });
    },
  });
  const endpoints = await drive(build("discovery", { issuer: provider.issuer }), io);
  assert.equal(endpoints.issuer, provider.issuer);
  assert.ok(endpoints.device_authorization_endpoint.startsWith(provider.issuer));
  const started = Date.now();
  try {
    const tokens = await drive(build("device_login", { client: CLIENT, endpoints }), io);
    return { tokens, endpoints, started, prompts, approval: await approval };
  } catch (error) {
    return { error, prompts, approval: await approval };
  }
}

async function userinfo(endpoints, accessToken) {
  const response = await fetch(endpoints.userinfo_endpoint, { headers: { authorization: `Bearer ${accessToken}` } });
  assert.equal(response.status, 200, "the provider accepts the access token");
  return response.json();
}

function checkTokens({ tokens, started, prompts, approval }) {
  assert.equal(prompts.length, 1, "one prompt shown");
  assert.match(prompts[0].verification_uri, /^http:\/\/127\.0\.0\.1:\d+\//);
  assert.equal(approval.outcome, "approved");
  assert.equal(tokens.token_type, "Bearer");
  assert.equal(typeof tokens.access_token, "string");
  assert.ok(tokens.access_token.length > 10);
  assert.equal(typeof tokens.refresh_token, "string", "offline_access gives a refresh token");
  assert.ok(tokens.expires_at_ms > started, "expires_at_ms is computed from now");
}

describe("device login through the wasm-bindgen module and js/driver.mjs", () => {
  test("approved: tokens the provider accepts", async () => {
    const keyhole = loadModule();
    const result = await deviceLogin((kind, config) => new keyhole.Machine(kind, config, Date.now()));
    checkTokens(result);
    const claims = await userinfo(result.endpoints, result.tokens.access_token);
    assert.equal(typeof claims.sub, "string");
  });

  test("denied: a KeyholeError with code denied", async () => {
    const keyhole = loadModule();
    const result = await deviceLogin((kind, config) => new keyhole.Machine(kind, config, Date.now()), { deny: true });
    assert.equal(result.approval.outcome, "denied");
    assert.equal(result.error?.name, "KeyholeError", String(result.error));
    assert.equal(result.error.code, "denied");
    assert.match(result.error.message, /denied/);
  });
});

describe("device login through the component's machines and js/driver.mjs", () => {
  test("approved: tokens the provider accepts", async () => {
    const keyhole = await loadComponent();
    const result = await deviceLogin((kind, config) => newMachine(keyhole.machine, kind, config, Date.now()));
    checkTokens(result);
    await userinfo(result.endpoints, result.tokens.access_token);
  });
});

describe("js/examples/device-login.mjs", () => {
  test("logs in against the provider when a person approves the printed code", async () => {
    const { spawn } = await import("node:child_process");
    const { join } = await import("node:path");
    const { root } = await import("./support.mjs");
    const child = spawn(process.execPath, [join(root, "js", "examples", "device-login.mjs"), provider.issuer, CLIENT.client_id, ...CLIENT.scopes], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let approval;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      const code = /enter the code (\S+)/.exec(String(d));
      if (code) approval = approveDevice(provider.issuer, code[1]);
    });
    const exit = await new Promise((resolve) => child.on("exit", resolve));
    assert.equal(exit, 0);
    assert.equal((await approval).outcome, "approved");
    const printed = JSON.parse(stdout);
    assert.equal(printed.token_type, "Bearer");
    assert.equal(printed.has_refresh_token, true);
    assert.ok(!stdout.includes("access_token"), "no secret is printed");
  });
});
