//! Test: check a credential against the remote's key-check endpoint (or another URL)
//!
//! Without a key given, the credential is resolved as `token` does ([`Credential`] as a
//! sub-machine, refreshing when needed), then checked with [`KeyCheck`]. A failure of the check
//! keeps its URL, HTTP status and timing: [`TestCredential::failure`] reads them after `Done`.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use crate::credential::{AuthType, Credential};
use crate::error::AuthError;
use crate::key_check::{KeyCheck, KeyCheckConfig, KeyCheckMethod, KeyCheckSpec};
use crate::machine::{FromConfig, Input, Machine, Output, WireValue};
use crate::outbox::Outbox;
use crate::secret::Secret;

use super::remote::{
    BEARER_HEADER, BEARER_SCHEME, CredentialOptions, RemoteSpec, credential_config,
};

/// Which credential `test` checks
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestMethod {
    /// The credential `token` would use
    #[default]
    Auto,
    /// The API key (given, from the environment, or stored)
    ApiKey,
    /// The OAuth access token (refreshed if needed)
    Oauth,
}

/// What `test` checks, and against what
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TestOptions {
    /// Which credential
    #[serde(default)]
    pub method: TestMethod,
    /// Another URL than the key-check spec's
    #[serde(default, deserialize_with = "crate::endpoint::url_field::optional")]
    pub url: Option<Url>,
    /// A key to test instead of the stored one
    #[serde(default)]
    pub key: Option<Secret>,
    /// Preference and environment key, as for `token`
    #[serde(default)]
    pub credential: CredentialOptions,
}

/// The result of a successful `test`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    /// The URL called
    pub url: Url,
    /// The HTTP status (2xx)
    pub status: u16,
    /// How long the request took
    pub elapsed_ms: u64,
    /// Identity fields picked from the response
    pub identity: BTreeMap<String, String>,
    /// The credential tested
    pub auth_type: AuthType,
}

impl WireValue for TestReport {
    fn to_wire(&self) -> Value {
        json!({
            "url": self.url.as_str(),
            "status": self.status,
            "elapsed_ms": self.elapsed_ms,
            "identity": self.identity,
            "auth_type": self.auth_type.as_str(),
        })
    }
}

/// Why `test` failed, with what is known of the check request (for `--verbose` and `--json`)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    /// What went wrong
    pub error: AuthError,
    /// The URL of the check, once the failure came from the check rather than before it
    pub url: Option<Url>,
    /// The HTTP status, when a response arrived (401, 403, 503, …)
    pub status: Option<u16>,
    /// Milliseconds from the request to its answer or to the transport failure, when one was sent
    pub elapsed_ms: Option<u64>,
}

impl From<AuthError> for TestFailure {
    /// A failure before any check request was made (no credential, a bad configuration)
    fn from(error: AuthError) -> Self {
        Self {
            error,
            url: None,
            status: None,
            elapsed_ms: None,
        }
    }
}

impl From<TestFailure> for AuthError {
    fn from(failure: TestFailure) -> Self {
        failure.error
    }
}

/// What a [`TestCredential`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TestConfig {
    /// The remote
    pub remote: RemoteSpec,
    /// The account whose credential is checked (unless `options.key` gives one)
    pub account: String,
    /// What to check, and against what
    #[serde(default)]
    pub options: TestOptions,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            method: TestMethod::Auto,
            url: None,
            key: None,
            credential: CredentialOptions::default(),
        }
    }
}

#[derive(Debug)]
enum Phase {
    Idle,
    /// Resolving the stored credential, preferring `prefer`
    Resolving {
        prefer: AuthType,
        credential: Box<Credential>,
    },
    Checking {
        auth_type: AuthType,
        check: Box<KeyCheck>,
    },
    Done,
}

/// The test operation; see the module documentation
#[derive(Debug)]
pub struct TestCredential {
    config: TestConfig,
    phase: Phase,
    /// The check's URL, once it is made
    url: Option<Url>,
    /// The status of the check's response, once one arrived
    status: Option<u16>,
    /// The check's timing, once it finished
    elapsed_ms: Option<u64>,
    outbox: Outbox<TestReport>,
}

impl TestCredential {
    /// Builds the operation; problems come out as `Done(Err(..))` after `Start`
    pub fn new(config: TestConfig, now_ms: u64) -> Self {
        Self {
            config,
            phase: Phase::Idle,
            url: None,
            status: None,
            elapsed_ms: None,
            outbox: Outbox::new(now_ms),
        }
    }

