//! Credential: resolves the usable credential of one account, refreshing and storing OAuth tokens
//! so that several processes doing it at once end well
//!
//! The flow:
//! 1. An environment API key with `env_precedence: override` wins at once (source `env`).
//! 2. Otherwise `Load` the account's record ([`crate::record`]). Nothing stored, or a store that
//!    cannot answer: the environment key as a fallback when there is one, else `not_logged_in` or
//!    `storage`. A record that cannot be read (corrupt, or written by a newer keyhole) ends with that
//!    error; the record is never deleted.
//! 3. The record's API key or OAuth tokens, by `prefer`, when a record has both. An API key or an
//!    OAuth token that does not need refreshing ([`crate::refresh::needs_refresh`]) is returned.
//! 4. A token that needs refreshing but has no refresh token: the still-valid token (warning
//!    `no_refresh_token`) or `relogin_required`, with no lock and no request. Otherwise: `Lock`
//!    (an error answer means "no lock": go on and rely on compare-and-swap), `Load` again (another process may have refreshed meanwhile: adopt its
//!    tokens), run a [`Refresh`] as a sub-machine, then `CompareAndSwap` the record we read for
//!    one with the new tokens (the API key is kept).
//! 5. The store answers the swap with the record it holds afterwards: ours means success. Someone
//!    else's is adopted when it holds a usable credential; otherwise our tokens are merged onto it
//!    and swapped once more. If the tokens cannot be saved they are still returned, with the
//!    warning [`WARNING_NOT_SAVED`].
//! 6. `invalid_grant`: `Load` again; a record holding a different refresh token was written by
//!    someone who refreshed before us (rotation): adopt it, refreshing with it when its access token
//!    is stale. Otherwise the OAuth session is over: when the record also holds an API key and
//!    `api_key_fallback` allows it, the refused tokens are dropped from the record
//!    (`CompareAndSwap`; the API key and the rest stay) and the API key is returned with the
//!    warning [`WARNING_OAUTH_REFUSED`] and the refusal in `fallback_reason`; otherwise
//!    `relogin_required`. A credential is never deleted on a failure.
//! 7. Once the lock is held, `Unlock` comes before `Done`, on errors too.
//!
//! A transient refresh failure while the access token is still valid returns that token (the
//! refresh machine decides that) with the error's code as `warning`.
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{AuthError, StoreError};
use crate::machine::WireValue;
use crate::machine::{Input, Machine, Output, StoreOp};
use crate::oauth::{Client, Endpoints, TokenSet};
use crate::outbox::Outbox;
use crate::record::StoredRecord;
use crate::refresh::{
    DEFAULT_MAX_RETRIES, DEFAULT_SKEW_S, Refresh, RefreshConfig, RefreshOutcome, needs_refresh,
};
use crate::secret::Secret;

/// The `warning` of a credential whose refreshed tokens could not be written to the store
pub const WARNING_NOT_SAVED: &str = "not_saved";
/// The `warning` of a stored API key returned because the provider refused the OAuth refresh
pub const WARNING_OAUTH_REFUSED: &str = "oauth_refused";
/// Refresh attempts per resolution: the first, plus one with a newer refresh token adopted after
/// an `invalid_grant`
pub const MAX_REFRESHES: u32 = 2;
/// Compare-and-swap attempts per resolution: the first, plus one after a conflict
pub const MAX_SWAPS: u32 = 2;

/// How an API key from the environment ranks against the store
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvPrecedence {
    /// The environment key wins; the store is not read (the default)
    #[default]
    Override,
    /// The environment key is used only when the store has nothing or cannot answer
    Fallback,
}

/// The kind of credential: OAuth tokens or an API key. The same type says which one a record
/// prefers when it holds both (`prefer`), what a resolved credential is, and an account's type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    /// Tokens from a device or browser login (wire `oauth`; the default preference)
    #[default]
    Oauth,
    /// A long-lived API key (wire `api_key`)
    ApiKey,
}

impl AuthType {
    /// `oauth` or `api_key`
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Oauth => "oauth",
            AuthType::ApiKey => "api_key",
        }
    }
}

pub(crate) fn default_skew_s() -> u64 {
    DEFAULT_SKEW_S
}

