//! Refresh: decides whether an access token needs refreshing and, if so, runs the refresh grant
//! ([RFC 6749 §6](https://www.rfc-editor.org/rfc/rfc6749#section-6)) with a bounded retry
//!
//! - Not needed and not forced: `Done` at once with the same tokens, `refreshed: false`.
//! - No refresh token: the still-valid access token (warning `no_refresh_token`), else
//!   `relogin_required`.
//! - Success: the new tokens; the old refresh token and ID token are kept when the response has
//!   none (a provider that does not rotate sends no new refresh token).
//! - `invalid_grant`: `relogin_required`.
//! - 5xx, 429 and transport errors: up to `max_retries` more attempts, waiting 1 s, 2 s, 4 s … (at
//!   most [`MAX_BACKOFF_S`]) or the server's `Retry-After` when that is longer. A `Retry-After` above
//!   [`MAX_RETRY_AFTER_S`] is not waited for: retrying sooner than asked would only be refused again,
//!   so the machine stops retrying at once. When retrying is over and the access token is still
//!   valid it is returned (`refreshed: false`, `warning` = the last error's code); otherwise the
//!   last error (`unavailable`, `rate_limited` or `transport`).
//! - Any other OAuth error: `provider`; an unreadable answer: `malformed` or `protocol`.
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::AuthError;
use crate::http::{DEFAULT_MAX_RESPONSE_BYTES, HttpRequest, HttpResponse, Param};
use crate::machine::WireValue;
use crate::machine::{Input, Machine, Output};
use crate::oauth::{
    Client, Endpoints, TokenReply, TokenSet, read_token_response, retry_after_s, server_trouble,
};
use crate::outbox::Outbox;
use crate::secret::Secret;
use url::Url;

/// Default seconds before expiry at which a token counts as needing a refresh
pub const DEFAULT_SKEW_S: u64 = 60;
/// The refresh margin is at most the token's lifetime divided by this: a token counts as fresh
/// for at least its first half
pub const MAX_SKEW_SHARE_OF_LIFETIME: u64 = 2;
/// Default number of retries after the first refresh attempt fails transiently
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// `max_retries` is clamped to this many
pub const MAX_RETRIES_LIMIT: u32 = 10;
/// The longest backoff between two attempts, in seconds
pub const MAX_BACKOFF_S: u64 = 30;
/// The longest `Retry-After` the machine waits for; a longer one ends the retrying at once
pub const MAX_RETRY_AFTER_S: u64 = 60;

/// The `warning` of an outcome whose refresh was wanted but impossible without a refresh token
pub const WARNING_NO_REFRESH_TOKEN: &str = "no_refresh_token";

pub(crate) fn default_skew_s() -> u64 {
    DEFAULT_SKEW_S
}

pub(crate) fn default_max_retries() -> u32 {
    DEFAULT_MAX_RETRIES
}

/// What a [`Refresh`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RefreshConfig {
    /// The provider's endpoints; only `token_endpoint` is used (and only when refreshing)
    pub endpoints: Endpoints,
    /// The OAuth client (its `scopes` are sent as `scope` only when non-empty)
    pub client: Client,
    /// The tokens held now
    pub tokens: TokenSet,
    /// Refresh this many seconds before expiry (default [`DEFAULT_SKEW_S`])
    #[serde(default = "default_skew_s")]
    pub skew_s: u64,
    /// Retries after a transient failure (default [`DEFAULT_MAX_RETRIES`], at most [`MAX_RETRIES_LIMIT`])
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Refresh even when the token is not due (default `false`)
    #[serde(default)]
    pub force: bool,
}

/// What a refresh ended with
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshOutcome {
    /// The tokens to use from now on (the old ones when no refresh happened)
    pub tokens: TokenSet,
    /// Whether the provider issued new tokens
    pub refreshed: bool,
    /// Why a wanted refresh did not happen although a usable token is returned: an error code
    /// (`unavailable`, `rate_limited`, `transport`) or [`WARNING_NO_REFRESH_TOKEN`]
    pub warning: Option<String>,
}

