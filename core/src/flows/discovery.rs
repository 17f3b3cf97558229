//! Discovery: an issuer URL in, the provider's endpoints out
//!
//! Fetches the OpenID Provider Configuration
//! ([OpenID Connect Discovery 1.0 §4](https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig))
//! and then the OAuth Authorization Server Metadata
//! ([RFC 8414 §3](https://www.rfc-editor.org/rfc/rfc8414#section-3)), because some providers
//! publish endpoints (often `revocation_endpoint`) only in the second. Each document must name the
//! configured issuer exactly and every endpoint in it must be https (or http on loopback). The
//! endpoints are merged field by field, OpenID first.
//!
//! The OpenID document decides: its errors are fatal, and once it has been read, a second
//! document that is missing, unreadable, or names another issuer is ignored (nothing from it is
//! used) instead of failing a provider that works. Only when the OpenID document is a 404 must
//! the RFC 8414 document be good.
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::body::json_object;
use crate::endpoint::parse_endpoint;
use crate::error::AuthError;
use crate::http::{DEFAULT_MAX_RESPONSE_BYTES, HttpRequest, HttpResponse};
use crate::machine::{Input, Machine, Output};
use crate::oauth::{Endpoints, optional_string, required_string, server_trouble};
use crate::outbox::Outbox;
use url::Url;

/// What [`Discovery`] needs: the issuer, and optionally a cap on the document's size
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DiscoveryConfig {
    /// The issuer identifier: https (or http on a loopback host), no query, no fragment
    ///
    /// Text, not a [`Url`]: each document's `issuer` must be identical to it, character for
    /// character ([OpenID Connect Discovery §4.3](https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfigurationValidation),
    /// [RFC 8414 §3.3](https://www.rfc-editor.org/rfc/rfc8414#section-3.3)), and parsing would
    /// normalise it (`https://idp.example` becomes `https://idp.example/`). It is parsed, to
    /// check it and to build the request URLs, after `Start`.
    pub issuer: String,
    /// The largest metadata document read, in bytes (default
    /// [`DEFAULT_MAX_RESPONSE_BYTES`], 64 KiB)
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
}

pub(crate) fn default_max_response_bytes() -> usize {
    DEFAULT_MAX_RESPONSE_BYTES
}

/// Which document the machine is waiting for
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Before `Start`
    Idle,
    /// `/.well-known/openid-configuration` was requested
    OpenId,
    /// `/.well-known/oauth-authorization-server` was requested, holding what the OpenID document
    /// gave (`None` after a 404)
    OAuthMetadata(Option<Box<Endpoints>>),
}

/// Finds a provider's endpoints from its issuer URL
///
/// `Start` sends the OpenID configuration request, then the RFC 8414 request; the value is the
/// provider's [`Endpoints`] from both, with `issuer` set.
#[derive(Debug)]
pub struct Discovery {
    config: DiscoveryConfig,
    phase: Phase,
    out: Outbox<Endpoints>,
}

impl Discovery {
    /// A discovery for `config.issuer`; problems with the issuer come out after `Start`
    pub fn new(config: DiscoveryConfig, now_ms: u64) -> Self {
        Self {
            config,
            phase: Phase::Idle,
            out: Outbox::new(now_ms),
        }
    }

    fn start(&mut self) {
        let issuer = match check_issuer(&self.config.issuer) {
            Ok(issuer) => issuer,
            Err(error) => return self.out.finish(Err(error)),
        };
        self.phase = Phase::OpenId;
        self.send(openid_configuration_url(&issuer));
    }

    fn send(&mut self, url: Url) {
        let mut request = HttpRequest::get_json(url);
        request.max_response_bytes = self.config.max_response_bytes;
        self.out.send(request);
    }

