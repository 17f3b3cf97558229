//! wasm-bindgen glue (feature `js`, target `wasm32-unknown-unknown`): every machine as a JS class
//!
//! Each class has `constructor(config, nowMs, random?)`, `handleInput(nowMs, input)` and
//! `pollOutput()`; inputs and outputs are plain JS objects in the transcript format
//! (`tests/transcripts/README.md`), converted through [`crate::wire`] so that JS sees exactly what
//! the Rust runner sees. Values cross the boundary as JSON text (`JSON.stringify` / `JSON.parse`).
//!
//! Nothing here may panic on anything JS passes in: the `wasm` profile aborts on panic, which would
//! trap and poison the instance. Every wrong argument becomes a thrown `TypeError` (wrong JS type)
//! or `Error` (right type, unusable content) whose message names the argument and what to pass.
//! `scripts/build-js` builds the npm package.

// wasm-bindgen exports need `pub` items; they are reachable from JS, not from Rust.
#![allow(unreachable_pub)]

use js_sys::{JSON, Uint8Array};
use serde_json::Value;
use wasm_bindgen::prelude::*;

use crate::wire::{MACHINE_KINDS, WireMachine, input_from_wire, new_machine};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** The machine names `new Machine(kind, …)` accepts */
export type MachineKind =
  | "discovery" | "device_login" | "browser_login" | "refresh"
  | "credential" | "key_check" | "revocation" | "account_call";

/** A machine's config: the `config` object of a transcript for that machine */
export type MachineConfig = Record<string, unknown>;

/** Random bytes for machines that need entropy (browser login: state and PKCE verifier) */
export type RandomBytes = Uint8Array | number[];

/** An event fed to `handleInput` (see tests/transcripts/README.md) */
export type Input =
  | { type: "start" }
  | { type: "response"; status: number; headers?: Record<string, string>; body?: string; body_base64?: string }
  | { type: "transport_failed"; error: "dns" | "connect" | "timeout" | "tls" | "too_large" | "other"; message?: string }
  | { type: "stored"; value?: string | null }
  | { type: "stored"; error: "unavailable" | "denied" | "other"; message?: string }
  | { type: "callback"; target: string }
  | { type: "timer" };

/**
 * How to answer the loopback request of the last `callback` input: `accepted` (200, the login's
 * redirect), `rejected` (400, not this login's: it keeps waiting), `failed` (the login ended)
 */
export type CallbackVerdict = "accepted" | "rejected" | "failed";

/** A stable error code and a message for people */
export interface AuthError { code: string; message: string }

/** What `pollOutput` returns; drain it after every input until `wait` or `done` */
export type Output =
  | { type: "send"; method: string; url: string; headers: [string, string][]; form?: [string, string][]; json?: string; max_response_bytes: number }
  | { type: "store"; op: "load" | "delete" | "lock" | "unlock"; key: string }
  | { type: "store"; op: "compare_and_swap"; key: string; expected: string | null; new: string }
  | { type: "show"; user_code: string; verification_uri: string; verification_uri_complete: string | null; expires_in_s: number; expires_at_ms: number }
  | { type: "open_browser"; url: string }
  | { type: "answer_callback"; verdict: CallbackVerdict }
  | { type: "wait"; until_ms: number | null }
  | { type: "done"; ok: unknown }
  | { type: "done"; error: AuthError };

/** JSON as a server sent it (account answers pass through unchanged) */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The `done.ok` of an `account_call` machine, one shape per operation; `key` is a new secret */
export type AccountValue =
  | { operation: "whoami"; body: Json; label: string | null }
  | { operation: "list_projects"; projects: { id: string; name: string | null }[] }
  | { operation: "create_key"; key: string; body: Json }
  | { operation: "list_keys"; keys: Json[] }
  | { operation: "show_key"; body: Json }
  | { operation: "delete_key"; id: string };
"#;

/// A machine behind a JS class: the wire form of any core machine
struct Inner(Box<dyn WireMachine>);

impl Inner {
    fn new(
        kind: &str,
        config: &JsValue,
        now_ms: &JsValue,
        random: Option<JsValue>,
    ) -> Result<Self, JsValue> {
        let config = object_to_json(config, "config", "the machine's config object")?;
        let now_ms = millis(now_ms)?;
        let random = bytes(&random.unwrap_or(JsValue::UNDEFINED))?;
        new_machine(kind, &config, now_ms, &random)
            .map(Inner)
            .map_err(|e| error(&format!("keyhole: cannot build `{kind}`: {e}")))
    }

    fn handle_input(&mut self, now_ms: &JsValue, input: &JsValue) -> Result<(), JsValue> {
        let now_ms = millis(now_ms)?;
        let input = object_to_json(input, "input", "an input object such as {type: \"start\"}")?;
        let input =
            input_from_wire(&input).map_err(|e| error(&format!("keyhole: bad input: {e}")))?;
        self.0.handle_input(now_ms, input);
        Ok(())
    }

    fn poll_output(&mut self) -> Result<JsValue, JsValue> {
        let text = self.0.poll_output_wire().to_string();
        JSON::parse(&text)
    }
}

fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

fn error(message: &str) -> JsValue {
    js_sys::Error::new(message).into()
}

/// `typeof`-like description of a JS value for error messages (never its content: it may be secret)
fn describe(value: &JsValue) -> String {
    if value.is_null() {
        "null".into()
    } else if js_sys::Array::is_array(value) {
        "an array".into()
    } else {
        value
            .js_typeof()
            .as_string()
            .unwrap_or_else(|| "unknown".into())
    }
}

