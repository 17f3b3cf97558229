//! Between the WIT values and the core's types and wire form
//!
//! Imports arrive as WIT values and go to a core [`keyhole_core::Io`]; machine outputs arrive as
//! WIT values and leave as the wire JSON the transcripts pin. Every conversion lives here once.

use keyhole_core::http::{Body, Method, Param};
use keyhole_core::{AuthError, StoreError};
use keyhole_core::{HttpRequest, HttpResponse, Input, Prompt, Secret, StoreOp, TransportError};
use serde_json::{Value, json};

use crate::generated::exports::keyhole::auth::machines as m;
use crate::generated::keyhole::auth::types as t;

const FORM: &str = "application/x-www-form-urlencoded";

/// A WIT request as the core's request, so that host-native's `Io::send` performs it
///
/// Header and form values become secrets: an `authorization` header or a refresh token in a form
/// must never reach a `Debug` print on the host side either.
pub(crate) fn request_from_wit(r: t::HttpRequest) -> HttpRequest {
    let is_form = r
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v == FORM);
    let headers = r
        .headers
        .into_iter()
        // The core's form body implies its content-type; the host adapter adds it again.
        .filter(|(n, v)| !(is_form && n.eq_ignore_ascii_case("content-type") && v == FORM))
        .map(|(n, v)| (n.to_ascii_lowercase(), Param::Secret(Secret::new(v))))
        .collect();
    let body = if is_form || !r.body.is_empty() {
        Body::Form(
            form_urlencoded::parse(&r.body)
                .map(|(k, v)| (k.into_owned(), Param::Secret(Secret::new(v.into_owned()))))
                .collect(),
        )
    } else {
        Body::Empty
    };
    HttpRequest {
        method: match r.method {
            t::Method::Get => Method::Get,
            t::Method::Post => Method::Post,
        },
        url: r.url,
        headers,
        body,
        max_response_bytes: usize::try_from(r.max_response_bytes).unwrap_or(usize::MAX),
    }
}

pub(crate) fn response_to_wit(r: HttpResponse) -> t::HttpResponse {
    t::HttpResponse {
        status: r.status,
        headers: r.headers,
        body: r.body,
    }
}

pub(crate) fn transport_error_to_wit(e: TransportError) -> t::TransportError {
    match e {
        TransportError::Dns => t::TransportError::Dns,
        TransportError::Connect => t::TransportError::Connect,
        TransportError::Timeout => t::TransportError::Timeout,
        TransportError::Tls => t::TransportError::Tls,
        TransportError::TooLarge => t::TransportError::TooLarge,
        TransportError::Other(message) => t::TransportError::Other(message),
    }
}

pub(crate) fn store_error_to_wit(e: StoreError) -> t::SecretError {
    match e {
        StoreError::Unavailable(m) => t::SecretError::Unavailable(m),
        StoreError::Denied(m) => t::SecretError::Denied(m),
        StoreError::Other(m) => t::SecretError::Other(m),
    }
}

pub(crate) fn prompt_from_wit(p: t::Prompt) -> Prompt {
    Prompt {
        user_code: p.user_code,
        verification_uri: p.verification_uri,
        verification_uri_complete: p.verification_uri_complete,
        expires_in_s: p.expires_in_s,
        expires_at_ms: p.expires_at_ms,
    }
}

/// A core input as the WIT input a `machines` resource takes
pub(crate) fn input_to_wit(input: &Input) -> m::Input {
    match input {
        Input::Start => m::Input::Start,
        Input::Response(r) => m::Input::Response(response_to_wit(r.clone())),
        Input::TransportFailed(e) => m::Input::TransportFailed(transport_error_to_wit(e.clone())),
        Input::Stored(result) => m::Input::Stored(
            result
                .clone()
                .map(|value| value.map(Secret::into_exposed))
                .map_err(store_error_to_wit),
        ),
        Input::Callback(target) => m::Input::Callback(target.clone()),
        Input::Timer => m::Input::Timer,
    }
}

/// A WIT output in the wire JSON form (`keyhole_core::wire::output_to_wire`'s shape)
pub(crate) fn output_to_wire(output: m::Output) -> Value {
    match output {
        m::Output::Send(r) => request_to_wire(r),
        m::Output::Store(op) => wire_store_op(op),
        m::Output::Show(p) => json!({
            "type": "show",
            "user_code": p.user_code,
            "verification_uri": p.verification_uri,
            "verification_uri_complete": p.verification_uri_complete,
            "expires_in_s": p.expires_in_s,
            "expires_at_ms": p.expires_at_ms,
        }),
        m::Output::OpenBrowser(url) => json!({ "type": "open_browser", "url": url }),
        m::Output::Wait(until_ms) => json!({ "type": "wait", "until_ms": until_ms }),
        m::Output::Done(Ok(value)) => json!({
            "type": "done",
            // The component wrote it with serde_json; unreadable JSON would be a component bug,
            // kept visible rather than hidden.
            "ok": serde_json::from_str::<Value>(&value)
                .unwrap_or_else(|e| json!({ "unreadable_done_value": e.to_string() })),
        }),
        m::Output::Done(Err(error)) => {
            json!({ "type": "done", "error": auth_error_to_wire(error) })
        }
    }
}

