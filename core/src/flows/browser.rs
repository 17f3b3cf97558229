//! Browser login: the authorization code grant with PKCE and a loopback redirect
//!
//! [RFC 6749 §4.1](https://www.rfc-editor.org/rfc/rfc6749#section-4.1) with
//! [RFC 7636](https://www.rfc-editor.org/rfc/rfc7636) (S256 only) and the loopback redirect of
//! [RFC 8252 §7.3](https://www.rfc-editor.org/rfc/rfc8252#section-7.3). `Start` opens the
//! authorization URL; the host listens on `127.0.0.1:{redirect_port}` and feeds each request
//! target it sees as a `Callback`, holding the request open; the machine answers each with an
//! `AnswerCallback` verdict. A request that is not this login's redirect (another path, a missing
//! or wrong `state`) is rejected and the login keeps waiting, so another local process cannot end
//! it; the code in the right one is exchanged for tokens.
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::error::AuthError;
use crate::http::{DEFAULT_MAX_RESPONSE_BYTES, HttpRequest, HttpResponse, Param};
use crate::machine::{CallbackVerdict, Input, Machine, Output};
use crate::oauth::{Client, Endpoints, TokenReply, TokenSet, read_token_response};
use crate::outbox::Outbox;
use crate::secret::{Secret, constant_time_eq};
use url::Url;

/// Random bytes the constructor needs: [`VERIFIER_BYTES`] for the PKCE verifier, then
/// [`STATE_BYTES`] for `state`
pub const RANDOM_BYTES: usize = VERIFIER_BYTES + STATE_BYTES;
/// Entropy of the PKCE code verifier: 32 bytes give the 43-character verifier RFC 7636 §4.1
/// recommends
pub const VERIFIER_BYTES: usize = 32;
/// Entropy of `state`: 128 bits
pub const STATE_BYTES: usize = 16;
/// How long to wait for the callback when the config does not say (five minutes)
pub const DEFAULT_TIMEOUT_S: u64 = 300;
/// The longest callback wait a config may ask for (one hour)
pub const MAX_TIMEOUT_S: u64 = 3600;
/// The loopback redirect path
pub const CALLBACK_PATH: &str = "/callback";

/// What [`BrowserLogin`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BrowserLoginConfig {
    /// Needs `authorization_endpoint` and `token_endpoint`; `issuer`, when set, is checked
    /// against a callback's `iss` ([RFC 9207](https://www.rfc-editor.org/rfc/rfc9207))
    pub endpoints: Endpoints,
    /// The client id (and secret, for confidential clients) and the scopes to ask for
    pub client: Client,
    /// The port the host's loopback listener is bound to (not 0: bind first, then build)
    pub redirect_port: u16,
    /// Seconds to wait for the callback, 1 to [`MAX_TIMEOUT_S`] (default [`DEFAULT_TIMEOUT_S`])
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
}

pub(crate) fn default_timeout_s() -> u64 {
    DEFAULT_TIMEOUT_S
}

/// Where the login is
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before `Start`
    Idle,
    /// The browser was opened; waiting for the callback until the deadline
    AwaitingCallback,
    /// The code exchange request is out
    Exchanging,
}

/// What a callback request target said
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallbackResult {
    /// Not the redirect path (a favicon, a probe): ignore it
    NotOurs,
    /// The redirect path without this login's `state` (a stale tab, another program): ignore it
    WrongState,
    /// The authorization code to exchange
    Code(Secret),
    /// The login is over
    Fail(AuthError),
}

/// Logs in through the user's browser
#[derive(Debug)]
pub struct BrowserLogin {
    config: BrowserLoginConfig,
    phase: Phase,
    /// Fewer random bytes than [`RANDOM_BYTES`] were given (reported after `Start`)
    random_len: usize,
    verifier: Secret,
    state: Secret,
    deadline_ms: u64,
    /// A request to the redirect path came with a missing or wrong `state`: if the deadline
    /// passes, that (`state_mismatch`) says more than `callback_timeout`
    saw_wrong_state: bool,
    token_url: String,
    out: Outbox<TokenSet>,
}

