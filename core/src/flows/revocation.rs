//! Revocation: tell the provider a logout's tokens are no longer needed
//! ([RFC 7009](https://www.rfc-editor.org/rfc/rfc7009))
//!
//! The refresh token goes first (revoking it usually ends the whole grant, §2.1), then the access
//! token, each with its `token_type_hint`. A provider without a revocation endpoint is not an
//! error: the report says revocation was skipped and the host still deletes its local copy.
use std::collections::VecDeque;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::body::json_object;
use crate::error::AuthError;
use crate::http::{DEFAULT_MAX_RESPONSE_BYTES, HttpRequest, HttpResponse, Param};
use crate::machine::WireValue;
use crate::machine::{Input, Machine, Output};
use crate::oauth::{Client, Endpoints, refusal_or_malformed, retry_after_s, server_trouble};
use crate::outbox::Outbox;
use crate::secret::Secret;
use url::Url;

/// The wait before retrying after a 503 that names no `Retry-After`
pub const DEFAULT_RETRY_AFTER_S: u64 = 1;
/// The longest wait before retrying after a 503: a logout should not hang; a provider that asks
/// for longer gets its one retry after this many seconds
pub const MAX_RETRY_AFTER_S: u64 = 10;

/// What [`Revocation`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RevocationConfig {
    /// `revocation_endpoint` when the provider has one; without it revocation is skipped
    pub endpoints: Endpoints,
    /// The client id (and secret, for confidential clients)
    pub client: Client,
    /// Revoked first, with `token_type_hint=refresh_token`
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// Revoked second, with `token_type_hint=access_token`
    #[serde(default)]
    pub access_token: Option<Secret>,
}

/// What revocation did, by token type hint (`refresh_token`, `access_token`)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationReport {
    /// Tokens the provider revoked (or already considered invalid, §2.2)
    pub revoked: Vec<String>,
    /// Tokens whose type the provider cannot revoke (`unsupported_token_type`, §2.2.1)
    pub unsupported: Vec<String>,
    /// The provider has no revocation endpoint, so nothing was sent
    pub skipped: bool,
}

impl WireValue for RevocationReport {
    fn to_wire(&self) -> Value {
        json!({
            "revoked": self.revoked,
            "unsupported": self.unsupported,
            "skipped": self.skipped,
        })
    }
}

/// What one revocation response said
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RevokeStep {
    /// 2xx
    Revoked,
    /// 400 `unsupported_token_type`
    Unsupported,
    /// 503: retry once after this many seconds (already bounded)
    Retry { after_s: u64 },
    /// Anything else ends the flow
    Fail(AuthError),
}

/// Where the flow is
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before `Start`
    Idle,
    /// A revocation request is out
    Sending,
    /// Waiting to retry after a 503
    RetryWait,
}

/// Revokes a refresh token and an access token
#[derive(Debug)]
pub struct Revocation {
    client: Client,
    endpoints: Endpoints,
    phase: Phase,
    /// Set by `Start`, from the checked `revocation_endpoint`
    url: Option<Url>,
    /// Tokens still to revoke, in order, with their hints
    pending: VecDeque<(&'static str, Secret)>,
    /// Whether the token at the front of `pending` already had its retry
    retried: bool,
    report: RevocationReport,
    out: Outbox<RevocationReport>,
}

impl Revocation {
    /// A revocation; configuration problems come out after `Start`
    pub fn new(config: RevocationConfig, now_ms: u64) -> Self {
        let pending = [
            ("refresh_token", config.refresh_token),
            ("access_token", config.access_token),
        ]
        .into_iter()
        .filter_map(|(hint, token)| Some((hint, token?)))
        .collect();
        Self {
            client: config.client,
            endpoints: config.endpoints,
            phase: Phase::Idle,
            url: None,
            pending,
            retried: false,
            report: RevocationReport::default(),
            out: Outbox::new(now_ms),
        }
    }

