// A real browser login against the test provider through the wasm-bindgen module and
// js/driver.mjs: headless Chromium (tests/provider/browser-login.mjs) plays the user, the
// driver's loopback listener receives the redirect, PKCE and state are the machine's.

import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { existsSync } from "node:fs";
import { after, before, test } from "node:test";

import { browserLogin, startProvider } from "./provider.mjs";
import { freePort, loadDriver, loadModule } from "./support.mjs";

let provider;
before(async () => {
  provider = await startProvider();
});
after(async () => {
  await provider?.stop();
});

test("browser login: Chromium approves, the loopback callback completes the PKCE exchange", async () => {
  const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
  assert.ok(existsSync(chromium), `no browser at ${chromium}; install Debian's chromium (apt-get install chromium) or set CHROMIUM`);
  const keyhole = loadModule();
  const { drive, fetchIo, loopbackCallbacks } = await loadDriver();
  const port = await freePort();
  const callbacks = await loopbackCallbacks(port);
  const opened = [];
  let browser;
  let forged;
  const io = fetchIo({
    callbacks,
    openBrowser: (url) => {
      opened.push(url);
      // Another local program sends a callback with the wrong state first: it is answered 400
      // and the login waits on for the browser's real redirect.
      forged = fetch(`http://127.0.0.1:${port}/callback?code=forged&state=wrong`).then(async (r) => [r.status, await r.text()]);
      browser = forged.then(() => browserLogin(url));
      return true;
    },
  });
  try {
    const endpoints = await drive(new keyhole.Discovery({ issuer: provider.issuer }, Date.now()), io);
    const config = { client: { client_id: "keyhole-cli", scopes: ["openid", "offline_access"] }, endpoints, redirect_port: port };
    const tokens = await drive(new keyhole.BrowserLogin(config, Date.now(), webcrypto.getRandomValues(new Uint8Array(64))), io);
    await browser;
    const [forgedStatus, forgedPage] = await forged;
    assert.equal(forgedStatus, 400);
    assert.doesNotMatch(forgedPage, /Login received/);
    assert.equal(opened.length, 1);
    const url = new URL(opened[0]);
    assert.equal(url.searchParams.get("redirect_uri"), `http://127.0.0.1:${port}/callback`);
    assert.equal(url.searchParams.get("code_challenge_method"), "S256");
    assert.equal(tokens.token_type, "Bearer");
    const userinfo = await fetch(endpoints.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(userinfo.status, 200);
  } finally {
    await callbacks.close();
  }
});
