//! The JSON form of inputs and outputs: the transcript format, and what the JS and WIT `machines`
//! exports speak
//!
//! `tests/transcripts/README.md` documents it. This is the one place besides `record.rs` that
//! writes secrets out (requests must carry them), and it does so only when asked to serialise.
use core::fmt::Debug;

use serde_json::{Map, Value, json};

use crate::error::{AuthError, StoreError};
use crate::http::{Body, HttpRequest, HttpResponse, TransportError};
use crate::machine::{FromConfig, Input, Machine, Output, StoreOp};
use crate::secret::Secret;

/// Why a wire value could not be used
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

fn wire_err(msg: impl Into<String>) -> WireError {
    WireError(msg.into())
}

pub use crate::machine::WireValue;

/// Any machine, driven with JSON outputs; what transcript runners, JS and the component use
///
/// Deliberately without `Debug`: a `dyn WireMachine` vtable would otherwise keep every machine's
/// `Debug` code alive in the wasm artefacts (19 KB measured in the wasm-bindgen module). The
/// redaction tests use [`DebugWireMachine`] (feature `wire-debug`, which the core's own tests
/// enable) instead.
pub trait WireMachine {
    /// Feeds one input (see [`Machine::handle_input`])
    fn handle_input(&mut self, now_ms: u64, input: Input);
    /// The next output as JSON (see [`Machine::poll_output`])
    fn poll_output_wire(&mut self) -> Value;
}

impl<M> WireMachine for M
where
    M: Machine,
    M::Value: WireValue,
{
    fn handle_input(&mut self, now_ms: u64, input: Input) {
        Machine::handle_input(self, now_ms, input)
    }

    fn poll_output_wire(&mut self) -> Value {
        output_to_wire(&self.poll_output())
    }
}

/// A [`WireMachine`] whose state and outputs can also be shown with `Debug`: for the redaction
/// tests, which check that no secret reaches that text (not part of the shipped artefacts)
#[cfg(feature = "wire-debug")]
pub trait DebugWireMachine: WireMachine + Debug {
    /// The next output as JSON and as its `Debug` text
    fn poll_output_with_debug(&mut self) -> (Value, String);
}

#[cfg(feature = "wire-debug")]
impl<M> DebugWireMachine for M
where
    M: Machine + Debug,
    M::Value: WireValue + Debug,
{
    fn poll_output_with_debug(&mut self) -> (Value, String) {
        let output = self.poll_output();
        (output_to_wire(&output), format!("{output:?}"))
    }
}

/// What [`build_machine`] hands each concrete machine to: boxes it as the trait object wanted
trait Boxer {
    type Boxed;
    fn boxed<M>(machine: M) -> Self::Boxed
    where
        M: Machine + Debug + 'static,
        M::Value: WireValue + Debug;
}

struct AsWire;

impl Boxer for AsWire {
    type Boxed = Box<dyn WireMachine>;
    fn boxed<M>(machine: M) -> Self::Boxed
    where
        M: Machine + Debug + 'static,
        M::Value: WireValue + Debug,
    {
        Box::new(machine)
    }
}

#[cfg(feature = "wire-debug")]
struct AsDebugWire;

#[cfg(feature = "wire-debug")]
impl Boxer for AsDebugWire {
    type Boxed = Box<dyn DebugWireMachine>;
    fn boxed<M>(machine: M) -> Self::Boxed
    where
        M: Machine + Debug + 'static,
        M::Value: WireValue + Debug,
    {
        Box::new(machine)
    }
}

macro_rules! machine_kinds {
    ($($variant:ident => $kind:literal, $ty:ty, $doc:literal;)*) => {
        /// The names [`new_machine`] accepts (from [`crate::for_each_machine`])
        pub const MACHINE_KINDS: &[&str] = &[$($kind),*];
    };
}
crate::for_each_machine!(machine_kinds);

/// Builds a machine by name from its JSON config, the time and the random bytes it may need
pub fn new_machine(
    kind: &str,
    config: &Value,
    now_ms: u64,
    random: &[u8],
) -> Result<Box<dyn WireMachine>, WireError> {
    build_machine::<AsWire>(kind, config, now_ms, random)
}

/// [`new_machine`], with the machine's state and outputs also available as `Debug` text
#[cfg(feature = "wire-debug")]
pub fn new_debug_machine(
    kind: &str,
    config: &Value,
    now_ms: u64,
    random: &[u8],
) -> Result<Box<dyn DebugWireMachine>, WireError> {
    build_machine::<AsDebugWire>(kind, config, now_ms, random)
}