impl BrowserLogin {
    /// A browser login; `random` must hold at least [`RANDOM_BYTES`] bytes from a CSPRNG, and
    /// problems with it or the config come out after `Start`
    pub fn new(config: BrowserLoginConfig, now_ms: u64, random: &[u8]) -> Self {
        let (verifier, state) = match (
            random.get(..VERIFIER_BYTES),
            random.get(VERIFIER_BYTES..RANDOM_BYTES),
        ) {
            (Some(v), Some(s)) => (pkce_verifier(v), Secret::new(URL_SAFE_NO_PAD.encode(s))),
            _ => (Secret::default(), Secret::default()),
        };
        Self {
            config,
            phase: Phase::Idle,
            random_len: random.len(),
            verifier,
            state,
            deadline_ms: 0,
            saw_wrong_state: false,
            token_url: String::new(),
            out: Outbox::new(now_ms),
        }
    }

    fn redirect_uri(&self) -> String {
        redirect_uri(self.config.redirect_port)
    }

    fn start(&mut self) {
        match self.prepare() {
            Ok(url) => {
                self.phase = Phase::AwaitingCallback;
                self.deadline_ms = self
                    .out
                    .now_ms()
                    .saturating_add(self.config.timeout_s.saturating_mul(1000));
                self.out.notify(Output::OpenBrowser(url));
                self.out.wait_until(self.deadline_ms);
            }
            Err(error) => self.out.finish(Err(error)),
        }
    }

    /// Checks the config and the entropy, and builds the authorization URL
    fn prepare(&mut self) -> Result<String, AuthError> {
        if self.random_len < RANDOM_BYTES {
            return Err(AuthError::Config {
                detail: format!(
                    "browser login needs {RANDOM_BYTES} random bytes, got {}; the host must pass them from a CSPRNG",
                    self.random_len
                ),
            });
        }
        if self.config.redirect_port == 0 {
            return Err(AuthError::Config {
                detail: "redirect_port is 0; bind the loopback listener first and pass its port"
                    .into(),
            });
        }
        if !(1..=MAX_TIMEOUT_S).contains(&self.config.timeout_s) {
            return Err(AuthError::Config {
                detail: format!("timeout_s must be from 1 to {MAX_TIMEOUT_S} seconds"),
            });
        }
        let authorize = self.config.endpoints.require("authorization_endpoint")?;
        self.token_url = self.config.endpoints.require("token_endpoint")?.into();
        Ok(authorization_url(
            &authorize,
            &self.config.client,
            &self.redirect_uri(),
            &self.state,
            &pkce_challenge(&self.verifier),
        ))
    }

    /// Ends the wait at the deadline
    fn time_out(&mut self) {
        self.out.finish(Err(if self.saw_wrong_state {
            AuthError::StateMismatch
        } else {
            AuthError::CallbackTimeout
        }));
    }

    fn answer(&mut self, verdict: CallbackVerdict) {
        self.out.notify(Output::AnswerCallback(verdict));
    }

    fn on_callback(&mut self, target: &str) {
        if self.out.now_ms() >= self.deadline_ms {
            self.answer(CallbackVerdict::Failed);
            return self.time_out();
        }
        let endpoints = &self.config.endpoints;
        let issuer = Issuer {
            expected: endpoints.issuer.as_deref(),
            required: endpoints.authorization_response_iss_parameter_supported,
        };
        match read_callback(target, &self.state, issuer) {
            CallbackResult::NotOurs => {
                self.answer(CallbackVerdict::Rejected);
                self.out.rearm();
            }
            CallbackResult::WrongState => {
                self.saw_wrong_state = true;
                self.answer(CallbackVerdict::Rejected);
                self.out.rearm();
            }
            CallbackResult::Fail(error) => {
                self.answer(CallbackVerdict::Failed);
                self.out.finish(Err(error));
            }
            CallbackResult::Code(code) => {
                self.answer(CallbackVerdict::Accepted);
                self.phase = Phase::Exchanging;
                let form = code_exchange_form(
                    &self.config.client,
                    code,
                    &self.redirect_uri(),
                    &self.verifier,
                );
                self.out
                    .send(HttpRequest::post_form(self.token_url.as_str(), form));
            }
        }
    }

    fn on_token_response(&mut self, response: &HttpResponse) {
        let now = self.out.now_ms();
        self.out.finish(
            match read_token_response(response, now, DEFAULT_MAX_RESPONSE_BYTES) {
                Ok(TokenReply::Tokens(tokens)) => Ok(tokens),
                Ok(TokenReply::Refused(refusal)) if refusal.error == "access_denied" => {
                    Err(AuthError::Denied)
                }
                Ok(TokenReply::Refused(refusal)) => Err(refusal.into_error()),
                Err(error) => Err(error),
            },
        );
    }
}

