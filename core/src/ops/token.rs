//! Token: a usable credential for an account, refreshing the OAuth token first when it is
//! (nearly) expired
//!
//! The [`Credential`] machine built from the remote: it locks, re-reads, refreshes as a
//! sub-machine and writes the new tokens with compare-and-swap; a lost race adopts the winner's
//! tokens without a second refresh.
use serde::Deserialize;

use crate::credential::{Credential, ResolvedCredential};
use crate::machine::{FromConfig, Input, Machine, Output};

use super::remote::{CredentialOptions, RemoteSpec, credential_config};

/// What a [`Token`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenConfig {
    /// The remote
    pub remote: RemoteSpec,
    /// The account
    pub account: String,
    /// Preference and environment key
    #[serde(default)]
    pub options: CredentialOptions,
}

/// The token operation; see the module documentation
#[derive(Debug)]
pub struct Token(Credential);

impl Token {
    /// Builds the operation; problems come out as `Done(Err(..))` after `Start`
    pub fn new(config: TokenConfig, now_ms: u64) -> Self {
        let credential = credential_config(&config.remote, &config.account, &config.options);
        Self(Credential::new(credential, now_ms))
    }
}

impl Machine for Token {
    type Value = ResolvedCredential;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        self.0.handle_input(now_ms, input);
    }

    fn poll_output(&mut self) -> Output<ResolvedCredential> {
        self.0.poll_output()
    }
}

impl FromConfig for Token {
    type Config = TokenConfig;

    fn from_config(config: TokenConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    machine_guard_tests!(Token, 1472);
}