pub(crate) fn default_api_key_scheme() -> String {
    crate::oauth::BEARER.to_owned()
}

pub(crate) fn yes() -> bool {
    true
}

/// What a [`Credential`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CredentialConfig {
    /// The record's storage key ([`crate::record::storage_key`])
    pub key: String,
    /// The provider's endpoints (only `token_endpoint`, only for a refresh; default none)
    #[serde(default)]
    pub endpoints: Endpoints,
    /// The OAuth client used for a refresh (default: an empty client id)
    #[serde(default)]
    pub client: Client,
    /// An API key from the environment; an empty value counts as none
    #[serde(default)]
    pub env_api_key: Option<Secret>,
    /// `override` (default) or `fallback`
    #[serde(default)]
    pub env_precedence: EnvPrecedence,
    /// `oauth` (default) or `api_key`
    #[serde(default)]
    pub prefer: AuthType,
    /// Refresh this many seconds before expiry (default [`DEFAULT_SKEW_S`])
    #[serde(default = "default_skew_s")]
    pub skew_s: u64,
    /// The `token_type` reported for an API key: the authorization scheme the provider expects
    /// (default `Bearer`; for example `Api-Key`)
    #[serde(default = "default_api_key_scheme")]
    pub api_key_scheme: String,
    /// Whether a refused refresh (`invalid_grant`) falls back to the record's API key rather
    /// than ending with `relogin_required` (default `true`, see
    /// [`crate::client::RemoteSpec::api_key_fallback`])
    #[serde(default = "yes")]
    pub api_key_fallback: bool,
}

/// Where the credential came from
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    /// The environment (wire `env`)
    Env,
    /// The secret store (wire `store`)
    Store,
}

/// A credential ready to put in an `Authorization: {token_type} {secret}` header
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedCredential {
    /// API key or OAuth access token
    pub kind: AuthType,
    /// Environment or store
    pub source: CredentialSource,
    /// The key or access token
    pub secret: Secret,
    /// `Bearer` for OAuth tokens (or what the provider said); `api_key_scheme` for API keys
    pub token_type: String,
    /// When an OAuth access token expires (unix ms), when known
    pub expires_at_ms: Option<u64>,
    /// Whether this resolution refreshed the tokens
    pub refreshed: bool,
    /// Why a usable credential comes with a caveat: a refresh that failed transiently
    /// (`unavailable`, `rate_limited`, `transport`), `no_refresh_token`, [`WARNING_NOT_SAVED`],
    /// or [`WARNING_OAUTH_REFUSED`]
    pub warning: Option<String>,
    /// With [`WARNING_OAUTH_REFUSED`]: why the provider refused the refresh (its error code and
    /// description, as sent: a host strips control characters before printing it)
    pub fallback_reason: Option<String>,
}

impl WireValue for ResolvedCredential {
    fn to_wire(&self) -> Value {
        json!({
            "kind": match self.kind {
                AuthType::ApiKey => "api_key",
                AuthType::Oauth => "oauth",
            },
            "source": match self.source {
                CredentialSource::Env => "env",
                CredentialSource::Store => "store",
            },
            "secret": self.secret.expose(),
            "token_type": self.token_type,
            "expires_at_ms": self.expires_at_ms,
            "refreshed": self.refreshed,
            "warning": self.warning,
            "fallback_reason": self.fallback_reason,
        })
    }
}

/// The credential a record offers
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choice {
    /// Nothing usable (no key, no tokens, or only empty strings)
    Nothing,
    /// The stored API key
    ApiKey(Secret),
    /// The stored OAuth tokens
    OAuth(TokenSet),
}

/// Picks the credential of a record: the preferred kind when both are present
pub(crate) fn choose(record: &StoredRecord, prefer: AuthType) -> Choice {
    let api_key = record.api_key.clone().filter(|k| !k.is_empty());
    let oauth = record.oauth.clone().filter(|t| !t.access_token.is_empty());
    match (prefer, api_key, oauth) {
        (AuthType::ApiKey, Some(key), _) | (AuthType::Oauth, Some(key), None) => {
            Choice::ApiKey(key)
        }
        (_, _, Some(tokens)) => Choice::OAuth(tokens),
        (_, None, None) => Choice::Nothing,
    }
}