    /// The failure `error` (the `Done` error) with what is known of the check request
    pub fn failure(&self, error: AuthError) -> TestFailure {
        TestFailure {
            error,
            url: self.url.clone(),
            status: self.status,
            elapsed_ms: self.elapsed_ms,
        }
    }

    fn fail(&mut self, error: AuthError) {
        self.phase = Phase::Done;
        self.outbox.finish(Err(error));
    }

    fn start(&mut self, now_ms: u64) {
        let options = &self.config.options;
        if let Some(key) = options.key.clone() {
            return self.check(now_ms, key, AuthType::ApiKey);
        }
        let mut credential = options.credential.clone();
        match options.method {
            TestMethod::ApiKey => credential.prefer = AuthType::ApiKey,
            TestMethod::Oauth => {
                credential.prefer = AuthType::Oauth;
                credential.env_api_key = None;
            }
            TestMethod::Auto => {}
        }
        let config = credential_config(&self.config.remote, &self.config.account, &credential);
        self.phase = Phase::Resolving {
            prefer: credential.prefer,
            credential: Box::new(Credential::new(config, now_ms)),
        };
        self.pump(now_ms, Input::Start);
    }

    /// Checks `key` with the remote's key check (or the given URL)
    fn check(&mut self, now_ms: u64, key: Secret, auth_type: AuthType) {
        let remote = &self.config.remote;
        let url = &self.config.options.url;
        let mut spec = match (&remote.key_check, url) {
            (Some(spec), _) => spec.clone(),
            (None, Some(url)) => KeyCheckSpec {
                method: KeyCheckMethod::Get,
                url: url.clone(),
                header: BEARER_HEADER.into(),
                scheme: BEARER_SCHEME.into(),
                identity: BTreeMap::new(),
            },
            (None, None) => {
                let detail = format!(
                    "remote `{}` has no key check URL; give one for this check or configure one for the remote",
                    remote.name
                );
                return self.fail(AuthError::Config { detail });
            }
        };
        if let Some(url) = url {
            spec.url = url.clone();
        }
        if auth_type == AuthType::Oauth {
            // An access token is always a bearer token, whatever the API key's scheme is.
            spec.header = BEARER_HEADER.into();
            spec.scheme = BEARER_SCHEME.into();
        }
        self.url = Some(spec.url.clone());
        let check = KeyCheck::new(KeyCheckConfig { spec, key }, now_ms);
        self.phase = Phase::Checking {
            auth_type,
            check: Box::new(check),
        };
        self.pump(now_ms, Input::Start);
    }

    fn pump(&mut self, now_ms: u64, input: Input) {
        match &mut self.phase {
            Phase::Resolving { prefer, credential } => {
                let prefer = *prefer;
                match self.outbox.forward(credential.as_mut(), now_ms, input) {
                    None => {}
                    Some(Err(e)) => self.fail(e),
                    Some(Ok(resolved)) => {
                        let method = self.config.options.method;
                        if method != TestMethod::Auto && resolved.kind != prefer {
                            return self.fail(AuthError::NotLoggedIn);
                        }
                        self.check(now_ms, resolved.secret, resolved.kind);
                    }
                }
            }
            Phase::Checking { auth_type, check } => {
                if let Input::Response(response) = &input {
                    self.status = Some(response.status);
                }
                let auth_type = *auth_type;
                let Some(result) = self.outbox.forward(check.as_mut(), now_ms, input) else {
                    return;
                };
                self.elapsed_ms = check.elapsed_ms();
                self.phase = Phase::Done;
                // The URL is set when the check is built, before it can finish.
                let Some(url) = self.url.clone() else {
                    return self.outbox.finish(Err(AuthError::Config {
                        detail: "internal: the key check finished before it was made (a keyhole bug; please report it)".into(),
                    }));
                };
                self.outbox.finish(result.map(|report| TestReport {
                    url,
                    status: report.status,
                    elapsed_ms: report.elapsed_ms,
                    identity: report.identity,
                    auth_type,
                }));
            }
            Phase::Idle | Phase::Done => {}
        }
    }
}

impl Machine for TestCredential {
    type Value = TestReport;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now_ms = self.outbox.observe(now_ms);
        match (&self.phase, input) {
            (Phase::Idle, Input::Start) => self.start(now_ms),
            (Phase::Idle | Phase::Done, _) => self.outbox.rearm(),
            (_, input) => self.pump(now_ms, input),
        }
    }

    fn poll_output(&mut self) -> Output<TestReport> {
        self.outbox.poll()
    }
}

impl FromConfig for TestCredential {
    type Config = TestConfig;

    fn from_config(config: TestConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    machine_guard_tests!(TestCredential, 1664);
}
