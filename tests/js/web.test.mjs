// The wasm-bindgen module's web build (--target web) in a real browser: headless Chromium (Debian's
// /usr/bin/chromium through the test provider's playwright-core) loads the package from a local
// server as a page would, `await init()`, and replays every transcript; bad input throws there too.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { extname, join, normalize } from "node:path";
import { after, before, test } from "node:test";

import { modulePackage, root, transcripts } from "./support.mjs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".html": "text/html" };

let server;
let base;
before(async () => {
  assert.ok(existsSync(join(modulePackage, "web", "keyhole.js")), "run `scripts/build-js module` first");
  // The package at /pkg/, the transcripts at /transcripts/, an empty page at /.
  server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url, "http://x").pathname);
    const mounts = [["/pkg/", modulePackage], ["/transcripts/", join(root, "tests", "transcripts")]];
    for (const [prefix, dir] of mounts) {
      const file = normalize(join(dir, path.slice(prefix.length)));
      if (path.startsWith(prefix) && file.startsWith(dir) && existsSync(file)) {
        response.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
        response.end(readFileSync(file));
        return;
      }
    }
    response.writeHead(path === "/" ? 200 : 404, { "content-type": "text/html" }).end("<!doctype html><title>keyhole</title>");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(() => server?.close());

test("the web build replays every transcript in Chromium", async () => {
  assert.ok(existsSync(CHROMIUM), `no browser at ${CHROMIUM}; install Debian's chromium (apt-get install chromium) or set CHROMIUM`);
  const requireFromProvider = createRequire(join(root, "tests", "provider", "package.json"));
  const { chromium } = requireFromProvider("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const page = await browser.newPage();
    await page.goto(`${base}/`);
    const files = transcripts().map((t) => t.file);
    const result = await page.evaluate(async (files) => {
      const keyhole = await import("/pkg/web/keyhole.js");
      await keyhole.default();
      // Key order does not matter in JSON objects: compare a canonical form.
      const canon = (v) => (Array.isArray(v) ? v.map(canon) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
      const hex = (s = "") => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
      const mismatches = [];
      for (const file of files) {
        const t = await (await fetch(`/transcripts/${file}`)).json();
        let now = t.now_ms;
        const machine = new keyhole.Machine(t.machine, t.config, now, hex(t.random_hex));
        t.steps.forEach((step, i) => {
          now = step.now_ms ?? now;
          machine.handleInput(now, step.input);
          const outputs = [];
          do outputs.push(machine.pollOutput());
          while (!["wait", "done"].includes(outputs.at(-1).type) && outputs.length < 64);
          if (JSON.stringify(canon(outputs)) !== JSON.stringify(canon(step.expect))) mismatches.push(`${file} step ${i}`);
        });
        machine.free();
      }
      let badInput;
      try {
        new keyhole.Machine("device_login", {}, "now");
      } catch (error) {
        badInput = `${error.name}: ${error.message}`;
      }
      return { replayed: files.length, mismatches, badInput, userAgent: navigator.userAgent };
    }, files);
    assert.deepEqual(result.mismatches, []);
    assert.equal(result.replayed, files.length);
    assert.match(result.badInput, /^TypeError: keyhole: `nowMs` must be/);
    assert.match(result.userAgent, /Chrome/);
  } finally {
    await browser.close();
  }
});
