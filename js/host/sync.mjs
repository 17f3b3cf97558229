// Synchronous calls into asynchronous Node APIs, for the component's imports
//
// A wasm component's imports are synchronous (`http.send` returns the response), while fetch and
// HTTP servers in Node are asynchronous. This runs them on a worker thread and blocks the calling
// thread with `Atomics.wait` until the worker answers (the pattern preview2-shim uses for
// wasi:http). Blocking is fine in Node's main thread and in workers; a browser main thread cannot
// block, so the component's `operations` export is for Node (browsers use the `machine` export with
// the async driver instead).

import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";

let bridge;

function start() {
  const { port1, port2 } = new MessageChannel();
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(new URL("./sync-worker.mjs", import.meta.url), {
    workerData: { port: port2, signal },
    transferList: [port2],
  });
  // The worker must not keep a finished program alive.
  worker.unref();
  port1.unref();
  return { port: port1, signal, worker };
}

/** Runs `op` (see sync-worker.mjs) on the worker and returns its result, blocking until then */
export function callSync(op, args) {
  bridge ??= start();
  Atomics.store(bridge.signal, 0, 0);
  bridge.port.postMessage({ op, args });
  for (;;) {
    Atomics.wait(bridge.signal, 0, 0);
    const reply = receiveMessageOnPort(bridge.port);
    if (reply) {
      if ("error" in reply.message) throw new Error(reply.message.error);
      return reply.message.result;
    }
    // Woken with no message yet (spurious): keep waiting.
    Atomics.store(bridge.signal, 0, 0);
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the calling thread for `ms` milliseconds */
export function sleepSync(ms) {
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}
