//! The high-level operations a CLI offers, composed from the machines and run with [`drive`]
//!
//! Hosts (the native `keyhole`, the wasm component's `client` export, JS) call these with their
//! [`Io`]; they keep their own configuration and hand in a [`RemoteSpec`]. Everything here is plain
//! data so that the WIT `client` interface can mirror it one to one.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::account::{AccountCall, AccountCallConfig, AccountOperation, AccountValue};
use crate::browser::{BrowserLogin, BrowserLoginConfig};
use crate::credential::{Credential, CredentialConfig, EnvPrecedence, ResolvedCredential};
use crate::device::{DeviceLogin, DeviceLoginConfig};
use crate::discovery::{Discovery, DiscoveryConfig};
use crate::drive::{Io, drive};
use crate::error::{AuthError, StoreError};
use crate::key_check::{KeyCheck, KeyCheckConfig, KeyCheckMethod, KeyCheckReport, KeyCheckSpec};
use crate::machine::{Input, Machine, Output, StoreOp};
use crate::oauth::{Client, Endpoints, TokenSet, id_token_claims};
use crate::record::{StoredRecord, storage_key};
use crate::revocation::{Revocation, RevocationConfig};
use crate::secret::Secret;

pub use crate::credential::AuthType;

/// A remote as the operations need it; hosts keep their own config format and build this
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RemoteSpec {
    /// The remote's name (first half of the storage key)
    pub name: String,
    /// The OpenID issuer, for discovery unless `endpoints` is a discovery result for it
    #[serde(default)]
    pub issuer: Option<String>,
    /// Endpoints cached from an earlier discovery (they name the issuer), or explicit ones that
    /// override discovered ones field by field (they name none)
    #[serde(default)]
    pub endpoints: Option<Endpoints>,
    /// The OAuth client and the scopes to ask for
    #[serde(default)]
    pub client: Client,
    /// The API the credentials are for
    #[serde(default)]
    pub api_url: Option<String>,
    /// How to validate an API key; without it keys are saved unchecked
    #[serde(default)]
    pub key_check: Option<KeyCheckSpec>,
    /// Whether an API key from the environment beats stored credentials
    #[serde(default)]
    pub env_precedence: EnvPrecedence,
    /// Whether an account whose OAuth refresh the provider refuses (`invalid_grant`) goes on
    /// with the API key stored in the same record, with a warning, instead of needing a login
    ///
    /// Allowed by default: the key is in the record because the user saved it for this account
    /// on this remote, and a key the API refuses fails on its own, so the fallback only keeps
    /// working what already worked before the session ended. A vendor whose policy makes the
    /// OAuth session the only way in (SSO enforcement, keys with other rights) turns it off.
    #[serde(default = "crate::credential::yes")]
    pub api_key_fallback: bool,
    /// The identity claims that name an account at login, tried in order: from the ID token
    /// and the userinfo endpoint for OAuth, from the key check's identity fields for an API key
    /// (default [`DEFAULT_ACCOUNT_LABEL`])
    ///
    /// The userinfo endpoint is asked when the ID token lacks the first claim. When none of the
    /// claims is present the account is named after the first identity field (by name), then
    /// the host's hint, then [`DEFAULT_ACCOUNT`].
    #[serde(default = "default_account_label")]
    pub account_label: Vec<String>,
}

/// The claims that name an account unless the remote says otherwise: the email (from the ID
/// token or userinfo), a login or username, a display name, then the subject
pub const DEFAULT_ACCOUNT_LABEL: &[&str] = &[
    "email",
    "login",
    "username",
    "preferred_username",
    "name",
    "sub",
    "id",
];

/// [`DEFAULT_ACCOUNT_LABEL`] as a [`RemoteSpec::account_label`]
pub fn default_account_label() -> Vec<String> {
    DEFAULT_ACCOUNT_LABEL
        .iter()
        .map(|c| (*c).to_owned())
        .collect()
}

/// The identity fields every OAuth login reports, whatever names the account
const LOGIN_IDENTITY: [&str; 3] = ["email", "name", "sub"];

impl Default for RemoteSpec {
    fn default() -> Self {
        Self {
            name: String::new(),
            issuer: None,
            endpoints: None,
            client: Client::default(),
            api_url: None,
            key_check: None,
            env_precedence: EnvPrecedence::default(),
            api_key_fallback: true,
            account_label: default_account_label(),
        }
    }
}

/// What a login produced
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOutcome {
    /// The remote logged in to
    pub remote: String,
    /// The account the credentials were stored under
    pub account: String,
    /// The kind of credential stored
    pub auth_type: AuthType,
    /// The endpoints used (hosts may cache discovered ones so `token` needs no discovery)
    pub endpoints: Option<Endpoints>,
    /// Identity fields: OIDC claims for OAuth, key-check fields for an API key
    pub identity: BTreeMap<String, String>,
    /// When the access token expires (OAuth only, when the provider said)
    pub expires_at_ms: Option<u64>,
}

/// Which stored credential an account prefers, and the key the environment offers
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialOptions {
    /// The credential used when the record holds both kinds
    pub prefer: AuthType,
    /// An API key from the environment (`KEYHOLE_API_KEY`), applied per `env_precedence`
    pub env_api_key: Option<Secret>,
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

/// Which credential `test` checks
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestMethod {
    /// The credential `token` would use
    #[default]
    Auto,
    /// The API key (given, from the environment, or stored)
    ApiKey,
    /// The OAuth access token (refreshed if needed)
    Oauth,
}

/// What `test` checks, and against what
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOptions {
    /// Which credential
    pub method: TestMethod,
    /// Another URL than the key-check spec's
    pub url: Option<String>,
    /// A key to test instead of the stored one
    pub key: Option<Secret>,
    /// Preference and environment key, as for `token`
    pub credential: CredentialOptions,
}

/// The result of a successful `test`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    /// The URL called
    pub url: String,
    /// The HTTP status (2xx)
    pub status: u16,
    /// How long the request took
    pub elapsed_ms: u64,
    /// Identity fields picked from the response
    pub identity: BTreeMap<String, String>,
    /// The credential tested
    pub auth_type: AuthType,
}

