//! Set key: replace only the API key of a named account (validated first when the remote has a
//! key check); its OAuth tokens stay
//!
//! An API-key login ([`LoginApiKey`]) whose account is given rather than named by the check.
use serde::Deserialize;

use crate::machine::{FromConfig, Input, Machine, Output};
use crate::secret::Secret;

use super::login_api_key::{LoginApiKey, LoginApiKeyConfig};
use super::login_outcome::LoginOutcome;
use super::remote::RemoteSpec;

/// What a [`SetKey`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SetKeyConfig {
    /// The remote the key is for
    pub remote: RemoteSpec,
    /// The account whose key is replaced
    pub account: String,
    /// The new key
    pub key: Secret,
}

/// The set-key operation; see the module documentation
#[derive(Debug)]
pub struct SetKey(LoginApiKey);

impl SetKey {
    /// Builds the operation; problems come out as `Done(Err(..))` after `Start`
    pub fn new(config: SetKeyConfig, now_ms: u64) -> Self {
        let SetKeyConfig {
            remote,
            account,
            key,
        } = config;
        let config = LoginApiKeyConfig {
            remote,
            account: Some(account),
            key,
        };
        Self(LoginApiKey::new(config, now_ms))
    }
}

impl Machine for SetKey {
    type Value = LoginOutcome;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        self.0.handle_input(now_ms, input);
    }

    fn poll_output(&mut self) -> Output<LoginOutcome> {
        self.0.poll_output()
    }
}

impl FromConfig for SetKey {
    type Config = SetKeyConfig;

    fn from_config(config: SetKeyConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    machine_guard_tests!(SetKey, 1984);
}
