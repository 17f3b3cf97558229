//! Device login: the OAuth 2.0 Device Authorization Grant ([RFC 8628](https://www.rfc-editor.org/rfc/rfc8628))
//!
//! `Start` asks the device authorization endpoint for a code, `Show`s the user code and the
//! verification URI, then polls the token endpoint no sooner than the provider's interval until
//! the user approves, denies, or the code expires.
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::body::json_object;
use crate::endpoint::parse_endpoint;
use crate::error::AuthError;
use crate::http::{DEFAULT_MAX_RESPONSE_BYTES, HttpRequest, HttpResponse, Param, TransportError};
use crate::machine::{Input, Machine, Output, Prompt};
use crate::oauth::{
    Client, Endpoints, OAuthRefusal, TokenReply, TokenSet, optional_string, read_oauth_json,
    read_token_response, required_string, retry_after_s, seconds_field, server_trouble,
};
use crate::outbox::Outbox;
use crate::secret::Secret;
use url::Url;

/// The polling interval when the provider names none
/// ([RFC 8628 §3.2](https://www.rfc-editor.org/rfc/rfc8628#section-3.2): "If no value is
/// provided, clients MUST use 5 as the default")
pub const DEFAULT_INTERVAL_S: u64 = 5;
/// A provider's `interval` below this is raised to it: polling more than once a second helps nobody
pub const MIN_INTERVAL_S: u64 = 1;
/// A provider's `interval` above this (five minutes) is lowered to it: no real provider asks for
/// more, and a login that polls less than every five minutes looks hung
pub const MAX_INTERVAL_S: u64 = 300;
/// What each `slow_down` adds to the interval
/// ([RFC 8628 §3.5](https://www.rfc-editor.org/rfc/rfc8628#section-3.5))
pub const SLOW_DOWN_STEP_S: u64 = 5;
/// The longest wait between polls after transport errors, 5xx or 429 answers (doubling from the
/// interval); never shorter than the interval itself
pub const MAX_BACKOFF_S: u64 = 60;
/// A device code's `expires_in` below this is raised to it
pub const MIN_DEVICE_EXPIRES_IN_S: u64 = 1;
/// A device code's `expires_in` above this (one hour) is lowered to it: the user is at the
/// terminal now, and polling longer only hides a forgotten login (providers use 5 to 30 minutes)
pub const MAX_DEVICE_EXPIRES_IN_S: u64 = 3600;
/// How many `slow_down` answers are accepted before giving up with `clock_drift` (cli/cli#9370)
pub const DEFAULT_MAX_SLOW_DOWNS: u32 = 10;

/// What [`DeviceLogin`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeviceLoginConfig {
    /// Needs `device_authorization_endpoint` and `token_endpoint`
    pub endpoints: Endpoints,
    /// The client id (and secret, for confidential clients) and the scopes to ask for
    pub client: Client,
    /// More `slow_down` answers than this end the login with `clock_drift` (default
    /// [`DEFAULT_MAX_SLOW_DOWNS`], 10)
    #[serde(default = "default_max_slow_downs")]
    pub max_slow_downs: u32,
}

pub(crate) fn default_max_slow_downs() -> u32 {
    DEFAULT_MAX_SLOW_DOWNS
}

/// Where the login is
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before `Start`
    Idle,
    /// The device authorization request is out
    Authorizing,
    /// Waiting for the next poll time (or the code's expiry)
    Waiting,
    /// A token request is out
    Polling,
}

/// A device authorization response, validated and clamped
/// ([RFC 8628 §3.2](https://www.rfc-editor.org/rfc/rfc8628#section-3.2))
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceAuthorization {
    pub(crate) device_code: Secret,
    pub(crate) user_code: String,
    pub(crate) verification_uri: Url,
    pub(crate) verification_uri_complete: Option<Url>,
    pub(crate) expires_in_s: u64,
    pub(crate) interval_s: u64,
}

/// What one token-endpoint poll said ([RFC 8628 §3.5](https://www.rfc-editor.org/rfc/rfc8628#section-3.5))
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PollStep {
    /// The user approved
    Tokens(TokenSet),
    /// `authorization_pending`: poll again after the same interval
    Pending,
    /// `slow_down`, with the `interval` the provider sent along, if any (already clamped)
    SlowDown { server_interval_s: Option<u64> },
    /// 5xx or 429: back off, at least `retry_after_s` when the provider said
    Backoff { retry_after_s: Option<u64> },
    /// The login is over
    Fail(AuthError),
}

