// The wasm-bindgen module: every transcript replays exactly, and bad inputs from JS throw clear
// errors without poisoning the instance.

import assert from "node:assert/strict";
import { beforeEach, describe, test } from "node:test";

import { hexBytes, loadModule, loadWebModule, replay, transcripts } from "./support.mjs";

const keyhole = loadModule();

const classes = {
  discovery: keyhole.Discovery,
  device_login: keyhole.DeviceLogin,
  browser_login: keyhole.BrowserLogin,
  refresh: keyhole.Refresh,
  credential: keyhole.Credential,
  key_check: keyhole.KeyCheck,
  revocation: keyhole.Revocation,
  account_call: keyhole.AccountCall,
};

describe("transcripts through the wasm-bindgen classes", () => {
  for (const transcript of transcripts()) {
    test(transcript.file, () => {
      replay(transcript, (kind, config, nowMs, random) => {
        assert.ok(classes[kind], `no JS class for machine \`${kind}\``);
        return new classes[kind](config, nowMs, random);
      });
    });
  }
});

describe("transcripts through the generic Machine class", () => {
  for (const transcript of transcripts()) {
    test(transcript.file, () => {
      replay(transcript, (kind, config, nowMs, random) => new keyhole.Machine(kind, config, nowMs, random));
    });
  }
});

describe("transcripts through the web build (--target web)", async () => {
  const web = await loadWebModule();
  for (const transcript of transcripts()) {
    test(transcript.file, () => {
      replay(transcript, (kind, config, nowMs, random) => new web.Machine(kind, config, nowMs, random));
    });
  }
});

describe("bad machine kinds from JS", () => {
  test("an unknown machine kind names the ones there are", () => {
    assert.throws(() => new keyhole.Machine("kerberos", {}, 0), (e) => e instanceof Error && /unknown machine `kerberos`/.test(e.message) && /device_login/.test(e.message));
  });

  test("a kind that is not a string is a TypeError", () => {
    assert.throws(() => new keyhole.Machine(42, {}, 0), (e) => e instanceof TypeError && /`kind` must be a machine name/.test(e.message));
  });
});

describe("bad inputs from JS", () => {
  // A real machine and a config it accepts, taken from the transcripts.
  const sampleOf = () => transcripts().find((t) => t.machine === "device_login") ?? transcripts()[0];
  let sample;
  beforeEach(() => {
    sample = sampleOf();
  });
  const build = () => new keyhole.Machine(sample.machine, sample.config, sample.now_ms, hexBytes(sample.random_hex));

  test("a missing or non-object config is a TypeError", () => {
    assert.throws(() => new keyhole.Machine(sample.machine, undefined, 0), (e) => e instanceof TypeError && /`config` must be/.test(e.message) && /undefined/.test(e.message));
    assert.throws(() => new keyhole.Machine(sample.machine, "{}", 0), (e) => e instanceof TypeError && /got string/.test(e.message));
    assert.throws(() => new keyhole.Machine(sample.machine, [], 0), (e) => e instanceof TypeError && /got an array/.test(e.message));
  });

  test("a config with missing fields names the machine", () => {
    assert.throws(() => new keyhole.Machine(sample.machine, {}, 0), (e) => e instanceof Error && new RegExp(`cannot build \`${sample.machine}\``).test(e.message));
  });

  test("a BigInt in a config is a TypeError, not a trap", () => {
    assert.throws(() => new keyhole.Machine(sample.machine, { n: 1n }, 0), (e) => e instanceof TypeError && /JSON/.test(e.message));
  });

  test("nowMs must be a whole non-negative number", () => {
    for (const now of ["1700000000000", -1, 1.5, NaN, null, undefined, 1n]) {
      assert.throws(() => new keyhole.Machine(sample.machine, sample.config, now), (e) => e instanceof TypeError && /`nowMs`/.test(e.message), String(now));
    }
  });

  test("random must be bytes", () => {
    assert.throws(() => new keyhole.Machine(sample.machine, sample.config, 0, "abcd"), (e) => e instanceof TypeError && /`random`/.test(e.message));
    assert.throws(() => new keyhole.Machine(sample.machine, sample.config, 0, [1, 256]), (e) => e instanceof TypeError && /`random`/.test(e.message));
    // An array of bytes is as good as a Uint8Array.
    new keyhole.Machine(sample.machine, sample.config, sample.now_ms, [1, 2, 3]).free();
  });

  test("bad inputs throw and the instance keeps working", () => {
    const machine = build();
    const bad = [
      [undefined, TypeError, /`input` must be an input object/],
      ["start", TypeError, /got string/],
      [{}, Error, /needs a string `type`/],
      [{ type: "launch" }, Error, /unknown input type `launch`/],
      [{ type: "response" }, Error, /numeric `status`/],
      [{ type: "response", status: "200" }, Error, /numeric `status`/],
      [{ type: "response", status: 200, headers: { a: 1 } }, Error, /header `a` must be a string/],
      [{ type: "response", status: 200, body: "x", body_base64: "eA==" }, Error, /either a string `body` or a `body_base64`/],
      [{ type: "transport_failed", error: "gremlins" }, Error, /unknown transport error `gremlins`/],
      [{ type: "stored", value: 5 }, Error, /`value` must be a string or null/],
      [{ type: "callback" }, Error, /needs a string `target`/],
    ];
    for (const [input, kind, message] of bad) {
      assert.throws(() => machine.handleInput(sample.now_ms, input), (e) => e instanceof kind && /^keyhole: /.test(e.message) && message.test(e.message), JSON.stringify(input) ?? "undefined");
    }
    assert.throws(() => machine.handleInput("now", { type: "start" }), TypeError);
    // None of that reached the machine: it still plays its transcript from the start.
    replay(sample, () => machine);
  });
});