/// Why a record is being read
#[derive(Debug)]
enum Reading {
    /// The first read
    First,
    /// After taking (or failing to take) the lock, before refreshing
    Locked,
    /// After our compare-and-swap lost: the record someone else wrote
    Conflict {
        /// Our refreshed tokens
        ours: TokenSet,
    },
    /// After `invalid_grant`: looking for a refresh token someone else rotated in
    Rejected {
        /// The error to end with when there is none
        error: AuthError,
        /// The refresh token the provider rejected
        used: Option<Secret>,
    },
}

#[derive(Debug)]
enum Phase {
    /// Built, waiting for `Start`
    Idle,
    /// A `Load` is out
    Loading(Reading),
    /// A `Lock` is out
    Locking,
    /// A refresh runs as a sub-machine
    Refreshing(Box<Refresh>),
    /// A `CompareAndSwap` dropping refused OAuth tokens is out; the API key follows its answer
    Dropping {
        /// The record's API key
        key: Secret,
        /// The provider's refusal
        reason: String,
    },
    /// A `CompareAndSwap` is out
    Swapping {
        /// What we asked to write
        new: Secret,
        /// The tokens in it
        ours: TokenSet,
    },
    /// An `Unlock` is out; the result follows its answer
    Unlocking(Result<ResolvedCredential, AuthError>),
    /// Finished
    Done,
}

/// The credential lifecycle machine; see the module documentation
#[derive(Debug)]
pub struct Credential {
    config: CredentialConfig,
    outbox: Outbox<ResolvedCredential>,
    phase: Phase,
    /// Whether we hold the store lock (an `Unlock` is owed)
    locked: bool,
    /// The record the next refresh and swap start from: as stored (the swap's `expected`) and parsed
    basis: Option<(Secret, StoredRecord)>,
    refreshes: u32,
    swaps: u32,
}

impl Credential {
    /// Builds the machine; problems with the config come out as `Done(Err(..))` after `Start`
    pub fn new(config: CredentialConfig, now_ms: u64) -> Self {
        Self {
            config,
            outbox: Outbox::new(now_ms),
            phase: Phase::Idle,
            locked: false,
            basis: None,
            refreshes: 0,
            swaps: 0,
        }
    }

    fn env_key(&self) -> Option<&Secret> {
        self.config.env_api_key.as_ref().filter(|k| !k.is_empty())
    }

    fn api_key(&self, secret: Secret, source: CredentialSource) -> ResolvedCredential {
        ResolvedCredential {
            kind: AuthType::ApiKey,
            source,
            secret,
            token_type: self.config.api_key_scheme.clone(),
            expires_at_ms: None,
            refreshed: false,
            warning: None,
            fallback_reason: None,
        }
    }

    fn oauth(tokens: TokenSet, refreshed: bool, warning: Option<String>) -> ResolvedCredential {
        ResolvedCredential {
            kind: AuthType::Oauth,
            source: CredentialSource::Store,
            secret: tokens.access_token,
            token_type: tokens.token_type,
            expires_at_ms: tokens.expires_at_ms,
            refreshed,
            warning,
            fallback_reason: None,
        }
    }

    /// Ends the flow, releasing the lock first when we hold it
    fn end(&mut self, result: Result<ResolvedCredential, AuthError>) {
        if self.locked {
            self.locked = false;
            self.phase = Phase::Unlocking(result);
            self.outbox.store(StoreOp::Unlock {
                key: self.config.key.clone(),
            });
        } else {
            self.phase = Phase::Done;
            self.outbox.finish(result);
        }
    }

    /// The store has no credential (or cannot say): the environment key, else `cause`
    fn nothing_stored(&mut self, cause: AuthError) {
        match self.env_key().cloned() {
            Some(key) => {
                let resolved = self.api_key(key, CredentialSource::Env);
                self.end(Ok(resolved));
            }
            None => self.end(Err(cause)),
        }
    }

    fn load(&mut self, reading: Reading) {
        self.phase = Phase::Loading(reading);
        self.outbox.store(StoreOp::Load {
            key: self.config.key.clone(),
        });
    }

