//! Key check: validates an API key with one configured request and reports who it belongs to
//!
//! The request carries the key as `{header}: {scheme} {key}` (or the bare key when the scheme is
//! empty). The answer means:
//! - 2xx: valid; the `identity` JSON pointers ([RFC 6901](https://www.rfc-editor.org/rfc/rfc6901))
//!   are looked up in the body and those that name a string or a number are reported; a missing
//!   pointer, another JSON type or a body that is not JSON simply leaves the name out.
//! - 401: `invalid_key`; 403: `insufficient_permission` only with an `insufficient_scope`
//!   challenge ([RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1)), else
//!   `forbidden` (servers answer a bare 403 for revoked keys too); 429: `rate_limited` with
//!   `Retry-After`; 5xx: `unavailable`.
//! - Any other status: `provider` when the body is an error object (`error` string, with
//!   `error_description` or `message`), else `malformed` (a redirect, a 404, …: usually a wrong URL).
//! - No response: `transport`.
//!
//! The time from the request to its answer is in the report, and in [`KeyCheck::elapsed_ms`] for
//! failures (`--verbose`).
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::endpoint::{check_endpoint, url_field};
use crate::error::AuthError;
use crate::http::{Body, DEFAULT_MAX_RESPONSE_BYTES, HttpRequest, HttpResponse, Method, Param};
use crate::machine::WireValue;
use crate::machine::{Input, Machine, Output};
use crate::oauth::server_trouble;
use crate::outbox::Outbox;
use crate::secret::Secret;
use url::Url;

/// The HTTP method of a key check
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum KeyCheckMethod {
    /// `GET` (the default)
    #[default]
    #[serde(rename = "GET", alias = "get")]
    Get,
    /// `POST` with an empty body
    #[serde(rename = "POST", alias = "post")]
    Post,
}

pub(crate) fn default_header() -> String {
    "authorization".to_owned()
}

pub(crate) fn default_scheme() -> String {
    crate::oauth::BEARER.to_owned()
}

/// How to check a key against a provider
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KeyCheckSpec {
    /// `GET` (default) or `POST`
    #[serde(default)]
    pub method: KeyCheckMethod,
    /// The URL to call (https, or http on loopback)
    #[serde(deserialize_with = "url_field::required")]
    pub url: Url,
    /// The header carrying the key (default `authorization`)
    #[serde(default = "default_header")]
    pub header: String,
    /// The scheme before the key: `Bearer` (default), `Api-Key`, … or `""` for the bare key
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Identity fields to report: name → JSON pointer into the 2xx body, such as `/email`
    #[serde(default)]
    pub identity: BTreeMap<String, String>,
}

/// What a [`KeyCheck`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KeyCheckConfig {
    /// The request to make
    pub spec: KeyCheckSpec,
    /// The key to check
    pub key: Secret,
}

/// A successful key check
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCheckReport {
    /// The 2xx status
    pub status: u16,
    /// Milliseconds from the request to its answer
    pub elapsed_ms: u64,
    /// The identity fields found, by name
    pub identity: BTreeMap<String, String>,
}

impl WireValue for KeyCheckReport {
    fn to_wire(&self) -> Value {
        json!({
            "status": self.status,
            "elapsed_ms": self.elapsed_ms,
            "identity": self.identity,
        })
    }
}

/// Whether `name` is an HTTP token ([RFC 9110 §5.6.2](https://www.rfc-editor.org/rfc/rfc9110#section-5.6.2)),
/// as header names and authorization schemes must be
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The `{header}: {scheme} {key}` header (the bare key when the scheme is empty) that carries a
/// credential, refusing a name, scheme or key that cannot make a well-formed one; `what` names
/// the config in messages (`key-check`, `account API`)
pub(crate) fn credential_header(
    header: &str,
    scheme: &str,
    key: &Secret,
    what: &str,
) -> Result<(String, Param), AuthError> {
    let config = |detail: String| AuthError::Config { detail };
    if !is_token(header) {
        return Err(config(format!(
            "the {what} header must be a header name such as `authorization` or `x-api-key`"
        )));
    }
    if !scheme.is_empty() && !is_token(scheme) {
        return Err(config(format!(
            "the {what} scheme must be one word such as `Bearer` or `Api-Key`, or empty"
        )));
    }
    if key.is_empty() {
        return Err(config("the API key is empty; pass the key to check".into()));
    }
    // Visible ASCII only: a line break would let the key inject headers.
    if !key.expose().bytes().all(|b| b.is_ascii_graphic()) {
        return Err(config(
            "the API key contains spaces, line breaks or non-ASCII characters; copy it again"
                .into(),
        ));
    }
    let value = if scheme.is_empty() {
        key.clone()
    } else {
        Secret::new(format!("{scheme} {}", key.expose()))
    };
    Ok((header.to_ascii_lowercase(), Param::Secret(value)))
}

