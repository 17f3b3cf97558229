// Secret stores for the component's `secrets` import: synchronous, as the WIT functions are
//
// `MemorySecrets` keeps records in a Map (one process). `FileSecrets` keeps them in one JSON file
// (mode 0600) and makes compare-and-swap atomic across processes with an exclusive lock file
// around each read-modify-write; the file is replaced by rename, so readers never see half of it.
// Errors are thrown as `{payload: secret-error}`, which jco turns into the WIT `err`.

import { closeSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

import { sleepSync } from "./sync.mjs";

const LOCK_WAIT_MS = 10_000;
const LOCK_POLL_MS = 20;

function storeError(tag, detail) {
  return { payload: { tag, val: detail } };
}

export class MemorySecrets {
  constructor(entries = {}) {
    this.records = new Map(Object.entries(entries));
    this.locks = new Set();
  }

  /** Runs `change` on the records; what it returns is the answer (no other process to exclude) */
  update(change) {
    return change(this.records);
  }

  get(key) {
    return this.update((records) => records.get(key));
  }

  set(key, value) {
    this.update((records) => void records.set(key, value));
  }

  delete(key) {
    this.update((records) => void records.delete(key));
  }

  compareAndSwap(key, expected, value) {
    return this.update((records) => {
      const current = records.get(key);
      if (current !== expected) return current;
      records.set(key, value);
      return value;
    });
  }

  lock(key) {
    // One process: a lock only guards against this process's other flows.
    if (this.locks.has(key)) throw storeError("unavailable", `the lock for ${key} is already held`);
    this.locks.add(key);
  }

  unlock(key) {
    this.locks.delete(key);
  }
}

export class FileSecrets extends MemorySecrets {
  constructor(path) {
    super();
    this.path = path;
  }

  /** Takes `${path}.lock` exclusively, waiting a bounded time, and runs `body` while holding it */
  withFileLock(suffix, body) {
    const lockPath = `${this.path}.${suffix}`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        closeSync(openSync(lockPath, "wx", 0o600));
        break;
      } catch (error) {
        if (error.code === "ENOENT") {
          mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
          continue;
        }
        if (error.code !== "EEXIST") throw fsError(error);
        if (Date.now() > deadline) throw storeError("unavailable", `${lockPath} is held by another process; try again`);
        sleepSync(LOCK_POLL_MS);
      }
    }
    if (!body) return;
    try {
      return body();
    } finally {
      unlinkSync(lockPath);
    }
  }

  update(change) {
    return this.withFileLock("lock", () => {
      const records = this.read();
      const before = JSON.stringify(Object.fromEntries(records));
      const answer = change(records);
      const after = JSON.stringify(Object.fromEntries(records));
      if (after !== before) this.write(after);
      return answer;
    });
  }

  read() {
    try {
      return new Map(Object.entries(JSON.parse(readFileSync(this.path, "utf8"))));
    } catch (error) {
      if (error.code === "ENOENT") return new Map();
      if (error instanceof SyntaxError) throw storeError("other", `${this.path} is not a JSON object of records: ${error.message}`);
      throw fsError(error);
    }
  }

  write(text) {
    const temporary = `${this.path}.${process.pid}.tmp`;
    try {
      writeFileSync(temporary, text, { mode: 0o600 });
      renameSync(temporary, this.path);
    } catch (error) {
      throw fsError(error);
    }
  }

  lock(key) {
    this.withFileLock(`${encodeURIComponent(key)}.refresh-lock`);
  }

  unlock(key) {
    try {
      unlinkSync(`${this.path}.${encodeURIComponent(key)}.refresh-lock`);
    } catch (error) {
      if (error.code !== "ENOENT") throw fsError(error);
    }
  }
}

function fsError(error) {
  if (error?.payload) return error;
  const tag = error.code === "EACCES" || error.code === "EPERM" ? "denied" : "other";
  return storeError(tag, `${error.code ?? "error"}: ${error.message}`);
}