/// Logs in with a device code: the user approves on another device
#[derive(Debug)]
pub struct DeviceLogin {
    config: DeviceLoginConfig,
    phase: Phase,
    /// Set by `Start`, from the checked `token_endpoint`
    token_url: Option<Url>,
    device_code: Secret,
    expires_at_ms: u64,
    interval_s: u64,
    next_poll_ms: u64,
    slow_downs: u32,
    failures: u32,
    out: Outbox<TokenSet>,
}

impl DeviceLogin {
    /// A device login; configuration problems come out after `Start`
    pub fn new(config: DeviceLoginConfig, now_ms: u64) -> Self {
        Self {
            config,
            phase: Phase::Idle,
            token_url: None,
            device_code: Secret::default(),
            expires_at_ms: 0,
            interval_s: DEFAULT_INTERVAL_S,
            next_poll_ms: 0,
            slow_downs: 0,
            failures: 0,
            out: Outbox::new(now_ms),
        }
    }

    fn start(&mut self) {
        let urls = self
            .config
            .endpoints
            .require("device_authorization_endpoint")
            .and_then(|device| Ok((device, self.config.endpoints.require("token_endpoint")?)));
        let (device_url, token_url) = match urls {
            Ok(urls) => urls,
            Err(error) => return self.out.finish(Err(error)),
        };
        self.token_url = Some(token_url);
        self.phase = Phase::Authorizing;
        self.out.send(HttpRequest::post_form(
            device_url,
            device_authorization_form(&self.config.client),
        ));
    }

    fn on_authorization(&mut self, response: &HttpResponse) {
        let now = self.out.now_ms();
        let grant = match read_device_authorization(response, now, DEFAULT_MAX_RESPONSE_BYTES) {
            Ok(grant) => grant,
            Err(error) => return self.out.finish(Err(error)),
        };
        self.expires_at_ms = now.saturating_add(grant.expires_in_s.saturating_mul(1000));
        self.interval_s = grant.interval_s;
        self.device_code = grant.device_code;
        self.out.notify(Output::Show(Prompt {
            user_code: grant.user_code,
            verification_uri: grant.verification_uri,
            verification_uri_complete: grant.verification_uri_complete,
            expires_in_s: grant.expires_in_s,
            expires_at_ms: self.expires_at_ms,
        }));
        // §3.5: the client waits the interval before its first poll, too.
        self.schedule(self.interval_s);
    }

    /// Waits `delay_s` before the next poll, or until the code expires if that comes first; a
    /// code that has already expired ends the login here
    fn schedule(&mut self, delay_s: u64) {
        if self.out.now_ms() >= self.expires_at_ms {
            return self.out.finish(Err(AuthError::Expired));
        }
        self.phase = Phase::Waiting;
        self.next_poll_ms = self
            .out
            .now_ms()
            .saturating_add(delay_s.saturating_mul(1000));
        self.out
            .wait_until(self.next_poll_ms.min(self.expires_at_ms));
    }

    fn on_timer(&mut self) {
        let now = self.out.now_ms();
        if now >= self.expires_at_ms {
            return self.out.finish(Err(AuthError::Expired));
        }
        if now < self.next_poll_ms {
            // Early: the same wait again.
            return self.out.rearm();
        }
        // Polls are timed only after `Start` has set the token URL.
        let Some(token_url) = self.token_url.clone() else {
            return self.out.rearm();
        };
        self.phase = Phase::Polling;
        self.out.send(HttpRequest::post_form(
            token_url,
            token_poll_form(&self.config.client, &self.device_code),
        ));
    }