impl Machine for BrowserLogin {
    type Value = TokenSet;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now = self.out.observe(now_ms);
        if self.out.is_done() {
            return;
        }
        match (self.phase, input) {
            (Phase::Idle, Input::Start) => self.start(),
            (Phase::AwaitingCallback, Input::Callback(target)) => self.on_callback(&target),
            (Phase::AwaitingCallback, Input::Timer) if now >= self.deadline_ms => self.time_out(),
            (Phase::Exchanging, Input::Response(response)) => self.on_token_response(&response),
            (Phase::Exchanging, Input::TransportFailed(error)) => {
                self.out.finish(Err(AuthError::Transport(error)))
            }
            // A callback before Start or during the exchange is not one this login waits for.
            (_, Input::Callback(_)) => {
                self.answer(CallbackVerdict::Rejected);
                self.out.rearm();
            }
            // A second Start, an early Timer, a stray Response, a Stored.
            _ => self.out.rearm(),
        }
    }

    fn poll_output(&mut self) -> Output<TokenSet> {
        self.out.poll()
    }
}

/// The loopback redirect URI: the IP literal, not `localhost`
/// ([RFC 8252 §7.3](https://www.rfc-editor.org/rfc/rfc8252#section-7.3), §8.3)
pub(crate) fn redirect_uri(port: u16) -> String {
    format!("http://127.0.0.1:{port}{CALLBACK_PATH}")
}

/// The PKCE code verifier: base64url of the random bytes, no padding
/// ([RFC 7636 §4.1](https://www.rfc-editor.org/rfc/rfc7636#section-4.1))
pub(crate) fn pkce_verifier(random: &[u8]) -> Secret {
    Secret::new(URL_SAFE_NO_PAD.encode(random))
}

/// The S256 code challenge: `BASE64URL(SHA256(ASCII(code_verifier)))`
/// ([RFC 7636 §4.2](https://www.rfc-editor.org/rfc/rfc7636#section-4.2))
pub(crate) fn pkce_challenge(verifier: &Secret) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()))
}

/// The authorization request URL, keeping any query the endpoint already has
/// ([RFC 6749 §4.1.1](https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1),
/// [RFC 7636 §4.3](https://www.rfc-editor.org/rfc/rfc7636#section-4.3))
///
/// The URL carries `state`; it goes to the user's own browser, where the provider will echo it.
pub(crate) fn authorization_url(
    endpoint: &Url,
    client: &Client,
    redirect_uri: &str,
    state: &Secret,
    challenge: &str,
) -> String {
    let scope = client.scope_param();
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(scope) = &scope {
        pairs.push(("scope", scope));
    }
    pairs.extend([
        ("state", state.expose()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]);
    let mut url = endpoint.clone();
    url.query_pairs_mut().extend_pairs(pairs);
    url.into()
}

/// What the callback's `iss` is checked against
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Issuer<'a> {
    /// The issuer identifier, when known
    pub(crate) expected: Option<&'a str>,
    /// The provider advertises `authorization_response_iss_parameter_supported`: `iss` must be there
    pub(crate) required: bool,
}