    fn start(&mut self) {
        if self.endpoints.revocation_endpoint.is_none() {
            self.report.skipped = true;
            return self.out.finish(Ok(self.report.clone()));
        }
        match self.endpoints.require("revocation_endpoint") {
            Ok(url) => {
                self.url = Some(url);
                self.next();
            }
            Err(error) => self.out.finish(Err(error)),
        }
    }

    /// Sends the request for the token at the front of `pending`, or finishes
    fn next(&mut self) {
        let (Some((hint, token)), Some(url)) = (self.pending.front(), &self.url) else {
            return self.out.finish(Ok(self.report.clone()));
        };
        self.phase = Phase::Sending;
        let form = revocation_form(&self.client, token, hint);
        self.out.send(HttpRequest::post_form(url.clone(), form));
    }

    fn on_response(&mut self, response: &HttpResponse) {
        match read_revocation_response(response, self.out.now_ms(), DEFAULT_MAX_RESPONSE_BYTES) {
            RevokeStep::Revoked => self.settle(true),
            RevokeStep::Unsupported => self.settle(false),
            RevokeStep::Retry { after_s } if !self.retried => {
                self.retried = true;
                self.phase = Phase::RetryWait;
                let until = self
                    .out
                    .now_ms()
                    .saturating_add(after_s.saturating_mul(1000));
                self.out.wait_until(until);
            }
            RevokeStep::Retry { .. } => self.out.finish(Err(AuthError::Unavailable {
                status: Some(response.status),
            })),
            RevokeStep::Fail(error) => self.out.finish(Err(error)),
        }
    }

    /// Records the answer for the token at the front of `pending` and moves to the next
    fn settle(&mut self, revoked: bool) {
        if let Some((hint, _)) = self.pending.pop_front() {
            let list = if revoked {
                &mut self.report.revoked
            } else {
                &mut self.report.unsupported
            };
            list.push(hint.to_owned());
        }
        self.retried = false;
        self.next();
    }
}

impl Machine for Revocation {
    type Value = RevocationReport;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now = self.out.observe(now_ms);
        if self.out.is_done() {
            return;
        }
        match (self.phase, input) {
            (Phase::Idle, Input::Start) => self.start(),
            (Phase::Sending, Input::Response(response)) => self.on_response(&response),
            (Phase::Sending, Input::TransportFailed(error)) => {
                self.out.finish(Err(AuthError::Transport(error)))
            }
            (Phase::RetryWait, Input::Timer) if self.out.deadline().is_some_and(|d| now >= d) => {
                self.next()
            }
            // A second Start, an early Timer, a stray Response, a Callback or a Stored.
            _ => self.out.rearm(),
        }
    }

    fn poll_output(&mut self) -> Output<RevocationReport> {
        self.out.poll()
    }
}

/// The revocation request's form: `token`, `token_type_hint` and client authentication
/// ([RFC 7009 §2.1](https://www.rfc-editor.org/rfc/rfc7009#section-2.1))
pub(crate) fn revocation_form(client: &Client, token: &Secret, hint: &str) -> Vec<(String, Param)> {
    let mut form = vec![
        ("token".to_owned(), Param::Secret(token.clone())),
        ("token_type_hint".to_owned(), Param::from(hint)),
    ];
    form.extend(client.auth_params());
    form
}