    fn on_response(&mut self, response: &HttpResponse) {
        let reply = read_metadata_response(
            response,
            self.out.now_ms(),
            self.config.max_response_bytes,
            &self.config.issuer,
        );
        match (std::mem::replace(&mut self.phase, Phase::Idle), reply) {
            (Phase::OpenId, Ok(first)) => self.send_oauth_metadata(first.map(Box::new)),
            (Phase::OAuthMetadata(Some(first)), Ok(Some(second))) => {
                self.out.finish(require_token_endpoint((*first).or(second)))
            }
            // The OpenID document is enough; a bad second one must not fail a working provider.
            (Phase::OAuthMetadata(Some(first)), _) => self.out.finish(require_token_endpoint(*first)),
            (Phase::OAuthMetadata(None), Ok(Some(second))) => {
                self.out.finish(require_token_endpoint(second))
            }
            (_, Ok(Some(_))) => self.out.rearm(),
            (_, Ok(None)) => self.out.finish(Err(AuthError::Config {
                detail: format!(
                    "`{}` publishes neither /.well-known/openid-configuration nor RFC 8414 metadata; check the issuer URL or configure the endpoints explicitly",
                    self.config.issuer
                ),
            })),
            (_, Err(error)) => self.out.finish(Err(error)),
        }
    }

    /// Asks for the RFC 8414 document, keeping what the OpenID one gave
    fn send_oauth_metadata(&mut self, first: Option<Box<Endpoints>>) {
        match check_issuer(&self.config.issuer) {
            Ok(issuer) => {
                self.phase = Phase::OAuthMetadata(first);
                self.send(oauth_metadata_url(&issuer));
            }
            Err(error) => self.out.finish(Err(error)),
        }
    }

    fn on_transport_failed(&mut self, error: crate::http::TransportError) {
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::OAuthMetadata(Some(first)) => self.out.finish(require_token_endpoint(*first)),
            _ => self.out.finish(Err(AuthError::Transport(error))),
        }
    }
}

impl Machine for Discovery {
    type Value = Endpoints;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        self.out.observe(now_ms);
        if self.out.is_done() {
            return;
        }
        match (&self.phase, input) {
            (Phase::Idle, Input::Start) => self.start(),
            (Phase::OpenId | Phase::OAuthMetadata(_), Input::Response(response)) => {
                self.on_response(&response)
            }
            (Phase::OpenId | Phase::OAuthMetadata(_), Input::TransportFailed(error)) => {
                self.on_transport_failed(error)
            }
            // A second Start, a Timer, a Callback or a Stored: nothing here asked for them.
            _ => self.out.rearm(),
        }
    }

    fn poll_output(&mut self) -> Output<Endpoints> {
        self.out.poll()
    }
}

/// The endpoint fields of a metadata document that keyhole reads
/// ([RFC 8414 §2](https://www.rfc-editor.org/rfc/rfc8414#section-2),
/// [OpenID Connect Discovery §3](https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderMetadata))
const ENDPOINT_FIELDS: [&str; 6] = [
    "authorization_endpoint",
    "token_endpoint",
    "device_authorization_endpoint",
    "revocation_endpoint",
    "userinfo_endpoint",
    "introspection_endpoint",
];

/// Checks an issuer identifier: https or loopback http, without query or fragment
/// ([RFC 8414 §2](https://www.rfc-editor.org/rfc/rfc8414#section-2): "a URL that uses the
/// "https" scheme and has no query or fragment components")
pub(crate) fn check_issuer(raw: &str) -> Result<Url, AuthError> {
    let url = parse_endpoint(raw)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(AuthError::Config {
            detail: format!("the issuer `{raw}` must not have a query or fragment; remove them"),
        });
    }
    Ok(url)
}

/// The OpenID configuration URL: `/.well-known/openid-configuration` appended to the issuer
/// after removing any terminating `/`
/// ([OpenID Connect Discovery §4](https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfigurationRequest))
///
/// Built from the issuer's own path (checked by [`check_issuer`]: no query, no fragment), so
/// that the path keeps the spelling the provider uses.
pub(crate) fn openid_configuration_url(issuer: &Url) -> Url {
    let mut url = issuer.clone();
    url.set_path(&format!(
        "{}/.well-known/openid-configuration",
        issuer.path().trim_end_matches('/')
    ));
    url
}

