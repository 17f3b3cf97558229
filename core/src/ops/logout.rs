//! Logout: revoke an account's tokens at the provider (RFC 7009), then delete the local record
//!
//! `Load`; with OAuth tokens, [`ResolveEndpoints`] and [`Revocation`] as sub-machines; then
//! `Delete`. A revocation failure is reported in the outcome and the local credentials are cleared
//! anyway; so is an unreadable record, which cannot be revoked. The outcome lists what stays valid
//! at the provider.
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{AuthError, StoreError};
use crate::machine::{FromConfig, Input, Machine, Output, StoreOp, WireValue};
use crate::outbox::Outbox;
use crate::record::{StoredRecord, storage_key};
use crate::revocation::{Revocation, RevocationConfig};
use crate::secret::Secret;
use crate::wire::error_to_wire;

use super::endpoints::ResolveEndpoints;
use super::remote::RemoteSpec;

/// What a [`Logout`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LogoutConfig {
    /// The remote
    pub remote: RemoteSpec,
    /// The account
    pub account: String,
}

/// What `logout` did
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutOutcome {
    /// The remote
    pub remote: String,
    /// The account
    pub account: String,
    /// Token type hints the provider revoked
    pub revoked: Vec<String>,
    /// Why revocation failed; local credentials are cleared all the same
    pub revocation_error: Option<AuthError>,
    /// What was cleared here but stays valid at the provider (`refresh_token`, `access_token`,
    /// `api_key`): revocation failed, the provider has no revocation endpoint, or the credential
    /// is an API key, which only the provider can revoke
    pub unrevoked: Vec<String>,
    /// Whether the local record was removed
    pub cleared: bool,
}

impl WireValue for LogoutOutcome {
    fn to_wire(&self) -> Value {
        json!({
            "remote": self.remote,
            "account": self.account,
            "revoked": self.revoked,
            "revocation_error": self.revocation_error.as_ref().map(error_to_wire),
            "unrevoked": self.unrevoked,
            "cleared": self.cleared,
        })
    }
}

#[derive(Debug)]
enum Phase {
    Idle,
    Loading,
    Resolving {
        refresh_token: Option<Secret>,
        access_token: Secret,
        resolve: Box<ResolveEndpoints>,
    },
    Revoking(Box<Revocation>),
    Deleting,
    Done,
}

/// The logout operation; see the module documentation
#[derive(Debug)]
pub struct Logout {
    config: LogoutConfig,
    phase: Phase,
    /// What the record held: `api_key`, `refresh_token`, `access_token`
    held: Vec<String>,
    revoked: Vec<String>,
    revocation_error: Option<AuthError>,
    outbox: Outbox<LogoutOutcome>,
}

impl Logout {
    /// Builds the operation
    pub fn new(config: LogoutConfig, now_ms: u64) -> Self {
        Self {
            config,
            phase: Phase::Idle,
            held: Vec::new(),
            revoked: Vec::new(),
            revocation_error: None,
            outbox: Outbox::new(now_ms),
        }
    }

    fn key(&self) -> String {
        storage_key(&self.config.remote.name, &self.config.account)
    }

    fn on_loaded(&mut self, now_ms: u64, answer: Result<Option<Secret>, StoreError>) {
        // An unreadable record cannot be revoked, but it can still be cleared.
        let record = match answer {
            Ok(Some(stored)) => StoredRecord::from_json(&stored).ok(),
            _ => None,
        };
        if record.as_ref().is_some_and(|r| r.api_key.is_some()) {
            self.held.push("api_key".to_owned());
        }
        let Some(tokens) = record.and_then(|r| r.oauth) else {
            return self.delete();
        };
        if tokens.refresh_token.is_some() {
            self.held.push("refresh_token".to_owned());
        }
        self.held.push("access_token".to_owned());
        let resolve = ResolveEndpoints::new(self.config.remote.clone(), now_ms);
        self.phase = Phase::Resolving {
            refresh_token: tokens.refresh_token,
            access_token: tokens.access_token,
            resolve: Box::new(resolve),
        };
        self.pump(now_ms, Input::Start);
    }

    fn pump(&mut self, now_ms: u64, input: Input) {
        match &mut self.phase {
            Phase::Resolving {
                refresh_token,
                access_token,
                resolve,
            } => match self.outbox.forward(resolve.as_mut(), now_ms, input) {
                None => {}
                Some(Err(e)) => self.revoked(Err(e)),
                Some(Ok(endpoints)) => {
                    let config = RevocationConfig {
                        endpoints,
                        client: self.config.remote.client.clone(),
                        refresh_token: refresh_token.take(),
                        access_token: Some(core::mem::take(access_token)),
                    };
                    self.phase = Phase::Revoking(Box::new(Revocation::new(config, now_ms)));
                    self.pump(now_ms, Input::Start);
                }
            },
            Phase::Revoking(revocation) => {
                if let Some(result) = self.outbox.forward(revocation.as_mut(), now_ms, input) {
                    self.revoked(result.map(|report| report.revoked));
                }
            }
            _ => {}
        }
    }

    fn revoked(&mut self, result: Result<Vec<String>, AuthError>) {
        match result {
            Ok(revoked) => self.revoked = revoked,
            Err(e) => self.revocation_error = Some(e),
        }
        self.delete();
    }

    fn delete(&mut self) {
        self.phase = Phase::Deleting;
        self.outbox.store(StoreOp::Delete { key: self.key() });
    }

    fn on_deleted(&mut self, answer: Result<Option<Secret>, StoreError>) {
        self.phase = Phase::Done;
        if let Err(e) = answer {
            return self.outbox.finish(Err(e.into()));
        }
        let revoked = core::mem::take(&mut self.revoked);
        // A revoked refresh token takes its access tokens with it (RFC 7009 §2.1).
        let refresh_revoked = revoked.iter().any(|r| r == "refresh_token");
        let unrevoked = core::mem::take(&mut self.held)
            .into_iter()
            .filter(|h| !(revoked.contains(h) || h == "access_token" && refresh_revoked))
            .collect();
        self.outbox.finish(Ok(LogoutOutcome {
            remote: self.config.remote.name.clone(),
            account: self.config.account.clone(),
            revoked,
            revocation_error: self.revocation_error.take(),
            unrevoked,
            cleared: true,
        }));
    }
}

impl Machine for Logout {
    type Value = LogoutOutcome;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now_ms = self.outbox.observe(now_ms);
        match (&self.phase, input) {
            (Phase::Idle, Input::Start) => {
                self.phase = Phase::Loading;
                self.outbox.store(StoreOp::Load { key: self.key() });
            }
            (Phase::Loading, Input::Stored(answer)) => self.on_loaded(now_ms, answer),
            (Phase::Deleting, Input::Stored(answer)) => self.on_deleted(answer),
            (Phase::Resolving { .. } | Phase::Revoking(_), input) => self.pump(now_ms, input),
            _ => self.outbox.rearm(),
        }
    }

    fn poll_output(&mut self) -> Output<LogoutOutcome> {
        self.outbox.poll()
    }
}

impl FromConfig for Logout {
    type Config = LogoutConfig;

    fn from_config(config: LogoutConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    machine_guard_tests!(Logout, 1536);
}