/// Builds the check request, refusing a spec or key that cannot make a well-formed one
pub(crate) fn key_check_request(
    spec: &KeyCheckSpec,
    key: &Secret,
) -> Result<HttpRequest, AuthError> {
    check_endpoint(&spec.url)?;
    let authorization = credential_header(&spec.header, &spec.scheme, key, "key-check")?;
    if let Some((name, _)) = spec
        .identity
        .iter()
        .find(|(_, pointer)| !pointer.is_empty() && !pointer.starts_with('/'))
    {
        return Err(AuthError::Config {
            detail: format!("the identity field `{name}` needs a JSON pointer such as `/email`"),
        });
    }
    Ok(HttpRequest {
        method: match spec.method {
            KeyCheckMethod::Get => Method::Get,
            KeyCheckMethod::Post => Method::Post,
        },
        url: spec.url.clone(),
        headers: vec![
            ("accept".into(), Param::from("application/json")),
            authorization,
        ],
        body: Body::Empty,
        max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
    })
}

/// Picks the identity fields out of a 2xx body: strings as they are, numbers in JSON form
pub(crate) fn pick_identity(
    body: &[u8],
    pointers: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let Ok(document) = crate::body::parse_json(body) else {
        return BTreeMap::new();
    };
    // Inserted one by one: `collect` into a BTreeMap would add a sort to the artefacts.
    let mut identity = BTreeMap::new();
    for (name, pointer) in pointers {
        let value = match document.pointer(pointer) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        identity.insert(name.clone(), value);
    }
    identity
}

/// Whether the answer challenges with `error="insufficient_scope"`: the credential is valid but
/// lacks permission ([RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1); DPoP,
/// [RFC 9449 §7.1](https://www.rfc-editor.org/rfc/rfc9449#section-7.1), uses the same error)
///
/// Every `WWW-Authenticate` field is parsed as a challenge list (quoted strings, several
/// challenges per field); a field stops at its first syntax error, keeping the challenges before.
pub(crate) fn insufficient_scope(response: &HttpResponse) -> bool {
    response
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("www-authenticate"))
        .flat_map(|(_, value)| http_auth::parser::ChallengeParser::new(value).map_while(Result::ok))
        .any(|challenge| {
            ["Bearer", "DPoP"]
                .iter()
                .any(|scheme| challenge.scheme.eq_ignore_ascii_case(scheme))
                && challenge.params.iter().any(|(name, value)| {
                    name.eq_ignore_ascii_case("error")
                        && value.to_unescaped() == "insufficient_scope"
                })
        })
}