/// The RFC 8414 metadata URL: `/.well-known/oauth-authorization-server` inserted between the
/// host and the issuer's path, without the path's terminating `/`
/// ([RFC 8414 §3.1](https://www.rfc-editor.org/rfc/rfc8414#section-3.1))
pub(crate) fn oauth_metadata_url(issuer: &Url) -> Url {
    let mut url = issuer.clone();
    url.set_path(&format!(
        "/.well-known/oauth-authorization-server{}",
        issuer.path().trim_end_matches('/')
    ));
    url
}

/// Reads a metadata response: `Ok(None)` on 404 (try the next document), the endpoints on 2xx
///
/// 429 is `RateLimited`, 5xx `Unavailable`, another status or an unreadable body `Malformed`, a
/// readable document that breaks the rules `Protocol` or `InsecureEndpoint`.
pub(crate) fn read_metadata_response(
    response: &HttpResponse,
    now_ms: u64,
    max_bytes: usize,
    expected_issuer: &str,
) -> Result<Option<Endpoints>, AuthError> {
    if response.status == 404 {
        return Ok(None);
    }
    if let Some(error) = server_trouble(response, now_ms) {
        return Err(error);
    }
    if !response.is_success() {
        return Err(AuthError::Malformed {
            status: response.status,
            reason: "a metadata request must answer 200 with a JSON document".into(),
        });
    }
    read_endpoints(&json_object(response, max_bytes)?, expected_issuer).map(Some)
}

/// Validates a metadata document and picks its endpoints
///
/// The `issuer` must be identical to the configured one
/// ([OpenID Connect Discovery §4.3](https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfigurationValidation),
/// [RFC 8414 §3.3](https://www.rfc-editor.org/rfc/rfc8414#section-3.3)): anything else could be a
/// mix-up attack. Every endpoint must be https or loopback http, and `token_endpoint` is required
/// because every keyhole flow ends there.
#[cfg(test)]
pub(crate) fn endpoints_from_metadata(
    body: &Map<String, Value>,
    expected_issuer: &str,
) -> Result<Endpoints, AuthError> {
    require_token_endpoint(read_endpoints(body, expected_issuer)?)
}

/// The merged endpoints, or a protocol error when neither document named a token endpoint
fn require_token_endpoint(endpoints: Endpoints) -> Result<Endpoints, AuthError> {
    if endpoints.token_endpoint.is_none() {
        return Err(AuthError::protocol("token_endpoint", "is missing"));
    }
    Ok(endpoints)
}

/// One document's issuer check and endpoints; `token_endpoint` may be missing here, because
/// the other document can supply it
fn read_endpoints(
    body: &Map<String, Value>,
    expected_issuer: &str,
) -> Result<Endpoints, AuthError> {
    let issuer = required_string(body, "issuer")?;
    if issuer != expected_issuer {
        return Err(AuthError::protocol(
            "issuer",
            format!(
                "`{issuer}` is not exactly the configured issuer `{expected_issuer}` (check the remote's issuer URL, including any trailing slash)"
            ),
        ));
    }
    let mut endpoints = Endpoints {
        issuer: Some(issuer),
        ..Endpoints::default()
    };
    for field in ENDPOINT_FIELDS {
        let Some(raw) = optional_string(body, field)? else {
            continue;
        };
        let url = parse_endpoint(&raw).map_err(|error| match error {
            AuthError::InsecureEndpoint { .. } => error,
            _ => AuthError::protocol(field, "is not an absolute URL"),
        })?;
        let slot = match field {
            "authorization_endpoint" => &mut endpoints.authorization_endpoint,
            "token_endpoint" => &mut endpoints.token_endpoint,
            "device_authorization_endpoint" => &mut endpoints.device_authorization_endpoint,
            "revocation_endpoint" => &mut endpoints.revocation_endpoint,
            "userinfo_endpoint" => &mut endpoints.userinfo_endpoint,
            _ => &mut endpoints.introspection_endpoint,
        };
        *slot = Some(url);
    }
    // RFC 9207 §3: "If omitted, the default value is false". Only a JSON `true` turns it on: a
    // string "true" is not a boolean, and treating junk as false only keeps the old leniency.
    endpoints.authorization_response_iss_parameter_supported = body
        .get("authorization_response_iss_parameter_supported")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(endpoints)
}