    fn start(&mut self) {
        if self.config.key.is_empty() {
            return self.end(Err(AuthError::Config {
                detail: "the credential has no storage key; name the remote and account".into(),
            }));
        }
        if self.config.env_precedence == EnvPrecedence::Override
            && let Some(key) = self.env_key().cloned()
        {
            let resolved = self.api_key(key, CredentialSource::Env);
            return self.end(Ok(resolved));
        }
        self.load(Reading::First);
    }

    fn on_stored(&mut self, now_ms: u64, answer: Result<Option<Secret>, StoreError>) {
        match core::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Loading(reading) => self.on_loaded(now_ms, reading, answer),
            Phase::Locking => {
                self.locked = answer.is_ok();
                self.load(Reading::Locked);
            }
            Phase::Swapping { new, ours } => self.on_swapped(now_ms, &new, ours, answer),
            Phase::Dropping { key, reason } => match answer {
                // The record was removed meanwhile (a logout): its API key went with it.
                Ok(None) => self.nothing_stored(AuthError::NotLoggedIn),
                // Written, or not (a conflict, a store error): the key we read works either way;
                // a later call that still finds the refused tokens drops them then.
                Ok(Some(_)) | Err(_) => {
                    let resolved = ResolvedCredential {
                        warning: Some(WARNING_OAUTH_REFUSED.into()),
                        fallback_reason: Some(reason),
                        ..self.api_key(key, CredentialSource::Store)
                    };
                    self.end(Ok(resolved));
                }
            },
            Phase::Unlocking(result) => {
                // An unlock that failed leaves nothing to do: the lock is the host's to expire.
                self.phase = Phase::Done;
                self.outbox.finish(result);
            }
            other => self.phase = other,
        }
    }

    fn on_loaded(
        &mut self,
        now_ms: u64,
        reading: Reading,
        answer: Result<Option<Secret>, StoreError>,
    ) {
        match (answer, reading) {
            (Ok(Some(raw)), reading) => self.on_record(now_ms, reading, raw),
            (Ok(None), Reading::Rejected { error, .. }) => self.nothing_stored(error),
            (Ok(None), _) => self.nothing_stored(AuthError::NotLoggedIn),
            (Err(error), Reading::First) => self.nothing_stored(AuthError::Storage(error)),
            // The re-read after the lock failed: refresh what the first read gave.
            (Err(_), Reading::Locked) => {
                let prefer = self.config.prefer;
                match self
                    .basis
                    .as_ref()
                    .map(|(_, record)| choose(record, prefer))
                {
                    Some(Choice::OAuth(tokens)) => self.refresh(now_ms, tokens),
                    // Not reached: the lock is only taken for stale OAuth tokens of the basis.
                    _ => self.end(Err(AuthError::NotLoggedIn)),
                }
            }
            // Could not look for a newer refresh token: the rejection stands.
            (Err(_), Reading::Rejected { error, .. }) => self.end(Err(error)),
            (Err(_), Reading::Conflict { ours }) => {
                self.end(Ok(Self::oauth(ours, true, Some(WARNING_NOT_SAVED.into()))))
            }
        }
    }

    /// Acts on a record read from the store, according to why it was read
    fn on_record(&mut self, now_ms: u64, reading: Reading, raw: Secret) {
        let record = match StoredRecord::from_json(&raw) {
            Ok(record) => record,
            Err(error) => return self.end(Err(error)),
        };
        let tokens = match choose(&record, self.config.prefer) {
            Choice::Nothing => {
                return match reading {
                    Reading::Rejected { error, .. } => self.nothing_stored(error),
                    _ => self.nothing_stored(AuthError::NotLoggedIn),
                };
            }
            Choice::ApiKey(key) => {
                let resolved = self.api_key(key, CredentialSource::Store);
                return self.end(Ok(resolved));
            }
            Choice::OAuth(tokens) => tokens,
        };
        if !needs_refresh(&tokens, now_ms, self.config.skew_s) {
            // Fresh tokens: ours on the first read, or adopted from another process.
            return self.end(Ok(Self::oauth(tokens, false, None)));
        }
        match reading {
            // Nothing to refresh with: the refresh machine returns the still-valid token (with a
            // warning) or `relogin_required` without a request, so no lock is needed.
            Reading::First if tokens.refresh_token.as_ref().is_none_or(Secret::is_empty) => {
                self.refresh(now_ms, tokens)
            }
            Reading::First => {
                self.basis = Some((raw, record));
                self.phase = Phase::Locking;
                self.outbox.store(StoreOp::Lock {
                    key: self.config.key.clone(),
                });
            }
            Reading::Locked => {
                self.basis = Some((raw, record));
                self.refresh(now_ms, tokens);
            }
            Reading::Conflict { ours } => {
                // Theirs is stale: put our fresh tokens onto their record, once.
                self.basis = Some((raw, record));
                self.swap(now_ms, ours);
            }
            Reading::Rejected { error, used } => {
                let rotated = tokens.refresh_token.is_some() && tokens.refresh_token != used;
                if rotated && self.refreshes < MAX_REFRESHES {
                    self.basis = Some((raw, record));
                    self.refresh(now_ms, tokens);
                } else {
                    self.fall_back(now_ms, raw, record, error);
                }
            }
        }
    }

    /// The provider refused the refresh of the tokens in `record` (held as `raw`): the record's API
    /// key, with the refused tokens dropped, where allowed; else the refusal
    ///
    /// Only the OAuth tokens go: the refresh token is refused and the access token belongs to
    /// the same grant, so keeping them would only send the same refused refresh on every call.
    /// A login puts new ones in.
    fn fall_back(&mut self, now_ms: u64, raw: Secret, record: StoredRecord, error: AuthError) {
        let key = record.api_key.clone().filter(|k| !k.is_empty());
        let (Some(key), true, AuthError::ReloginRequired { reason }) =
            (key, self.config.api_key_fallback, &error)
        else {
            return self.end(Err(error));
        };
        let reason = reason.clone();
        let new = StoredRecord {
            oauth: None,
            updated_at_ms: now_ms,
            ..record
        }
        .to_json();
        self.phase = Phase::Dropping { key, reason };
        self.outbox.store(StoreOp::CompareAndSwap {
            key: self.config.key.clone(),
            expected: Some(raw),
            new,
        });
    }

    fn refresh(&mut self, now_ms: u64, tokens: TokenSet) {
        self.refreshes += 1;
        let config = RefreshConfig {
            endpoints: self.config.endpoints.clone(),
            client: self.config.client.clone(),
            tokens,
            skew_s: self.config.skew_s,
            max_retries: DEFAULT_MAX_RETRIES,
            // The decision is made: the token needs refreshing.
            force: true,
        };
        self.phase = Phase::Refreshing(Box::new(Refresh::new(config, now_ms)));
        self.pump(now_ms, Input::Start);
    }

    /// Feeds the refresh sub-machine and forwards what it asks for
    fn pump(&mut self, now_ms: u64, input: Input) {
        let Phase::Refreshing(sub) = &mut self.phase else {
            return;
        };
        sub.handle_input(now_ms, input);
        let result = loop {
            match sub.poll_output() {
                Output::Send(request) => self.outbox.send(request),
                Output::Wait {
                    until_ms: Some(until_ms),
                } => return self.outbox.wait_until(until_ms),
                Output::Wait { until_ms: None } => return,
                Output::Done(result) => break result,
                // A refresh never stores, shows, opens or answers anything.
                Output::Store(_)
                | Output::Show(_)
                | Output::OpenBrowser(_)
                | Output::AnswerCallback(_) => {}
            }
        };
        let rejected = sub.grant_rejected();
        let used = sub.refresh_token().cloned();
        self.on_refreshed(now_ms, result, rejected, used);
    }

    fn on_refreshed(
        &mut self,
        now_ms: u64,
        result: Result<RefreshOutcome, AuthError>,
        rejected: bool,
        used: Option<Secret>,
    ) {
        match result {
            Ok(outcome) if outcome.refreshed => self.swap(now_ms, outcome.tokens),
            Ok(outcome) => self.end(Ok(Self::oauth(outcome.tokens, false, outcome.warning))),
            Err(error) if rejected => self.load(Reading::Rejected { error, used }),
            Err(error) => self.end(Err(error)),
        }
    }

    /// Writes `ours` onto the basis record, if it is still what the store holds
    fn swap(&mut self, now_ms: u64, ours: TokenSet) {
        if self.swaps >= MAX_SWAPS {
            return self.end(Ok(Self::oauth(ours, true, Some(WARNING_NOT_SAVED.into()))));
        }
        self.swaps += 1;
        let (expected, record) = match self.basis.clone() {
            Some((raw, record)) => (Some(raw), record),
            None => (None, StoredRecord::default()),
        };
        let new = StoredRecord {
            oauth: Some(ours.clone()),
            updated_at_ms: now_ms,
            ..record
        }
        .to_json();
        self.phase = Phase::Swapping {
            new: new.clone(),
            ours,
        };
        self.outbox.store(StoreOp::CompareAndSwap {
            key: self.config.key.clone(),
            expected,
            new,
        });
    }

    fn on_swapped(
        &mut self,
        now_ms: u64,
        new: &Secret,
        ours: TokenSet,
        answer: Result<Option<Secret>, StoreError>,
    ) {
        match answer {
            Ok(Some(held)) if held == *new || same_record(&held, new) => {
                self.end(Ok(Self::oauth(ours, true, None)))
            }
            Ok(Some(held)) => self.on_record(now_ms, Reading::Conflict { ours }, held),
            // The record was removed meanwhile (a logout): do not bring it back.
            Ok(None) => self.nothing_stored(AuthError::NotLoggedIn),
            Err(_) => self.end(Ok(Self::oauth(ours, true, Some(WARNING_NOT_SAVED.into())))),
        }
    }
}

