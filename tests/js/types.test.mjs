// The generated TypeScript declarations (wasm-bindgen's plus the typescript_custom_section types
// and driver.d.mts) type-check a small host written against them.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { modulePackage, root } from "./support.mjs";

test("the package's TypeScript declarations type-check a host", async () => {
  const tsc = join(root, "js", "node_modules", ".bin", "tsc");
  assert.ok(existsSync(tsc), "tsc is missing; run `npm ci` in js/ (scripts/test-js does)");
  assert.ok(existsSync(join(modulePackage, "node", "keyhole.d.ts")), "run `scripts/build-js module` first");
  const args = ["--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "--lib", "esnext,dom", join(root, "tests", "js", "types-check.ts")];
  const result = await new Promise((resolve) => execFile(tsc, args, { timeout: 120_000 }, (error, stdout, stderr) => resolve({ error, output: stdout + stderr })));
  assert.equal(result.error, null, result.output);
});
