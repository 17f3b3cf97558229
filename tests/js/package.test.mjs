// The built npm package resolves the way a consumer imports it: `keyhole-core` (the Node build
// under the "node" condition), `keyhole-core/web` and `keyhole-core/driver`.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { modulePackage } from "./support.mjs";

test("a consumer imports the package by name", async () => {
  assert.ok(existsSync(join(modulePackage, "package.json")), "run `scripts/build-js module` first");
  const manifest = JSON.parse(readFileSync(join(modulePackage, "package.json"), "utf8"));
  assert.equal(manifest.name, "keyhole-core");
  assert.match(manifest.version, /^\d+\.\d+\.\d+/);
  const dir = mkdtempSync(join(tmpdir(), "keyhole-js-consumer-"));
  try {
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(modulePackage, join(dir, "node_modules", "keyhole-core"));
    writeFileSync(
      join(dir, "main.mjs"),
      `import { DeviceLogin } from "keyhole-core";
       import { drive, KeyholeError } from "keyhole-core/driver";
       import init, { Machine } from "keyhole-core/web";
       const login = new DeviceLogin({ client: { client_id: "cli" }, endpoints: { device_authorization_endpoint: "https://idp.example/d", token_endpoint: "https://idp.example/t" } }, 1700000000000);
       login.handleInput(1700000000000, { type: "start" });
       const first = login.pollOutput();
       console.log(JSON.stringify({ first: first.type, url: first.url, drive: typeof drive, error: typeof KeyholeError, init: typeof init, web: typeof Machine }));`,
    );
    const stdout = await new Promise((resolve, reject) =>
      execFile(process.execPath, [join(dir, "main.mjs")], { cwd: dir }, (error, out, err) => (error ? reject(new Error(err || error.message)) : resolve(out))),
    );
    assert.deepEqual(JSON.parse(stdout), { first: "send", url: "https://idp.example/d", drive: "function", error: "function", init: "function", web: "function" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