fn request_to_wire(r: t::HttpRequest) -> Value {
    let pair = |(n, v): (String, String)| json!([n, v]);
    let is_form = r
        .headers
        .iter()
        .any(|(n, v)| n == "content-type" && v == FORM);
    let mut out = serde_json::Map::new();
    out.insert("type".into(), json!("send"));
    out.insert(
        "method".into(),
        json!(match r.method {
            t::Method::Get => "GET",
            t::Method::Post => "POST",
        }),
    );
    out.insert("url".into(), json!(r.url));
    let headers = r
        .headers
        .into_iter()
        .filter(|(n, v)| !(is_form && n == "content-type" && v == FORM))
        .map(pair);
    out.insert("headers".into(), Value::Array(headers.collect()));
    if is_form {
        let form = form_urlencoded::parse(&r.body)
            .map(|(k, v)| pair((k.into_owned(), v.into_owned())))
            .collect();
        out.insert("form".into(), Value::Array(form));
    }
    out.insert("max_response_bytes".into(), json!(r.max_response_bytes));
    Value::Object(out)
}

fn wire_store_op(op: t::StoreOp) -> Value {
    let simple = |op: &str, key: String| json!({ "type": "store", "op": op, "key": key });
    match op {
        t::StoreOp::Load(key) => simple("load", key),
        t::StoreOp::Delete(key) => simple("delete", key),
        t::StoreOp::Lock(key) => simple("lock", key),
        t::StoreOp::Unlock(key) => simple("unlock", key),
        t::StoreOp::CompareAndSwap(c) => json!({
            "type": "store",
            "op": "compare_and_swap",
            "key": c.key,
            "expected": c.expected,
            "new": c.new,
        }),
    }
}

/// A WIT error in the wire form `{"code", "message"}` (`keyhole_core::wire::error_to_wire`'s shape)
pub fn auth_error_to_wire(error: t::AuthError) -> Value {
    json!({ "code": auth_error_to_core(error.kind).code(), "message": error.message })
}

/// The core's error for a WIT error: every field comes across, so its message is the same
pub(crate) fn auth_error_to_core(kind: t::ErrorKind) -> AuthError {
    use t::ErrorKind as K;
    match kind {
        K::Denied => AuthError::Denied,
        K::Expired => AuthError::Expired,
        K::ClockDrift(count) => AuthError::ClockDrift { count },
        K::InvalidKey => AuthError::InvalidKey,
        K::InsufficientPermission => AuthError::InsufficientPermission,
        K::RateLimited(retry_after_s) => AuthError::RateLimited { retry_after_s },
        K::Unavailable(status) => AuthError::Unavailable { status },
        K::ReloginRequired(reason) => AuthError::ReloginRequired { reason },
        K::NotLoggedIn => AuthError::NotLoggedIn,
        K::CorruptCredential(detail) => AuthError::CorruptCredential { detail },
        K::InsecureEndpoint(url) => AuthError::InsecureEndpoint { url },
        K::Protocol(p) => AuthError::Protocol {
            field: p.field,
            detail: p.detail,
        },
        K::Malformed(m) => AuthError::Malformed {
            status: m.status,
            reason: m.reason,
        },
        K::Provider(p) => AuthError::Provider {
            code: p.code,
            description: p.description,
        },
        K::Transport(e) => AuthError::Transport(transport_error_from_wit(e)),
        K::Storage(e) => AuthError::Storage(store_error_from_wit(e)),
        K::StateMismatch => AuthError::StateMismatch,
        K::CallbackTimeout => AuthError::CallbackTimeout,
        K::Config(detail) => AuthError::Config { detail },
    }
}

fn transport_error_from_wit(e: t::TransportError) -> TransportError {
    match e {
        t::TransportError::Dns => TransportError::Dns,
        t::TransportError::Connect => TransportError::Connect,
        t::TransportError::Timeout => TransportError::Timeout,
        t::TransportError::Tls => TransportError::Tls,
        t::TransportError::TooLarge => TransportError::TooLarge,
        t::TransportError::Other(message) => TransportError::Other(message),
    }
}

fn store_error_from_wit(e: t::SecretError) -> StoreError {
    match e {
        t::SecretError::Unavailable(m) => StoreError::Unavailable(m),
        t::SecretError::Denied(m) => StoreError::Denied(m),
        t::SecretError::Other(m) => StoreError::Other(m),
    }
}

/// A store operation from the `secrets` import, as the core's operation
pub(crate) fn cas_op(key: String, expected: Option<String>, new: String) -> StoreOp {
    StoreOp::CompareAndSwap {
        key,
        expected: expected.map(Secret::new),
        new: Secret::new(new),
    }
}
