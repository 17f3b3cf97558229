//! Save tokens: name the account an OAuth login's tokens belong to and store them, keeping a
//! stored API key
//!
//! The account is named after the first of the remote's `account_label` claims the ID token has;
//! when it lacks the first one and the provider has a userinfo endpoint, the userinfo answer
//! fills in the rest
//! ([OpenID Connect Core §5.3](https://openid.net/specs/openid-connect-core-1_0.html#UserInfo)),
//! through the key-check machine. Then the account hint, else [`DEFAULT_ACCOUNT`]. The tokens go
//! into the record with [`UpdateRecord`]. The last steps of the device and browser logins.
use std::collections::BTreeMap;

use url::Url;

use crate::credential::AuthType;
use crate::key_check::{KeyCheck, KeyCheckConfig, KeyCheckMethod, KeyCheckSpec};
use crate::machine::{Input, Machine, Output};
use crate::oauth::{Endpoints, TokenSet, id_token_claims};
use crate::outbox::Outbox;
use crate::record::storage_key;

use super::login_outcome::{DEFAULT_ACCOUNT, LoginOutcome, account_label};
use super::remote::{BEARER_HEADER, BEARER_SCHEME};
use super::update_record::{Change, UpdateRecord};

/// The identity fields every OAuth login reports, whatever names the account
const LOGIN_IDENTITY: [&str; 3] = ["email", "name", "sub"];

#[derive(Debug)]
enum Phase {
    Idle,
    /// Asking the userinfo endpoint for the identity
    Naming(Box<KeyCheck>),
    /// Writing the record of `account`
    Saving {
        account: String,
        update: Box<UpdateRecord>,
    },
    Done,
}

/// The save-tokens machine; see the module documentation
#[derive(Debug)]
pub(crate) struct SaveTokens {
    remote: String,
    endpoints: Endpoints,
    tokens: TokenSet,
    account_hint: Option<String>,
    /// The remote's `account_label`: the claims that name the account, in order
    claims: Vec<String>,
    identity: BTreeMap<String, String>,
    phase: Phase,
    outbox: Outbox<LoginOutcome>,
}

impl SaveTokens {
    pub(crate) fn new(
        remote: String,
        endpoints: Endpoints,
        tokens: TokenSet,
        account_hint: Option<String>,
        claims: Vec<String>,
        now_ms: u64,
    ) -> Self {
        Self {
            remote,
            endpoints,
            tokens,
            account_hint,
            claims,
            identity: BTreeMap::new(),
            phase: Phase::Idle,
            outbox: Outbox::new(now_ms),
        }
    }

    fn start(&mut self, now_ms: u64) {
        let wanted = self.wanted();
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        self.identity = self
            .tokens
            .id_token
            .as_ref()
            .and_then(|t| id_token_claims(t, &wanted))
            .unwrap_or_default();
        // Device grants often return no ID token (or one without the preferred claim): the
        // userinfo endpoint names the user then, so the account is not called after `sub` or
        // `default`.
        let lacks_first = self
            .claims
            .first()
            .is_some_and(|c| !self.identity.contains_key(c));
        match &self.endpoints.userinfo_endpoint {
            Some(url) if lacks_first => {
                let check = KeyCheck::new(userinfo_check(url, &self.tokens, &wanted), now_ms);
                self.phase = Phase::Naming(Box::new(check));
                self.pump(now_ms, Input::Start);
            }
            _ => self.save(now_ms),
        }
    }

    /// The claims read from the ID token and userinfo: the remote's, then the identity fields
    /// every OAuth login reports
    fn wanted(&self) -> Vec<String> {
        let mut wanted = self.claims.clone();
        for c in LOGIN_IDENTITY {
            if !wanted.iter().any(|w| w == c) {
                wanted.push(c.to_owned());
            }
        }
        wanted
    }

    /// Names the account and writes the tokens into its record
    fn save(&mut self, now_ms: u64) {
        let account = account_label(&self.identity, &self.claims)
            .or_else(|| self.account_hint.clone())
            .unwrap_or_else(|| DEFAULT_ACCOUNT.to_owned());
        let key = storage_key(&self.remote, &account);
        let update = UpdateRecord::new(key, Change::Tokens(self.tokens.clone()), now_ms);
        self.phase = Phase::Saving {
            account,
            update: Box::new(update),
        };
        self.pump(now_ms, Input::Start);
    }

    fn pump(&mut self, now_ms: u64, input: Input) {
        match &mut self.phase {
            Phase::Naming(check) => {
                let Some(result) = self.outbox.forward(check.as_mut(), now_ms, input) else {
                    return;
                };
                // Best effort: a login that worked is not failed by its naming. A `sub` other than
                // the ID token's means the answer is not about this user (§5.3.2): nothing.
                if let Ok(report) = result {
                    let about_someone_else = matches!(
                        (self.identity.get("sub"), report.identity.get("sub")),
                        (Some(expected), Some(sub)) if sub != expected
                    );
                    if !about_someone_else {
                        for (k, v) in report.identity {
                            self.identity.entry(k).or_insert(v);
                        }
                    }
                }
                self.save(now_ms);
            }
            Phase::Saving { account, update } => {
                let Some(result) = self.outbox.forward(update.as_mut(), now_ms, input) else {
                    return;
                };
                let account = core::mem::take(account);
                self.phase = Phase::Done;
                self.outbox.finish(result.map(|_| LoginOutcome {
                    remote: self.remote.clone(),
                    account,
                    auth_type: AuthType::Oauth,
                    endpoints: Some(self.endpoints.clone()),
                    identity: core::mem::take(&mut self.identity),
                    expires_at_ms: self.tokens.expires_at_ms,
                }));
            }
            Phase::Idle | Phase::Done => {}
        }
    }
}

/// The userinfo request: a GET with the access token as a bearer credential, reporting the
/// `claims` an account is named after
fn userinfo_check(url: &Url, tokens: &TokenSet, claims: &[&str]) -> KeyCheckConfig {
    KeyCheckConfig {
        spec: KeyCheckSpec {
            method: KeyCheckMethod::Get,
            url: url.clone(),
            header: BEARER_HEADER.to_owned(),
            scheme: BEARER_SCHEME.to_owned(),
            // `sub` always: an answer about someone else is recognised by it (§5.3.2).
            identity: claims
                .iter()
                .chain(&["sub"])
                .map(|claim| ((*claim).to_owned(), json_pointer(claim)))
                .collect(),
        },
        key: tokens.access_token.clone(),
    }
}

/// The JSON pointer of a top-level member (RFC 6901 §3: `~` and `/` escaped), for claim names
/// such as `https://example.com/handle`
fn json_pointer(member: &str) -> String {
    format!("/{}", member.replace('~', "~0").replace('/', "~1"))
}

impl Machine for SaveTokens {
    type Value = LoginOutcome;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now_ms = self.outbox.observe(now_ms);
        match (&self.phase, input) {
            (Phase::Idle, Input::Start) => self.start(now_ms),
            (Phase::Naming(_) | Phase::Saving { .. }, input) => self.pump(now_ms, input),
            _ => self.outbox.rearm(),
        }
    }

    fn poll_output(&mut self) -> Output<LoginOutcome> {
        self.outbox.poll()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    machine_guard_tests!(SaveTokens, 1792);
}
