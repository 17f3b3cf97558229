//! HTTP as values: the requests machines ask for and the responses hosts hand back
//!
//! A host performs an [`HttpRequest`] exactly as described: no redirects followed, no cookies, and
//! a body larger than [`HttpRequest::max_response_bytes`] is reported as
//! [`TransportError::TooLarge`] instead of being read.
use crate::prelude::*;

use core::fmt;

use crate::error::AuthError;
use crate::secret::Secret;
use crate::url::{HttpUrl, UrlRefusal, append_form_pair};

/// The default cap on a response body: provider documents and token responses are a few KiB
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// An HTTP method
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
}

impl Method {
    /// The method as it appears on the wire
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A header or form value, which may be a secret
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// Safe to print
    Plain(String),
    /// A token, key, code or verifier: redacted in `Debug`
    Secret(Secret),
}

impl Param {
    /// Reads the value to put it on the wire (see [`Secret::expose`]'s warning)
    pub fn expose(&self) -> &str {
        match self {
            Param::Plain(value) => value,
            Param::Secret(secret) => secret.expose(),
        }
    }
}

impl From<&str> for Param {
    fn from(value: &str) -> Self {
        Param::Plain(value.to_owned())
    }
}

impl From<String> for Param {
    fn from(value: String) -> Self {
        Param::Plain(value)
    }
}

impl From<Secret> for Param {
    fn from(value: Secret) -> Self {
        Param::Secret(value)
    }
}

/// A request body
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// No body
    Empty,
    /// `application/x-www-form-urlencoded` fields, in order
    Form(Vec<(String, Param)>),
}

/// A request a machine wants performed
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct HttpRequest {
    /// `GET` or `POST`
    pub method: Method,
    /// Absolute URL, already checked to be https or loopback http
    pub url: String,
    /// Header names in lower case, values in order
    pub headers: Vec<(String, Param)>,
    /// The body; a form body implies `content-type: application/x-www-form-urlencoded`
    pub body: Body,
    /// The host must not read more than this many body bytes (answer `TransportError::TooLarge`)
    pub max_response_bytes: usize,
}

