// Between the transcript JSON (tests/transcripts/README.md) and the component's WIT values as jco
// represents them (variants `{tag, val}`, u64 as BigInt, option as value-or-undefined, records in
// camelCase). The JS twin of host-wasi/src/convert.rs.
//
// `wireMachine` wraps a `machine` resource so that it speaks the transcript JSON: the same
// replayer and the same async driver (js/driver.mjs) then run the wasm-bindgen classes and the
// component alike.

const FORM = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";
const utf8 = new TextEncoder();

/** `{type: "start"}`-style JSON input → the WIT `input` variant */
export function inputToWit(input) {
  switch (input.type) {
    case "start":
      return { tag: "start" };
    case "timer":
      return { tag: "timer" };
    case "callback":
      return { tag: "callback", val: input.target };
    case "response":
      return { tag: "response", val: responseToWit(input) };
    case "transport_failed":
      return { tag: "transport-failed", val: transportErrorToWit(input.error, input.message) };
    case "stored":
      if (input.error !== undefined) {
        return { tag: "stored", val: { tag: "err", val: { tag: input.error, val: input.message ?? "" } } };
      }
      return { tag: "stored", val: { tag: "ok", val: input.value ?? undefined } };
    default:
      throw new TypeError(`keyhole: unknown input type ${JSON.stringify(input.type)}`);
  }
}

/** A `response` input's status, headers and body as the WIT `http-response` */
export function responseToWit({ status, headers = {}, body, body_base64: base64 }) {
  // The wire form reads headers from a JSON object in key order, lower-casing names (wire.rs).
  const pairs = Object.keys(headers ?? {})
    .sort()
    .map((name) => [name.toLowerCase(), headers[name]]);
  const bytes = base64 !== undefined ? Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)) : utf8.encode(body ?? "");
  return { status, headers: pairs, body: bytes };
}

export function transportErrorToWit(kind, message = "transport error") {
  const tag = kind.replaceAll("_", "-");
  return tag === "other" ? { tag, val: message } : { tag };
}

/** The WIT `output` variant → its transcript JSON */
export function outputToWire(output) {
  const v = output.val;
  switch (output.tag) {
    case "send":
      return requestToWire(v);
    case "store":
      return storeOpToWire(v);
    case "show":
      return {
        type: "show",
        user_code: v.userCode,
        verification_uri: v.verificationUri,
        verification_uri_complete: v.verificationUriComplete ?? null,
        expires_in_s: Number(v.expiresInS),
        expires_at_ms: Number(v.expiresAtMs),
      };
    case "open-browser":
      return { type: "open_browser", url: v };
    case "answer-callback":
      return { type: "answer_callback", verdict: v };
    case "wait":
      return { type: "wait", until_ms: v === undefined ? null : Number(v) };
    case "done":
      return v.tag === "ok" ? { type: "done", ok: doneValueToWire(v.val) } : { type: "done", error: authErrorToWire(v.val) };
    default:
      throw new Error(`keyhole: unknown output ${JSON.stringify(output.tag)} (host older than the component?)`);
  }
}

const orNull = (v) => v ?? null;
const msOrNull = (v) => (v === undefined ? null : Number(v));

/** A `done-value` → the machine result's JSON (the core's `WireValue` forms) */
export function doneValueToWire({ tag, val: v }) {
  switch (tag) {
    case "endpoints":
      // Absent endpoints (and a false iss-parameter flag) are left out, as in the core's wire
      // form.
      return Object.fromEntries(
        Object.entries(v)
          .filter(([, value]) => value !== undefined && value !== false)
          .map(([name, url]) => [name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), url]),
      );
    case "tokens":
      return tokenSetToWire(v);
    case "refresh":
      return { tokens: tokenSetToWire(v.tokens), refreshed: v.refreshed, warning: orNull(v.warning) };
    case "credential":
      return {
        kind: v.kind.replaceAll("-", "_"),
        source: v.source,
        secret: v.secret,
        token_type: v.tokenType,
        expires_at_ms: msOrNull(v.expiresAtMs),
        refreshed: v.refreshed,
        warning: orNull(v.warning),
        fallback_reason: orNull(v.fallbackReason),
      };
    case "key-check":
      return { status: v.status, elapsed_ms: Number(v.elapsedMs), identity: Object.fromEntries(v.identity) };
    case "revocation":
      return { revoked: v.revoked, unsupported: v.unsupported, skipped: v.skipped };
    case "account":
      return accountValueToWire(v);
    default:
      throw new Error(`keyhole: unknown done value ${JSON.stringify(tag)} (host older than the component?)`);
  }
}

/**
 * An `account-value` → the core's wire form (`AccountValue`); server JSON arrives as JSON text
 * (WIT has no recursive types) and is parsed back. `created-key.key` is the new secret.
 */
