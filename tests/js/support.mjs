// Shared helpers for the JS host tests: where the artefacts are, the transcripts, one replayer.
//
// Tests never skip: a missing artefact is a failure that says which command builds it.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const modulePackage = join(root, "target", "js", "keyhole-core");
export const componentDir = join(root, "target", "js", "component");

function need(path, command) {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing; build it with \`${command}\` (scripts/test-js does all of it)`);
  }
}

/** The wasm-bindgen module (Node build) */
export function loadModule() {
  const entry = join(modulePackage, "node", "keyhole.js");
  need(entry, "scripts/build-js module");
  return createRequire(import.meta.url)(entry);
}

/** The wasm-bindgen module's web build (ES module), initialised from the .wasm bytes as a page would */
export async function loadWebModule() {
  const entry = join(modulePackage, "web", "keyhole.js");
  need(entry, "scripts/build-js module");
  const web = await import(pathToFileURL(entry).href);
  await web.default({ module_or_path: readFileSync(join(modulePackage, "web", "keyhole_bg.wasm")) });
  return web;
}

/** The async driver, as shipped in the package */
export async function loadDriver() {
  const entry = join(modulePackage, "driver.mjs");
  need(entry, "scripts/build-js module");
  return import(pathToFileURL(entry).href);
}

/** Every transcript, parsed, with its file name; fails when there are none */
export function transcripts() {
  const dir = join(root, "tests", "transcripts");
  const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
  assert.ok(files.length > 0, `no transcripts in ${dir}`);
  return files.map((file) => ({ file, ...JSON.parse(readFileSync(join(dir, file), "utf8")) }));
}

export function hexBytes(hex = "") {
  assert.equal(hex.length % 2, 0, "random_hex must have an even length");
  return Uint8Array.from(hex.match(/../g) ?? [], (byte) => parseInt(byte, 16));
}

/**
 * Replays one transcript through `build(kind, config, nowMs, random)`, which returns an object
 * with handleInput(nowMs, input) / pollOutput(); each step's drained outputs must equal `expect`
 */
export function replay(transcript, build) {
  let now = transcript.now_ms;
  const machine = build(transcript.machine, transcript.config, now, hexBytes(transcript.random_hex));
  transcript.steps.forEach((step, index) => {
    now = step.now_ms ?? now;
    machine.handleInput(now, step.input);
    const outputs = [];
    for (;;) {
      const output = machine.pollOutput();
      outputs.push(output);
      if (output.type === "wait" || output.type === "done") break;
      assert.ok(outputs.length < 64, `${transcript.file} step ${index}: more than 64 outputs without a wait or done`);
    }
    assert.deepStrictEqual(outputs, step.expect, `${transcript.file} step ${index} (${step.input.type})`);
  });
}

/** The jco-transpiled component, instantiated with the Node host imports (js/host/) */
export async function loadComponent(options) {
  need(join(componentDir, "keyhole.js"), "scripts/build-js component");
  const host = await import(pathToFileURL(join(root, "js", "host", "component.mjs")).href);
  return host.loadComponent(componentDir, options);
}

/** A loopback port nobody listens on (for listeners to take, or to be refused on) */
export async function freePort() {
  const { createServer } = await import("node:net");
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
