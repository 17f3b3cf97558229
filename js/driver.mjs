// keyhole's async driver for JavaScript hosts: core's `drive()` (core/src/drive.rs) written with
// `await`, plus the pieces a host supplies (fetch-based HTTP, a secret store, timers).
//
// It works with any object that has `handleInput(nowMs, input)` and `pollOutput()` speaking the
// transcript JSON format (tests/transcripts/README.md): the wasm-bindgen classes (`DeviceLogin`,
// `Machine`, …) and the jco component's `machines` resources alike. The driver decides nothing
// about the protocol; when to poll, what an error means and what to store are the machine's.
//
//   import { DeviceLogin } from "keyhole-core";
//   import { drive, fetchIo, MemoryStore } from "keyhole-core/driver";
//   const login = new DeviceLogin(config, Date.now(), crypto.getRandomValues(new Uint8Array(32)));
//   const tokens = await drive(login, fetchIo({ store: new MemoryStore(), show: (p) => console.log(p) }));

/** A machine ended with `done` + `error`; `code` is the core's stable AuthError code */
export class KeyholeError extends Error {
  constructor({ code, message }) {
    super(message);
    this.name = "KeyholeError";
    this.code = code;
  }
}

/**
 * Runs a machine to completion against a host; resolves with the `ok` value of its `done`
 *
 * The drain rule: after each input, outputs are polled until `wait` or `done`; requests and store
 * operations met on the way are performed and their answers fed back in order.
 *
 * `io` supplies: nowMs(), send(request) -> input, store(op) -> input, show(prompt),
 * openBrowser(url) -> boolean, waitUntil(untilMs) -> callback target or null, and
 * answerCallback(verdict), which answers the request of the target waitUntil last returned (held
 * open until then). Each may be async. A callback the machine does not answer is answered
 * `rejected`.
 */
export async function drive(machine, io) {
  const next = [{ type: "start" }];
  for (;;) {
    const input = next.shift();
    let unanswered = input.type === "callback";
    machine.handleInput(io.nowMs(), input);
    let wait;
    let done;
    for (;;) {
      const output = machine.pollOutput();
      if (output.type === "send") {
        next.push(await io.send(output));
      } else if (output.type === "store") {
        next.push(await io.store(output));
      } else if (output.type === "show") {
        await io.show(output);
      } else if (output.type === "open_browser") {
        // A host that cannot open a browser has already shown the URL; the machine's deadline
        // still bounds the wait.
        await io.openBrowser(output.url);
      } else if (output.type === "answer_callback") {
        // One answer per request: a machine answers only the callback just fed.
        if (unanswered) await io.answerCallback(output.verdict);
        unanswered = false;
      } else if (output.type === "wait") {
        wait = output.until_ms;
        break;
      } else if (output.type === "done") {
        done = output;
        break;
      } else {
        throw new Error(`keyhole: unknown output type ${JSON.stringify(output.type)} (driver older than the core?)`);
      }
    }
    if (unanswered) await io.answerCallback("rejected");
    if (done) {
      if ("error" in done) throw new KeyholeError(done.error);
      return done.ok;
    }
    if (next.length === 0) {
      // A machine waiting for an answer nobody owes it would hang a host forever.
      if (wait === null || wait === undefined) {
        throw new KeyholeError({
          code: "config",
          message: "internal: the flow waits for an answer to a request it never made (a keyhole bug; please report it)",
        });
      }
      const target = await io.waitUntil(wait);
      next.push(target == null ? { type: "timer" } : { type: "callback", target });
    }
  }
}

/** Resolves at `untilMs` (unix ms) */
export function sleepUntil(untilMs, now = Date.now) {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, untilMs - now())));
}

/**
 * Performs a `send` output with fetch and answers with the matching input
 *
 * Redirects are never followed (the machine sees the 3xx, or a transport error where the platform
 * hides it), and the body is read only up to `max_response_bytes`: past that the answer is a
 * `too_large` transport error. The request body is `form` (pairs, as machines emit it), `json`
 * (JSON text, account calls) or `body` (bytes already encoded).
 */
