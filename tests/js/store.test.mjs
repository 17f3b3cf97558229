// The secret stores the JS hosts use: the driver's (async, operations as `store` outputs) and the
// component host's (synchronous, the WIT `secrets` functions), including compare-and-swap across
// processes sharing one file.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import { FileStore, MemoryStore, StoreError, fetchIo, storeAnswer } from "../../js/driver.mjs";
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

describe("a pluggable store: the async get / compareAndSwap / delete / lock interface", () => {
  /** A store of the host's own (here a Map behind awaits), with no `apply` of the driver's */
  function customStore() {
    const records = new Map();
    const calls = [];
    return {
      calls,
      records,
      async get(key) {
        calls.push(`get ${key}`);
        return records.get(key) ?? null;
      },
      async compareAndSwap(key, expected, value) {
        calls.push(`cas ${key} ${expected} ${value}`);
        if ((records.get(key) ?? null) !== expected) return records.get(key) ?? null;
        records.set(key, value);
        return value;
      },
      async delete(key) {
        calls.push(`delete ${key}`);
        records.delete(key);
      },
    };
  }

  test("fetchIo hands every store output to the host's store and answers with the record held afterwards", async () => {
    const store = customStore();
    const io = fetchIo({ store });
    const op = (fields) => io.store({ type: "store", key: "r/a", ...fields });
    assert.deepEqual(await op({ op: "load" }), { type: "stored", value: null });
    assert.deepEqual(await op({ op: "compare_and_swap", expected: null, new: "v1" }), { type: "stored", value: "v1" });
    assert.deepEqual(await op({ op: "compare_and_swap", expected: null, new: "v2" }), { type: "stored", value: "v1" });
    // A store without a lock: lock and unlock succeed and the machine relies on the swap.
    assert.deepEqual(await op({ op: "lock" }), { type: "stored", value: null });
    assert.deepEqual(await op({ op: "unlock" }), { type: "stored", value: null });
    assert.deepEqual(await op({ op: "delete" }), { type: "stored", value: null });
    assert.deepEqual(store.calls, ["get r/a", "cas r/a null v1", "cas r/a null v2", "delete r/a"]);
  });

  test("a store's failures become stored errors the machine reads", async () => {
    const failing = {
      get: async () => {
        throw new StoreError("denied", "the keychain refused");
      },
      compareAndSwap: async () => {
        throw Object.assign(new Error("read-only file system"), { code: "EPERM" });
      },
      delete: async () => {
        throw new Error("disk gone");
      },
    };
    assert.deepEqual(await storeAnswer(failing, { type: "store", op: "load", key: "k" }), { type: "stored", error: "denied", message: "the keychain refused" });
    assert.equal((await storeAnswer(failing, { type: "store", op: "compare_and_swap", key: "k", expected: null, new: "v" })).error, "denied");
    assert.deepEqual(await storeAnswer(failing, { type: "store", op: "delete", key: "k" }), { type: "stored", error: "unavailable", message: "disk gone" });
  });

  test("MemoryStore's lock holds a second operation of the same process until the first unlocks", async () => {
    const store = new MemoryStore();
    const order = [];
    await store.lock("k");
    const second = store.lock("k").then(() => order.push("second locked"));
    await new Promise((resolve) => setTimeout(resolve, 50));
    order.push("first unlocks");
    await store.unlock("k");
    await second;
    assert.deepEqual(order, ["first unlocks", "second locked"]);
    await store.unlock("k");
  });

  test("a lock not released in time is `unavailable`, and the machine goes on without it", async () => {
    const store = new MemoryStore({}, { lockTimeoutMs: 50 });
    await store.lock("k");
    assert.deepEqual(await store.apply({ type: "store", op: "lock", key: "k" }), {
      type: "stored",
      error: "unavailable",
      message: "the lock on k is still held by another operation of this process",
    });
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