    fn on_poll(&mut self, step: PollStep) {
        match step {
            PollStep::Tokens(tokens) => self.out.finish(Ok(tokens)),
            PollStep::Pending => {
                self.failures = 0;
                self.schedule(self.interval_s);
            }
            PollStep::SlowDown { server_interval_s } => {
                self.failures = 0;
                self.slow_downs = self.slow_downs.saturating_add(1);
                if self.slow_downs > self.config.max_slow_downs {
                    return self.out.finish(Err(AuthError::ClockDrift {
                        count: self.slow_downs,
                    }));
                }
                self.interval_s = slowed_interval(self.interval_s, server_interval_s);
                self.schedule(self.interval_s);
            }
            PollStep::Backoff { retry_after_s } => self.back_off(retry_after_s),
            PollStep::Fail(error) => self.out.finish(Err(error)),
        }
    }

    fn back_off(&mut self, retry_after_s: Option<u64>) {
        self.failures = self.failures.saturating_add(1);
        let delay = backoff_delay_s(self.interval_s, self.failures).max(retry_after_s.unwrap_or(0));
        self.schedule(delay);
    }
}

impl Machine for DeviceLogin {
    type Value = TokenSet;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now = self.out.observe(now_ms);
        if self.out.is_done() {
            return;
        }
        match (self.phase, input) {
            (Phase::Idle, Input::Start) => self.start(),
            (Phase::Authorizing, Input::Response(response)) => self.on_authorization(&response),
            (Phase::Authorizing, Input::TransportFailed(error)) => {
                self.out.finish(Err(AuthError::Transport(error)))
            }
            (Phase::Waiting, Input::Timer) => self.on_timer(),
            (Phase::Polling, Input::Response(response)) => {
                self.on_poll(classify_poll(&response, now, DEFAULT_MAX_RESPONSE_BYTES))
            }
            (Phase::Polling, Input::TransportFailed(error)) if is_permanent(&error) => {
                self.out.finish(Err(AuthError::Transport(error)))
            }
            // §3.5: "If the client receives a connection timeout ... it SHOULD use exponential backoff"
            (Phase::Polling, Input::TransportFailed(_)) => self.back_off(None),
            // A second Start, an early Timer, a stray Response, a Callback or a Stored.
            _ => self.out.rearm(),
        }
    }

    fn poll_output(&mut self) -> Output<TokenSet> {
        self.out.poll()
    }
}

/// The device authorization request's form: client authentication and `scope`
/// ([RFC 8628 §3.1](https://www.rfc-editor.org/rfc/rfc8628#section-3.1))
pub(crate) fn device_authorization_form(client: &Client) -> Vec<(String, Param)> {
    let mut form = client.auth_params();
    if let Some(scope) = client.scope_param() {
        form.push(("scope".into(), scope.into()));
    }
    form
}

/// The device access token request's form
/// ([RFC 8628 §3.4](https://www.rfc-editor.org/rfc/rfc8628#section-3.4))
pub(crate) fn token_poll_form(client: &Client, device_code: &Secret) -> Vec<(String, Param)> {
    let mut form = vec![
        (
            "grant_type".to_owned(),
            "urn:ietf:params:oauth:grant-type:device_code".into(),
        ),
        ("device_code".to_owned(), device_code.clone().into()),
    ];
    form.extend(client.auth_params());
    form
}

/// Whether a failed poll would fail the same way on every later poll, so retrying it until the
/// code expires only hides the reason
///
/// `too_large`: the provider's answer does not shrink between polls. `tls`: a certificate that
/// fails now fails again, and an interception must be reported rather than retried. `dns`,
/// `connect`, `timeout` and `other` stay transient: a laptop changing networks, a resolver hiccup
/// or a restarting server are exactly what §3.5's backoff is for, and the device authorization
/// request to the same provider has just worked.
pub(crate) fn is_permanent(error: &TransportError) -> bool {
    matches!(error, TransportError::TooLarge | TransportError::Tls)
}

/// A polling interval from the provider, clamped to [`MIN_INTERVAL_S`]..=[`MAX_INTERVAL_S`]
pub(crate) fn clamp_interval(seconds: u64) -> u64 {
    seconds.clamp(MIN_INTERVAL_S, MAX_INTERVAL_S)
}

/// The interval after a `slow_down`: five seconds more "for this and all subsequent requests"
/// ([RFC 8628 §3.5](https://www.rfc-editor.org/rfc/rfc8628#section-3.5)), or the interval the
/// provider sent with it when that is longer (GitHub sends one; polling slower than asked is
/// always allowed, faster never)
pub(crate) fn slowed_interval(interval_s: u64, server_interval_s: Option<u64>) -> u64 {
    let bumped = interval_s.saturating_add(SLOW_DOWN_STEP_S);
    clamp_interval(server_interval_s.map_or(bumped, |s| s.max(bumped)))
}