impl WireValue for RefreshOutcome {
    fn to_wire(&self) -> Value {
        json!({
            "tokens": self.tokens.to_wire(),
            "refreshed": self.refreshed,
            "warning": self.warning,
        })
    }
}

/// Whether `tokens` should be refreshed at `now_ms`
///
/// True once `expires_at_ms` minus the margin is reached, or once the provider's `refresh_in`
/// hint (`refresh_at_ms`) is reached. A token without a known expiry and without a hint never
/// needs refreshing: it is used until the provider rejects it.
///
/// The margin is `skew_s`, capped at half the token's lifetime when the issue time is known
/// ([`MAX_SKEW_SHARE_OF_LIFETIME`]): with a fixed 60 s margin a token that lives 3 s is due the
/// moment it is issued, so every call would refresh it. Tokens without `issued_at_ms` (records
/// written before it existed) keep the plain `skew_s`.
pub fn needs_refresh(tokens: &TokenSet, now_ms: u64, skew_s: u64) -> bool {
    let lifetime_ms = tokens
        .expires_at_ms
        .zip(tokens.issued_at_ms)
        .and_then(|(expires, issued)| expires.checked_sub(issued));
    let skew_ms = match lifetime_ms {
        Some(lifetime) => skew_s
            .saturating_mul(1000)
            .min(lifetime / MAX_SKEW_SHARE_OF_LIFETIME),
        None => skew_s.saturating_mul(1000),
    };
    let expiring = tokens
        .expires_at_ms
        .is_some_and(|at| now_ms.saturating_add(skew_ms) >= at);
    let hinted = tokens.refresh_at_ms.is_some_and(|at| now_ms >= at);
    expiring || hinted
}

/// The refresh request ([RFC 6749 §6](https://www.rfc-editor.org/rfc/rfc6749#section-6)):
/// `grant_type=refresh_token`, the refresh token, client authentication
/// ([§2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)) and `scope` only when the
/// client configures scopes
pub(crate) fn refresh_request(
    token_url: Url,
    client: &Client,
    refresh_token: &Secret,
) -> HttpRequest {
    let mut form = vec![
        ("grant_type".to_owned(), Param::from("refresh_token")),
        (
            "refresh_token".to_owned(),
            Param::Secret(refresh_token.clone()),
        ),
    ];
    form.extend(client.auth_params());
    if let Some(scope) = client.scope_param() {
        form.push(("scope".to_owned(), Param::Plain(scope)));
    }
    HttpRequest::post_form(token_url, form)
}

/// Puts new tokens over old ones: a refresh response may omit the refresh token (no rotation,
/// [RFC 6749 §6](https://www.rfc-editor.org/rfc/rfc6749#section-6): "the client MUST NOT discard
/// the old refresh token" unless a new one is issued), the ID token and the scope
/// ([§5.1](https://www.rfc-editor.org/rfc/rfc6749#section-5.1): omitted when unchanged)
pub(crate) fn merge_tokens(old: &TokenSet, new: TokenSet) -> TokenSet {
    TokenSet {
        refresh_token: new.refresh_token.or_else(|| old.refresh_token.clone()),
        id_token: new.id_token.or_else(|| old.id_token.clone()),
        scope: new.scope.or_else(|| old.scope.clone()),
        ..new
    }
}

/// What one refresh answer means
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefreshStep {
    /// New tokens (already merged onto the old ones)
    Refreshed(TokenSet),
    /// The refresh token was rejected (`invalid_grant`): a new login is needed
    Rejected(AuthError),
    /// A transient failure worth retrying, with the server's `Retry-After` if it sent one
    Transient(AuthError, Option<u64>),
    /// A final failure
    Failed(AuthError),
}

