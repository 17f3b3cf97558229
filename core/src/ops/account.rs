//! Account: one call to the remote's account API (`api_url`) with an account's credential,
//! resolved and refreshed as `token` does: who am I, projects, API keys
//!
//! The [`AccountCall`] machine built from the remote. An API key goes in the key check's header
//! and scheme when the remote has a key check (else `authorization: Bearer`); an OAuth token always
//! as `authorization: Bearer`. A remote without an `api_url` ends with a `config` error.
use serde::Deserialize;

use crate::account::{AccountCall, AccountCallConfig, AccountOperation, AccountValue};
use crate::error::AuthError;
use crate::machine::{FromConfig, Input, Machine, Output};
use crate::outbox::Outbox;

use super::remote::{BEARER_HEADER, CredentialOptions, RemoteSpec, credential_config};

/// What an [`Account`] operation needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountConfig {
    /// The remote
    pub remote: RemoteSpec,
    /// The account whose credential is sent
    pub account: String,
    /// Preference and environment key, as for `token`
    #[serde(default)]
    pub options: CredentialOptions,
    /// What to do
    pub operation: AccountOperation,
}

/// The account operation; see the module documentation
#[derive(Debug)]
pub struct Account {
    /// The call, or the reason there is none
    call: Result<Box<AccountCall>, AuthError>,
    outbox: Outbox<AccountValue>,
}

impl Account {
    /// Builds the operation; problems come out as `Done(Err(..))` after `Start`
    pub fn new(config: AccountConfig, now_ms: u64) -> Self {
        let AccountConfig {
            remote,
            account,
            options,
            operation,
        } = config;
        let call = match remote.api_url.clone() {
            None => Err(AuthError::Config {
                detail: format!(
                    "remote `{}` has no account API URL; configure its api_url to use account commands",
                    remote.name
                ),
            }),
            Some(api_base) => Ok(Box::new(AccountCall::new(
                AccountCallConfig {
                    credential: credential_config(&remote, &account, &options),
                    api_base,
                    header: remote
                        .key_check
                        .as_ref()
                        .map_or_else(|| BEARER_HEADER.to_owned(), |spec| spec.header.clone()),
                    max_response_bytes: crate::http::DEFAULT_MAX_RESPONSE_BYTES,
                    operation,
                },
                now_ms,
            ))),
        };
        Self {
            call,
            outbox: Outbox::new(now_ms),
        }
    }
}

impl Machine for Account {
    type Value = AccountValue;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now_ms = self.outbox.observe(now_ms);
        if self.outbox.is_done() {
            return;
        }
        match &mut self.call {
            Ok(call) => {
                if let Some(result) = self.outbox.forward(call.as_mut(), now_ms, input) {
                    self.outbox.finish(result);
                }
            }
            Err(error) if input == Input::Start => {
                let error = error.clone();
                self.outbox.finish(Err(error));
            }
            Err(_) => {}
        }
    }

    fn poll_output(&mut self) -> Output<AccountValue> {
        self.outbox.poll()
    }
}

impl FromConfig for Account {
    type Config = AccountConfig;

    fn from_config(config: AccountConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    machine_guard_tests!(Account, 256);
}
