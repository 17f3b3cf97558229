//! Login device: the device flow (RFC 8628) from the remote's endpoints to the stored tokens
//!
//! [`ResolveEndpoints`], then [`DeviceLogin`] (its prompt comes out as `Show`), then
//! [`SaveTokens`], each as a sub-machine. The account is named after the ID token's identity
//! (or userinfo), else `account_hint`, else `default`; a stored API key stays.
use serde::Deserialize;

use crate::device::{DeviceLogin, DeviceLoginConfig};
use crate::machine::{FromConfig, Input, Machine, Output};
use crate::oauth::Endpoints;
use crate::outbox::Outbox;

use super::endpoints::ResolveEndpoints;
use super::login_outcome::LoginOutcome;
use super::remote::RemoteSpec;
use super::save_tokens::SaveTokens;

/// What a [`LoginDevice`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LoginDeviceConfig {
    /// The remote to log in to
    pub remote: RemoteSpec,
    /// The account to store under when the identity names none
    #[serde(default)]
    pub account_hint: Option<String>,
}

// One phase value per operation, held while it runs: the inline `Endpoints` (six `Url`s) is
// cheaper than another allocation per login.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Phase {
    Idle,
    Resolving(Box<ResolveEndpoints>),
    Polling {
        endpoints: Endpoints,
        login: Box<DeviceLogin>,
    },
    Saving(Box<SaveTokens>),
    Done,
}

/// The device-login operation; see the module documentation
#[derive(Debug)]
pub struct LoginDevice {
    config: LoginDeviceConfig,
    phase: Phase,
    outbox: Outbox<LoginOutcome>,
}

impl LoginDevice {
    /// Builds the operation; problems come out as `Done(Err(..))` after `Start`
    pub fn new(config: LoginDeviceConfig, now_ms: u64) -> Self {
        Self {
            config,
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
                    let config = DeviceLoginConfig {
                        endpoints: endpoints.clone(),
                        client: self.config.remote.client.clone(),
                        max_slow_downs: crate::device::DEFAULT_MAX_SLOW_DOWNS,
                    };
                    Ok(Phase::Polling {
                        endpoints,
                        login: Box::new(DeviceLogin::new(config, now_ms)),
                    })
                }
            },
            Phase::Polling { endpoints, login } => {
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

impl Machine for LoginDevice {
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

impl FromConfig for LoginDevice {
    type Config = LoginDeviceConfig;

    fn from_config(config: LoginDeviceConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    machine_guard_tests!(LoginDevice, 2560);
}