/// Classifies a token-endpoint answer to a refresh request
/// ([RFC 6749 §5.1, §5.2](https://www.rfc-editor.org/rfc/rfc6749#section-5.2))
pub(crate) fn classify_refresh_response(
    old: &TokenSet,
    response: &HttpResponse,
    now_ms: u64,
) -> RefreshStep {
    if let Some(error) = server_trouble(response, now_ms) {
        return RefreshStep::Transient(error, retry_after_s(response, now_ms));
    }
    match read_token_response(response, now_ms, DEFAULT_MAX_RESPONSE_BYTES) {
        Ok(TokenReply::Tokens(new)) => RefreshStep::Refreshed(merge_tokens(old, new)),
        Ok(TokenReply::Refused(refusal)) if refusal.error == "invalid_grant" => {
            RefreshStep::Rejected(AuthError::ReloginRequired {
                reason: match refusal.description {
                    Some(d) => format!("the refresh token was rejected: invalid_grant: {d}"),
                    None => "the refresh token was rejected: invalid_grant".into(),
                },
            })
        }
        Ok(TokenReply::Refused(refusal)) => RefreshStep::Failed(refusal.into_error()),
        Err(error) => RefreshStep::Failed(error),
    }
}

/// Milliseconds to wait before retry number `retry` (0 for the first retry): 1 s, 2 s, 4 s … capped
/// at [`MAX_BACKOFF_S`], or the server's `Retry-After` when longer; `None` when the server asked
/// for more than [`MAX_RETRY_AFTER_S`] (stop retrying)
pub(crate) fn retry_delay_ms(retry: u32, retry_after_s: Option<u64>) -> Option<u64> {
    let backoff_s = 1u64
        .checked_shl(retry)
        .unwrap_or(u64::MAX)
        .min(MAX_BACKOFF_S);
    match retry_after_s {
        Some(s) if s > MAX_RETRY_AFTER_S => None,
        Some(s) => Some(backoff_s.max(s).saturating_mul(1000)),
        None => Some(backoff_s.saturating_mul(1000)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Built, waiting for `Start`
    Idle,
    /// A refresh request is out
    Sending,
    /// Waiting for the backoff deadline before the next attempt
    Backoff,
    /// Finished
    Done,
}

/// The refresh machine; see the module documentation
#[derive(Debug)]
pub struct Refresh {
    config: RefreshConfig,
    outbox: Outbox<RefreshOutcome>,
    state: State,
    /// Retries done so far
    retries: u32,
    /// The validated token endpoint, once started
    token_url: Option<Url>,
    /// Whether the provider answered `invalid_grant` (the credential machine re-reads the store)
    grant_rejected: bool,
}

impl Refresh {
    /// Builds the machine; problems with the config come out as `Done(Err(..))` after `Start`
    pub fn new(config: RefreshConfig, now_ms: u64) -> Self {
        Self {
            config,
            outbox: Outbox::new(now_ms),
            state: State::Idle,
            retries: 0,
            token_url: None,
            grant_rejected: false,
        }
    }

    /// Whether the flow ended because the provider rejected the refresh token (`invalid_grant`)
    pub(crate) fn grant_rejected(&self) -> bool {
        self.grant_rejected
    }

    /// The refresh token this machine sends, if any
    pub(crate) fn refresh_token(&self) -> Option<&Secret> {
        self.config.tokens.refresh_token.as_ref()
    }

    fn finish(&mut self, result: Result<RefreshOutcome, AuthError>) {
        self.state = State::Done;
        self.outbox.finish(result);
    }

    fn keep_old(&mut self, warning: Option<String>) {
        let outcome = RefreshOutcome {
            tokens: self.config.tokens.clone(),
            refreshed: false,
            warning,
        };
        self.finish(Ok(outcome));
    }

    fn start(&mut self, now_ms: u64) {
        let tokens = &self.config.tokens;
        if !self.config.force && !needs_refresh(tokens, now_ms, self.config.skew_s) {
            return self.keep_old(None);
        }
        if tokens.refresh_token.as_ref().is_none_or(Secret::is_empty) {
            return if tokens.is_valid_at(now_ms) {
                self.keep_old(Some(WARNING_NO_REFRESH_TOKEN.into()))
            } else {
                self.finish(Err(AuthError::ReloginRequired {
                    reason: "the access token expired and there is no refresh token".into(),
                }))
            };
        }
        match self.config.endpoints.require("token_endpoint") {
            Ok(url) => {
                self.token_url = Some(url);
                self.send();
            }
            Err(error) => self.finish(Err(error)),
        }
    }

    fn send(&mut self) {
        // Requests are sent only after `Start` has set the token URL.
        let Some(token_url) = self.token_url.clone() else {
            return self.outbox.rearm();
        };
        let refresh_token = self.config.tokens.refresh_token.clone().unwrap_or_default();
        let request = refresh_request(token_url, &self.config.client, &refresh_token);
        self.state = State::Sending;
        self.outbox.send(request);
    }

    fn transient(&mut self, now_ms: u64, error: AuthError, retry_after_s: Option<u64>) {
        let max_retries = self.config.max_retries.min(MAX_RETRIES_LIMIT);
        let delay = retry_delay_ms(self.retries, retry_after_s);
        match delay {
            Some(delay_ms) if self.retries < max_retries => {
                self.retries += 1;
                self.state = State::Backoff;
                self.outbox.wait_until(now_ms.saturating_add(delay_ms));
            }
            _ if self.config.tokens.is_valid_at(now_ms) => {
                self.keep_old(Some(error.code().to_owned()))
            }
            _ => self.finish(Err(error)),
        }
    }

    fn on_response(&mut self, now_ms: u64, response: &HttpResponse) {
        match classify_refresh_response(&self.config.tokens, response, now_ms) {
            RefreshStep::Refreshed(tokens) => self.finish(Ok(RefreshOutcome {
                tokens,
                refreshed: true,
                warning: None,
            })),
            RefreshStep::Rejected(error) => {
                self.grant_rejected = true;
                self.finish(Err(error));
            }
            RefreshStep::Transient(error, retry_after) => {
                self.transient(now_ms, error, retry_after)
            }
            RefreshStep::Failed(error) => self.finish(Err(error)),
        }
    }
}

impl Machine for Refresh {
    type Value = RefreshOutcome;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now_ms = self.outbox.observe(now_ms);
        match (self.state, input) {
            (State::Idle, Input::Start) => self.start(now_ms),
            (State::Sending, Input::Response(response)) => self.on_response(now_ms, &response),
            (State::Sending, Input::TransportFailed(error)) => {
                self.transient(now_ms, AuthError::Transport(error), None)
            }
            (State::Backoff, Input::Timer)
                if self.outbox.deadline().is_some_and(|at| now_ms >= at) =>
            {
                self.send()
            }
            // Anything else is spurious or late: the same wait again (still in the future).
            _ => self.outbox.rearm(),
        }
    }

    fn poll_output(&mut self) -> Output<RefreshOutcome> {
        self.outbox.poll()
    }
}

impl crate::machine::FromConfig for Refresh {
    type Config = RefreshConfig;

    fn from_config(config: RefreshConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(expires_at_ms: Option<u64>, refresh_at_ms: Option<u64>) -> TokenSet {
        TokenSet {
            access_token: Secret::new("at_old"),
            token_type: "Bearer".into(),
            refresh_token: Some(Secret::new("rt_old")),
            id_token: Some(Secret::new("id_old")),
            scope: Some("openid".into()),
            expires_at_ms,
            refresh_at_ms,
            issued_at_ms: None,
        }
    }

    fn config(t: TokenSet) -> RefreshConfig {
        RefreshConfig {
            endpoints: Endpoints {
                token_endpoint: Some("https://idp.example/token".parse().unwrap()),
                ..Endpoints::default()
            },
            client: Client {
                client_id: "cli".into(),
                client_secret: None,
                scopes: vec![],
            },
            tokens: t,
            skew_s: 60,
            max_retries: 3,
            force: false,
        }
    }

    #[test]
    fn needs_refresh_by_skew_hint_and_never_without_expiry() {
        let t = tokens(Some(100_000), None);
        assert!(!needs_refresh(&t, 39_999, 60));
        assert!(needs_refresh(&t, 40_000, 60));
        assert!(needs_refresh(&t, 200_000, 60));
        assert!(!needs_refresh(&t, 99_999, 0));
        assert!(needs_refresh(
            &tokens(Some(100_000), Some(10_000)),
            10_000,
            60
        ));
        assert!(!needs_refresh(
            &tokens(Some(100_000), Some(10_000)),
            9_999,
            60
        ));
        assert!(!needs_refresh(&tokens(None, None), u64::MAX, u64::MAX));
        assert!(needs_refresh(&tokens(Some(5), None), 0, u64::MAX));
    }

    #[test]
    fn margin_is_capped_at_half_the_lifetime() {
        let issued = |at: u64, expires: u64| TokenSet {
            issued_at_ms: Some(at),
            ..tokens(Some(expires), None)
        };
        // Issue 16 item 12: a just-issued 3 s token is fresh for its first half, then due.
        let short = issued(10_000, 13_000);
        assert!(!needs_refresh(&short, 10_000, 60));
        assert!(!needs_refresh(&short, 11_499, 60));
        assert!(needs_refresh(&short, 11_500, 60));
        // A long-lived token keeps the full margin.
        let hour = issued(0, 3_600_000);
        assert!(!needs_refresh(&hour, 3_539_999, 60));
        assert!(needs_refresh(&hour, 3_540_000, 60));
        // Without an issue time (an older record) the full margin applies, as before.
        assert!(needs_refresh(&tokens(Some(13_000), None), 10_000, 60));
        // An issue time after the expiry (a damaged record) is no lifetime: the full margin applies.
        assert!(needs_refresh(&issued(20_000, 13_000), 10_000, 60));
        assert!(needs_refresh(&issued(0, u64::MAX), u64::MAX - 1, u64::MAX));
    }

    #[test]
    fn backoff_doubles_caps_and_honours_retry_after() {
        assert_eq!(retry_delay_ms(0, None), Some(1000));
        assert_eq!(retry_delay_ms(1, None), Some(2000));
        assert_eq!(retry_delay_ms(2, None), Some(4000));
        assert_eq!(retry_delay_ms(9, None), Some(MAX_BACKOFF_S * 1000));
        assert_eq!(retry_delay_ms(200, None), Some(MAX_BACKOFF_S * 1000));
        assert_eq!(retry_delay_ms(0, Some(7)), Some(7000));
        assert_eq!(retry_delay_ms(3, Some(2)), Some(8000));
        assert_eq!(retry_delay_ms(0, Some(MAX_RETRY_AFTER_S)), Some(60_000));
        assert_eq!(retry_delay_ms(0, Some(MAX_RETRY_AFTER_S + 1)), None);
    }

    #[test]
    fn request_has_grant_token_client_and_scope_only_when_configured() {
        let mut client = Client {
            client_id: "cli".into(),
            client_secret: Some(Secret::new("cs")),
            scopes: vec![],
        };
        let r = refresh_request(
            Url::parse("https://idp.example/token").unwrap(),
            &client,
            &Secret::new("rt"),
        );
        assert_eq!(
            r.encoded_form().unwrap(),
            "grant_type=refresh_token&refresh_token=rt&client_id=cli&client_secret=cs"
        );
        client.scopes = vec!["openid".into(), "offline_access".into()];
        let r = refresh_request(
            Url::parse("https://idp.example/token").unwrap(),
            &client,
            &Secret::new("rt"),
        );
        assert!(
            r.encoded_form()
                .unwrap()
                .ends_with("&scope=openid+offline_access")
        );
    }

    #[test]
    fn merge_keeps_old_refresh_and_id_token_unless_rotated() {
        let old = tokens(Some(1), None);
        let new = TokenSet {
            access_token: Secret::new("at_new"),
            token_type: "Bearer".into(),
            refresh_token: None,
            id_token: None,
            scope: None,
            expires_at_ms: Some(9),
            refresh_at_ms: None,
            issued_at_ms: None,
        };
        let merged = merge_tokens(&old, new.clone());
        assert_eq!(merged.access_token, Secret::new("at_new"));
        assert_eq!(merged.refresh_token, Some(Secret::new("rt_old")));
        assert_eq!(merged.id_token, Some(Secret::new("id_old")));
        assert_eq!(merged.expires_at_ms, Some(9));
        let rotated = TokenSet {
            refresh_token: Some(Secret::new("rt_new")),
            ..new
        };
        assert_eq!(
            merge_tokens(&old, rotated).refresh_token,
            Some(Secret::new("rt_new"))
        );
    }

    #[test]
    fn classify_maps_statuses() {
        let old = tokens(Some(1), None);
        let ok = HttpResponse::new(200, r#"{"access_token":"n","expires_in":60}"#);
        assert!(matches!(
            classify_refresh_response(&old, &ok, 0),
            RefreshStep::Refreshed(_)
        ));
        let bad = HttpResponse::new(400, r#"{"error":"invalid_grant"}"#);
        assert!(matches!(
            classify_refresh_response(&old, &bad, 0),
            RefreshStep::Rejected(AuthError::ReloginRequired { .. })
        ));
        let other = HttpResponse::new(401, r#"{"error":"invalid_client"}"#);
        assert!(matches!(
            classify_refresh_response(&old, &other, 0),
            RefreshStep::Failed(AuthError::Provider { .. })
        ));
        let mut busy = HttpResponse::new(503, "<html>");
        busy.headers.push(("retry-after".into(), "5".into()));
        assert_eq!(
            classify_refresh_response(&old, &busy, 0),
            RefreshStep::Transient(AuthError::Unavailable { status: Some(503) }, Some(5))
        );
        let garbage = HttpResponse::new(200, "not json");
        assert!(matches!(
            classify_refresh_response(&old, &garbage, 0),
            RefreshStep::Failed(AuthError::Malformed { .. })
        ));
    }

    #[test]
    fn config_error_comes_after_start() {
        let mut c = config(tokens(Some(1), None));
        c.endpoints.token_endpoint = Some("http://idp.example/token".parse().unwrap());
        let mut m = Refresh::new(c, 10);
        assert_eq!(m.poll_output(), Output::Wait { until_ms: None });
        m.handle_input(10, Input::Start);
        assert!(matches!(
            m.poll_output(),
            Output::Done(Err(AuthError::InsecureEndpoint { .. }))
        ));
    }

    #[test]
    fn early_timer_repeats_the_wait_and_late_inputs_are_ignored() {
        let mut m = Refresh::new(config(tokens(Some(1), None)), 10);
        m.handle_input(10, Input::Start);
        assert!(matches!(m.poll_output(), Output::Send(_)));
        assert_eq!(m.poll_output(), Output::Wait { until_ms: None });
        m.handle_input(10, Input::Timer);
        assert_eq!(m.poll_output(), Output::Wait { until_ms: None });
        let backoff = Output::Wait {
            until_ms: Some(1020),
        };
        m.handle_input(20, Input::Response(HttpResponse::new(502, "")));
        assert_eq!(m.poll_output(), backoff);
        m.handle_input(5, Input::Timer);
        assert_eq!(m.poll_output(), backoff);
        m.handle_input(30, Input::Response(HttpResponse::new(200, "{}")));
        assert_eq!(m.poll_output(), backoff);
        m.handle_input(1020, Input::Timer);
        assert!(matches!(m.poll_output(), Output::Send(_)));
        m.handle_input(1030, Input::Start);
        assert_eq!(m.poll_output(), Output::Wait { until_ms: None });
    }

    machine_guard_tests!(Refresh, 1280);
}
