//! HTTP as values: the requests machines ask for and the responses hosts hand back
//!
//! A host performs an [`HttpRequest`] exactly as described: no redirects followed, no cookies, and
//! a body larger than [`HttpRequest::max_response_bytes`] is reported as
//! [`TransportError::TooLarge`] instead of being read.
use core::fmt;

use serde_json::Value;
use url::Url;

use crate::secret::Secret;

/// The default cap on a response body: provider documents and token responses are a few KiB
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// An HTTP method; configs spell it `GET`, `POST`, `DELETE` (or in lower case)
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum Method {
    /// `GET`
    #[serde(rename = "GET", alias = "get")]
    Get,
    /// `POST`
    #[serde(rename = "POST", alias = "post")]
    Post,
    /// `DELETE` (account calls: deleting an API key)
    #[serde(rename = "DELETE", alias = "delete")]
    Delete,
}

impl Method {
    /// The method as it appears on the wire
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
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
#[derive(Clone, PartialEq, Eq)]
pub enum Body {
    /// No body
    Empty,
    /// `application/x-www-form-urlencoded` fields, in order
    Form(Vec<(String, Param)>),
    /// A JSON document, sent as its text with `content-type: application/json` (account calls)
    Json(Value),
}

impl Body {
    /// The `content-type` the body implies, `None` for no body
    pub fn content_type(&self) -> Option<&'static str> {
        match self {
            Body::Empty => None,
            Body::Form(_) => Some("application/x-www-form-urlencoded"),
            Body::Json(_) => Some("application/json"),
        }
    }
}

// Form values redact themselves (`Param`); a JSON body is opaque to Debug, so its size only:
// permissions and names are the user's business, and nothing in logs should hold them.
impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Form(fields) => f.debug_tuple("Form").field(fields).finish(),
            Body::Json(value) => write!(f, "Json({} bytes)", value.to_string().len()),
        }
    }
}

/// A request a machine wants performed
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct HttpRequest {
    /// `GET`, `POST` or `DELETE`
    pub method: Method,
    /// Absolute URL, already checked to be https or loopback http
    pub url: Url,
    /// Header names in lower case, values in order
    pub headers: Vec<(String, Param)>,
    /// The body; it implies its `content-type` ([`Body::content_type`])
    pub body: Body,
    /// The host must not read more than this many body bytes (answer `TransportError::TooLarge`)
    pub max_response_bytes: usize,
}

impl HttpRequest {
    /// A `GET` with `accept: application/json`
    pub fn get_json(url: Url) -> Self {
        Self {
            method: Method::Get,
            url,
            headers: vec![("accept".into(), "application/json".into())],
            body: Body::Empty,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// A form `POST` with `accept: application/json`
    pub fn post_form(url: Url, form: Vec<(String, Param)>) -> Self {
        Self {
            method: Method::Post,
            url,
            headers: vec![("accept".into(), "application/json".into())],
            body: Body::Form(form),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// The form body encoded as `application/x-www-form-urlencoded` (exposes secrets: wire use only)
    pub fn encoded_form(&self) -> Option<String> {
        match &self.body {
            Body::Empty | Body::Json(_) => None,
            Body::Form(fields) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                for (name, value) in fields {
                    form.append_pair(name, value.expose());
                }
                Some(form.finish())
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
    /// Anything else, described (the host's text, which may quote a server: shown stripped of
    /// control characters)
    #[error("{}", crate::account::clean_text(.0))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_body_debug_shows_its_size_only() {
        let body = Body::Json(serde_json::json!({"name": "ci-key"}));
        assert_eq!(format!("{body:?}"), "Json(17 bytes)");
        assert_eq!(body.content_type(), Some("application/json"));
        let m: Method = serde_json::from_str(r#""delete""#).unwrap();
        assert_eq!(m.as_str(), "DELETE");
    }

    #[test]
    fn response_debug_hides_body() {
        let r = HttpResponse::new(200, br#"{"access_token":"tok_secret"}"#.to_vec());
        assert!(!format!("{r:?}").contains("tok_secret"));
    }
}