fn build_machine<B: Boxer>(
    kind: &str,
    config: &Value,
    now_ms: u64,
    random: &[u8],
) -> Result<B::Boxed, WireError> {
    macro_rules! build {
        ($($variant:ident => $kind:literal, $ty:ty, $doc:literal;)*) => {
            match kind {
                $($kind => Ok(B::boxed(<$ty>::from_config(
                    config_from_wire(kind, config)?,
                    now_ms,
                    random,
                ))),)*
                _ => Err(wire_err(format!(
                    "unknown machine `{kind}`; expected one of `{}`",
                    MACHINE_KINDS.join("`, `")
                ))),
            }
        };
    }
    crate::for_each_machine!(build)
}

/// Reads a JSON config into a machine's config type, naming the problem
///
/// The message names the field by its path (`client.client_id`), from `serde_path_to_error`.
pub fn config_from_wire<C: serde::de::DeserializeOwned>(
    kind: &str,
    config: &Value,
) -> Result<C, WireError> {
    serde_path_to_error::deserialize(config).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            wire_err(format!("bad `{kind}` config: {}", e.inner()))
        } else {
            wire_err(format!("bad `{kind}` config: `{path}`: {}", e.inner()))
        }
    })
}

/// The JSON form of an error: `{"code": …, "message": …}`
pub fn error_to_wire(error: &AuthError) -> Value {
    json!({ "code": error.code(), "message": error.to_string() })
}

/// The JSON form of an output
///
/// Only a `done` value depends on the machine; the rest is non-generic helpers kept out of line,
/// so that each machine's instantiation stays a small `match` (this code is in every artefact).
pub fn output_to_wire<T: WireValue>(output: &Output<T>) -> Value {
    match output {
        Output::Send(request) => request_to_wire(request),
        Output::Store(op) => store_op_to_wire(op),
        Output::Show(p) => show_to_wire(p),
        Output::OpenBrowser(url) => open_browser_to_wire(url),
        Output::AnswerCallback(verdict) => answer_callback_to_wire(*verdict),
        Output::Wait { until_ms } => wait_to_wire(*until_ms),
        Output::Done(Ok(value)) => done_to_wire(Ok(value.to_wire())),
        Output::Done(Err(error)) => done_to_wire(Err(error)),
    }
}

#[inline(never)]
fn show_to_wire(p: &crate::machine::Prompt) -> Value {
    json!({
        "type": "show",
        "user_code": p.user_code,
        "verification_uri": p.verification_uri,
        "verification_uri_complete": p.verification_uri_complete,
        "expires_in_s": p.expires_in_s,
        "expires_at_ms": p.expires_at_ms,
    })
}

#[inline(never)]
fn open_browser_to_wire(url: &str) -> Value {
    json!({ "type": "open_browser", "url": url })
}

#[inline(never)]
fn answer_callback_to_wire(verdict: crate::machine::CallbackVerdict) -> Value {
    json!({ "type": "answer_callback", "verdict": verdict.as_str() })
}

#[inline(never)]
fn wait_to_wire(until_ms: Option<u64>) -> Value {
    json!({ "type": "wait", "until_ms": until_ms })
}

/// The JSON form of a `done` output from its value's JSON form; for hosts that rebuild the value
/// from another form (keyhole-wasi, from the component's typed `done-value`)
#[inline(never)]
pub fn done_to_wire(result: Result<Value, &AuthError>) -> Value {
    match result {
        Ok(value) => json!({ "type": "done", "ok": value }),
        Err(error) => json!({ "type": "done", "error": error_to_wire(error) }),
    }
}

#[inline(never)]
fn request_to_wire(request: &HttpRequest) -> Value {
    let pairs = |fields: &[(String, crate::http::Param)]| {
        Value::Array(fields.iter().map(|(k, v)| json!([k, v.expose()])).collect())
    };
    let mut out = Map::new();
    out.insert("type".into(), json!("send"));
    out.insert("method".into(), json!(request.method.as_str()));
    out.insert("url".into(), json!(request.url));
    out.insert("headers".into(), pairs(&request.headers));
    match &request.body {
        Body::Empty => {}
        Body::Form(fields) => {
            out.insert("form".into(), pairs(fields));
        }
        Body::Json(text) => {
            out.insert("json".into(), json!(text));
        }
    }
    out.insert(
        "max_response_bytes".into(),
        json!(request.max_response_bytes),
    );
    Value::Object(out)
}

#[inline(never)]
fn store_op_to_wire(op: &StoreOp) -> Value {
    match op {
        StoreOp::Load { key } => json!({ "type": "store", "op": "load", "key": key }),
        StoreOp::CompareAndSwap { key, expected, new } => json!({
            "type": "store",
            "op": "compare_and_swap",
            "key": key,
            "expected": expected.as_ref().map(Secret::expose),
            "new": new.expose(),
        }),
        StoreOp::Delete { key } => json!({ "type": "store", "op": "delete", "key": key }),
        StoreOp::Lock { key } => json!({ "type": "store", "op": "lock", "key": key }),
        StoreOp::Unlock { key } => json!({ "type": "store", "op": "unlock", "key": key }),
    }
}

