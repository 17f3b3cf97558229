#!/usr/bin/env node
// A JS host running a device login with keyhole's wasm-bindgen module and async driver:
// discovery, then an RFC 8628 device login.
//
//   scripts/build-js module
//   node js/examples/device-login.mjs ISSUER CLIENT_ID [SCOPE…]
//
// Prints the verification URL and code on stderr, then the token set's non-secret fields as JSON.
// Keeping the tokens is the `credential` machine's job (its `store` outputs go to a store such as
// the driver's FileStore, in the core's record format); this example only logs in.

import { createRequire } from "node:module";

const pkg = new URL("../../target/js/keyhole-core/", import.meta.url);
const { Discovery, DeviceLogin } = createRequire(import.meta.url)(new URL("node/keyhole.js", pkg).pathname);
const { drive, fetchIo, KeyholeError } = await import(new URL("driver.mjs", pkg).href);

const [issuer, clientId, ...scopes] = process.argv.slice(2);
if (!issuer || !clientId) {
  console.error("usage: node js/examples/device-login.mjs ISSUER CLIENT_ID [SCOPE…]");
  process.exit(2);
}

const io = fetchIo({
  show: (prompt) => console.error(`To log in, open ${prompt.verification_uri_complete ?? prompt.verification_uri} and enter the code ${prompt.user_code} (valid ${prompt.expires_in_s} s)`),
});
try {
  const endpoints = await drive(new Discovery({ issuer }, Date.now()), io);
  const tokens = await drive(new DeviceLogin({ client: { client_id: clientId, scopes }, endpoints }, Date.now()), io);
  console.log(JSON.stringify({ token_type: tokens.token_type, scope: tokens.scope, expires_at_ms: tokens.expires_at_ms, has_refresh_token: Boolean(tokens.refresh_token) }));
} catch (error) {
  console.error(error instanceof KeyholeError ? `login failed (${error.code}): ${error.message}` : error);
  process.exit(1);
}
