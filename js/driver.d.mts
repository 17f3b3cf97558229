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

/** Secrets in memory; compare-and-swap is atomic within the process */
export class MemoryStore {
  constructor(entries?: Record<string, string>);
  apply(op: StoreOutput): Promise<object>;
}

/** Secrets in a JSON file (mode 0600) replaced atomically by rename; Node only */
export class FileStore extends MemoryStore {
  constructor(path: string);
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
  store?: MemoryStore;
  show?: (prompt: Prompt) => Awaitable<void>;
  openBrowser?: (url: string) => Awaitable<boolean>;
  callbacks?: LoopbackCallbacks | null;
  fetch?: typeof fetch;
  now?: () => number;
}): Io;