impl HttpRequest {
    /// A `GET` with `accept: application/json`
    pub fn get_json(url: impl Into<String>) -> Self {
        Self {
            method: Method::Get,
            url: url.into(),
            headers: vec![("accept".into(), "application/json".into())],
            body: Body::Empty,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// A form `POST` with `accept: application/json`
    pub fn post_form(url: impl Into<String>, form: Vec<(String, Param)>) -> Self {
        Self {
            method: Method::Post,
            url: url.into(),
            headers: vec![("accept".into(), "application/json".into())],
            body: Body::Form(form),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// The form body encoded as `application/x-www-form-urlencoded` (exposes secrets: wire use only)
    pub fn encoded_form(&self) -> Option<String> {
        match &self.body {
            Body::Empty => None,
            Body::Form(fields) => {
                let mut out = String::new();
                for (name, value) in fields {
                    append_form_pair(&mut out, 0, name, value.expose());
                }
                Some(out)
            }
        }
    }
}

/// What a host got back: the status code, headers and the body bytes
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status code
    pub status: u16,
    /// Header names in lower case
    pub headers: Vec<(String, String)>,
    /// The body, at most the request's `max_response_bytes`
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with the given status and body and no headers
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The first header with this name (case-insensitive)
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

// Bodies carry tokens: Debug shows their size only.
impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Why a request produced no response
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The host name did not resolve
    #[error("the host name could not be resolved")]
    Dns,
    /// No connection could be made
    #[error("the connection was refused or could not be made")]
    Connect,
    /// The request took too long
    #[error("the request timed out")]
    Timeout,
    /// TLS failed (certificate, handshake)
    #[error("the TLS handshake failed")]
    Tls,
    /// The body exceeded the request's `max_response_bytes`
    #[error("the response was larger than allowed")]
    TooLarge,
    /// Anything else, described
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// Stable name: `dns`, `connect`, `timeout`, `tls`, `too_large`, `other`
    pub fn kind(&self) -> &'static str {
        match self {
            TransportError::Dns => "dns",
            TransportError::Connect => "connect",
            TransportError::Timeout => "timeout",
            TransportError::Tls => "tls",
            TransportError::TooLarge => "too_large",
            TransportError::Other(_) => "other",
        }
    }
}

/// Parses an endpoint URL and refuses anything but https, or http on a loopback host
///
/// [RFC 8252 §8.3](https://www.rfc-editor.org/rfc/rfc8252#section-8.3) allows plain http only for
/// loopback redirect URIs; every provider endpoint must be TLS-protected
/// ([RFC 6749 §3.2](https://www.rfc-editor.org/rfc/rfc6749#section-3.2)). URLs outside the subset
/// [`HttpUrl`] implements are a config error that says what to change.
pub fn check_endpoint(raw: &str) -> Result<HttpUrl, AuthError> {
    match HttpUrl::parse(raw) {
        Ok(url) if url.scheme() == "https" || url.is_loopback() => Ok(url),
        Ok(_) | Err(UrlRefusal::OtherScheme) => Err(AuthError::InsecureEndpoint {
            url: without_userinfo(raw),
        }),
        Err(UrlRefusal::Unsupported(why)) => {
            // A password before `@` must not reach the message.
            let mut detail = if raw.contains('@') {
                String::from("the URL")
            } else {
                let mut quoted = String::from("`");
                quoted.push_str(raw);
                quoted.push('`');
                quoted
            };
            detail.push(' ');
            detail.push_str(why);
            Err(AuthError::Config { detail })
        }
    }
}

/// `raw` with anything before an `@` in its authority replaced by `***`: a URL of another scheme
/// (`ftp://user:password@host/`) is quoted in the refusal, its password must not be
fn without_userinfo(raw: &str) -> String {
    // Byte positions, not `str` pattern searches: those cost ~1.5 KB in the wasm-bindgen module.
    let bytes = raw.as_bytes();
    let Some(authority) = bytes.windows(3).position(|w| w == b"://").map(|i| i + 3) else {
        return raw.to_owned();
    };
    let end = bytes[authority..]
        .iter()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .map_or(bytes.len(), |i| authority + i);
    match bytes[authority..end].iter().rposition(|&b| b == b'@') {
        Some(at) => {
            let mut out = String::from(&raw[..authority]);
            out.push_str("***");
            out.push_str(&raw[authority + at..]);
            out
        }
        None => raw.to_owned(),
    }
}

/// Parses JSON text (see [`crate::json::parse`])
pub(crate) fn parse_json(bytes: &[u8]) -> Result<crate::json::Value, crate::json::Error> {
    crate::json::parse(bytes)
}

/// [`parse_json`] for text that must be a JSON object; `None` for anything else
pub(crate) fn parse_json_object(bytes: &[u8]) -> Option<crate::json::Map> {
    match parse_json(bytes) {
        Ok(crate::json::Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Reads a JSON object body, enforcing the cap even if the host did not
///
/// Errors are [`AuthError::Malformed`]: a response arrived but could not be read.
pub fn json_object(
    response: &HttpResponse,
    max_bytes: usize,
) -> Result<crate::json::Map, AuthError> {
    if response.body.len() > max_bytes {
        return Err(AuthError::Malformed {
            status: response.status,
            reason: format!("the body is larger than {max_bytes} bytes"),
        });
    }
    match parse_json(&response.body) {
        Ok(crate::json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(AuthError::Malformed {
            status: response.status,
            reason: "the body is JSON but not an object".into(),
        }),
        Err(_) => Err(AuthError::Malformed {
            status: response.status,
            reason: "the body is not JSON".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_only() {
        assert!(check_endpoint("https://idp.example.com/token").is_ok());
        assert!(check_endpoint("http://127.0.0.1:8080/token").is_ok());
        assert!(check_endpoint("http://127.9.9.9/token").is_ok());
        assert!(check_endpoint("http://[::1]:9/token").is_ok());
        assert!(check_endpoint("http://localhost:9/token").is_ok());
        assert!(matches!(
            check_endpoint("http://idp.example.com/token"),
            Err(AuthError::InsecureEndpoint { .. })
        ));
        assert!(matches!(
            check_endpoint("http://127.0.0.1.evil.com/token"),
            Err(AuthError::InsecureEndpoint { .. })
        ));
        assert!(matches!(
            check_endpoint("ftp://x/"),
            Err(AuthError::InsecureEndpoint { .. })
        ));
        // A password in a refused URL never reaches the message.
        let refused = check_endpoint("ftp://ada:hunter2@files.example/x?y@z").unwrap_err();
        assert_eq!(
            refused,
            AuthError::InsecureEndpoint {
                url: "ftp://***@files.example/x?y@z".into()
            }
        );
        assert!(!refused.to_string().contains("hunter2"));
        assert!(matches!(
            check_endpoint("not a url"),
            Err(AuthError::Config { .. })
        ));
    }

    #[test]
    fn response_debug_hides_body() {
        let r = HttpResponse::new(200, br#"{"access_token":"tok_secret"}"#.to_vec());
        assert!(!format!("{r:?}").contains("tok_secret"));
    }
}