/// The wait after the `failures`-th failed poll in a row: the interval doubled per failure,
/// capped at [`MAX_BACKOFF_S`] but never below the interval
/// ([RFC 8628 §3.5](https://www.rfc-editor.org/rfc/rfc8628#section-3.5): "SHOULD use exponential
/// backoff")
pub(crate) fn backoff_delay_s(interval_s: u64, failures: u32) -> u64 {
    let factor = 2u64.saturating_pow(failures);
    interval_s
        .saturating_mul(factor)
        .min(MAX_BACKOFF_S)
        .max(interval_s)
}

/// Validates a device authorization response
/// ([RFC 8628 §3.2](https://www.rfc-editor.org/rfc/rfc8628#section-3.2))
///
/// `verification_url` (Google's spelling) is accepted for `verification_uri`. Both URIs must be
/// https (or loopback http): the user types a code there. `expires_in` is required and clamped to
/// [`MIN_DEVICE_EXPIRES_IN_S`]..=[`MAX_DEVICE_EXPIRES_IN_S`]; `interval` defaults to
/// [`DEFAULT_INTERVAL_S`] and is clamped by [`clamp_interval`]; negative or mistyped numbers are
/// protocol errors.
pub(crate) fn read_device_authorization(
    response: &HttpResponse,
    now_ms: u64,
    max_bytes: usize,
) -> Result<DeviceAuthorization, AuthError> {
    let body = read_oauth_json(response, now_ms, max_bytes)?.map_err(OAuthRefusal::into_error)?;
    let device_code = Secret::new(required_string(&body, "device_code")?);
    let user_code = required_string(&body, "user_code")?;
    let verification_uri = match optional_string(&body, "verification_uri")? {
        Some(uri) => uri,
        None => match optional_string(&body, "verification_url")? {
            Some(uri) => uri,
            None => return Err(AuthError::protocol("verification_uri", "is missing")),
        },
    };
    let verification_uri = check_user_uri("verification_uri", &verification_uri)?;
    let verification_uri_complete = optional_string(&body, "verification_uri_complete")?
        .map(|uri| check_user_uri("verification_uri_complete", &uri))
        .transpose()?;
    let expires_in_s = seconds_field(&body, "expires_in")?
        .ok_or_else(|| AuthError::protocol("expires_in", "is missing"))?
        .clamp(MIN_DEVICE_EXPIRES_IN_S, MAX_DEVICE_EXPIRES_IN_S);
    let interval_s =
        clamp_interval(seconds_field(&body, "interval")?.unwrap_or(DEFAULT_INTERVAL_S));
    Ok(DeviceAuthorization {
        device_code,
        user_code,
        verification_uri,
        verification_uri_complete,
        expires_in_s,
        interval_s,
    })
}

fn check_user_uri(field: &str, uri: &str) -> Result<Url, AuthError> {
    parse_endpoint(uri).map_err(|error| match error {
        AuthError::InsecureEndpoint { .. } => error,
        _ => AuthError::protocol(field, "is not an absolute URL"),
    })
}

/// Reads one poll's answer ([RFC 8628 §3.5](https://www.rfc-editor.org/rfc/rfc8628#section-3.5))
///
/// Tokens end the login; `authorization_pending` and `slow_down` continue it; `access_denied` is
/// `Denied` and `expired_token` is `Expired`; 5xx and 429 back off (the code stays valid, so a
/// passing outage should not cost the user their approval); any other refusal or an unreadable
/// answer ends the login.
pub(crate) fn classify_poll(response: &HttpResponse, now_ms: u64, max_bytes: usize) -> PollStep {
    if server_trouble(response, now_ms).is_some() {
        return PollStep::Backoff {
            retry_after_s: retry_after_s(response, now_ms),
        };
    }
    let refusal = match read_token_response(response, now_ms, max_bytes) {
        Ok(TokenReply::Tokens(tokens)) => return PollStep::Tokens(tokens),
        Ok(TokenReply::Refused(refusal)) => refusal,
        Err(error) => return PollStep::Fail(error),
    };
    match refusal.error.as_str() {
        "authorization_pending" => PollStep::Pending,
        "slow_down" => {
            match json_object(response, max_bytes).and_then(|body| server_interval(&body)) {
                Ok(server_interval_s) => PollStep::SlowDown { server_interval_s },
                Err(error) => PollStep::Fail(error),
            }
        }
        "access_denied" => PollStep::Fail(AuthError::Denied),
        "expired_token" => PollStep::Fail(AuthError::Expired),
        _ => PollStep::Fail(refusal.into_error()),
    }
}