export async function fetchSend(request, { fetch: fetchFn = globalThis.fetch, timeoutMs = 30_000 } = {}) {
  const init = {
    method: request.method,
    headers: request.headers,
    redirect: "manual",
    signal: AbortSignal.timeout(timeoutMs),
  };
  if (request.form) {
    init.body = new URLSearchParams(request.form).toString();
    if (!request.headers.some(([name]) => name.toLowerCase() === "content-type")) {
      init.headers = [...request.headers, ["content-type", "application/x-www-form-urlencoded"]];
    }
  } else if (typeof request.json === "string") {
    init.body = request.json;
    if (!request.headers.some(([name]) => name.toLowerCase() === "content-type")) {
      init.headers = [...request.headers, ["content-type", "application/json"]];
    }
  } else if (request.body?.byteLength) {
    // Already encoded, with its content-type among the headers (the component's requests).
    init.body = request.body;
  }
  let response;
  try {
    response = await fetchFn(request.url, init);
  } catch (error) {
    return transportFailed(error);
  }
  if (response.type === "opaqueredirect") {
    // Browsers hide a manual redirect's status and headers; it is still a redirect not followed.
    return { type: "transport_failed", error: "other", message: "the server answered with a redirect, which keyhole does not follow" };
  }
  let body;
  try {
    body = await readCapped(response, request.max_response_bytes);
  } catch (error) {
    return transportFailed(error);
  }
  if (body === null) {
    return { type: "transport_failed", error: "too_large", message: `the response is larger than ${request.max_response_bytes} bytes` };
  }
  const headers = {};
  response.headers.forEach((value, name) => {
    headers[name.toLowerCase()] = value;
  });
  return { type: "response", status: response.status, headers, ...bodyField(body) };
}

/** The body as bytes, or null once it exceeds `cap` (the rest is not read) */
async function readCapped(response, cap) {
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > cap) {
    await response.body?.cancel();
    return null;
  }
  if (!response.body) return new Uint8Array(0);
  const chunks = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > cap) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}

/** UTF-8 text as `body`, anything else as `body_base64` */
function bodyField(bytes) {
  try {
    return { body: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    return { body_base64: btoa(binary) };
  }
}

/** Maps a fetch failure to a transport error kind (undici puts the system error in `cause`) */
function transportFailed(error) {
  const code = String(error?.cause?.code ?? error?.code ?? "");
  const name = error?.name ?? "";
  let kind = "other";
  if (name === "TimeoutError" || name === "AbortError" || code.includes("TIMEOUT")) kind = "timeout";
  else if (code === "ENOTFOUND" || code === "EAI_AGAIN") kind = "dns";
  else if (code === "ECONNREFUSED" || code === "ECONNRESET" || code === "EHOSTUNREACH" || code === "ENETUNREACH") kind = "connect";
  else if (code.startsWith("ERR_TLS") || code.includes("CERT") || code.startsWith("ERR_SSL")) kind = "tls";
  const message = String(error?.cause?.message ?? error?.message ?? error);
  return { type: "transport_failed", error: kind, message };
}

/**
 * An in-memory secret store: what a `store` output asks, answered with the `stored` input
 *
 * Operations run one at a time in the order asked, so compare-and-swap is atomic within the process.
 */
export class MemoryStore {
  constructor(entries = {}) {
    this.records = new Map(Object.entries(entries));
    this.queue = Promise.resolve();
  }

  async load() {
    return this.records;
  }

  async save(records) {
    this.records = records;
  }

  /** Performs a `store` output; answers with the record held afterwards */
  apply(op) {
    // One operation at a time: a compare-and-swap reads and writes with nothing in between.
    const result = this.queue.then(() => this.applyNow(op));
    this.queue = result.catch(() => {});
    return result;
  }

  async applyNow(op) {
    try {
      const records = new Map(await this.load());
      const current = records.has(op.key) ? records.get(op.key) : null;
      switch (op.op) {
        case "load":
          return { type: "stored", value: current };
        case "compare_and_swap":
          if (current !== op.expected) return { type: "stored", value: current };
          records.set(op.key, op.new);
          await this.save(records);
          return { type: "stored", value: op.new };
        case "delete":
          if (records.delete(op.key)) await this.save(records);
          return { type: "stored", value: null };
        case "lock":
        case "unlock":
          // One process, operations in order: nothing else can interleave a refresh.
          return { type: "stored", value: null };
        default:
          return { type: "stored", error: "other", message: `unknown store operation ${JSON.stringify(op.op)}` };
      }
    } catch (error) {
      return { type: "stored", error: error?.code === "EACCES" || error?.code === "EPERM" ? "denied" : "unavailable", message: String(error?.message ?? error) };
    }
  }
}

/**
 * A file secret store for Node: one JSON object of records, mode 0600, replaced atomically
 * (write a temporary file, then rename over the old one)
 *
 * Compare-and-swap is atomic among the flows of this process (operations run one at a time). For
 * several processes sharing one file, the component host's `FileSecrets` (js/host/store.mjs) adds
 * a lock file around each read-modify-write.
 */
export class FileStore extends MemoryStore {
  constructor(path) {
    super();
    this.path = path;
  }

  async load() {
    const { readFile } = await import("node:fs/promises");
    try {
      return new Map(Object.entries(JSON.parse(await readFile(this.path, "utf8"))));
    } catch (error) {
      if (error?.code === "ENOENT") return new Map();
      throw error;
    }
  }

  async save(records) {
    const { writeFile, rename, mkdir } = await import("node:fs/promises");
    const { dirname } = await import("node:path");
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(Object.fromEntries(records)), { mode: 0o600 });
    await rename(temporary, this.path);
  }
}