/// Why `test` failed, with what is known of the check request (for `--verbose` and `--json`)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    /// What went wrong
    pub error: AuthError,
    /// The URL of the check, once the failure came from the check rather than before it
    pub url: Option<String>,
    /// The HTTP status, when a response arrived (401, 403, 503, …)
    pub status: Option<u16>,
    /// Milliseconds from the request to its answer or to the transport failure, when one was sent
    pub elapsed_ms: Option<u64>,
}

impl From<AuthError> for TestFailure {
    /// A failure before any check request was made (no credential, a bad configuration)
    fn from(error: AuthError) -> Self {
        Self {
            error,
            url: None,
            status: None,
            elapsed_ms: None,
        }
    }
}

impl From<TestFailure> for AuthError {
    fn from(failure: TestFailure) -> Self {
        failure.error
    }
}

/// Drives a [`KeyCheck`] held by the caller, noting the status of the response it gets, so that
/// a failure can still tell what came back and when
struct Observed<'a> {
    check: &'a mut KeyCheck,
    status: &'a mut Option<u16>,
}

impl Machine for Observed<'_> {
    type Value = KeyCheckReport;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        if let Input::Response(response) = &input {
            *self.status = Some(response.status);
        }
        self.check.handle_input(now_ms, input);
    }

    fn poll_output(&mut self) -> Output<KeyCheckReport> {
        self.check.poll_output()
    }
}

/// The account label picked from identity fields: the first of `claims` with a value that is
/// not blank, else the first such field by name
pub fn account_label(identity: &BTreeMap<String, String>, claims: &[String]) -> Option<String> {
    let usable = |v: &&String| !v.trim().is_empty();
    claims
        .iter()
        .find_map(|c| identity.get(c).filter(usable))
        .or_else(|| identity.values().find(usable))
        .cloned()
}

/// The remote's endpoints: discovery from the issuer with the configured endpoints laid over it
/// field by field, or the configured ones alone without an issuer
///
/// Configured endpoints that name the remote's issuer are a (cached) discovery result and are
/// used as they are; without the issuer they are explicit overrides, so discovery still runs.
pub fn resolve_endpoints(io: &mut impl Io, remote: &RemoteSpec) -> Result<Endpoints, AuthError> {
    let configured = remote.endpoints.clone().unwrap_or_default();
    let Some(issuer) = &remote.issuer else {
        if configured.token_endpoint.is_some() {
            return Ok(configured);
        }
        return Err(AuthError::Config {
            detail: format!(
                "remote `{}` has neither an issuer nor a token endpoint; configure one for it",
                remote.name
            ),
        });
    };
    if configured.issuer.as_ref() == Some(issuer) && configured.token_endpoint.is_some() {
        return Ok(configured);
    }
    let config = DiscoveryConfig {
        issuer: issuer.clone(),
        max_response_bytes: crate::http::DEFAULT_MAX_RESPONSE_BYTES,
    };
    let now = io.now_ms();
    let discovered = drive(Discovery::new(config, now), io)?;
    Ok(Endpoints {
        issuer: None,
        ..configured
    }
    .or(discovered))
}

/// Logs in with the device flow (RFC 8628) and stores the tokens, keeping a stored API key
///
/// The prompt reaches the user through [`Io::show`]. The account is named after the ID token's
/// identity, else `account_hint`, else `default`.
pub fn login_device(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account_hint: Option<&str>,
) -> Result<LoginOutcome, AuthError> {
    let endpoints = resolve_endpoints(io, remote)?;
    let config = DeviceLoginConfig {
        endpoints: endpoints.clone(),
        client: remote.client.clone(),
        max_slow_downs: crate::device::DEFAULT_MAX_SLOW_DOWNS,
    };
    let now = io.now_ms();
    let tokens = drive(DeviceLogin::new(config, now), io)?;
    store_tokens(io, remote, endpoints, tokens, account_hint)
}

/// Logs in through the browser (authorization code + PKCE) and stores the tokens
///
/// The host binds its loopback listener on 127.0.0.1 first and passes the port; `random` holds
/// at least [`crate::browser::RANDOM_BYTES`] bytes from a CSPRNG.
pub fn login_browser(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account_hint: Option<&str>,
    port: u16,
    timeout_s: u64,
    random: &[u8],
) -> Result<LoginOutcome, AuthError> {
    let endpoints = resolve_endpoints(io, remote)?;
    let config = BrowserLoginConfig {
        endpoints: endpoints.clone(),
        client: remote.client.clone(),
        redirect_port: port,
        timeout_s,
    };
    let now = io.now_ms();
    let tokens = drive(BrowserLogin::new(config, now, random), io)?;
    store_tokens(io, remote, endpoints, tokens, account_hint)
}

