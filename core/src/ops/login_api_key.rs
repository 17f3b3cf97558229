//! Login API key: validate a key with the remote's key check (when it has one) and store it as the
//! account's API key; OAuth tokens in the record stay
//!
//! [`KeyCheck`], then [`UpdateRecord`], as sub-machines. A rejected key is never stored. The
//! account is the one given, else named after the key check's identity, else `default`.
use std::collections::BTreeMap;

use serde::Deserialize;

use crate::credential::AuthType;
use crate::key_check::{KeyCheck, KeyCheckConfig};
use crate::machine::{FromConfig, Input, Machine, Output};
use crate::outbox::Outbox;
use crate::record::storage_key;
use crate::secret::Secret;

use super::login_outcome::{DEFAULT_ACCOUNT, LoginOutcome, account_label};
use super::remote::RemoteSpec;
use super::update_record::{Change, UpdateRecord};

/// What a [`LoginApiKey`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LoginApiKeyConfig {
    /// The remote the key is for
    pub remote: RemoteSpec,
    /// The account to store under; without one the key check's identity names it
    #[serde(default)]
    pub account: Option<String>,
    /// The key
    pub key: Secret,
}

#[derive(Debug)]
enum Phase {
    Idle,
    Checking(Box<KeyCheck>),
    Saving {
        account: String,
        identity: BTreeMap<String, String>,
        update: Box<UpdateRecord>,
    },
    Done,
}

/// The API-key login operation; see the module documentation
#[derive(Debug)]
pub struct LoginApiKey {
    config: LoginApiKeyConfig,
    phase: Phase,
    outbox: Outbox<LoginOutcome>,
}

impl LoginApiKey {
    /// Builds the operation; problems come out as `Done(Err(..))` after `Start`
    pub fn new(config: LoginApiKeyConfig, now_ms: u64) -> Self {
        Self {
            config,
            phase: Phase::Idle,
            outbox: Outbox::new(now_ms),
        }
    }

    fn start(&mut self, now_ms: u64) {
        match &self.config.remote.key_check {
            Some(spec) => {
                let config = KeyCheckConfig {
                    spec: spec.clone(),
                    key: self.config.key.clone(),
                };
                self.phase = Phase::Checking(Box::new(KeyCheck::new(config, now_ms)));
                self.pump(now_ms, Input::Start);
            }
            None => self.save(now_ms, BTreeMap::new()),
        }
    }

    fn save(&mut self, now_ms: u64, identity: BTreeMap<String, String>) {
        let account = self
            .config
            .account
            .clone()
            .or_else(|| account_label(&identity, &self.config.remote.account_label))
            .unwrap_or_else(|| DEFAULT_ACCOUNT.to_owned());
        let key = storage_key(&self.config.remote.name, &account);
        let update = UpdateRecord::new(key, Change::ApiKey(self.config.key.clone()), now_ms);
        self.phase = Phase::Saving {
            account,
            identity,
            update: Box::new(update),
        };
        self.pump(now_ms, Input::Start);
    }

    fn pump(&mut self, now_ms: u64, input: Input) {
        match &mut self.phase {
            Phase::Checking(check) => match self.outbox.forward(check.as_mut(), now_ms, input) {
                None => {}
                Some(Ok(report)) => self.save(now_ms, report.identity),
                Some(Err(e)) => {
                    self.phase = Phase::Done;
                    self.outbox.finish(Err(e));
                }
            },
            Phase::Saving {
                account,
                identity,
                update,
            } => {
                let Some(result) = self.outbox.forward(update.as_mut(), now_ms, input) else {
                    return;
                };
                let outcome = LoginOutcome {
                    remote: self.config.remote.name.clone(),
                    account: core::mem::take(account),
                    auth_type: AuthType::ApiKey,
                    endpoints: None,
                    identity: core::mem::take(identity),
                    expires_at_ms: None,
                };
                self.phase = Phase::Done;
                self.outbox.finish(result.map(|_| outcome));
            }
            Phase::Idle | Phase::Done => {}
        }
    }
}

impl Machine for LoginApiKey {
    type Value = LoginOutcome;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now_ms = self.outbox.observe(now_ms);
        match (&self.phase, input) {
            (Phase::Idle, Input::Start) => self.start(now_ms),
            (Phase::Idle | Phase::Done, _) => self.outbox.rearm(),
            (_, input) => self.pump(now_ms, input),
        }
    }

    fn poll_output(&mut self) -> Output<LoginOutcome> {
        self.outbox.poll()
    }
}

impl FromConfig for LoginApiKey {
    type Config = LoginApiKeyConfig;

    fn from_config(config: LoginApiKeyConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    machine_guard_tests!(LoginApiKey, 1984);
}