/// Whether two stored texts hold the same record (a store may re-encode what it was given)
fn same_record(a: &Secret, b: &Secret) -> bool {
    matches!(
        (StoredRecord::from_json(a), StoredRecord::from_json(b)),
        (Ok(x), Ok(y)) if x == y
    )
}

impl Machine for Credential {
    type Value = ResolvedCredential;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now_ms = self.outbox.observe(now_ms);
        match (&self.phase, input) {
            (Phase::Idle, Input::Start) => self.start(),
            (
                Phase::Loading(_)
                | Phase::Locking
                | Phase::Swapping { .. }
                | Phase::Dropping { .. }
                | Phase::Unlocking(_),
                Input::Stored(answer),
            ) => self.on_stored(now_ms, answer),
            (
                Phase::Refreshing(_),
                input @ (Input::Response(_) | Input::TransportFailed(_) | Input::Timer),
            ) => self.pump(now_ms, input),
            // Anything else is spurious or late: the same wait again (still in the future).
            _ => self.outbox.rearm(),
        }
    }

    fn poll_output(&mut self) -> Output<ResolvedCredential> {
        self.outbox.poll()
    }
}

impl crate::machine::FromConfig for Credential {
    type Config = CredentialConfig;

    fn from_config(config: CredentialConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Body, HttpRequest, HttpResponse};