/// A plain JS object as JSON, or a `TypeError` naming the argument
fn object_to_json(value: &JsValue, name: &str, wanted: &str) -> Result<Value, JsValue> {
    if !value.is_object() || value.is_null() || js_sys::Array::is_array(value) {
        return Err(type_error(&format!(
            "keyhole: `{name}` must be {wanted}, got {}",
            describe(value)
        )));
    }
    let text = JSON::stringify(value)
        .map_err(|_| {
            type_error(&format!(
                "keyhole: `{name}` cannot be turned into JSON (a BigInt or a cycle?); pass plain data"
            ))
        })?
        .as_string()
        .ok_or_else(|| type_error(&format!("keyhole: `{name}` has no JSON form; pass plain data")))?;
    crate::body::parse_json(text.as_bytes())
        .map_err(|e| error(&format!("keyhole: `{name}` is not usable JSON: {e}")))
}

/// Whether a number in `0.0..=MAX_SAFE_INTEGER` has no fraction (`f64::fract` is std-only)
fn is_whole(n: f64) -> bool {
    n as u64 as f64 == n
}

/// Unix milliseconds: a non-negative integer JS number no larger than `Number.MAX_SAFE_INTEGER`
fn millis(value: &JsValue) -> Result<u64, JsValue> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    match value.as_f64() {
        Some(ms) if (0.0..=MAX_SAFE).contains(&ms) && is_whole(ms) => Ok(ms as u64),
        Some(_) => Err(type_error(
            "keyhole: `nowMs` must be a non-negative whole number of unix milliseconds (Date.now())",
        )),
        None => Err(type_error(&format!(
            "keyhole: `nowMs` must be a number of unix milliseconds (Date.now()), got {}",
            describe(value)
        ))),
    }
}

/// Random bytes: a `Uint8Array`, an array of bytes, or nothing
fn bytes(value: &JsValue) -> Result<Vec<u8>, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    if let Some(array) = value.dyn_ref::<Uint8Array>() {
        return Ok(array.to_vec());
    }
    let bad = || {
        type_error(&format!(
            "keyhole: `random` must be a Uint8Array (crypto.getRandomValues) or an array of bytes 0-255, got {}",
            describe(value)
        ))
    };
    if !js_sys::Array::is_array(value) {
        return Err(bad());
    }
    js_sys::Array::from(value)
        .iter()
        .map(|b| match b.as_f64() {
            Some(n) if (0.0..=255.0).contains(&n) && is_whole(n) => Ok(n as u8),
            _ => Err(bad()),
        })
        .collect()
}

/// Any machine by name: `new Machine("device_login", config, Date.now(), random)`
#[wasm_bindgen]
pub struct Machine(Inner);

#[wasm_bindgen]
impl Machine {
    /// Builds the machine named `kind` (see `MachineKind`) from its config, the time and random bytes
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "MachineKind")] kind: JsValue,
        #[wasm_bindgen(unchecked_param_type = "MachineConfig")] config: JsValue,
        #[wasm_bindgen(js_name = nowMs, unchecked_param_type = "number")] now_ms: JsValue,
        #[wasm_bindgen(unchecked_param_type = "RandomBytes")] random: Option<JsValue>,
    ) -> Result<Machine, JsValue> {
        let kind = kind.as_string().ok_or_else(|| {
            type_error(&format!(
                "keyhole: `kind` must be a machine name, one of `{}`; got {}",
                MACHINE_KINDS.join("`, `"),
                describe(&kind)
            ))
        })?;
        Inner::new(&kind, &config, &now_ms, random).map(Machine)
    }
}

/// `handleInput` and `pollOutput`, the same for every class: they forward to [`Inner`]
macro_rules! machine_methods {
    ($($class:ident),*) => {$(
        #[wasm_bindgen]
        impl $class {
            /// Feeds one input; then call `pollOutput` until it returns `wait` or `done`
            #[wasm_bindgen(js_name = handleInput)]
            pub fn handle_input(
                &mut self,
                #[wasm_bindgen(js_name = nowMs, unchecked_param_type = "number")] now_ms: JsValue,
                #[wasm_bindgen(unchecked_param_type = "Input")] input: JsValue,
            ) -> Result<(), JsValue> {
                self.0.handle_input(&now_ms, &input)
            }

            /// The next thing to do
            #[wasm_bindgen(js_name = pollOutput, unchecked_return_type = "Output")]
            pub fn poll_output(&mut self) -> Result<JsValue, JsValue> {
                self.0.poll_output()
            }
        }
    )*};
}

/// One class per machine kind: its constructor here, the other methods from `machine_methods!`
macro_rules! machine_class {
    ($($class:ident => $kind:literal, $ty:ty, $doc:literal;)*) => {$(
        #[doc = $doc]
        #[wasm_bindgen]
        pub struct $class(Inner);

        #[wasm_bindgen]
        impl $class {
            /// Builds the machine from its config, the time (unix ms) and random bytes if it needs them
            #[wasm_bindgen(constructor)]
            pub fn new(
                #[wasm_bindgen(unchecked_param_type = "MachineConfig")] config: JsValue,
                #[wasm_bindgen(js_name = nowMs, unchecked_param_type = "number")] now_ms: JsValue,
                #[wasm_bindgen(unchecked_param_type = "RandomBytes")] random: Option<JsValue>,
            ) -> Result<$class, JsValue> {
                Inner::new($kind, &config, &now_ms, random).map($class)
            }
        }

        machine_methods!($class);
    )*};
}

crate::for_each_machine!(machine_class);

machine_methods!(Machine);