fn store_tokens(
    io: &mut impl Io,
    remote: &RemoteSpec,
    endpoints: Endpoints,
    tokens: TokenSet,
    account_hint: Option<&str>,
) -> Result<LoginOutcome, AuthError> {
    let claims = &remote.account_label;
    let mut wanted: Vec<&str> = claims.iter().map(String::as_str).collect();
    wanted.extend(
        LOGIN_IDENTITY
            .iter()
            .filter(|c| !claims.iter().any(|w| w == *c)),
    );
    let mut identity = tokens
        .id_token
        .as_ref()
        .and_then(|t| id_token_claims(t, &wanted))
        .unwrap_or_default();
    // Device grants often return no ID token (or one without the preferred claim): the
    // userinfo endpoint names the user then, so the account is not called after `sub` or
    // `default`.
    if claims.first().is_some_and(|c| !identity.contains_key(c))
        && let Some(url) = &endpoints.userinfo_endpoint
    {
        let sub = identity.get("sub").cloned();
        for (k, v) in userinfo_identity(io, url, &tokens.access_token, sub.as_ref(), &wanted) {
            identity.entry(k).or_insert(v);
        }
    }
    let account = account_label(&identity, claims)
        .or_else(|| account_hint.map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_ACCOUNT.to_owned());
    let expires_at_ms = tokens.expires_at_ms;
    update_record(io, &storage_key(&remote.name, &account), |record| {
        record.oauth = Some(tokens.clone());
    })?;
    Ok(LoginOutcome {
        remote: remote.name.clone(),
        account,
        auth_type: AuthType::Oauth,
        endpoints: Some(endpoints),
        identity,
        expires_at_ms,
    })
}

/// The identity fields the userinfo endpoint reports
/// ([OpenID Connect Core §5.3](https://openid.net/specs/openid-connect-core-1_0.html#UserInfo)),
/// through the key-check machine: a GET with the access token as a bearer credential
///
/// Best effort: a login that worked is not failed by its naming, so any failure gives nothing.
/// A `sub` other than the ID token's means the answer is not about this user (§5.3.2): nothing.
fn userinfo_identity(
    io: &mut impl Io,
    url: &str,
    access_token: &Secret,
    id_token_sub: Option<&String>,
    claims: &[&str],
) -> BTreeMap<String, String> {
    let spec = KeyCheckSpec {
        method: KeyCheckMethod::Get,
        url: url.to_owned(),
        header: BEARER_HEADER.to_owned(),
        scheme: BEARER_SCHEME.to_owned(),
        // `sub` always: an answer about someone else is recognised by it (§5.3.2).
        identity: claims
            .iter()
            .chain(&["sub"])
            .map(|claim| ((*claim).to_owned(), json_pointer(claim)))
            .collect(),
    };
    let config = KeyCheckConfig {
        spec,
        key: access_token.clone(),
    };
    let now = io.now_ms();
    let Ok(report) = drive(KeyCheck::new(config, now), io) else {
        return BTreeMap::new();
    };
    match (id_token_sub, report.identity.get("sub")) {
        (Some(expected), Some(sub)) if sub != expected => BTreeMap::new(),
        _ => report.identity,
    }
}

/// The JSON pointer of a top-level member (RFC 6901 §3: `~` and `/` escaped), for claim names
/// such as `https://example.com/handle`
fn json_pointer(member: &str) -> String {
    format!("/{}", member.replace('~', "~0").replace('/', "~1"))
}

const BEARER_HEADER: &str = "authorization";
const BEARER_SCHEME: &str = crate::oauth::BEARER;

/// The account name used when nothing better is known
pub const DEFAULT_ACCOUNT: &str = "default";

/// How many times a record update retries after losing a compare-and-swap race
const UPDATE_ATTEMPTS: usize = 5;

/// Loads the record under `key`, applies `change`, and writes it back with compare-and-swap,
/// retrying when another process wrote in between
fn update_record(
    io: &mut impl Io,
    key: &str,
    change: impl Fn(&mut StoredRecord),
) -> Result<StoredRecord, AuthError> {
    for _ in 0..UPDATE_ATTEMPTS {
        let current = io.store(&StoreOp::Load {
            key: key.to_owned(),
        })?;
        let mut record = match &current {
            // A record this build cannot read is replaced by the login (the user asked for it),
            // unless it is from a newer keyhole, which must not be downgraded.
            Some(stored) => match StoredRecord::from_json(stored) {
                Ok(record) => record,
                Err(e @ AuthError::Config { .. }) => return Err(e),
                Err(_) => StoredRecord::default(),
            },
            None => StoredRecord::default(),
        };
        change(&mut record);
        record.updated_at_ms = io.now_ms();
        let new = record.to_json();
        let op = StoreOp::CompareAndSwap {
            key: key.to_owned(),
            expected: current,
            new: new.clone(),
        };
        if io.store(&op)?.as_ref() == Some(&new) {
            return Ok(record);
        }
    }
    Err(AuthError::Storage(StoreError::Other(
        "the credential kept changing while saving it (another keyhole process is writing); try again".into(),
    )))
}

/// Validates `key` with the remote's key check (when it has one) and stores it as the account's
/// API key; OAuth tokens in the record stay
///
/// With `account: None` the account is named after the key check's identity, else `default`.
pub fn login_api_key(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account: Option<&str>,
    key: Secret,
) -> Result<LoginOutcome, AuthError> {
    let identity = match &remote.key_check {
        Some(spec) => check_key(io, spec.clone(), key.clone())?.identity,
        None => BTreeMap::new(),
    };
    let account = account
        .map(str::to_owned)
        .or_else(|| account_label(&identity, &remote.account_label))
        .unwrap_or_else(|| DEFAULT_ACCOUNT.to_owned());
    update_record(io, &storage_key(&remote.name, &account), |record| {
        record.api_key = Some(key.clone());
    })?;
    Ok(LoginOutcome {
        remote: remote.name.clone(),
        account,
        auth_type: AuthType::ApiKey,
        endpoints: None,
        identity,
        expires_at_ms: None,
    })
}

/// Replaces only the API key of `account` (validated first when the remote has a key check)
pub fn set_key(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account: &str,
    key: Secret,
) -> Result<LoginOutcome, AuthError> {
    login_api_key(io, remote, Some(account), key)
}

fn check_key(
    io: &mut impl Io,
    spec: KeyCheckSpec,
    key: Secret,
) -> Result<KeyCheckReport, AuthError> {
    let now = io.now_ms();
    drive(KeyCheck::new(KeyCheckConfig { spec, key }, now), io)
}

