// The component under jco: every transcript replays exactly through the `machine` export (its
// JSON config as the typed `machine-config`), and a config the core cannot use ends the flow with
// a `config` error instead of trapping.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import { newMachine } from "../../js/host/wit.mjs";
import { loadComponent, replay, transcripts } from "./support.mjs";

let keyhole;
before(async () => {
  keyhole = await loadComponent();
});

describe("transcripts through the component's machine export", () => {
  for (const transcript of transcripts()) {
    test(transcript.file, () => {
      replay(transcript, (kind, config, nowMs, random) => newMachine(keyhole.machine, kind, config, nowMs, random));
    });
  }
});

describe("bad arguments through the component", () => {
  test("an unknown machine kind is a JS error before the component is entered", () => {
    assert.throws(() => new keyhole.machine.Machine({ tag: "kerberos", val: {} }, 0n, new Uint8Array()), TypeError);
    const sample = transcripts()[0];
    replay(sample, (kind, config, nowMs, random) => newMachine(keyhole.machine, kind, config, nowMs, random));
  });

  test("a typed config the core cannot use ends with a config error, and the instance keeps working", () => {
    // No device authorization endpoint: the record is well-typed, the machine refuses it.
    const config = { endpoints: { tokenEndpoint: "https://idp.example/token", authorizationResponseIssParameterSupported: false }, client: { clientId: "cli", scopes: [] } };
    const broken = new keyhole.machine.Machine({ tag: "device-login", val: config }, 0n, new Uint8Array());
    broken.handleInput(0n, { tag: "start" });
    const output = broken.pollOutput();
    assert.equal(output.tag, "done");
    assert.equal(output.val.tag, "err");
    assert.equal(output.val.val.kind.tag, "config");
    assert.match(output.val.val.message, /device_authorization_endpoint/);
    // The instance is not poisoned: a real transcript still replays.
    const sample = transcripts()[0];
    replay(sample, (kind, config, nowMs, random) => newMachine(keyhole.machine, kind, config, nowMs, random));
  });
});

describe("URLs in typed configs", () => {
  // WIT carries URLs as text and the core holds url::Url: the component parses each one when it
  // builds the machine, and one that does not parse is a config error naming its field.
  const refused = (tag, val) => {
    const machine = new keyhole.machine.Machine({ tag, val }, 0n, new Uint8Array());
    machine.handleInput(0n, { tag: "start" });
    const output = machine.pollOutput();
    assert.equal(output.tag, "done");
    assert.equal(output.val.tag, "err");
    assert.equal(output.val.val.kind.tag, "config");
    return output.val.val.message;
  };
  const endpoints = { tokenEndpoint: "https://idp.example/token", authorizationResponseIssParameterSupported: false };
  const client = { clientId: "cli", scopes: [] };

  test("a key check's spec.url", () => {
    const message = refused("key-check", { spec: { url: "no url", identity: [] }, key: "k" });
    assert.match(message, /`spec\.url`: `no url` is not a URL/);
  });

  test("an endpoint", () => {
    const message = refused("device-login", { endpoints: { ...endpoints, deviceAuthorizationEndpoint: "idp.example/device" }, client });
    assert.match(message, /`endpoints\.device_authorization_endpoint`: `idp\.example\/device` is not a URL/);
  });

  test("an account call's api_base", () => {
    const message = refused("account-call", { credential: { key: "r/a" }, apiBase: "api.example", operation: { tag: "whoami", val: {} } });
    assert.match(message, /`api_base`: `api\.example` is not a URL/);
  });
});