export function accountValueToWire({ tag, val: v }) {
  switch (tag) {
    case "whoami":
      return { operation: "whoami", body: JSON.parse(v.bodyJson), label: orNull(v.label) };
    case "projects":
      return { operation: "list_projects", projects: v.map((p) => ({ id: p.id, name: orNull(p.name) })) };
    case "created-key":
      return { operation: "create_key", key: v.key, body: JSON.parse(v.bodyJson) };
    case "keys":
      return { operation: "list_keys", keys: v.map((k) => JSON.parse(k)) };
    case "key":
      return { operation: "show_key", body: JSON.parse(v) };
    case "deleted":
      return { operation: "delete_key", id: v };
    default:
      throw new Error(`keyhole: unknown account value ${JSON.stringify(tag)} (host older than the component?)`);
  }
}

function tokenSetToWire(t) {
  return {
    access_token: t.accessToken,
    token_type: t.tokenType,
    refresh_token: orNull(t.refreshToken),
    id_token: orNull(t.idToken),
    scope: orNull(t.scope),
    expires_at_ms: msOrNull(t.expiresAtMs),
    refresh_at_ms: msOrNull(t.refreshAtMs),
    issued_at_ms: msOrNull(t.issuedAtMs),
  };
}

/**
 * The WIT `http-request` → a `send` output; a form body comes back as `form` pairs, a JSON body as
 * `json` text, each without the `content-type` header the wire form implies
 */
export function requestToWire(r) {
  const contentType = r.headers.find(([name]) => name === "content-type")?.[1];
  const implied = contentType === FORM || contentType === JSON_TYPE ? contentType : undefined;
  const out = {
    type: "send",
    method: r.method.toUpperCase(),
    url: r.url,
    headers: r.headers.filter(([name, value]) => !(implied && name === "content-type" && value === implied)),
  };
  if (implied === FORM) out.form = [...new URLSearchParams(new TextDecoder().decode(r.body))];
  if (implied === JSON_TYPE) out.json = new TextDecoder().decode(r.body);
  out.max_response_bytes = Number(r.maxResponseBytes);
  return out;
}

function storeOpToWire(op) {
  if (op.tag === "compare-and-swap") {
    return { type: "store", op: "compare_and_swap", key: op.val.key, expected: op.val.expected ?? null, new: op.val.new };
  }
  return { type: "store", op: op.tag, key: op.val };
}

/** The WIT `auth-error` → `{code, message}`; the case name is the stable code with `-` for `_` */
export function authErrorToWire(error) {
  return { code: error.kind.tag.replaceAll("-", "_"), message: error.message };
}

/** A `machine` resource speaking transcript JSON: `handleInput(nowMs, input)` / `pollOutput()` */
export function wireMachine(resource) {
  return {
    handleInput: (nowMs, input) => resource.handleInput(BigInt(nowMs), inputToWit(input)),
    pollOutput: () => outputToWire(resource.pollOutput()),
  };
}

// JSON config fields whose WIT type is u64 (a BigInt in jco) or an enum written differently
const U64_FIELDS = new Set(["max_response_bytes", "timeout_s", "skew_s", "expires_at_ms", "refresh_at_ms", "issued_at_ms"]);
const ENUM_FIELDS = new Set(["method", "prefer", "env_precedence"]);
const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

/**
 * A transcript's JSON config as the WIT record jco takes, field for field: `max_response_bytes`
 * is `maxResponseBytes`, an absent or null field an option's `undefined` (the component fills the
 * core's default), an absent list empty, an enum its case (`GET` is `get`, `api_key` is
 * `api-key`), the account operation's `{"whoami": {…}}` its variant `{tag, val}`, `identity` (a
 * JSON object of names) its list of pairs, and `permissions` (any JSON value; WIT has no recursive
 * types) the field `permissionsJson` as JSON text. The JS twin of `machine_config_to_wit` in
 * tests/python/keyhole_host/wit.py and `config_to_wit` in host-wasi/src/convert.rs.
 */
export function configToWit(json) {
  const out = {};
  for (const [key, value] of Object.entries(json)) {
    if (value === null || value === undefined) continue;
    if (key === "permissions") out.permissionsJson = JSON.stringify(value);
    else if (key === "identity") out.identity = Object.entries(value);
    else if (key === "operation") {
      const [[tag, val]] = Object.entries(value);
      out.operation = { tag: tag.replaceAll("_", "-"), val: configToWit(val) };
    } else if (U64_FIELDS.has(key)) out[camel(key)] = BigInt(value);
    else if (ENUM_FIELDS.has(key)) out[camel(key)] = value.toLowerCase().replaceAll("_", "-");
    else if (typeof value === "object" && !Array.isArray(value)) out[camel(key)] = configToWit(value);
    else out[camel(key)] = value;
  }
  // Lists with no JSON default in the transcripts: the client's scopes, a key check's identity.
  if ("clientId" in out) out.scopes ??= [];
  if ("url" in out) out.identity ??= [];
  return out;
}

/**
 * Builds a machine from the component's `machine` export like the wasm-bindgen `Machine`
 * constructor: `kind` is a transcript machine name (`device_login`), `config` its JSON config,
 * `random` the bytes a browser login needs (ignored by the other kinds)
 */
export function newMachine(machines, kind, config, nowMs, random) {
  const typed = { tag: kind.replaceAll("_", "-"), val: configToWit(config) };
  const resource = new machines.Machine(typed, BigInt(nowMs), Uint8Array.from(random ?? []));
  return wireMachine(resource);
}
