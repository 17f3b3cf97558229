//! What every operation is given: the remote, and which of an account's credentials to use

use serde::Deserialize;
use url::Url;

use crate::credential::{AuthType, CredentialConfig, EnvPrecedence};
use crate::key_check::KeyCheckSpec;
use crate::oauth::{Client, Endpoints};
use crate::record::storage_key;
use crate::secret::Secret;

use super::login_outcome::default_account_label;

/// A remote as the operations need it; hosts keep their own config format and build this
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RemoteSpec {
    /// The remote's name (first half of the storage key)
    pub name: String,
    /// The OpenID issuer, for discovery unless `endpoints` is a discovery result for it
    ///
    /// Text, not a [`Url`]: discovery compares it character for character with the issuer the
    /// provider names (see [`crate::discovery::DiscoveryConfig::issuer`]).
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
    #[serde(default, deserialize_with = "crate::endpoint::url_field::optional")]
    pub api_url: Option<Url>,
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
    /// (default [`super::DEFAULT_ACCOUNT_LABEL`])
    ///
    /// The userinfo endpoint is asked when the ID token lacks the first claim. When none of the
    /// claims is present the account is named after the first identity field (by name), then
    /// the host's hint, then [`super::DEFAULT_ACCOUNT`].
    #[serde(default = "default_account_label")]
    pub account_label: Vec<String>,
}

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

/// Which stored credential an account prefers, and the key the environment offers
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CredentialOptions {
    /// The credential used when the record holds both kinds
    #[serde(default)]
    pub prefer: AuthType,
    /// An API key from the environment (`KEYHOLE_API_KEY`), applied per `env_precedence`
    #[serde(default)]
    pub env_api_key: Option<Secret>,
}

/// The header an access token (and, without a key check, an API key) goes in
pub(crate) const BEARER_HEADER: &str = "authorization";
/// The scheme an access token (and, without a key check, an API key) goes with
pub(crate) const BEARER_SCHEME: &str = crate::oauth::BEARER;

/// The credential config of `account`: what `token` resolves and account calls send
pub(crate) fn credential_config(
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