/// Reads a revocation response ([RFC 7009 §2.2](https://www.rfc-editor.org/rfc/rfc7009#section-2.2), §2.2.1)
///
/// 2xx is revoked (the body is ignored: "the content of the response body is ignored by the
/// client"); 400 `unsupported_token_type` is unsupported; 503 is retried after `Retry-After`
/// (default [`DEFAULT_RETRY_AFTER_S`], at most [`MAX_RETRY_AFTER_S`]); 429 is `RateLimited`, other
/// 5xx `Unavailable`, another OAuth error `Provider`, anything else `Malformed`.
pub(crate) fn read_revocation_response(
    response: &HttpResponse,
    now_ms: u64,
    max_bytes: usize,
) -> RevokeStep {
    if response.is_success() {
        return RevokeStep::Revoked;
    }
    if response.status == 503 {
        let after_s = retry_after_s(response, now_ms).unwrap_or(DEFAULT_RETRY_AFTER_S);
        return RevokeStep::Retry {
            after_s: after_s.min(MAX_RETRY_AFTER_S),
        };
    }
    if let Some(error) = server_trouble(response, now_ms) {
        return RevokeStep::Fail(error);
    }
    match json_object(response, max_bytes).and_then(|body| refusal_or_malformed(response, &body)) {
        Ok(refusal) if refusal.error == "unsupported_token_type" => RevokeStep::Unsupported,
        Ok(refusal) => RevokeStep::Fail(refusal.into_error()),
        Err(error) => RevokeStep::Fail(error),
    }
}

impl crate::machine::FromConfig for Revocation {
    type Config = RevocationConfig;

    fn from_config(config: RevocationConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_map_to_steps() {
        let read = |status, body: &str| {
            read_revocation_response(&HttpResponse::new(status, body), 0, 1024)
        };
        assert_eq!(read(200, ""), RevokeStep::Revoked);
        assert_eq!(read(204, "not json"), RevokeStep::Revoked);
        assert_eq!(
            read(400, r#"{"error":"unsupported_token_type"}"#),
            RevokeStep::Unsupported
        );
        assert_eq!(
            read(503, ""),
            RevokeStep::Retry {
                after_s: DEFAULT_RETRY_AFTER_S
            }
        );
        let mut slow = HttpResponse::new(503, "");
        slow.headers.push(("retry-after".into(), "3600".into()));
        assert_eq!(
            read_revocation_response(&slow, 0, 1024),
            RevokeStep::Retry {
                after_s: MAX_RETRY_AFTER_S
            }
        );
        assert_eq!(
            read(500, "").clone(),
            RevokeStep::Fail(AuthError::Unavailable { status: Some(500) })
        );
        assert!(matches!(
            read(429, ""),
            RevokeStep::Fail(AuthError::RateLimited { .. })
        ));
        assert!(matches!(
            read(401, r#"{"error":"invalid_client"}"#),
            RevokeStep::Fail(AuthError::Provider { .. })
        ));
        assert!(matches!(
            read(400, "<html>"),
            RevokeStep::Fail(AuthError::Malformed { .. })
        ));
        assert!(matches!(
            read(302, "{}"),
            RevokeStep::Fail(AuthError::Malformed { .. })
        ));
    }

    #[test]
    fn nothing_to_revoke_is_done_at_once() {
        let mut m = Revocation::new(
            RevocationConfig {
                endpoints: Endpoints {
                    revocation_endpoint: Some("https://i.example/revoke".parse().unwrap()),
                    ..Endpoints::default()
                },
                client: Client::default(),
                refresh_token: None,
                access_token: None,
            },
            0,
        );
        m.handle_input(0, Input::Start);
        assert_eq!(
            m.poll_output(),
            Output::Done(Ok(RevocationReport::default()))
        );
    }

    #[test]
    fn insecure_endpoint_sends_nothing() {
        let mut m = Revocation::new(
            RevocationConfig {
                endpoints: Endpoints {
                    revocation_endpoint: Some("http://i.example/revoke".parse().unwrap()),
                    ..Endpoints::default()
                },
                client: Client::default(),
                refresh_token: Some(Secret::new("rt")),
                access_token: None,
            },
            0,
        );
        m.handle_input(0, Input::Start);
        assert!(matches!(
            m.poll_output(),
            Output::Done(Err(AuthError::InsecureEndpoint { .. }))
        ));
    }

    machine_guard_tests!(Revocation, 1024);
}
