// The component's imports (`keyhole:auth/http`, `secrets`, `host`) implemented for Node
//
// HTTP goes through fetch on a worker thread (sync.mjs): redirects are never followed and the body
// is capped at `max-response-bytes` (js/driver.mjs's fetchSend, shared with the async driver).
// Errors of `result`-returning imports are thrown as `{payload}`, which jco turns into `err`.

import { webcrypto } from "node:crypto";

import { outputToWire, transportErrorToWit } from "./wit.mjs";
import { MemorySecrets } from "./store.mjs";
import { callSync, sleepSync } from "./sync.mjs";

/** The prompt as the `show` output of the transcript format, for hosts that share a handler */
function promptToWire(prompt) {
  return outputToWire({ tag: "show", val: prompt });
}

function defaultShowPrompt(prompt) {
  process.stderr.write(`To log in, open ${prompt.verification_uri_complete ?? prompt.verification_uri} and enter the code ${prompt.user_code}\n`);
}

function defaultOpenBrowser(url) {
  process.stderr.write(`Open this URL in your browser to log in: ${url}\n`);
  return false;
}

/**
 * The keyhole:auth imports
 *
 * options: secrets (MemorySecrets or FileSecrets), showPrompt(prompt as the `show` JSON),
 * openBrowser(url) -> boolean, now() -> unix ms, timeoutMs for each HTTP request
 */
export function keyholeImports({
  secrets = new MemorySecrets(),
  showPrompt = defaultShowPrompt,
  openBrowser = defaultOpenBrowser,
  now = Date.now,
  timeoutMs = 30_000,
} = {}) {
  const http = {
    send(request) {
      if (request.redirectPolicy.tag !== "no-follow") {
        // The WIT lets a host refuse the reserved policy; keyhole's flows never ask for it.
        throw { payload: transportErrorToWit("other", "this host never follows redirects") };
      }
      let answer;
      try {
        answer = callSync("send", {
          request: {
            method: request.method.toUpperCase(),
            url: request.url,
            headers: request.headers,
            body: request.body,
            max_response_bytes: Number(request.maxResponseBytes),
          },
          timeoutMs,
        });
      } catch (error) {
        // The worker itself failed: still an answer, never a trap.
        throw { payload: transportErrorToWit("other", String(error?.message ?? error)) };
      }
      if (answer.type === "transport_failed") throw { payload: transportErrorToWit(answer.error, answer.message) };
      const body = answer.body_base64 !== undefined ? Uint8Array.from(atob(answer.body_base64), (c) => c.charCodeAt(0)) : new TextEncoder().encode(answer.body);
      return { status: answer.status, headers: Object.entries(answer.headers), body };
    },
  };

  const host = {
    nowMs: () => BigInt(now()),
    sleep: (ms) => sleepSync(Number(ms)),
    randomBytes(len) {
      const bytes = new Uint8Array(len);
      // getRandomValues fills at most 65536 bytes per call.
      for (let at = 0; at < len; at += 65536) webcrypto.getRandomValues(bytes.subarray(at, at + 65536));
      return bytes;
    },
    showPrompt: (prompt) => void showPrompt(promptToWire(prompt)),
    openBrowser: (url) => Boolean(openBrowser(url)),
    waitCallback(port, timeoutMs) {
      try {
        return callSync("callback", { port, timeoutMs: Number(timeoutMs) }) ?? undefined;
      } catch (error) {
        // The WIT has no error here: say why on stderr and let the flow's deadline end it
        // (`callback_timeout`) rather than trap.
        process.stderr.write(`keyhole: cannot listen on 127.0.0.1:${port} for the login callback: ${error.message}\n`);
        sleepSync(Number(timeoutMs));
        return undefined;
      }
    },
    answerCallback(port, verdict) {
      try {
        callSync("answer", { port, verdict });
      } catch (error) {
        // The request is lost (the browser sees the connection close); the flow goes on.
        process.stderr.write(`keyhole: cannot answer the login callback on 127.0.0.1:${port}: ${error.message}\n`);
      }
    },
  };

  const store = {
    get: (key) => secrets.get(key),
    delete: (key) => secrets.delete(key),
    compareAndSwap: (key, expected, value) => secrets.compareAndSwap(key, expected, value),
    lock: (key) => secrets.lock(key),
    unlock: (key) => secrets.unlock(key),
  };

  return { types: {}, http, secrets: store, host };
}
