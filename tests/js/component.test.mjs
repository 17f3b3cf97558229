// The component under jco: every transcript replays exactly through the `machines` export, and a
// config the core cannot use ends the flow with a `config` error instead of trapping.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import { newMachine } from "../../js/host/wit.mjs";
import { loadComponent, replay, transcripts } from "./support.mjs";

let keyhole;
before(async () => {
  keyhole = await loadComponent();
});

describe("transcripts through the component's machines export", () => {
  for (const transcript of transcripts()) {
    test(transcript.file, () => {
      replay(transcript, (kind, config, nowMs, random) => newMachine(keyhole.machines, kind, config, nowMs, random));
    });
  }
});

describe("bad configs through the component", () => {
  test("a config that is not JSON ends with a config error, and the instance keeps working", () => {
    const broken = new keyhole.machines.DeviceLogin("{not json", 0n);
    broken.handleInput(0n, { tag: "start" });
    const output = broken.pollOutput();
    assert.equal(output.tag, "done");
    assert.equal(output.val.tag, "err");
    assert.equal(output.val.val.kind.tag, "config");
    assert.match(output.val.val.message, /device_login/);
    // The instance is not poisoned: a real transcript still replays.
    const sample = transcripts()[0];
    replay(sample, (kind, config, nowMs, random) => newMachine(keyhole.machines, kind, config, nowMs, random));
  });
});