/// Reads the JSON form of an input
pub fn input_from_wire(value: &Value) -> Result<Input, WireError> {
    let obj = value
        .as_object()
        .ok_or_else(|| wire_err("an input must be a JSON object"))?;
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| wire_err("an input needs a string `type`"))?;
    let text = |field: &str| -> Result<String, WireError> {
        obj.get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| wire_err(format!("a `{kind}` input needs a string `{field}`")))
    };
    match kind {
        "start" => Ok(Input::Start),
        "timer" => Ok(Input::Timer),
        "callback" => Ok(Input::Callback(text("target")?)),
        "response" => Ok(Input::Response(response_from_wire(obj)?)),
        "transport_failed" => {
            let message = obj
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("transport error");
            Ok(Input::TransportFailed(match text("error")?.as_str() {
                "dns" => TransportError::Dns,
                "connect" => TransportError::Connect,
                "timeout" => TransportError::Timeout,
                "tls" => TransportError::Tls,
                "too_large" => TransportError::TooLarge,
                "other" => TransportError::Other(message.to_owned()),
                other => return Err(wire_err(format!("unknown transport error `{other}`"))),
            }))
        }
        "stored" => {
            if let Some(error) = obj.get("error") {
                let error = error
                    .as_str()
                    .ok_or_else(|| wire_err("`error` must be a string"))?;
                let message = obj
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                return Ok(Input::Stored(Err(match error {
                    "unavailable" => StoreError::Unavailable(message),
                    "denied" => StoreError::Denied(message),
                    "other" => StoreError::Other(message),
                    other => return Err(wire_err(format!("unknown store error `{other}`"))),
                })));
            }
            match obj.get("value") {
                None | Some(Value::Null) => Ok(Input::Stored(Ok(None))),
                Some(Value::String(s)) => Ok(Input::Stored(Ok(Some(Secret::new(s.clone()))))),
                Some(_) => Err(wire_err(
                    "a `stored` input's `value` must be a string or null",
                )),
            }
        }
        other => Err(wire_err(format!(
            "unknown input type `{other}`; expected start, response, transport_failed, stored, callback or timer"
        ))),
    }
}

fn response_from_wire(obj: &Map<String, Value>) -> Result<HttpResponse, WireError> {
    let status = obj
        .get("status")
        .and_then(Value::as_u64)
        .filter(|s| (100..=999).contains(s))
        .ok_or_else(|| wire_err("a `response` input needs a numeric `status` from 100 to 999"))?;
    let headers = match obj.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v.as_str() {
                Some(v) => Ok((k.to_ascii_lowercase(), v.to_owned())),
                None => Err(wire_err(format!("header `{k}` must be a string"))),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(wire_err("`headers` must be an object of strings")),
    };
    let body = match (obj.get("body"), obj.get("body_base64")) {
        (Some(Value::String(s)), None) => s.as_bytes().to_vec(),
        (None, Some(Value::String(b))) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| wire_err("`body_base64` is not base64"))?
        }
        (None, None) => Vec::new(),
        _ => {
            return Err(wire_err(
                "a `response` has either a string `body` or a `body_base64`",
            ));
        }
    };
    Ok(HttpResponse {
        status: status as u16,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceLoginConfig;

    #[test]
    fn config_errors_name_the_field_path() {
        let config = json!({
            "endpoints": {"device_authorization_endpoint": "https://i.example/d",
                          "token_endpoint": "https://i.example/t"},
            "client": {"client_id": 7},
        });
        let e = config_from_wire::<DeviceLoginConfig>("device_login", &config).unwrap_err();
        assert!(e.0.contains("`client.client_id`"), "{e}");
        assert!(e.0.starts_with("bad `device_login` config"), "{e}");
    }

    #[test]
    fn config_defaults_come_from_serde() {
        let config = json!({
            "endpoints": {"device_authorization_endpoint": "https://i.example/d",
                          "token_endpoint": "https://i.example/t"},
            "client": {"client_id": "cli"},
        });
        let c = config_from_wire::<DeviceLoginConfig>("device_login", &config).unwrap();
        assert_eq!(c.max_slow_downs, crate::device::default_max_slow_downs());
    }

    #[test]
    fn a_config_that_is_not_an_object_is_refused() {
        let e = config_from_wire::<DeviceLoginConfig>("device_login", &json!([1])).unwrap_err();
        assert!(e.0.starts_with("bad `device_login` config: "), "{e}");
    }
}
