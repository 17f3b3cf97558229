// The worker behind sync.mjs: performs asynchronous work and wakes the blocked caller
//
// Operations:
//   send     { request, timeoutMs }  -> the driver's `response` / `transport_failed` input
//   callback { port, timeoutMs }     -> the request target of the next loopback GET request, held
//                                       open, or null on timeout
//   answer   { port, verdict }       -> answers the held request with the verdict's page
// A callback listener stays open once started, so a request arriving between two calls is kept
// (the WIT's `wait-callback` promise); it does not keep the process alive.

import { workerData } from "node:worker_threads";

import { fetchSend, loopbackCallbacks } from "../driver.mjs";

const { port, signal } = workerData;

const listeners = new Map();

/** The next callback on 127.0.0.1:`listenPort`, from one listener per port kept across calls */
async function waitForCallback(listenPort, timeoutMs) {
  if (!listeners.has(listenPort)) {
    const starting = loopbackCallbacks(listenPort);
    // A port that could not be opened is tried again on the next call.
    starting.catch(() => listeners.delete(listenPort));
    listeners.set(listenPort, starting);
  }
  const listener = await listeners.get(listenPort);
  return listener.wait(Date.now() + timeoutMs);
}

/** Answers the request the last wait on `listenPort` returned (none pending: nothing to do) */
async function answerCallback(listenPort, verdict) {
  const listener = await listeners.get(listenPort)?.catch(() => null);
  listener?.answer(verdict);
  return null;
}

const operations = {
  send: ({ request, timeoutMs }) => fetchSend(request, { timeoutMs }),
  callback: ({ port: listenPort, timeoutMs }) => waitForCallback(listenPort, timeoutMs),
  answer: ({ port: listenPort, verdict }) => answerCallback(listenPort, verdict),
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
