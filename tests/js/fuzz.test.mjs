// Random (seeded, bounded) input sequences through the wasm-bindgen module: on wasm32 `usize` is
// 32 bits and a panic aborts, so this checks in the real artefact what the core's property tests
// check natively. Every machine, started from each transcript's config, gets well-formed but
// arbitrary inputs at arbitrary times: no call may throw (a trap would), every `wait` is in the
// future, and after `done` every poll repeats the same `done`.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { hexBytes, loadModule, transcripts } from "./support.mjs";

const keyhole = loadModule();
const RUNS_PER_TRANSCRIPT = 40;
const STEPS_PER_RUN = 24;

/** mulberry32: small, seeded, good enough to pick cases */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BODIES = [
  "",
  "{}",
  "null",
  "[]",
  "not json",
  '{"error":"authorization_pending"}',
  '{"error":"slow_down","interval":4294967296}',
  '{"error":"expired_token"}',
  '{"error":"access_denied"}',
  '{"error":"invalid_grant"}',
  '{"access_token":"a","token_type":"Bearer","expires_in":-1}',
  '{"access_token":"a","token_type":"Bearer","expires_in":18446744073709551615,"refresh_token":"r"}',
  '{"access_token":"a","token_type":"Bearer","expires_in":1e308,"refresh_in":-5}',
  '{"device_code":"d","user_code":"u","verification_uri":"https://x/","expires_in":4294967297,"interval":-3}',
  '{"device_code":"d","user_code":"u","verification_url":"http://127.0.0.1/","expires_in":0,"interval":0}',
  '{"issuer":"https://idp.example.com","token_endpoint":"http://evil.example/","device_authorization_endpoint":"https://idp.example.com/d"}',
  '{"email":{"deep":[1,2,3]},"id":18446744073709551616}',
  "\u0000\uffff",
  '{"a":' + "[".repeat(200) + "]".repeat(200) + "}",
];
const HEADERS = [{}, { "retry-after": "4294967296" }, { "Retry-After": "-1" }, { "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT" }, { "content-type": "application/json" }];
const STORED = [null, "", "{}", "not json", '{"version":1}', '{"version":999999999999}', '{"version":1,"oauth":{"access_token":"a","token_type":"Bearer","expires_at_ms":0,"refresh_token":"r"}}'];
const STATUSES = [100, 200, 201, 204, 301, 302, 400, 401, 403, 404, 429, 500, 503, 999];

function pick(random, list) {
  return list[Math.floor(random() * list.length)];
}

function randomInput(random) {
  switch (Math.floor(random() * 6)) {
    case 0:
      return { type: "timer" };
    case 1:
      return { type: "transport_failed", error: pick(random, ["dns", "connect", "timeout", "tls", "too_large", "other"]), message: "boom" };
    case 2:
      return random() < 0.8 ? { type: "stored", value: pick(random, STORED) } : { type: "stored", error: pick(random, ["unavailable", "denied", "other"]), message: "x" };
    case 3:
      return { type: "callback", target: pick(random, ["/callback", "/callback?code=c&state=s", "/callback?error=access_denied", "/favicon.ico", "/callback?state=%ZZ", "/%"]) };
    case 4:
      return { type: "start" };
    default:
      return { type: "response", status: pick(random, STATUSES), headers: pick(random, HEADERS), body: pick(random, BODIES) };
  }
}

function nextNow(random, now) {
  const r = random();
  if (r < 0.1) return Math.max(0, now - 1_000_000); // time going backwards
  if (r < 0.15) return Number.MAX_SAFE_INTEGER;
  return Math.min(Number.MAX_SAFE_INTEGER, now + Math.floor(random() * 10_000_000));
}

describe("random input sequences never trap the wasm-bindgen module", () => {
  for (const [index, transcript] of transcripts().entries()) {
    test(transcript.file, () => {
      for (let run = 0; run < RUNS_PER_TRANSCRIPT; run += 1) {
        const random = rng(index * 1000 + run);
        let now = transcript.now_ms;
        const machine = new keyhole.Machine(transcript.machine, transcript.config, now, hexBytes(transcript.random_hex));
        let done = null;
        let latest = now;
        const trail = [];
        for (let step = 0; step < STEPS_PER_RUN; step += 1) {
          // Mostly the transcript's own inputs (to get deep into the flow), sometimes anything.
          const scripted = transcript.steps[step];
          const input = scripted && random() < 0.6 ? scripted.input : randomInput(random);
          now = scripted?.now_ms && random() < 0.6 ? Math.max(now, scripted.now_ms) : nextNow(random, now);
          trail.push(input.type);
          const where = `${transcript.file} run ${run} after ${trail.join(",")}`;
          latest = Math.max(latest, now);
          machine.handleInput(now, input);
          for (let polls = 0; ; polls += 1) {
            assert.ok(polls < 64, `${where}: more than 64 outputs without a wait or done`);
            const output = machine.pollOutput();
            if (done) {
              assert.deepEqual(output, done, `${where}: an output after done`);
              break;
            }
            if (output.type === "done") {
              assert.ok("ok" in output || typeof output.error?.code === "string", `${where}: done without ok or error`);
              done = output;
              break;
            }
            if (output.type === "wait") {
              // "Later than the last now" (machine.rs); time never runs backwards inside, so compare
              // with the latest time fed so far.
              if (output.until_ms !== null) assert.ok(output.until_ms > latest || latest === Number.MAX_SAFE_INTEGER, `${where}: wait until ${output.until_ms} is not after ${latest}`);
              break;
            }
          }
        }
        machine.free();
      }
    });
  }
});