    const NOW: u64 = 1_700_000_000_000;

    fn tokens(access: &str, refresh: &str, expires_at_ms: u64) -> TokenSet {
        TokenSet {
            access_token: Secret::new(access),
            token_type: "Bearer".into(),
            refresh_token: Some(Secret::new(refresh)),
            id_token: None,
            scope: None,
            expires_at_ms: Some(expires_at_ms),
            refresh_at_ms: None,
            issued_at_ms: None,
        }
    }

    fn config() -> CredentialConfig {
        serde_json::from_str(
            &json!({
                "key": "prod/alice",
                "endpoints": {"token_endpoint": "https://idp.example/token"},
                "client": {"client_id": "cli"},
            })
            .to_string(),
        )
        .expect("a valid credential config")
    }

    #[test]
    fn choose_follows_prefer_and_ignores_empty_values() {
        let both = StoredRecord {
            api_key: Some(Secret::new("k")),
            oauth: Some(tokens("a", "r", 1)),
            updated_at_ms: 0,
        };
        assert!(matches!(choose(&both, AuthType::Oauth), Choice::OAuth(_)));
        assert!(matches!(choose(&both, AuthType::ApiKey), Choice::ApiKey(_)));
        let key_only = StoredRecord {
            oauth: None,
            ..both.clone()
        };
        assert!(matches!(
            choose(&key_only, AuthType::Oauth),
            Choice::ApiKey(_)
        ));
        let oauth_only = StoredRecord {
            api_key: Some(Secret::new("")),
            ..both.clone()
        };
        assert!(matches!(
            choose(&oauth_only, AuthType::ApiKey),
            Choice::OAuth(_)
        ));
        assert_eq!(
            choose(&StoredRecord::default(), AuthType::Oauth),
            Choice::Nothing
        );
    }