/// Reads the redirect's request target ([RFC 6749 §4.1.2](https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2), §4.1.2.1)
///
/// Another path is not ours, and neither is the redirect path without the right `state`
/// (constant-time compare): both leave the login waiting. Then, in order: `iss` must be
/// there when the provider advertises it and must match the known issuer when both are present
/// ([RFC 9207 §2.4](https://www.rfc-editor.org/rfc/rfc9207#section-2.4), for error responses too),
/// `error=access_denied` is `Denied` and any other `error` is `Provider`, and a `code` must be there.
pub(crate) fn read_callback(target: &str, state: &Secret, issuer: Issuer<'_>) -> CallbackResult {
    // Origin-form only (`/path?query`): `//host/…` and absolute URLs are not a request to us.
    let base = Url::parse("http://127.0.0.1/").expect("a valid base URL");
    let url = match base.join(target) {
        Ok(url) if target.starts_with('/') && !target.starts_with("//") => url,
        _ => return CallbackResult::NotOurs,
    };
    if url.path() != CALLBACK_PATH {
        return CallbackResult::NotOurs;
    }
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let echoed = param("state").unwrap_or_default();
    if !constant_time_eq(echoed.as_bytes(), state.expose().as_bytes()) {
        return CallbackResult::WrongState;
    }
    match (issuer.expected, param("iss")) {
        (Some(expected), Some(iss)) if iss != expected => {
            return CallbackResult::Fail(AuthError::protocol(
                "iss",
                format!(
                    "the callback names issuer `{}`, not `{expected}`",
                    crate::account::clean_text(&iss)
                ),
            ));
        }
        (_, None) if issuer.required => {
            return CallbackResult::Fail(AuthError::protocol(
                "iss",
                "is missing from the callback, though the provider advertises authorization_response_iss_parameter_supported (RFC 9207)",
            ));
        }
        _ => {}
    }
    match param("error") {
        Some(error) if error == "access_denied" => CallbackResult::Fail(AuthError::Denied),
        // Any local process can send this text: it reaches the terminal stripped.
        Some(error) => CallbackResult::Fail(AuthError::Provider {
            code: crate::account::clean_text(&error),
            description: param("error_description").map(|d| crate::account::clean_text(&d)),
        }),
        None => match param("code") {
            Some(code) if !code.is_empty() => CallbackResult::Code(Secret::new(code)),
            _ => CallbackResult::Fail(AuthError::protocol("code", "is missing from the callback")),
        },
    }
}

/// The access token request's form ([RFC 6749 §4.1.3](https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3),
/// [RFC 7636 §4.5](https://www.rfc-editor.org/rfc/rfc7636#section-4.5))
pub(crate) fn code_exchange_form(
    client: &Client,
    code: Secret,
    redirect_uri: &str,
    verifier: &Secret,
) -> Vec<(String, Param)> {
    let mut form = vec![
        ("grant_type".to_owned(), Param::from("authorization_code")),
        ("code".to_owned(), Param::Secret(code)),
        ("redirect_uri".to_owned(), Param::from(redirect_uri)),
    ];
    form.extend(client.auth_params());
    form.push(("code_verifier".to_owned(), Param::Secret(verifier.clone())));
    form
}

impl crate::machine::FromConfig for BrowserLogin {
    type Config = BrowserLoginConfig;

