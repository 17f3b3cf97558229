//! Status: an account's login state from the store alone (no network, no refresh)
//!
//! One `Load`; the environment key counts per the remote's `env_precedence`. An unreadable record
//! ends with its error, which says to log in again.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::credential::{AuthType, EnvPrecedence};
use crate::error::{AuthError, StoreError};
use crate::machine::{FromConfig, Input, Machine, Output, StoreOp, WireValue};
use crate::outbox::Outbox;
use crate::record::{StoredRecord, storage_key};
use crate::secret::Secret;

use super::remote::{CredentialOptions, RemoteSpec};

/// What a [`Status`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StatusConfig {
    /// The remote
    pub remote: RemoteSpec,
    /// The account
    pub account: String,
    /// Preference and environment key, as for `token`
    #[serde(default)]
    pub options: CredentialOptions,
}

/// What `status` reports for one account; read from the store only, no network
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// Whether a credential is available
    pub logged_in: bool,
    /// The remote
    pub remote: String,
    /// The account
    pub account: String,
    /// The credential in use, when logged in
    pub auth_type: Option<AuthType>,
    /// Whether the credential comes from the environment
    pub from_env: bool,
    /// When the access token expires (OAuth only, when known)
    pub expires_at_ms: Option<u64>,
    /// Whether the stored record also holds the other kind of credential
    pub has_api_key: bool,
    /// Whether the stored record holds OAuth tokens
    pub has_oauth: bool,
}

impl WireValue for StatusReport {
    fn to_wire(&self) -> Value {
        // No secret in it: the derived form is the wire form.
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The status operation; see the module documentation
#[derive(Debug)]
pub struct Status {
    config: StatusConfig,
    loading: bool,
    outbox: Outbox<StatusReport>,
}

impl Status {
    /// Builds the operation
    pub fn new(config: StatusConfig, now_ms: u64) -> Self {
        Self {
            config,
            loading: false,
            outbox: Outbox::new(now_ms),
        }
    }

    fn report(
        &self,
        answer: Result<Option<Secret>, StoreError>,
    ) -> Result<StatusReport, AuthError> {
        let record = match answer? {
            Some(stored) => StoredRecord::from_json(&stored)?,
            None => StoredRecord::default(),
        };
        let (remote, options) = (&self.config.remote, &self.config.options);
        let stored = match (&record.api_key, &record.oauth, options.prefer) {
            (Some(_), Some(_), prefer) => Some(prefer),
            (Some(_), None, _) => Some(AuthType::ApiKey),
            (None, Some(_), _) => Some(AuthType::Oauth),
            (None, None, _) => None,
        };
        let env = options.env_api_key.is_some();
        let from_env = env
            && match remote.env_precedence {
                EnvPrecedence::Override => true,
                EnvPrecedence::Fallback => stored.is_none(),
            };
        let auth_type = if from_env {
            Some(AuthType::ApiKey)
        } else {
            stored
        };
        Ok(StatusReport {
            logged_in: auth_type.is_some(),
            remote: remote.name.clone(),
            account: self.config.account.clone(),
            auth_type,
            from_env,
            expires_at_ms: match auth_type {
                Some(AuthType::Oauth) => record.oauth.as_ref().and_then(|t| t.expires_at_ms),
                _ => None,
            },
            has_api_key: record.api_key.is_some(),
            has_oauth: record.oauth.is_some(),
        })
    }
}

impl Machine for Status {
    type Value = StatusReport;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        self.outbox.observe(now_ms);
        match input {
            Input::Start if !self.loading && !self.outbox.is_done() => {
                self.loading = true;
                self.outbox.store(StoreOp::Load {
                    key: storage_key(&self.config.remote.name, &self.config.account),
                });
            }
            Input::Stored(answer) if self.loading => {
                self.loading = false;
                let report = self.report(answer);
                self.outbox.finish(report);
            }
            _ => self.outbox.rearm(),
        }
    }

    fn poll_output(&mut self) -> Output<StatusReport> {
        self.outbox.poll()
    }
}

impl FromConfig for Status {
    type Config = StatusConfig;

    fn from_config(config: StatusConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    machine_guard_tests!(Status, 1280);
}