    #[test]
    fn config_reads_documented_defaults() {
        let c: CredentialConfig = serde_json::from_str(r#"{"key":"r/a"}"#).unwrap();
        assert_eq!(c.env_precedence, EnvPrecedence::Override);
        assert_eq!(c.prefer, AuthType::Oauth);
        assert_eq!(c.skew_s, DEFAULT_SKEW_S);
        assert_eq!(c.api_key_scheme, "Bearer");
        let c: CredentialConfig = serde_json::from_str(
            r#"{"key":"r/a","env_precedence":"fallback","prefer":"api_key","env_api_key":"k"}"#,
        )
        .unwrap();
        assert_eq!(c.env_precedence, EnvPrecedence::Fallback);
        assert_eq!(c.prefer, AuthType::ApiKey);
    }

    /// One shared store and one provider that rotates refresh tokens and rejects reused ones
    struct World {
        record: Option<Secret>,
        lock: Option<usize>,
        live_refresh: String,
        rotate: bool,
        issued: u32,
        deletes: u32,
    }

    impl World {
        fn store(&mut self, who: usize, op: &StoreOp) -> Result<Option<Secret>, StoreError> {
            match op {
                StoreOp::Load { .. } => Ok(self.record.clone()),
                StoreOp::CompareAndSwap { expected, new, .. } => {
                    if self.record == *expected {
                        self.record = Some(new.clone());
                    }
                    Ok(self.record.clone())
                }
                StoreOp::Delete { .. } => {
                    self.deletes += 1;
                    self.record = None;
                    Ok(None)
                }
                StoreOp::Lock { .. } => match self.lock {
                    Some(holder) if holder != who => {
                        Err(StoreError::Unavailable("lock timed out".into()))
                    }
                    _ => {
                        self.lock = Some(who);
                        Ok(None)
                    }
                },
                StoreOp::Unlock { .. } => {
                    if self.lock == Some(who) {
                        self.lock = None;
                    }
                    Ok(None)
                }
            }
        }

        fn send(&mut self, request: &HttpRequest) -> HttpResponse {
            let Body::Form(form) = &request.body else {
                return HttpResponse::new(400, r#"{"error":"invalid_request"}"#);
            };
            let sent = form
                .iter()
                .find(|(k, _)| k == "refresh_token")
                .map(|(_, v)| v.expose().to_owned());
            if sent.as_deref() != Some(self.live_refresh.as_str()) {
                return HttpResponse::new(400, r#"{"error":"invalid_grant"}"#);
            }
            self.issued += 1;
            let access = format!("at{}", self.issued);
            if self.rotate {
                self.live_refresh = format!("rt{}", self.issued);
            }
            HttpResponse::new(
                200,
                json!({"access_token": access, "expires_in": 3600, "refresh_token": self.live_refresh})
                    .to_string(),
            )
        }
    }

    /// Runs two machines one input at a time, alternating, against the same world
    fn race(rotate: bool) -> (World, Vec<Result<ResolvedCredential, AuthError>>) {
        let stale = StoredRecord {
            api_key: None,
            oauth: Some(tokens("at0", "rt0", NOW - 1000)),
            updated_at_ms: 1,
        };
        let mut world = World {
            record: Some(stale.to_json()),
            lock: None,
            live_refresh: "rt0".into(),
            rotate,
            issued: 0,
            deletes: 0,
        };
        let mut machines = [
            Credential::new(config(), NOW),
            Credential::new(config(), NOW),
        ];
        let mut inputs = [Some(Input::Start), Some(Input::Start)];
        let mut results: [Option<Result<ResolvedCredential, AuthError>>; 2] = [None, None];
        for _ in 0..100 {
            for who in 0..2 {
                let Some(input) = inputs[who].take() else {
                    continue;
                };
                machines[who].handle_input(NOW, input);
                loop {
                    match machines[who].poll_output() {
                        Output::Store(op) => {
                            inputs[who] = Some(Input::Stored(world.store(who, &op)))
                        }
                        Output::Send(request) => {
                            inputs[who] = Some(Input::Response(world.send(&request)))
                        }
                        Output::Wait { .. } => break,
                        Output::Done(result) => {
                            results[who] = Some(result);
                            break;
                        }
                        Output::Show(_) | Output::OpenBrowser(_) | Output::AnswerCallback(_) => {}
                    }
                }
            }
            if results.iter().all(Option::is_some) {
                let [a, b] = results;
                return (world, vec![a.unwrap(), b.unwrap()]);
            }
        }
        panic!("the race did not finish");
    }

    #[test]
    fn two_processes_with_rotation_both_end_with_the_live_tokens() {
        let (world, results) = race(true);
        assert_eq!(world.issued, 1, "one refresh reaches the provider");
        assert_eq!(world.deletes, 0);
        assert_eq!(world.lock, None, "the lock is released");
        let stored = StoredRecord::from_json(world.record.as_ref().unwrap()).unwrap();
        let stored = stored.oauth.unwrap();
        assert_eq!(
            stored.refresh_token,
            Some(Secret::new(world.live_refresh.as_str()))
        );
        for result in results {
            let credential = result.unwrap();
            assert_eq!(credential.secret, stored.access_token);
        }
    }

    #[test]
    fn two_processes_without_rotation_keep_one_record() {
        let (world, results) = race(false);
        assert_eq!(world.deletes, 0);
        assert_eq!(world.lock, None);
        let stored = StoredRecord::from_json(world.record.as_ref().unwrap())
            .unwrap()
            .oauth
            .unwrap();
        assert_eq!(stored.refresh_token, Some(Secret::new("rt0")));
        for result in results {
            let credential = result.unwrap();
            assert!(credential.expires_at_ms > Some(NOW));
        }
    }

    #[test]
    fn unlock_comes_before_an_error() {
        let mut m = Credential::new(config(), NOW);
        let stale = StoredRecord {
            oauth: Some(tokens("at0", "rt0", NOW - 1)),
            ..StoredRecord::default()
        }
        .to_json();
        m.handle_input(NOW, Input::Start);
        assert!(matches!(
            m.poll_output(),
            Output::Store(StoreOp::Load { .. })
        ));
        let _ = m.poll_output();
        m.handle_input(NOW, Input::Stored(Ok(Some(stale.clone()))));
        assert!(matches!(
            m.poll_output(),
            Output::Store(StoreOp::Lock { .. })
        ));
        let _ = m.poll_output();
        m.handle_input(NOW, Input::Stored(Ok(None)));
        assert!(matches!(
            m.poll_output(),
            Output::Store(StoreOp::Load { .. })
        ));
        let _ = m.poll_output();
        m.handle_input(NOW, Input::Stored(Ok(Some(stale))));
        assert!(matches!(m.poll_output(), Output::Send(_)));
        let _ = m.poll_output();
        m.handle_input(
            NOW,
            Input::Response(HttpResponse::new(401, r#"{"error":"invalid_client"}"#)),
        );
        assert!(matches!(
            m.poll_output(),
            Output::Store(StoreOp::Unlock { .. })
        ));
        assert_eq!(m.poll_output(), Output::Wait { until_ms: None });
        m.handle_input(NOW, Input::Timer);
        assert_eq!(m.poll_output(), Output::Wait { until_ms: None });
        m.handle_input(NOW, Input::Stored(Ok(None)));
        assert!(matches!(
            m.poll_output(),
            Output::Done(Err(AuthError::Provider { .. }))
        ));
        m.handle_input(NOW, Input::Start);
        assert!(matches!(m.poll_output(), Output::Done(Err(_))));
    }

    machine_guard_tests!(Credential, 1024);
}