impl crate::machine::FromConfig for Discovery {
    type Config = DiscoveryConfig;

    fn from_config(config: DiscoveryConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().expect("test bodies are objects").clone()
    }

    #[test]
    fn well_known_urls_follow_both_specs() {
        let plain = check_issuer("https://idp.example.com").unwrap();
        assert_eq!(
            openid_configuration_url(&plain).as_str(),
            "https://idp.example.com/.well-known/openid-configuration"
        );
        assert_eq!(
            oauth_metadata_url(&plain).as_str(),
            "https://idp.example.com/.well-known/oauth-authorization-server"
        );
        let tenant = check_issuer("https://idp.example.com/tenant1/").unwrap();
        assert_eq!(
            openid_configuration_url(&tenant).as_str(),
            "https://idp.example.com/tenant1/.well-known/openid-configuration"
        );
        assert_eq!(
            oauth_metadata_url(&tenant).as_str(),
            "https://idp.example.com/.well-known/oauth-authorization-server/tenant1"
        );
        let local = check_issuer("http://127.0.0.1:8080/realms/dev").unwrap();
        assert_eq!(
            oauth_metadata_url(&local).as_str(),
            "http://127.0.0.1:8080/.well-known/oauth-authorization-server/realms/dev"
        );
    }

    #[test]
    fn issuer_must_be_secure_without_query_or_fragment() {
        assert_eq!(
            check_issuer("http://idp.example.com").unwrap_err().code(),
            "insecure_endpoint"
        );
        assert_eq!(
            check_issuer("https://idp.example.com?x=1")
                .unwrap_err()
                .code(),
            "config"
        );
        assert_eq!(
            check_issuer("https://idp.example.com#f")
                .unwrap_err()
                .code(),
            "config"
        );
        assert_eq!(
            check_issuer("idp.example.com").unwrap_err().code(),
            "config"
        );
    }

    #[test]
    fn issuer_must_match_exactly() {
        let doc = body(
            json!({"issuer":"https://idp.example.com/","token_endpoint":"https://idp.example.com/t"}),
        );
        let e = endpoints_from_metadata(&doc, "https://idp.example.com").unwrap_err();
        assert!(matches!(e, AuthError::Protocol { ref field, .. } if field == "issuer"));
        assert!(endpoints_from_metadata(&doc, "https://idp.example.com/").is_ok());
    }

    #[test]
    fn endpoints_are_checked_and_token_endpoint_required() {
        let ok = endpoints_from_metadata(
            &body(json!({
                "issuer": "https://i.example",
                "token_endpoint": "https://i.example/token",
                "revocation_endpoint": "https://i.example/revoke",
                "jwks_uri": "http://not-read.example/keys"
            })),
            "https://i.example",
        )
        .unwrap();
        assert_eq!(
            ok.revocation_endpoint.as_ref().map(Url::as_str),
            Some("https://i.example/revoke")
        );
        assert_eq!(ok.issuer.as_deref(), Some("https://i.example"));
        let insecure = endpoints_from_metadata(
            &body(json!({"issuer":"https://i.example","token_endpoint":"http://i.example/token"})),
            "https://i.example",
        );
        assert_eq!(insecure.unwrap_err().code(), "insecure_endpoint");
        let relative = endpoints_from_metadata(
            &body(json!({"issuer":"https://i.example","token_endpoint":"/token"})),
            "https://i.example",
        );
        assert!(
            matches!(relative, Err(AuthError::Protocol { ref field, .. }) if field == "token_endpoint")
        );
        let missing = endpoints_from_metadata(
            &body(json!({"issuer":"https://i.example"})),
            "https://i.example",
        );
        assert!(
            matches!(missing, Err(AuthError::Protocol { ref field, .. }) if field == "token_endpoint")
        );
        let mistyped = endpoints_from_metadata(
            &body(
                json!({"issuer":"https://i.example","token_endpoint":"https://i.example/t","userinfo_endpoint":7}),
            ),
            "https://i.example",
        );
        assert!(
            matches!(mistyped, Err(AuthError::Protocol { ref field, .. }) if field == "userinfo_endpoint")
        );
    }