/// What a non-2xx answer means for a key
pub(crate) fn key_check_error(response: &HttpResponse, now_ms: u64) -> AuthError {
    match response.status {
        401 => return AuthError::InvalidKey,
        403 if insufficient_scope(response) => return AuthError::InsufficientPermission,
        403 => return AuthError::Forbidden,
        _ => {}
    }
    if let Some(error) = server_trouble(response, now_ms) {
        return error;
    }
    let body: Option<Map<String, Value>> = crate::body::parse_json_object(&response.body);
    let text = |k: &str| {
        body.as_ref()
            .and_then(|b| b.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match text("error") {
        Some(code) if (400..500).contains(&response.status) => AuthError::Provider {
            code,
            description: text("error_description").or_else(|| text("message")),
        },
        _ => AuthError::Malformed {
            status: response.status,
            reason: match response.status {
                300..=399 => "a redirect, which is not followed".into(),
                404 => "nothing found at the key-check URL".into(),
                _ => "an unexpected status for a key check".into(),
            },
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Sending,
    Done,
}

/// The key-check machine; see the module documentation
#[derive(Debug)]
pub struct KeyCheck {
    config: KeyCheckConfig,
    outbox: Outbox<KeyCheckReport>,
    state: State,
    started_ms: u64,
    elapsed_ms: Option<u64>,
}

impl KeyCheck {
    /// Builds the machine; problems with the config come out as `Done(Err(..))` after `Start`
    pub fn new(config: KeyCheckConfig, now_ms: u64) -> Self {
        Self {
            config,
            outbox: Outbox::new(now_ms),
            state: State::Idle,
            started_ms: now_ms,
            elapsed_ms: None,
        }
    }

    /// Milliseconds from the request to its answer (or to the transport failure), once known;
    /// available for failures too
    pub fn elapsed_ms(&self) -> Option<u64> {
        self.elapsed_ms
    }

    fn finish(&mut self, result: Result<KeyCheckReport, AuthError>) {
        self.state = State::Done;
        self.outbox.finish(result);
    }

    fn start(&mut self, now_ms: u64) {
        match key_check_request(&self.config.spec, &self.config.key) {
            Ok(request) => {
                self.started_ms = now_ms;
                self.state = State::Sending;
                self.outbox.send(request);
            }
            Err(error) => self.finish(Err(error)),
        }
    }

    fn on_response(&mut self, now_ms: u64, response: &HttpResponse) {
        let elapsed_ms = now_ms.saturating_sub(self.started_ms);
        self.elapsed_ms = Some(elapsed_ms);
        if response.is_success() {
            let identity = if response.body.len() > DEFAULT_MAX_RESPONSE_BYTES {
                BTreeMap::new()
            } else {
                pick_identity(&response.body, &self.config.spec.identity)
            };
            self.finish(Ok(KeyCheckReport {
                status: response.status,
                elapsed_ms,
                identity,
            }));
        } else {
            self.finish(Err(key_check_error(response, now_ms)));
        }
    }
}

impl Machine for KeyCheck {
    type Value = KeyCheckReport;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now_ms = self.outbox.observe(now_ms);
        match (self.state, input) {
            (State::Idle, Input::Start) => self.start(now_ms),
            (State::Sending, Input::Response(response)) => self.on_response(now_ms, &response),
            (State::Sending, Input::TransportFailed(error)) => {
                self.elapsed_ms = Some(now_ms.saturating_sub(self.started_ms));
                self.finish(Err(AuthError::Transport(error)));
            }
            // Anything else is spurious or late: the same wait again (still in the future).
            _ => self.outbox.rearm(),
        }
    }

    fn poll_output(&mut self) -> Output<KeyCheckReport> {
        self.outbox.poll()
    }
}

impl crate::machine::FromConfig for KeyCheck {
    type Config = KeyCheckConfig;

    fn from_config(config: KeyCheckConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> KeyCheckSpec {
        serde_json::from_str(r#"{"url":"https://api.example.com/v1/me"}"#).unwrap()
    }

    #[test]
    fn spec_defaults() {
        let s = spec();
        assert_eq!(s.method, KeyCheckMethod::Get);
        assert_eq!(s.header, "authorization");
        assert_eq!(s.scheme, "Bearer");
        assert!(s.identity.is_empty());
        let s: KeyCheckSpec =
            serde_json::from_str(r#"{"url":"https://x.example","method":"POST","scheme":""}"#)
                .unwrap();
        assert_eq!(s.method, KeyCheckMethod::Post);
        assert_eq!(s.scheme, "");
    }

    #[test]
    fn request_carries_scheme_and_key() {
        let r = key_check_request(&spec(), &Secret::new("k1")).unwrap();
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.headers[1].0, "authorization");
        assert_eq!(r.headers[1].1.expose(), "Bearer k1");
        assert!(!format!("{r:?}").contains("k1"));
        let raw = KeyCheckSpec {
            header: "X-Api-Key".into(),
            scheme: String::new(),
            ..spec()
        };
        let r = key_check_request(&raw, &Secret::new("k1")).unwrap();
        assert_eq!(r.headers[1].0, "x-api-key");
        assert_eq!(r.headers[1].1.expose(), "k1");
    }

    #[test]
    fn request_refuses_what_cannot_be_sent() {
        let code = |s: &KeyCheckSpec, k: &str| key_check_request(s, &Secret::new(k)).unwrap_err();
        assert_eq!(code(&spec(), "").code(), "config");
        assert_eq!(code(&spec(), "k1\r\nx-evil: 1").code(), "config");
        assert!(!code(&spec(), "k1\r\nx").to_string().contains("k1"));
        let insecure = KeyCheckSpec {
            url: "http://api.example.com/me".parse().unwrap(),
            ..spec()
        };
        assert_eq!(code(&insecure, "k").code(), "insecure_endpoint");
        let bad_header = KeyCheckSpec {
            header: "x api key".into(),
            ..spec()
        };
        assert_eq!(code(&bad_header, "k").code(), "config");
        let bad_scheme = KeyCheckSpec {
            scheme: "Bearer\n".into(),
            ..spec()
        };
        assert_eq!(code(&bad_scheme, "k").code(), "config");
        let mut bad_pointer = spec();
        bad_pointer.identity.insert("email".into(), "email".into());
        assert_eq!(code(&bad_pointer, "k").code(), "config");
    }

    #[test]
    fn identity_picks_strings_and_numbers_only() {
        let mut p = BTreeMap::new();
        p.insert("email".to_owned(), "/user/email".to_owned());
        p.insert("org".to_owned(), "/org_id".to_owned());
        p.insert("flag".to_owned(), "/admin".to_owned());
        p.insert("gone".to_owned(), "/nope".to_owned());
        let body = br#"{"user":{"email":"a@example.com"},"org_id":42,"admin":true}"#;
        let id = pick_identity(body, &p);
        assert_eq!(id.get("email").map(String::as_str), Some("a@example.com"));
        assert_eq!(id.get("org").map(String::as_str), Some("42"));
        assert_eq!(id.len(), 2);
        assert!(pick_identity(b"<html>", &p).is_empty());
    }

    #[test]
    fn statuses_map_to_errors() {
        let e = |status: u16, body: &str| key_check_error(&HttpResponse::new(status, body), 0);
        assert_eq!(e(401, "").code(), "invalid_key");
        assert_eq!(e(403, "").code(), "forbidden");
        assert_eq!(e(429, "").code(), "rate_limited");
        assert_eq!(e(503, "").code(), "unavailable");
        assert_eq!(e(302, "").code(), "malformed");
        assert_eq!(e(404, "").code(), "malformed");
        assert_eq!(
            e(400, r#"{"error":"bad_request","message":"no"}"#),
            AuthError::Provider {
                code: "bad_request".into(),
                description: Some("no".into())
            }
        );
    }

    #[test]
    fn only_an_insufficient_scope_challenge_means_lacking_permission() {
        let forbidden = |challenges: &[&str]| {
            let mut r = HttpResponse::new(403, "");
            for c in challenges {
                r.headers.push(("WWW-Authenticate".into(), (*c).into()));
            }
            key_check_error(&r, 0).code()
        };
        let lacks = "insufficient_permission";
        assert_eq!(forbidden(&[r#"Bearer error="insufficient_scope""#]), lacks);
        assert_eq!(forbidden(&[r#"bearer ERROR=insufficient_scope"#]), lacks);
        assert_eq!(
            forbidden(&[r#"DPoP algs="ES256", error="insufficient_scope""#]),
            lacks
        );
        // The second challenge of a list, and the second field.
        assert_eq!(
            forbidden(&[r#"Basic realm="a, b", Bearer realm="x", error="insufficient_scope""#]),
            lacks
        );
        assert_eq!(
            forbidden(&[r#"Basic realm="a""#, r#"Bearer error="insufficient_scope""#]),
            lacks
        );
        // Escapes inside a quoted string are undone before comparing.
        assert_eq!(forbidden(&[r#"Bearer error="insufficient\_scope""#]), lacks);
        for not in [
            &[][..],
            &[r#"Bearer error="invalid_token""#],
            &[r#"Bearer realm="error=\"insufficient_scope\"""#],
            &[r#"Bearer error_description="insufficient_scope""#],
            &[r#"Basic error="insufficient_scope""#],
            &[r#"Bearer error="insufficient_scope"#],
            &["insufficient_scope"],
        ] {
            assert_eq!(forbidden(not), "forbidden", "{not:?}");
        }
    }

    #[test]
    fn elapsed_is_known_for_failures() {
        let config = KeyCheckConfig {
            spec: spec(),
            key: Secret::new("k1"),
        };
        let mut m = KeyCheck::new(config, 1000);
        assert_eq!(m.elapsed_ms(), None);
        m.handle_input(1500, Input::Start);
        assert!(matches!(m.poll_output(), Output::Send(_)));
        assert_eq!(m.poll_output(), Output::Wait { until_ms: None });
        m.handle_input(1600, Input::Timer);
        assert_eq!(m.poll_output(), Output::Wait { until_ms: None });
        m.handle_input(1740, Input::Response(HttpResponse::new(401, "")));
        assert_eq!(m.poll_output(), Output::Done(Err(AuthError::InvalidKey)));
        assert_eq!(m.elapsed_ms(), Some(240));
        m.handle_input(1800, Input::Response(HttpResponse::new(200, "")));
        assert_eq!(m.poll_output(), Output::Done(Err(AuthError::InvalidKey)));
    }

    machine_guard_tests!(KeyCheck, 384);
}