/** The pages of the loopback listener, by the machine's verdict on the request */
const CALLBACK_PAGES = {
  accepted: [200, "<!doctype html><meta charset=\"utf-8\"><title>Login received</title><h1>Login received</h1><p>Return to the terminal: it finishes the login and shows the result. You can close this tab.</p>"],
  rejected: [400, "<!doctype html><meta charset=\"utf-8\"><title>Not this login</title><h1>Not this login</h1><p>This request does not belong to the login in progress, which is still waiting. If you started a login, finish it in the browser tab it opened.</p>"],
  failed: [200, "<!doctype html><meta charset=\"utf-8\"><title>Login failed</title><h1>Login failed</h1><p>Return to the terminal to see why. You can close this tab.</p>"],
};

/**
 * The loopback listener of a browser login (Node): `http://127.0.0.1:{port}/callback`
 *
 * Starts listening at once and keeps every GET request that arrives, also between two waits,
 * holding each open: only the machine knows which one is the login's redirect. `wait(untilMs)`
 * resolves with the next request target (`/callback?code=…&state=…`, or any other path) or null
 * at `untilMs`; `answer(verdict)` answers that request with the page for the machine's verdict
 * (`accepted`, `rejected` with a 400, `failed`). The listener does not keep the process alive;
 * `close()` stops it.
 */
export async function loopbackCallbacks(port, now = Date.now) {
  const { createServer } = await import("node:http");
  const queue = [];
  let held = null;
  let wake = null;
  const server = createServer((request, response) => {
    if (request.method !== "GET") {
      response.writeHead(404).end();
      return;
    }
    queue.push({ target: request.url, response });
    wake?.();
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  server.unref();
  return {
    async wait(untilMs) {
      // A request never answered (a caller without a verdict) is told nothing was confirmed.
      if (held) this.answer("rejected");
      if (queue.length === 0) {
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, untilMs - now()));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
      }
      held = queue.shift() ?? null;
      return held?.target ?? null;
    },
    answer(verdict) {
      const [status, page] = CALLBACK_PAGES[verdict] ?? CALLBACK_PAGES.rejected;
      held?.response.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", connection: "close" }).end(page);
      held = null;
    },
    close() {
      if (held) this.answer("rejected");
      for (const { response } of queue.splice(0)) response.writeHead(503, { connection: "close" }).end();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The host pieces for `drive`: fetch for HTTP, timers for waits, a secret store, how to show the
 * device-login prompt and open a browser, and (browser login) the loopback `callbacks` listener
 */
export function fetchIo({
  store = new MemoryStore(),
  show = (prompt) => console.error(`Open ${prompt.verification_uri_complete ?? prompt.verification_uri} and enter the code ${prompt.user_code}`),
  openBrowser = (url) => {
    console.error(`Open this URL in your browser to log in: ${url}`);
    return false;
  },
  callbacks = null,
  fetch: fetchFn = globalThis.fetch,
  now = Date.now,
} = {}) {
  return {
    nowMs: now,
    send: (request) => fetchSend(request, { fetch: fetchFn }),
    store: (op) => store.apply(op),
    show,
    openBrowser,
    waitUntil: async (untilMs) => {
      if (callbacks) return callbacks.wait(untilMs);
      await sleepUntil(untilMs, now);
      return null;
    },
    answerCallback: (verdict) => callbacks?.answer(verdict),
  };
}
