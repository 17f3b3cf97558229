//! Login browser: authorization code with PKCE (RFC 7636/8252) from the remote's endpoints to the
//! stored tokens
//!
//! [`ResolveEndpoints`], then [`BrowserLogin`] (it asks for `OpenBrowser` and waits for the
//! loopback `Callback`), then [`SaveTokens`], each as a sub-machine. The host binds its loopback
//! listener on 127.0.0.1 first and passes the port; the random bytes come in at construction.
use serde::Deserialize;

use crate::browser::{BrowserLogin, BrowserLoginConfig};
use crate::machine::{FromConfig, Input, Machine, Output};
use crate::oauth::Endpoints;
use crate::outbox::Outbox;

use super::endpoints::ResolveEndpoints;
use super::login_outcome::LoginOutcome;
use super::remote::RemoteSpec;
use super::save_tokens::SaveTokens;

/// What a [`LoginBrowser`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LoginBrowserConfig {
    /// The remote to log in to
    pub remote: RemoteSpec,
    /// The account to store under when the identity names none
    #[serde(default)]
    pub account_hint: Option<String>,
    /// The port the host's loopback listener is bound to
    pub port: u16,
    /// Seconds to wait for the callback
    #[serde(default = "crate::browser::default_timeout_s")]
    pub timeout_s: u64,
}

/// Random bytes kept until the browser login is built: they become the PKCE verifier and the
/// state, so `Debug` shows their number only
struct RandomBytes(Vec<u8>);

impl core::fmt::Debug for RandomBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RandomBytes([{} redacted])", self.0.len())
    }
}

// One phase value per operation, held while it runs: the inline `Endpoints` (six `Url`s) is
// cheaper than another allocation per login.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Phase {
    Idle,
    Resolving(Box<ResolveEndpoints>),
    Authorizing {
        endpoints: Endpoints,
        login: Box<BrowserLogin>,
    },
    Saving(Box<SaveTokens>),
    Done,
}

/// The browser-login operation; see the module documentation
#[derive(Debug)]
pub struct LoginBrowser {
    config: LoginBrowserConfig,
    random: RandomBytes,
    phase: Phase,
    outbox: Outbox<LoginOutcome>,
}

impl LoginBrowser {
    /// Builds the operation; `random` holds at least [`crate::browser::RANDOM_BYTES`] bytes from a
    /// CSPRNG. Problems come out as `Done(Err(..))` after `Start`
    pub fn new(config: LoginBrowserConfig, now_ms: u64, random: &[u8]) -> Self {
        Self {
            config,
            random: RandomBytes(random.to_vec()),
            phase: Phase::Idle,
            outbox: Outbox::new(now_ms),
        }
    }

    fn pump(&mut self, now_ms: u64, input: Input) {
        let outbox = &mut self.outbox;
        let next = match &mut self.phase {
            Phase::Resolving(resolve) => match outbox.forward(resolve.as_mut(), now_ms, input) {
                None => return,
                Some(Err(e)) => Err(e),
                Some(Ok(endpoints)) => {
                    let config = BrowserLoginConfig {
                        endpoints: endpoints.clone(),
                        client: self.config.remote.client.clone(),
                        redirect_port: self.config.port,
                        timeout_s: self.config.timeout_s,
                    };
                    let random = core::mem::take(&mut self.random.0);
                    Ok(Phase::Authorizing {
                        endpoints,
                        login: Box::new(BrowserLogin::new(config, now_ms, &random)),
                    })
                }
            },
            Phase::Authorizing { endpoints, login } => {
                match outbox.forward(login.as_mut(), now_ms, input) {
                    None => return,
                    Some(Err(e)) => Err(e),
                    Some(Ok(tokens)) => Ok(Phase::Saving(Box::new(SaveTokens::new(
                        self.config.remote.name.clone(),
                        core::mem::take(endpoints),
                        tokens,
                        self.config.account_hint.clone(),
                        self.config.remote.account_label.clone(),
                        now_ms,
                    )))),
                }
            }
            Phase::Saving(save) => match outbox.forward(save.as_mut(), now_ms, input) {
                None => return,
                Some(result) => {
                    self.phase = Phase::Done;
                    return self.outbox.finish(result);
                }
            },
            Phase::Idle | Phase::Done => return,
        };
        match next {
            Ok(phase) => {
                self.phase = phase;
                self.pump(now_ms, Input::Start);
            }
            Err(e) => {
                self.phase = Phase::Done;
                self.outbox.finish(Err(e));
            }
        }
    }
}

impl Machine for LoginBrowser {
    type Value = LoginOutcome;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now_ms = self.outbox.observe(now_ms);
        match (&self.phase, input) {
            (Phase::Idle, Input::Start) => {
                let resolve = ResolveEndpoints::new(self.config.remote.clone(), now_ms);
                self.phase = Phase::Resolving(Box::new(resolve));
                self.pump(now_ms, Input::Start);
            }
            (Phase::Idle | Phase::Done, _) => self.outbox.rearm(),
            (_, input) => self.pump(now_ms, input),
        }
    }

    fn poll_output(&mut self) -> Output<LoginOutcome> {
        self.outbox.poll()
    }
}

impl FromConfig for LoginBrowser {
    type Config = LoginBrowserConfig;

    fn from_config(config: LoginBrowserConfig, now_ms: u64, random: &[u8]) -> Self {
        Self::new(config, now_ms, random)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    machine_guard_tests!(LoginBrowser, 2560);
}