/// Reads the account's stored record; an unreadable record is an error that says to log in again
fn load_record(io: &mut impl Io, key: &str) -> Result<Option<StoredRecord>, AuthError> {
    match io.store(&StoreOp::Load {
        key: key.to_owned(),
    })? {
        Some(stored) => StoredRecord::from_json(&stored).map(Some),
        None => Ok(None),
    }
}

/// The credential config of `account`: what `token` resolves and account calls send
fn credential_config(
    remote: &RemoteSpec,
    account: &str,
    options: &CredentialOptions,
) -> CredentialConfig {
    CredentialConfig {
        key: storage_key(&remote.name, account),
        endpoints: remote.endpoints.clone().unwrap_or_default(),
        client: remote.client.clone(),
        env_api_key: options.env_api_key.clone(),
        env_precedence: remote.env_precedence,
        prefer: options.prefer,
        skew_s: crate::refresh::DEFAULT_SKEW_S,
        api_key_scheme: remote
            .key_check
            .as_ref()
            .map_or_else(|| BEARER_SCHEME.to_owned(), |spec| spec.scheme.clone()),
        api_key_fallback: remote.api_key_fallback,
    }
}

/// A usable credential for `account`, refreshing the OAuth token first when it is (nearly)
/// expired; concurrent processes refresh once (the Credential machine locks and swaps)
pub fn token(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account: &str,
    options: &CredentialOptions,
) -> Result<ResolvedCredential, AuthError> {
    let config = credential_config(remote, account, options);
    let now = io.now_ms();
    drive(Credential::new(config, now), io)
}

/// One call to the remote's account API (`api_url`) with `account`'s credential, resolved and
/// refreshed as [`token`] does: who am I, projects, API keys ([`AccountOperation`])
///
/// An API key goes in the key check's header and scheme when the remote has a key check (else
/// `authorization: Bearer`); an OAuth token always as `authorization: Bearer`.
pub fn account_call(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account: &str,
    options: &CredentialOptions,
    operation: &AccountOperation,
) -> Result<AccountValue, AuthError> {
    let Some(api_base) = remote.api_url.clone() else {
        return Err(AuthError::Config {
            detail: format!(
                "remote `{}` has no account API URL; configure its api_url to use account commands",
                remote.name
            ),
        });
    };
    let config = AccountCallConfig {
        credential: credential_config(remote, account, options),
        api_base,
        header: remote
            .key_check
            .as_ref()
            .map_or_else(|| BEARER_HEADER.to_owned(), |spec| spec.header.clone()),
        max_response_bytes: crate::http::DEFAULT_MAX_RESPONSE_BYTES,
        operation: operation.clone(),
    };
    let now = io.now_ms();
    drive(AccountCall::new(config, now), io)
}