fn server_interval(body: &Map<String, Value>) -> Result<Option<u64>, AuthError> {
    Ok(seconds_field(body, "interval")?.map(clamp_interval))
}

impl crate::machine::FromConfig for DeviceLogin {
    type Config = DeviceLoginConfig;

    fn from_config(config: DeviceLoginConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> HttpResponse {
        HttpResponse::new(200, body)
    }

    #[test]
    fn interval_rules() {
        assert_eq!(slowed_interval(5, None), 10);
        assert_eq!(slowed_interval(5, Some(7)), 10);
        assert_eq!(slowed_interval(5, Some(20)), 20);
        assert_eq!(slowed_interval(MAX_INTERVAL_S, None), MAX_INTERVAL_S);
        assert_eq!(clamp_interval(0), MIN_INTERVAL_S);
        assert_eq!(clamp_interval(u64::MAX), MAX_INTERVAL_S);
        assert_eq!(backoff_delay_s(5, 1), 10);
        assert_eq!(backoff_delay_s(5, 2), 20);
        assert_eq!(backoff_delay_s(5, 3), 40);
        assert_eq!(backoff_delay_s(5, 4), MAX_BACKOFF_S);
        assert_eq!(backoff_delay_s(5, u32::MAX), MAX_BACKOFF_S);
        assert_eq!(backoff_delay_s(120, 1), 120);
    }

    #[test]
    fn authorization_response_is_validated_and_clamped() {
        let g = read_device_authorization(
            &ok(r#"{"device_code":"dc","user_code":"ABCD-EFGH","verification_url":"https://x.example/device","expires_in":99999999}"#),
            0,
            1024,
        )
        .unwrap();
        assert_eq!(g.verification_uri.as_str(), "https://x.example/device");
        assert_eq!(g.interval_s, DEFAULT_INTERVAL_S);
        assert_eq!(g.expires_in_s, MAX_DEVICE_EXPIRES_IN_S);
        let field = |body: &str| match read_device_authorization(&ok(body), 0, 1024) {
            Err(AuthError::Protocol { field, .. }) => field,
            other => panic!("expected a protocol error, got {other:?}"),
        };
        let base = r#""device_code":"dc","user_code":"U","verification_uri":"https://x.example/d""#;
        assert_eq!(
            field(&format!("{{{base},\"expires_in\":-1}}")),
            "expires_in"
        );
        assert_eq!(field(&format!("{{{base}}}")), "expires_in");
        assert_eq!(
            field(&format!(
                "{{{base},\"expires_in\":600,\"interval\":\"fast\"}}"
            )),
            "interval"
        );
        assert_eq!(
            field(r#"{"device_code":"dc","user_code":"U","expires_in":600}"#),
            "verification_uri"
        );
        assert_eq!(field(r#"{"device_code":7,"user_code":"U"}"#), "device_code");
        let insecure = read_device_authorization(
            &ok(
                r#"{"device_code":"dc","user_code":"U","verification_uri":"http://x.example/d","expires_in":600}"#,
            ),
            0,
            1024,
        );
        assert_eq!(insecure.unwrap_err().code(), "insecure_endpoint");
        let refused = read_device_authorization(
            &HttpResponse::new(400, r#"{"error":"invalid_client"}"#),
            0,
            1024,
        );
        assert_eq!(refused.unwrap_err().code(), "provider");
    }

    #[test]
    fn poll_answers() {
        let refused = |body: &str| classify_poll(&HttpResponse::new(400, body), 0, 1024);
        assert_eq!(
            refused(r#"{"error":"authorization_pending"}"#),
            PollStep::Pending
        );
        assert_eq!(
            refused(r#"{"error":"slow_down"}"#),
            PollStep::SlowDown {
                server_interval_s: None
            }
        );
        assert_eq!(
            refused(r#"{"error":"slow_down","interval":15}"#),
            PollStep::SlowDown {
                server_interval_s: Some(15)
            }
        );
        assert!(matches!(
            refused(r#"{"error":"slow_down","interval":-3}"#),
            PollStep::Fail(AuthError::Protocol { .. })
        ));
        assert_eq!(
            refused(r#"{"error":"access_denied"}"#),
            PollStep::Fail(AuthError::Denied)
        );
        assert_eq!(
            refused(r#"{"error":"expired_token"}"#),
            PollStep::Fail(AuthError::Expired)
        );
        assert_eq!(
            refused(r#"{"error":"invalid_grant"}"#).clone(),
            PollStep::Fail(AuthError::Provider {
                code: "invalid_grant".into(),
                description: None
            })
        );
        assert_eq!(
            classify_poll(&HttpResponse::new(502, "bad gateway"), 0, 1024),
            PollStep::Backoff {
                retry_after_s: None
            }
        );
        let mut limited = HttpResponse::new(429, "");
        limited.headers.push(("retry-after".into(), "30".into()));
        assert_eq!(
            classify_poll(&limited, 0, 1024),
            PollStep::Backoff {
                retry_after_s: Some(30)
            }
        );
        assert!(matches!(
            classify_poll(&ok(r#"{"access_token":"at"}"#), 0, 1024),
            PollStep::Tokens(_)
        ));
    }

    fn machine() -> DeviceLogin {
        DeviceLogin::new(
            DeviceLoginConfig {
                endpoints: Endpoints {
                    device_authorization_endpoint: Some(
                        "https://i.example/device".parse().unwrap(),
                    ),
                    token_endpoint: Some("https://i.example/token".parse().unwrap()),
                    ..Endpoints::default()
                },
                client: Client {
                    client_id: "cli".into(),
                    ..Client::default()
                },
                max_slow_downs: 1,
            },
            1_000,
        )
    }

    fn drain(m: &mut DeviceLogin) -> Vec<Output<TokenSet>> {
        let mut all = Vec::new();
        loop {
            let o = m.poll_output();
            let last = matches!(o, Output::Wait { .. } | Output::Done(_));
            all.push(o);
            if last {
                return all;
            }
        }
    }

    #[test]
    fn slow_down_limit_and_late_inputs() {
        let mut m = machine();
        m.handle_input(1_000, Input::Start);
        assert_eq!(drain(&mut m).len(), 2);
        m.handle_input(
            1_000,
            Input::Response(ok(r#"{"device_code":"dc","user_code":"U","verification_uri":"https://i.example/d","expires_in":600}"#)),
        );
        let outs = drain(&mut m);
        assert!(matches!(outs[0], Output::Show(_)));
        assert_eq!(
            outs[1],
            Output::Wait {
                until_ms: Some(6_000)
            }
        );
        // A stray response after the wait's deadline moves the wait into the future.
        m.handle_input(7_000, Input::Response(ok("{}")));
        assert_eq!(
            drain(&mut m),
            vec![Output::Wait {
                until_ms: Some(7_001)
            }]
        );
        let slow = HttpResponse::new(400, r#"{"error":"slow_down"}"#);
        m.handle_input(7_001, Input::Timer);
        assert!(matches!(drain(&mut m)[0], Output::Send(_)));
        m.handle_input(7_100, Input::Response(slow.clone()));
        assert_eq!(
            drain(&mut m),
            vec![Output::Wait {
                until_ms: Some(17_100)
            }]
        );
        m.handle_input(17_100, Input::Timer);
        let _ = drain(&mut m);
        m.handle_input(17_200, Input::Response(slow));
        assert_eq!(
            drain(&mut m),
            vec![Output::Done(Err(AuthError::ClockDrift { count: 2 }))]
        );
        m.handle_input(20_000, Input::Timer);
        assert_eq!(
            drain(&mut m),
            vec![Output::Done(Err(AuthError::ClockDrift { count: 2 }))]
        );
    }

    machine_guard_tests!(DeviceLogin, 1152);
}
