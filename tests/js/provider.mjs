// The test provider (tests/provider, node-oidc-provider) as a child process, and the person who
// approves a device code (tests/provider/approve-device.mjs), for the JS end-to-end tests
//
// The provider runs in its own process: the component's `client` export blocks this thread while
// it waits (synchronous imports), so a provider in this process could never answer it.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { root } from "./support.mjs";

const providerDir = join(root, "tests", "provider");

/** Starts the provider; resolves with `{issuer, port, stop()}` once it printed its READY line */
export async function startProvider(env = {}) {
  assert.ok(
    existsSync(join(providerDir, "node_modules", "oidc-provider")),
    "the test provider is not installed; run `npm ci` in tests/provider (scripts/test-js does)",
  );
  const child = spawn(process.execPath, [join(providerDir, "server.mjs"), "--die-with-stdin"], {
    env: { ...process.env, PORT: "0", ...env },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the test provider printed no READY line within 20 s")), 20_000);
    child.once("exit", (code) => reject(new Error(`the test provider exited (${code}) before READY`)));
    lines.on("line", (line) => {
      if (line.startsWith("READY ")) {
        clearTimeout(timer);
        resolve(JSON.parse(line.slice("READY ".length)));
      }
    });
  });
  return {
    ...ready,
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", resolve);
        child.stdin.end();
        child.kill("SIGTERM");
      }),
  };
}

/** Approves (or denies) a user code as a person would; resolves with the script's JSON line */
export function approveDevice(issuer, userCode, { deny = false } = {}) {
  const args = [join(providerDir, "approve-device.mjs"), "--issuer", issuer, "--user-code", userCode];
  if (deny) args.push("--deny");
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`approve-device.mjs failed: ${stderr || error.message}`));
      else resolve(JSON.parse(stdout.trim().split("\n").pop()));
    });
  });
}

/** Logs in (or denies) in headless Chromium at `url`, as tests/provider/browser-login.mjs does */
export function browserLogin(url, { deny = false } = {}) {
  const args = [join(providerDir, "browser-login.mjs"), url];
  if (deny) args.push("--deny");
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`browser-login.mjs failed: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}
