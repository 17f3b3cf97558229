// The worker behind sync.mjs: performs asynchronous work and wakes the blocked caller
//
// Operations:
//   send     { request, timeoutMs }  -> the driver's `response` / `transport_failed` input
//   callback { port, timeoutMs }     -> the request target of the next loopback /callback request,
//                                       or null on timeout
// A callback listener stays open once started, so a request arriving between two calls is kept
// (the WIT's `wait-callback` promise); it does not keep the process alive.

import { createServer } from "node:http";
import { workerData } from "node:worker_threads";

import { fetchSend } from "../driver.mjs";

const { port, signal } = workerData;

const listeners = new Map();

function listener(listenPort) {
  let entry = listeners.get(listenPort);
  if (entry) return entry;
  entry = { queue: [], waiter: null, ready: null };
  const server = createServer((request, response) => {
    if (!request.url.startsWith("/callback")) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    response.end("<!doctype html><title>keyhole</title><p>Login received. You can close this window and return to the terminal.</p>");
    entry.queue.push(request.url);
    entry.waiter?.();
  });
  entry.ready = new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(listenPort, "127.0.0.1", resolve);
  });
  server.unref();
  listeners.set(listenPort, entry);
  return entry;
}

async function waitForCallback(listenPort, timeoutMs) {
  const entry = listener(listenPort);
  await entry.ready;
  if (entry.queue.length === 0) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      entry.waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    entry.waiter = null;
  }
  return entry.queue.shift() ?? null;
}

const operations = {
  send: ({ request, timeoutMs }) => fetchSend(request, { timeoutMs }),
  callback: ({ port: listenPort, timeoutMs }) => waitForCallback(listenPort, timeoutMs),
};

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