    fn from_config(config: BrowserLoginConfig, now_ms: u64, random: &[u8]) -> Self {
        Self::new(config, now_ms, random)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        let octets = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let verifier = pkce_verifier(&octets);
        assert_eq!(
            verifier.expose(),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
        assert_eq!(verifier.expose().len(), 43);
        assert_eq!(
            pkce_challenge(&verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn authorization_url_keeps_existing_query() {
        let url = authorization_url(
            &Url::parse("https://i.example/authorize?prompt=login").unwrap(),
            &Client {
                client_id: "cli".into(),
                scopes: vec!["openid".into(), "email".into()],
                ..Client::default()
            },
            &redirect_uri(8765),
            &Secret::new("st"),
            "ch",
        );
        assert_eq!(
            url,
            "https://i.example/authorize?prompt=login&response_type=code&client_id=cli&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&scope=openid+email&state=st&code_challenge=ch&code_challenge_method=S256"
        );
    }

    #[test]
    fn callback_rules() {
        let state = Secret::new("st_1");
        let known = Issuer {
            expected: Some("https://i.example"),
            required: false,
        };
        let read = |t: &str| read_callback(t, &state, known);
        assert_eq!(read("/favicon.ico"), CallbackResult::NotOurs);
        assert_eq!(
            read("/callbackx?code=c&state=st_1"),
            CallbackResult::NotOurs
        );
        assert_eq!(
            read("/callback?code=c&state=st_1"),
            CallbackResult::Code(Secret::new("c"))
        );
        assert_eq!(
            read("/callback?code=c&state=st_2"),
            CallbackResult::WrongState
        );
        assert_eq!(read("/callback?code=c"), CallbackResult::WrongState);
        assert_eq!(read("/callback"), CallbackResult::WrongState);
        // The right state on another path is still not the redirect.
        assert_eq!(read("/other?code=c&state=st_1"), CallbackResult::NotOurs);
        assert_eq!(
            read("/callback?error=access_denied&state=st_1"),
            CallbackResult::Fail(AuthError::Denied)
        );
        assert_eq!(
            read("/callback?error=invalid_scope&error_description=bad+scope&state=st_1"),
            CallbackResult::Fail(AuthError::Provider {
                code: "invalid_scope".into(),
                description: Some("bad scope".into())
            })
        );
        // Found by fuzz/ (callback_query, machine_browser_login): control characters from the
        // callback reached the error text.
        assert_eq!(
            read("/callback?error=bad%1B%5D0%3Bx%07&error_description=a%0Db&state=st_1"),
            CallbackResult::Fail(AuthError::Provider {
                code: "bad]0;x".into(),
                description: Some("a b".into())
            })
        );
        assert!(matches!(
            read("/callback?state=st_1"),
            CallbackResult::Fail(AuthError::Protocol { .. })
        ));
        assert!(matches!(
            read("/callback?code=c&state=st_1&iss=https%3A%2F%2Fevil.example"),
            CallbackResult::Fail(AuthError::Protocol { .. })
        ));
        assert_eq!(
            read("/callback?code=c&state=st_1&iss=https%3A%2F%2Fi.example"),
            CallbackResult::Code(Secret::new("c"))
        );
        // Advertised (RFC 9207 §2.4): a missing `iss` fails, on success and error alike; a
        // wrong state still wins, and the right `iss` passes.
        let required = Issuer {
            required: true,
            ..known
        };
        let strict = |t: &str| read_callback(t, &state, required);
        for target in [
            "/callback?code=c&state=st_1",
            "/callback?error=access_denied&state=st_1",
        ] {
            assert!(
                matches!(strict(target), CallbackResult::Fail(AuthError::Protocol { ref field, .. }) if field == "iss"),
                "{target}"
            );
        }
        assert_eq!(
            strict("/callback?code=c&state=st_2"),
            CallbackResult::WrongState
        );
        assert_eq!(
            strict("/callback?code=c&state=st_1&iss=https%3A%2F%2Fi.example"),
            CallbackResult::Code(Secret::new("c"))
        );
        assert_eq!(strict("/favicon.ico"), CallbackResult::NotOurs);
    }

    #[test]
    fn too_few_random_bytes_is_a_config_error() {
        let mut m = BrowserLogin::new(
            BrowserLoginConfig {
                endpoints: Endpoints::default(),
                client: Client::default(),
                redirect_port: 8765,
                timeout_s: DEFAULT_TIMEOUT_S,
            },
            0,
            &[7; 47],
        );
        m.handle_input(0, Input::Start);
        assert!(matches!(
            m.poll_output(),
            Output::Done(Err(AuthError::Config { .. }))
        ));
    }

    #[test]
    fn a_callback_during_the_exchange_is_rejected_and_changes_nothing() {
        let random = [9u8; RANDOM_BYTES];
        let state = URL_SAFE_NO_PAD.encode(&random[VERIFIER_BYTES..]);
        let mut m = BrowserLogin::new(
            BrowserLoginConfig {
                endpoints: Endpoints {
                    authorization_endpoint: Some("https://i.example/authorize".into()),
                    token_endpoint: Some("https://i.example/token".into()),
                    ..Endpoints::default()
                },
                client: Client::default(),
                redirect_port: 8765,
                timeout_s: DEFAULT_TIMEOUT_S,
            },
            0,
            &random,
        );
        let drain = |m: &mut BrowserLogin| {
            let mut outputs = Vec::new();
            loop {
                let output = m.poll_output();
                let last = matches!(output, Output::Wait { .. } | Output::Done(_));
                outputs.push(output);
                if last {
                    return outputs;
                }
            }
        };
        m.handle_input(0, Input::Start);
        let _ = drain(&mut m);
        let real = format!("/callback?code=c&state={state}");
        m.handle_input(1, Input::Callback(real.clone()));
        let outputs = drain(&mut m);
        assert_eq!(
            outputs[0],
            Output::AnswerCallback(CallbackVerdict::Accepted)
        );
        assert!(matches!(outputs[1], Output::Send(_)));
        // The same redirect again (a reload) while the code is being exchanged.
        m.handle_input(2, Input::Callback(real));
        assert_eq!(
            drain(&mut m),
            [
                Output::AnswerCallback(CallbackVerdict::Rejected),
                Output::Wait { until_ms: None }
            ]
        );
    }

    machine_guard_tests!(BrowserLogin, 600);
}