/// The account's login state from the store alone (no network, no refresh)
pub fn status(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account: &str,
    options: &CredentialOptions,
) -> Result<StatusReport, AuthError> {
    let record = load_record(io, &storage_key(&remote.name, account))?.unwrap_or_default();
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
        account: account.to_owned(),
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

/// Revokes the account's tokens at the provider (RFC 7009), then deletes the local record
///
/// A revocation failure is reported in the outcome; the local credentials are cleared anyway.
pub fn logout(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account: &str,
) -> Result<LogoutOutcome, AuthError> {
    let key = storage_key(&remote.name, account);
    // An unreadable record cannot be revoked, but it can still be cleared.
    let record = load_record(io, &key).ok().flatten();
    let mut revoked = Vec::new();
    let mut revocation_error = None;
    let mut held = Vec::new();
    if record.as_ref().is_some_and(|r| r.api_key.is_some()) {
        held.push("api_key".to_owned());
    }
    if let Some(tokens) = record.and_then(|r| r.oauth) {
        if tokens.refresh_token.is_some() {
            held.push("refresh_token".to_owned());
        }
        held.push("access_token".to_owned());
        let result = resolve_endpoints(io, remote).and_then(|endpoints| {
            let config = RevocationConfig {
                endpoints,
                client: remote.client.clone(),
                refresh_token: tokens.refresh_token.clone(),
                access_token: Some(tokens.access_token.clone()),
            };
            let now = io.now_ms();
            drive(Revocation::new(config, now), io)
        });
        match result {
            Ok(report) => revoked = report.revoked,
            Err(e) => revocation_error = Some(e),
        }
    }
    io.store(&StoreOp::Delete { key })?;
    // A revoked refresh token takes its access tokens with it (RFC 7009 §2.1).
    let refresh_revoked = revoked.iter().any(|r| r == "refresh_token");
    let unrevoked = held
        .into_iter()
        .filter(|h| !(revoked.contains(h) || h == "access_token" && refresh_revoked))
        .collect();
    Ok(LogoutOutcome {
        remote: remote.name.clone(),
        account: account.to_owned(),
        revoked,
        revocation_error,
        unrevoked,
        cleared: true,
    })
}

/// Deletes the local record of `account` without contacting the provider
pub fn forget(io: &mut impl Io, remote: &RemoteSpec, account: &str) -> Result<(), AuthError> {
    io.store(&StoreOp::Delete {
        key: storage_key(&remote.name, account),
    })?;
    Ok(())
}

/// Checks a credential against the remote's key-check endpoint (or `options.url`)
///
/// A failure carries the URL, the HTTP status and the time taken when the check request was
/// made; `?` turns it into its [`AuthError`].
pub fn test(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account: &str,
    options: &TestOptions,
) -> Result<TestReport, TestFailure> {
    let (credential, auth_type) = match (&options.key, options.method) {
        (Some(key), _) => (key.clone(), AuthType::ApiKey),
        (None, method) => {
            let mut credential = options.credential.clone();
            match method {
                TestMethod::ApiKey => credential.prefer = AuthType::ApiKey,
                TestMethod::Oauth => {
                    credential.prefer = AuthType::Oauth;
                    credential.env_api_key = None;
                }
                TestMethod::Auto => {}
            }
            let resolved = token(io, remote, account, &credential)?;
            let auth_type = resolved.kind;
            if method != TestMethod::Auto && auth_type != credential.prefer {
                return Err(AuthError::NotLoggedIn.into());
            }
            (resolved.secret, auth_type)
        }
    };
    let mut spec = match (&remote.key_check, &options.url) {
        (Some(spec), _) => spec.clone(),
        (None, Some(url)) => KeyCheckSpec {
            method: KeyCheckMethod::Get,
            url: url.clone(),
            header: BEARER_HEADER.into(),
            scheme: BEARER_SCHEME.into(),
            identity: BTreeMap::new(),
        },
        (None, None) => {
            return Err(AuthError::Config {
                detail: format!(
                    "remote `{}` has no key check URL; give one for this check or configure one for the remote",
                    remote.name
                ),
            }
            .into());
        }
    };
    if let Some(url) = &options.url {
        spec.url = url.clone();
    }
    if auth_type == AuthType::Oauth {
        // An access token is always a bearer token, whatever the API key's scheme is.
        spec.header = BEARER_HEADER.into();
        spec.scheme = BEARER_SCHEME.into();
    }
    let url = spec.url.clone();
    let now = io.now_ms();
    let mut check = KeyCheck::new(
        KeyCheckConfig {
            spec,
            key: credential,
        },
        now,
    );
    let mut status = None;
    let observed = Observed {
        check: &mut check,
        status: &mut status,
    };
    let result = drive(observed, io);
    let report = result.map_err(|error| TestFailure {
        error,
        url: Some(url.clone()),
        status,
        elapsed_ms: check.elapsed_ms(),
    })?;
    Ok(TestReport {
        url,
        status: report.status,
        elapsed_ms: report.elapsed_ms,
        identity: report.identity,
        auth_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{HttpRequest, HttpResponse, TransportError};
    use crate::machine::Prompt;
    use std::collections::HashMap;

    /// An in-memory host: a map for the store, a function for HTTP, a clock that advances
    struct Mem {
        now: u64,
        store: HashMap<String, Secret>,
        http: fn(&HttpRequest) -> Result<HttpResponse, TransportError>,
        sent: Vec<String>,
        shown: Vec<Prompt>,
    }

    impl Mem {
        fn new(http: fn(&HttpRequest) -> Result<HttpResponse, TransportError>) -> Self {
            Mem {
                now: 1_700_000_000_000,
                store: HashMap::new(),
                http,
                sent: Vec::new(),
                shown: Vec::new(),
            }
        }

        fn record(&self, key: &str) -> StoredRecord {
            StoredRecord::from_json(&self.store[key]).unwrap()
        }
    }

    impl Io for Mem {
        fn now_ms(&mut self) -> u64 {
            self.now += 1;
            self.now
        }
        fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
            self.sent.push(request.url.clone());
            (self.http)(request)
        }
        fn store(&mut self, op: &StoreOp) -> Result<Option<Secret>, StoreError> {
            Ok(match op {
                StoreOp::Load { key } => self.store.get(key).cloned(),
                StoreOp::CompareAndSwap { key, expected, new } => {
                    if self.store.get(key) == expected.as_ref() {
                        self.store.insert(key.clone(), new.clone());
                    }
                    self.store.get(key).cloned()
                }
                StoreOp::Delete { key } => {
                    self.store.remove(key);
                    None
                }
                StoreOp::Lock { .. } | StoreOp::Unlock { .. } => None,
            })
        }
        fn show(&mut self, prompt: &Prompt) {
            self.shown.push(prompt.clone());
        }
        fn open_browser(&mut self, _url: &str) -> bool {
            false
        }
        fn wait_until(&mut self, until_ms: u64) -> Option<String> {
            self.now = self.now.max(until_ms);
            None
        }
        fn answer_callback(&mut self, verdict: crate::machine::CallbackVerdict) {
            panic!("answered {verdict:?}, but no callback was returned");
        }
    }

    fn remote() -> RemoteSpec {
        RemoteSpec {
            name: "work".into(),
            endpoints: Some(Endpoints {
                token_endpoint: Some("https://id.example.com/token".into()),
                device_authorization_endpoint: Some("https://id.example.com/device".into()),
                revocation_endpoint: Some("https://id.example.com/revoke".into()),
                ..Endpoints::default()
            }),
            client: Client {
                client_id: "cli".into(),
                ..Client::default()
            },
            key_check: Some(KeyCheckSpec {
                method: KeyCheckMethod::Get,
                url: "https://api.example.com/me".into(),
                header: "authorization".into(),
                scheme: "Bearer".into(),
                identity: BTreeMap::from([("email".into(), "/email".into())]),
            }),
            ..RemoteSpec::default()
        }
    }

    fn id_token() -> String {
        let claims = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"sub":"u1","email":"ada@example.com"}"#,
        );
        format!("x.{claims}.y")
    }

    fn provider(request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let body = match request.url.as_str() {
            "https://id.example.com/device" => serde_json::json!({
                "device_code": "dc", "user_code": "UC-1", "verification_uri": "https://id.example.com/activate",
                "expires_in": 300, "interval": 5,
            }),
            "https://id.example.com/token" => serde_json::json!({
                "access_token": "at", "token_type": "Bearer", "expires_in": 3600,
                "refresh_token": "rt", "id_token": id_token(),
            }),
            "https://id.example.com/revoke" => return Ok(HttpResponse::new(503, "")),
            "https://api.example.com/v1/api-keys" => {
                let auth = request.headers.iter().find(|(n, _)| n == "authorization");
                assert_eq!(auth.map(|(_, v)| v.expose()), Some("Bearer good"));
                assert_eq!(
                    request.body,
                    crate::http::Body::Json(r#"{"name":"ci"}"#.into())
                );
                serde_json::json!({"id": 7, "key": "new-key", "name": "ci"})
            }
            "https://api.example.com/me" => {
                let auth = request.headers.iter().find(|(n, _)| n == "authorization");
                return Ok(match auth.map(|(_, v)| v.expose()) {
                    Some("Bearer good") => HttpResponse::new(200, r#"{"email":"key@example.com"}"#),
                    _ => HttpResponse::new(401, ""),
                });
            }
            other => panic!("unexpected request to {other}"),
        };
        Ok(HttpResponse::new(200, body.to_string()))
    }

    /// A provider whose token responses carry no ID token, with a userinfo endpoint
    fn provider_without_id_token(request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let auth = request.headers.iter().find(|(n, _)| n == "authorization");
        match request.url.as_str() {
            "https://id.example.com/token" => Ok(HttpResponse::new(
                200,
                r#"{"access_token":"at","token_type":"Bearer","expires_in":3600}"#,
            )),
            "https://id.example.com/userinfo" => {
                assert_eq!(auth.map(|(_, v)| v.expose()), Some("Bearer at"));
                Ok(HttpResponse::new(
                    200,
                    r#"{"sub":"u1","preferred_username":"ada","email":"ada@example.com"}"#,
                ))
            }
            "https://id.example.com/userinfo-sub-only" => {
                Ok(HttpResponse::new(200, r#"{"sub":"u1"}"#))
            }
            "https://id.example.com/userinfo-username" => Ok(HttpResponse::new(
                200,
                r#"{"sub":"u1","preferred_username":"ada"}"#,
            )),
            "https://id.example.com/userinfo-down" => Ok(HttpResponse::new(503, "")),
            "https://id.example.com/userinfo-handle" => Ok(HttpResponse::new(
                200,
                r#"{"sub":"u1","email":"ada@example.com","https://example.com/handle":"ada-h"}"#,
            )),
            _ => provider(request),
        }
    }

    #[test]
    fn without_an_id_token_userinfo_names_the_account() {
        let with_userinfo = |url: &str| {
            let mut r = remote();
            r.endpoints.as_mut().unwrap().userinfo_endpoint = Some(url.into());
            r
        };
        let mut io = Mem::new(provider_without_id_token);
        let outcome = login_device(
            &mut io,
            &with_userinfo("https://id.example.com/userinfo"),
            None,
        )
        .unwrap();
        assert_eq!(outcome.account, "ada@example.com");
        assert_eq!(outcome.identity["preferred_username"], "ada");
        assert!(
            io.record(&storage_key("work", "ada@example.com"))
                .oauth
                .is_some()
        );

        let mut io = Mem::new(provider_without_id_token);
        let outcome = login_device(
            &mut io,
            &with_userinfo("https://id.example.com/userinfo-username"),
            None,
        )
        .unwrap();
        assert_eq!(outcome.account, "ada");

        let mut io = Mem::new(provider_without_id_token);
        let outcome = login_device(
            &mut io,
            &with_userinfo("https://id.example.com/userinfo-sub-only"),
            None,
        )
        .unwrap();
        assert_eq!(
            outcome.account, "u1",
            "sub is the last resort before the hint"
        );

        // A failing userinfo endpoint does not fail the login: the hint, else `default`.
        let down = with_userinfo("https://id.example.com/userinfo-down");
        let mut io = Mem::new(provider_without_id_token);
        assert_eq!(
            login_device(&mut io, &down, Some("me")).unwrap().account,
            "me"
        );
        let mut io = Mem::new(provider_without_id_token);
        assert_eq!(
            login_device(&mut io, &down, None).unwrap().account,
            DEFAULT_ACCOUNT
        );

        // With an ID token that has the email, userinfo is not asked.
        let mut io = Mem::new(provider);
        let mut r = remote();
        r.endpoints.as_mut().unwrap().userinfo_endpoint =
            Some("https://id.example.com/never".into());
        assert_eq!(
            login_device(&mut io, &r, None).unwrap().account,
            "ada@example.com"
        );
    }

    /// Issue 12: the claims that name an account are the remote's, in its order
    #[test]
    fn the_remote_decides_which_claims_name_the_account() {
        let labelled = |url: &str, claims: &[&str]| {
            let mut r = remote();
            r.endpoints.as_mut().unwrap().userinfo_endpoint = Some(url.into());
            r.account_label = claims.iter().map(|c| (*c).to_owned()).collect();
            r
        };
        let login = |provider, r: &RemoteSpec| {
            let mut io = Mem::new(provider);
            let outcome = login_device(&mut io, r, None).unwrap();
            (outcome, io.sent)
        };
        // The default names Ada after her email; this remote prefers the username.
        let r = labelled(
            "https://id.example.com/userinfo",
            &["preferred_username", "email"],
        );
        let (outcome, _) = login(provider_without_id_token, &r);
        assert_eq!(outcome.account, "ada");
        assert_eq!(outcome.identity["email"], "ada@example.com");
        // A namespaced claim, read from userinfo (its `/` escaped in the pointer).
        let r = labelled(
            "https://id.example.com/userinfo-handle",
            &["https://example.com/handle", "email"],
        );
        assert_eq!(login(provider_without_id_token, &r).0.account, "ada-h");
        // The ID token has the first claim (`sub`): userinfo is not asked.
        let r = labelled("https://id.example.com/never", &["sub", "email"]);
        let (outcome, sent) = login(provider, &r);
        assert_eq!(outcome.account, "u1");
        assert!(!sent.iter().any(|u| u.contains("never")), "{sent:?}");
        // None of the claims: the first identity field, as before.
        let mut r = labelled("https://id.example.com/unused", &["nickname"]);
        r.endpoints.as_mut().unwrap().userinfo_endpoint = None;
        assert_eq!(login(provider, &r).0.account, "ada@example.com");
        // API keys too: the key check's fields in the remote's order.
        let mut io = Mem::new(provider);
        let mut r = remote();
        r.key_check.as_mut().unwrap().identity = BTreeMap::from([
            ("email".into(), "/email".into()),
            ("id".into(), "/email".into()),
        ]);
        r.account_label = vec!["id".into()];
        let outcome = login_api_key(&mut io, &r, None, Secret::new("good")).unwrap();
        assert_eq!(outcome.account, "key@example.com");
        assert_eq!(
            account_label(
                &BTreeMap::from([("email".into(), " ".into()), ("sub".into(), "u1".into())]),
                &default_account_label()
            ),
            Some("u1".into()),
            "a blank claim is skipped"
        );
    }

    #[test]
    fn device_login_names_the_account_and_keeps_a_stored_api_key() {
        let mut io = Mem::new(provider);
        let key = storage_key("work", "ada@example.com");
        let existing = StoredRecord {
            api_key: Some(Secret::new("k1")),
            ..StoredRecord::default()
        };
        io.store.insert(key.clone(), existing.to_json());
        let outcome = login_device(&mut io, &remote(), None).unwrap();
        assert_eq!(outcome.account, "ada@example.com");
        assert_eq!(outcome.auth_type, AuthType::Oauth);
        assert_eq!(io.shown[0].user_code, "UC-1");
        let record = io.record(&key);
        assert_eq!(record.api_key, Some(Secret::new("k1")));
        assert_eq!(record.oauth.unwrap().access_token, Secret::new("at"));
    }

    #[test]
    fn a_login_replaces_a_corrupt_record_but_never_a_newer_one() {
        let mut io = Mem::new(provider);
        let key = storage_key("work", "ada@example.com");
        io.store.insert(key.clone(), Secret::new("{not json"));
        let options = CredentialOptions {
            prefer: AuthType::Oauth,
            env_api_key: None,
        };
        let e = status(&mut io, &remote(), "ada@example.com", &options).unwrap_err();
        assert_eq!(e.code(), "corrupt_credential");
        login_device(&mut io, &remote(), None).unwrap();
        assert!(io.record(&key).oauth.is_some());

        io.store
            .insert(key.clone(), Secret::new(r#"{"version":99}"#));
        let e = login_device(&mut io, &remote(), None).unwrap_err();
        assert!(e.to_string().contains("newer keyhole"), "{e}");
        assert_eq!(io.store[&key], Secret::new(r#"{"version":99}"#));
    }

    #[test]
    fn api_keys_are_checked_first_and_set_key_keeps_tokens() {
        let mut io = Mem::new(provider);
        let e = login_api_key(&mut io, &remote(), None, Secret::new("bad")).unwrap_err();
        assert_eq!(e, AuthError::InvalidKey);
        assert!(io.store.is_empty(), "a rejected key is never stored");
        let outcome = login_api_key(&mut io, &remote(), None, Secret::new("good")).unwrap();
        assert_eq!(outcome.account, "key@example.com");

        login_device(&mut io, &remote(), None).unwrap();
        set_key(&mut io, &remote(), "ada@example.com", Secret::new("good")).unwrap();
        let record = io.record(&storage_key("work", "ada@example.com"));
        assert_eq!(record.api_key, Some(Secret::new("good")));
        assert!(record.oauth.is_some(), "set-key keeps the OAuth tokens");
    }

    #[test]
    fn status_applies_env_precedence_without_the_network() {
        let mut io = Mem::new(provider);
        let options = CredentialOptions {
            prefer: AuthType::Oauth,
            env_api_key: None,
        };
        let s = status(&mut io, &remote(), "ada@example.com", &options).unwrap();
        assert!(!s.logged_in);
        login_device(&mut io, &remote(), None).unwrap();
        let sent = io.sent.len();
        let s = status(&mut io, &remote(), "ada@example.com", &options).unwrap();
        assert_eq!(
            (s.logged_in, s.auth_type, s.from_env),
            (true, Some(AuthType::Oauth), false)
        );
        assert!(s.expires_at_ms.is_some());
        let env = CredentialOptions {
            env_api_key: Some(Secret::new("e")),
            ..options
        };
        let s = status(&mut io, &remote(), "ada@example.com", &env).unwrap();
        assert_eq!((s.auth_type, s.from_env), (Some(AuthType::ApiKey), true));
        let mut fallback = remote();
        fallback.env_precedence = EnvPrecedence::Fallback;
        let s = status(&mut io, &fallback, "ada@example.com", &env).unwrap();
        assert_eq!((s.auth_type, s.from_env), (Some(AuthType::Oauth), false));
        assert_eq!(io.sent.len(), sent, "status sends nothing");
    }

    #[test]
    fn logout_clears_local_credentials_even_when_revocation_fails() {
        let mut io = Mem::new(provider);
        login_device(&mut io, &remote(), None).unwrap();
        let out = logout(&mut io, &remote(), "ada@example.com").unwrap();
        assert!(out.cleared);
        assert!(out.revocation_error.is_some(), "the provider answered 503");
        assert!(io.store.is_empty());
    }

    #[test]
    fn token_and_test_use_the_stored_credential() {
        let mut io = Mem::new(provider);
        login_api_key(&mut io, &remote(), None, Secret::new("good")).unwrap();
        let options = CredentialOptions {
            prefer: AuthType::ApiKey,
            env_api_key: None,
        };
        let t = token(&mut io, &remote(), "key@example.com", &options).unwrap();
        assert_eq!((t.secret, t.kind), (Secret::new("good"), AuthType::ApiKey));
        let mut run = |method, key: Option<&str>| {
            let options = TestOptions {
                method,
                url: None,
                key: key.map(Secret::new),
                credential: options.clone(),
            };
            test(&mut io, &remote(), "key@example.com", &options)
        };
        let report = run(TestMethod::Auto, None).unwrap();
        assert_eq!(report.status, 200);
        assert_eq!(report.identity["email"], "key@example.com");
        let e = run(TestMethod::Oauth, None).unwrap_err();
        assert_eq!(
            e,
            AuthError::NotLoggedIn.into(),
            "no OAuth tokens are stored, so no request was made"
        );
        assert_eq!((e.url, e.status, e.elapsed_ms), (None, None, None));
        let e = run(TestMethod::Auto, Some("bad")).unwrap_err();
        assert_eq!(e.error, AuthError::InvalidKey);
        assert_eq!(e.url.as_deref(), Some("https://api.example.com/me"));
        assert_eq!(e.status, Some(401), "a failure keeps the status");
        assert!(e.elapsed_ms.is_some(), "and the time taken");
    }

    #[test]
    fn account_calls_send_the_stored_credential_to_the_api_url() {
        let mut io = Mem::new(provider);
        login_api_key(&mut io, &remote(), None, Secret::new("good")).unwrap();
        let options = CredentialOptions {
            prefer: AuthType::ApiKey,
            env_api_key: None,
        };
        let create: AccountOperation =
            serde_json::from_value(serde_json::json!({"create_key": {"name": "ci"}})).unwrap();
        let e = account_call(&mut io, &remote(), "key@example.com", &options, &create).unwrap_err();
        assert_eq!(e.code(), "config", "no api_url: {e}");
        let mut with_api = remote();
        with_api.api_url = Some("https://api.example.com/v1".into());
        let value = account_call(&mut io, &with_api, "key@example.com", &options, &create).unwrap();
        let AccountValue::CreatedKey(created) = value else {
            panic!("not a created key: {value:?}");
        };
        assert_eq!(created.key, Secret::new("new-key"));
        assert_eq!(created.body, serde_json::json!({"id": 7, "name": "ci"}));
        assert_eq!(
            io.sent.last().map(String::as_str),
            Some("https://api.example.com/v1/api-keys")
        );
    }

    fn refusing_provider(request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        match request.url.as_str() {
            "https://id.example.com/token" => Ok(HttpResponse::new(
                400,
                r#"{"error":"invalid_grant","error_description":"grant revoked"}"#,
            )),
            other => panic!("unexpected request to {other}"),
        }
    }

    /// Issue 16 item 15: a refused refresh uses the record's API key, says so, and drops the
    /// refused tokens so the next call sends no refresh; a remote that disallows it, or a record
    /// without a key, needs a login as before
    #[test]
    fn a_refused_refresh_falls_back_to_the_stored_api_key() {
        let key = storage_key("work", "ada@example.com");
        let stale = StoredRecord {
            api_key: Some(Secret::new("k1")),
            oauth: Some(TokenSet {
                access_token: Secret::new("at"),
                token_type: "Bearer".into(),
                refresh_token: Some(Secret::new("rt")),
                id_token: None,
                scope: None,
                expires_at_ms: Some(1),
                refresh_at_ms: None,
                issued_at_ms: None,
            }),
            updated_at_ms: 1,
        };
        let options = CredentialOptions {
            prefer: AuthType::Oauth,
            env_api_key: None,
        };
        let mut io = Mem::new(refusing_provider);
        io.store.insert(key.clone(), stale.to_json());
        let t = token(&mut io, &remote(), "ada@example.com", &options).unwrap();
        assert_eq!((t.kind, t.secret), (AuthType::ApiKey, Secret::new("k1")));
        assert_eq!(
            t.warning.as_deref(),
            Some(crate::credential::WARNING_OAUTH_REFUSED)
        );
        assert!(
            t.fallback_reason
                .as_deref()
                .unwrap()
                .contains("grant revoked"),
            "{:?}",
            t.fallback_reason
        );
        let record = io.record(&key);
        assert_eq!(record.api_key, Some(Secret::new("k1")), "the key stays");
        assert_eq!(record.oauth, None, "the refused tokens are dropped");
        let sent = io.sent.len();
        let t = token(&mut io, &remote(), "ada@example.com", &options).unwrap();
        assert_eq!((t.kind, t.warning), (AuthType::ApiKey, None));
        assert_eq!(io.sent.len(), sent, "no refused refresh is sent again");

        let mut io = Mem::new(refusing_provider);
        io.store.insert(key.clone(), stale.to_json());
        let strict = RemoteSpec {
            api_key_fallback: false,
            ..remote()
        };
        let e = token(&mut io, &strict, "ada@example.com", &options).unwrap_err();
        assert_eq!(e.code(), "relogin_required");
        assert_eq!(io.store[&key], stale.to_json(), "nothing is written");

        let mut io = Mem::new(refusing_provider);
        let no_key = StoredRecord {
            api_key: None,
            ..stale.clone()
        };
        io.store.insert(key.clone(), no_key.to_json());
        let e = token(&mut io, &remote(), "ada@example.com", &options).unwrap_err();
        assert_eq!(e.code(), "relogin_required");
        assert_eq!(io.store[&key], no_key.to_json());
    }

    #[test]
    fn endpoints_need_an_issuer_or_a_token_endpoint() {
        let mut io = Mem::new(provider);
        let bare = RemoteSpec {
            name: "x".into(),
            ..RemoteSpec::default()
        };
        let e = resolve_endpoints(&mut io, &bare).unwrap_err();
        assert_eq!(e.code(), "config");
        assert!(
            e.to_string()
                .contains("neither an issuer nor a token endpoint")
        );
    }
}
