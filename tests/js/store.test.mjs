// The secret stores the JS hosts use: the driver's (async, operations as `store` outputs) and the
// component host's (synchronous, the WIT `secrets` functions), including compare-and-swap across
// processes sharing one file.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import { FileStore, MemoryStore } from "../../js/driver.mjs";
import { FileSecrets, MemorySecrets } from "../../js/host/store.mjs";
import { root } from "./support.mjs";

const dir = mkdtempSync(join(tmpdir(), "keyhole-js-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("the driver's stores answer store outputs with the record held afterwards", () => {
  for (const [name, make] of [
    ["MemoryStore", () => new MemoryStore()],
    ["FileStore", () => new FileStore(join(dir, "driver", "secrets.json"))],
  ]) {
    test(name, async () => {
      const store = make();
      const op = (fields) => store.apply({ type: "store", key: "r/a", ...fields });
      assert.deepEqual(await op({ op: "load" }), { type: "stored", value: null });
      assert.deepEqual(await op({ op: "compare_and_swap", expected: null, new: "v1" }), { type: "stored", value: "v1" });
      // A swap from a stale read loses and sees the winner.
      assert.deepEqual(await op({ op: "compare_and_swap", expected: null, new: "v2" }), { type: "stored", value: "v1" });
      assert.deepEqual(await op({ op: "compare_and_swap", expected: "v1", new: "v2" }), { type: "stored", value: "v2" });
      assert.deepEqual(await op({ op: "lock" }), { type: "stored", value: null });
      assert.deepEqual(await op({ op: "unlock" }), { type: "stored", value: null });
      assert.deepEqual(await op({ op: "load" }), { type: "stored", value: "v2" });
      assert.deepEqual(await op({ op: "delete" }), { type: "stored", value: null });
      assert.deepEqual(await op({ op: "load" }), { type: "stored", value: null });
      assert.equal((await op({ op: "shred" })).error, "other");
      if (name === "FileStore") assert.equal(statSync(join(dir, "driver", "secrets.json")).mode & 0o777, 0o600);
    });
  }

  test("concurrent compare-and-swaps in one process: exactly one wins", async () => {
    const store = new MemoryStore();
    const answers = await Promise.all(["a", "b", "c"].map((v) => store.apply({ type: "store", op: "compare_and_swap", key: "k", expected: null, new: v })));
    assert.deepEqual(answers.map((a) => a.value), ["a", "a", "a"]);
  });
});

describe("the component host's secrets", () => {
  test("MemorySecrets: get/set/delete/compare-and-swap/lock", () => {
    const s = new MemorySecrets();
    assert.equal(s.get("k"), undefined);
    assert.equal(s.compareAndSwap("k", undefined, "v1"), "v1");
    assert.equal(s.compareAndSwap("k", undefined, "v2"), "v1");
    s.set("k", "v3");
    assert.equal(s.get("k"), "v3");
    s.lock("k");
    assert.throws(() => s.lock("k"), (e) => e.payload?.tag === "unavailable");
    s.unlock("k");
    s.lock("k");
    s.delete("k");
    assert.equal(s.get("k"), undefined);
  });

  test("FileSecrets: an unreadable file is a storage error, not a crash", () => {
    const path = join(dir, "corrupt.json");
    const s = new FileSecrets(path);
    s.set("k", "v");
    assert.equal(statSync(path).mode & 0o777, 0o600);
    // Something else breaks the file.
    writeFileSync(path, "{not json");
    assert.throws(() => s.get("k"), (e) => e.payload?.tag === "other" && /not a JSON object/.test(e.payload.val));
  });

  test("FileSecrets: compare-and-swap is atomic across processes", async () => {
    // Four processes each add 25 to a counter with read + compare-and-swap, retrying when they
    // lose; with an atomic swap no increment is lost.
    const path = join(dir, "shared.json");
    const worker = `
      import { FileSecrets } from ${JSON.stringify(join(root, "js", "host", "store.mjs"))};
      const s = new FileSecrets(${JSON.stringify(path)});
      for (let i = 0; i < 25; i += 1) {
        for (;;) {
          const seen = s.get("counter");
          // Unique per writer, so a lost swap can never look like a win.
          const next = \`\${Number((seen ?? "0").split(":")[0]) + 1}:\${process.pid}:\${i}\`;
          if (s.compareAndSwap("counter", seen, next) === next) break;
        }
      }`;
    const run = () =>
      new Promise((resolve, reject) =>
        execFile(process.execPath, ["--input-type=module", "-e", worker], { timeout: 60_000 }, (error, _out, stderr) => (error ? reject(new Error(stderr || error.message)) : resolve())),
      );
    await Promise.all([run(), run(), run(), run()]);
    assert.equal(JSON.parse(readFileSync(path, "utf8")).counter.split(":")[0], "100");
  });
});