    #[test]
    fn iss_parameter_support_is_true_only_when_a_json_true() {
        let read = |flag: Value| {
            let doc = body(json!({
                "issuer": "https://i.example",
                "token_endpoint": "https://i.example/token",
                "authorization_response_iss_parameter_supported": flag,
            }));
            endpoints_from_metadata(&doc, "https://i.example")
                .unwrap()
                .authorization_response_iss_parameter_supported
        };
        assert!(read(json!(true)));
        for not in [json!(false), json!("true"), json!(1), Value::Null] {
            assert!(!read(not.clone()), "{not}");
        }
        let doc =
            body(json!({"issuer": "https://i.example", "token_endpoint": "https://i.example/t"}));
        assert!(
            !endpoints_from_metadata(&doc, "https://i.example")
                .unwrap()
                .authorization_response_iss_parameter_supported
        );
    }

    #[test]
    fn statuses_map_to_errors() {
        let read = |status, body: &str| {
            read_metadata_response(
                &HttpResponse::new(status, body),
                0,
                1024,
                "https://i.example",
            )
        };
        assert_eq!(read(404, "").unwrap(), None);
        assert_eq!(read(503, "").unwrap_err().code(), "unavailable");
        assert_eq!(read(429, "").unwrap_err().code(), "rate_limited");
        assert_eq!(read(403, "{}").unwrap_err().code(), "malformed");
        assert_eq!(read(200, "<html>").unwrap_err().code(), "malformed");
        assert_eq!(
            read(200, &"x".repeat(2000)).unwrap_err().code(),
            "malformed"
        );
        assert_eq!(read(200, r#"{"issuer":5}"#).unwrap_err().code(), "protocol");
    }

    #[test]
    fn tolerant_of_spurious_inputs() {
        let mut m = Discovery::new(
            DiscoveryConfig {
                issuer: "https://i.example".into(),
                max_response_bytes: 1024,
            },
            10,
        );
        m.handle_input(10, Input::Timer);
        m.handle_input(10, Input::Response(HttpResponse::new(200, "{}")));
        assert_eq!(m.poll_output(), Output::Wait { until_ms: None });
        m.handle_input(10, Input::Start);
        assert!(matches!(m.poll_output(), Output::Send(_)));
        m.handle_input(11, Input::Start);
        m.handle_input(11, Input::Timer);
        assert_eq!(m.poll_output(), Output::Wait { until_ms: None });
        m.handle_input(
            12,
            Input::Response(HttpResponse::new(
                200,
                r#"{"issuer":"https://i.example","token_endpoint":"https://i.example/t"}"#,
            )),
        );
        assert!(matches!(m.poll_output(), Output::Send(_)));
        m.handle_input(12, Input::Start);
        assert!(matches!(m.poll_output(), Output::Wait { until_ms: None }));
        m.handle_input(12, Input::Response(HttpResponse::new(404, "")));
        let done = m.poll_output();
        assert!(matches!(done, Output::Done(Ok(_))));
        m.handle_input(13, Input::Response(HttpResponse::new(500, "")));
        assert_eq!(m.poll_output(), done);
    }

    machine_guard_tests!(Discovery, 768);
}
