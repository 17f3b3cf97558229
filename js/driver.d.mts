// Types for driver.mjs (keyhole's async driver for JavaScript hosts)

/** Any keyhole machine: the wasm-bindgen classes and the jco component's `machines` resources */
export interface MachineLike {
  handleInput(nowMs: number, input: object): void;
  pollOutput(): { type: string; [field: string]: unknown };
}

/** A `send` output: perform it without following redirects, body capped at `max_response_bytes` */
export interface SendOutput {
  type: "send";
  method: string;
  url: string;
  headers: [string, string][];
  form?: [string, string][];
  /** JSON text (account calls), sent with `content-type: application/json` */
  json?: string;
  /** Bytes already encoded (the component's requests), with their content-type in `headers` */
  body?: Uint8Array;
  max_response_bytes: number;
}

/** A `store` output */
export interface StoreOutput {
  type: "store";
  op: "load" | "compare_and_swap" | "delete" | "lock" | "unlock";
  key: string;
  expected?: string | null;
  new?: string;
}

/** A `show` output: the device-login prompt */
export interface Prompt {
  type: "show";
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string | null;
  expires_in_s: number;
  expires_at_ms: number;
}

type Awaitable<T> = T | Promise<T>;

/** What a host supplies to `drive`; mirrors core's `Io` trait */
export interface Io {
  nowMs(): number;
  send(request: SendOutput): Awaitable<object>;
  store(op: StoreOutput): Awaitable<object>;
  show(prompt: Prompt): Awaitable<void>;
  openBrowser(url: string): Awaitable<boolean>;
  /** Resolves at `untilMs` with null, or earlier with a loopback request's target (held open) */
  waitUntil(untilMs: number): Awaitable<string | null>;
  /** Answers the request whose target `waitUntil` last returned, as the machine decided */
  answerCallback(verdict: CallbackVerdict): Awaitable<void>;
}

/** How a loopback request is answered: 200 for the login's redirect, 400 for any other, or the login failed */
export type CallbackVerdict = "accepted" | "rejected" | "failed";

/** A machine ended with an error; `code` is the core's stable AuthError code */
export class KeyholeError extends Error {
  constructor(error: { code: string; message: string });
  code: string;
}

/** Runs a machine to completion; resolves with its `done.ok` value, rejects with `KeyholeError` */
export function drive(machine: MachineLike, io: Io): Promise<unknown>;

export function sleepUntil(untilMs: number, now?: () => number): Promise<void>;

/** Performs a `send` with fetch (`redirect: "manual"`, size cap) and answers with the input */
export function fetchSend(request: SendOutput, options?: { fetch?: typeof fetch; timeoutMs?: number }): Promise<object>;

/**
 * The pluggable store `fetchIo` hands every `store` output to; each method may be async
 *
 * Values are the core's record text, opaque to the store. A method that fails throws, ideally a
 * `StoreError` saying how.
 */
export interface Store {
  /** The record under `key`, or null (or undefined) when there is none */
  get(key: string): Awaitable<string | null | undefined>;
  /**
   * Replaces the record with `value` if it is still `expected` (null: only if absent), atomically
   * against every other writer; returns the record held afterwards (`value` when it swapped)
   */
  compareAndSwap(key: string, expected: string | null, value: string): Awaitable<string | null | undefined>;
  /** Removes the record (absent is fine) */
  delete(key: string): Awaitable<void>;
  /** Optional: a lock held around a refresh; throw `StoreError("unavailable", …)` when not taken in time */
  lock?(key: string): Awaitable<void>;
  /** Optional: releases `lock` */
  unlock?(key: string): Awaitable<void>;
}

/** A store failure as the machine reads it */
export class StoreError extends Error {
  constructor(kind: "unavailable" | "denied" | "other", message: string);
  kind: "unavailable" | "denied" | "other";
}

/** Performs a `store` output on `store`; resolves with the `stored` input (errors included) */
export function storeAnswer(store: Store, op: StoreOutput): Promise<object>;

/**
 * Secrets in memory (Node and browsers); operations run one at a time, so compare-and-swap is
 * atomic within the process, and `lock` waits for another operation's lock up to `lockTimeoutMs`
 * (default 10 s)
 */
export class MemoryStore implements Store {
  constructor(entries?: Record<string, string>, options?: { lockTimeoutMs?: number });
  get(key: string): Promise<string | null>;
  compareAndSwap(key: string, expected: string | null, value: string): Promise<string | null>;
  delete(key: string): Promise<void>;
  lock(key: string): Promise<void>;
  unlock(key: string): Promise<void>;
  /** `storeAnswer(this, op)` */
  apply(op: StoreOutput): Promise<object>;
}

/** Secrets in a JSON file (mode 0600, directory 0700) replaced atomically by rename; Node only */
export class FileStore extends MemoryStore {
  constructor(path: string, options?: { lockTimeoutMs?: number });
}

/** Browser login's loopback listener on 127.0.0.1:`port` (Node); keeps requests between waits */
export interface LoopbackCallbacks {
  /** The next GET request's target (held open until `answer`), or null at `untilMs` */
  wait(untilMs: number): Promise<string | null>;
  /** Answers the request `wait` last returned with the page for the machine's verdict */
  answer(verdict: CallbackVerdict): void;
  close(): Promise<void>;
}
export function loopbackCallbacks(port: number, now?: () => number): Promise<LoopbackCallbacks>;

export function fetchIo(options?: {
  /** Default: a new MemoryStore */
  store?: Store;
  show?: (prompt: Prompt) => Awaitable<void>;
  openBrowser?: (url: string) => Awaitable<boolean>;
  callbacks?: LoopbackCallbacks | null;
  fetch?: typeof fetch;
  now?: () => number;
}): Io;
