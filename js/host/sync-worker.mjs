// The worker behind sync.mjs: performs asynchronous work and wakes the blocked caller
//
// Operations:
//   send     { request }            -> the driver's `response` / `transport_failed` input
//   callback { port, timeoutMs }    -> the request target of the first loopback /callback hit, or null

import { createServer } from "node:http";
import { workerData } from "node:worker_threads";

import { fetchSend } from "../driver.mjs";

const { port, signal } = workerData;

const operations = {
  send: ({ request }) => fetchSend(request),
  callback: ({ port: listenPort, timeoutMs }) => waitForCallback(listenPort, timeoutMs),
};

/** Listens on 127.0.0.1:`listenPort` for the browser's redirect to /callback */
function waitForCallback(listenPort, timeoutMs) {
  return new Promise((resolve, reject) => {
    const server = createServer((request, response) => {
      if (!request.url.startsWith("/callback")) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      response.end("<!doctype html><title>keyhole</title><p>Login received. You can close this window and return to the terminal.</p>");
      finish(request.url);
    });
    const timer = setTimeout(() => finish(null), timeoutMs);
    function finish(target) {
      clearTimeout(timer);
      server.close();
      server.closeAllConnections?.();
      resolve(target);
    }
    server.on("error", reject);
    server.listen(listenPort, "127.0.0.1");
  });
}

port.on("message", async ({ op, args }) => {
  let reply;
  try {
    const run = operations[op];
    if (!run) throw new Error(`unknown operation ${op}`);
    reply = { result: await run(args) };
  } catch (error) {
    reply = { error: String(error?.message ?? error) };
  }
  port.postMessage(reply);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
});
