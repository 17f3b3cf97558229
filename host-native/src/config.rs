//! The host's configuration file: remotes, the current remote, accounts and projects
//!
//! `config.toml` in the app's config directory (`$KEYHOLE_CONFIG_DIR`, else
//! `$XDG_CONFIG_HOME/keyhole`, else `~/.config/keyhole`; the prefix follows the app name). It
//! carries a format `version`, holds no secrets, and is replaced atomically on every save.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use keyhole_core::Endpoints;
use keyhole_core::client::AuthType;
use keyhole_core::client::RemoteSpec;
use keyhole_core::credential::EnvPrecedence;
use keyhole_core::key_check::{KeyCheckMethod, KeyCheckSpec};
use keyhole_core::oauth::Client;
use serde::{Deserialize, Serialize};

use crate::store::file::write_atomic;

/// The config format this build writes; newer versions are refused
pub const CONFIG_VERSION: u32 = 1;

/// The whole config file
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Format version, [`CONFIG_VERSION`]
    pub version: u32,
    /// The remote used when `--remote` is not given
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_remote: Option<String>,
    /// Remotes by name
    #[serde(default)]
    pub remotes: BTreeMap<String, RemoteConfig>,
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

impl Default for Config {
    fn default() -> Self {
        Self {
            version: CONFIG_VERSION,
            current_remote: None,
            remotes: BTreeMap::new(),
        }
    }
}

/// One environment: a provider, a client, an API, and the accounts logged in there
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteConfig {
    /// The OpenID issuer, used for discovery
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Endpoints configured explicitly: each overrides its discovered one, field by field
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
    /// Endpoints found by discovery, cached so that `token` needs no discovery request
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovered: Option<Endpoints>,
    /// The OAuth client id
    #[serde(default)]
    pub client_id: String,
    /// Scopes requested at login
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The API the credentials are for (shown by `status`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// How to validate an API key
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_check: Option<KeyCheckSettings>,
    /// Whether `KEYHOLE_API_KEY` (the prefix follows the app name) overrides stored credentials or is only a fallback
    #[serde(default)]
    pub env_key_precedence: EnvKeyPrecedence,
    /// The loopback port of browser login (0 or absent: any free port)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_port: Option<u16>,
    /// Seconds browser login waits for the callback when `--timeout` is not given
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_timeout_s: Option<u64>,
    /// Whether the remote's API needs a credential (default); `false` for a server that needs
    /// none, where a project id is taken as typed (llamactl's self-hosted environments)
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub requires_auth: bool,
    /// Whether an account whose OAuth refresh the provider refuses goes on with the API key
    /// stored beside its tokens, with a warning (default); `false`: it needs a login then
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub api_key_fallback: bool,
    /// The identity claims that name an account at login, in order; absent: keyhole's
    /// (`keyhole_core::client::DEFAULT_ACCOUNT_LABEL`: email, then usernames, then `sub`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_label: Option<Vec<String>>,
    /// The account used when none is named
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_account: Option<String>,
    /// Accounts logged in on this remote
    #[serde(default)]
    pub accounts: BTreeMap<String, AccountConfig>,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            endpoints: None,
            discovered: None,
            client_id: String::new(),
            scopes: Vec::new(),
            api_url: None,
            key_check: None,
            env_key_precedence: EnvKeyPrecedence::default(),
            callback_port: None,
            callback_timeout_s: None,
            requires_auth: true,
            api_key_fallback: true,
            account_label: None,
            active_account: None,
            accounts: BTreeMap::new(),
        }
    }
}

/// Whether `KEYHOLE_API_KEY` (the prefix follows the app name) beats stored credentials (`override`) or only stands in (`fallback`)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum EnvKeyPrecedence {
    /// The environment key wins
    #[default]
    Override,
    /// The environment key is used only when nothing is stored
    Fallback,
}

impl EnvKeyPrecedence {
    /// The core's value
    pub fn to_core(self) -> EnvPrecedence {
        match self {
            EnvKeyPrecedence::Override => EnvPrecedence::Override,
            EnvKeyPrecedence::Fallback => EnvPrecedence::Fallback,
        }
    }
}

/// How to validate an API key, as the config file spells it
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCheckSettings {
    /// `GET` or `POST`
    #[serde(default = "default_method")]
    pub method: String,
    /// The URL to call
    pub url: String,
    /// The header carrying the key
    #[serde(default = "default_header")]
    pub header: String,
    /// The scheme before the key (`Bearer`, `Api-Key`, or empty for the raw key)
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Identity fields of the JSON answer: name → JSON pointer
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub identity: BTreeMap<String, String>,
}

fn default_method() -> String {
    "GET".into()
}
fn default_header() -> String {
    "authorization".into()
}
fn default_scheme() -> String {
    "Bearer".into()
}

impl KeyCheckSettings {
    /// The core's spec
    pub fn to_core(&self) -> KeyCheckSpec {
        KeyCheckSpec {
            method: if self.method.eq_ignore_ascii_case("POST") {
                KeyCheckMethod::Post
            } else {
                KeyCheckMethod::Get
            },
            url: self.url.clone(),
            header: self.header.clone(),
            scheme: self.scheme.clone(),
            identity: self.identity.clone(),
        }
    }
}

/// What the config knows about one account (its credentials are in the secret store)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountConfig {
    /// The active project of this account
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// How the account last logged in; decides which credential `token` prefers
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<AuthType>,
}

/// Why the config could not be read or written
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written
    #[error("cannot {what} {path}: {detail}; check the permissions of the config directory")]
    Io {
        /// `read`, `write` or `lock`
        what: &'static str,
        /// The file
        path: String,
        /// The OS error
        detail: String,
    },
    /// The file is not valid TOML of the expected shape
    #[error("{path} is not a valid config file ({detail}); fix or remove it")]
    Invalid {
        /// The file
        path: String,
        /// The parser's message
        detail: String,
    },
    /// The file was written by a newer keyhole
    #[error(
        "{path} has config format version {version}, written by a newer keyhole; upgrade keyhole"
    )]
    TooNew {
        /// The file
        path: String,
        /// Its version
        version: u32,
    },
}

impl RemoteConfig {
    /// The remote as the core's client operations take it; `extra_scopes` are added to the
    /// configured ones
    pub fn spec(&self, name: &str, extra_scopes: &[String]) -> RemoteSpec {
        let mut scopes = self.scopes.clone();
        for s in extra_scopes {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        RemoteSpec {
            name: name.to_owned(),
            issuer: self.issuer.clone(),
            endpoints: self.endpoints(),
            client: Client {
                client_id: self.client_id.clone(),
                client_secret: None,
                scopes,
            },
            api_url: self.api_url.clone(),
            key_check: self.key_check.as_ref().map(KeyCheckSettings::to_core),
            env_precedence: self.env_key_precedence.to_core(),
            api_key_fallback: self.api_key_fallback,
            account_label: self
                .account_label
                .clone()
                .unwrap_or_else(keyhole_core::client::default_account_label),
        }
    }

    /// The explicit endpoints over the cached discovery, field by field
    ///
    /// An explicit set carries no issuer (older configs stored one; it is dropped here): the core
    /// takes endpoints naming the remote's issuer as a complete discovery result, and explicit
    /// ones alone must not stand in for discovery.
    fn endpoints(&self) -> Option<Endpoints> {
        let explicit = self
            .endpoints
            .clone()
            .map(|e| Endpoints { issuer: None, ..e });
        match (explicit, self.discovered.clone()) {
            (Some(explicit), Some(discovered)) => Some(explicit.or(discovered)),
            (explicit, discovered) => explicit.or(discovered),
        }
    }

    /// What `status` shows as the remote's URL: the API, else the issuer, else the token endpoint
    pub fn url(&self) -> Option<String> {
        self.api_url
            .clone()
            .or_else(|| self.issuer.clone())
            .or_else(|| {
                self.endpoints
                    .as_ref()
                    .and_then(|e| e.token_endpoint.clone())
            })
    }
}

/// The explicit endpoints of a remote, or `None` when none is given
///
/// Any one endpoint is kept: it overrides its discovered one, so a device authorization
/// endpoint alone is as meaningful as a token endpoint.
pub fn explicit_endpoints(
    token_endpoint: Option<String>,
    device_authorization_endpoint: Option<String>,
    authorization_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
) -> Option<Endpoints> {
    let endpoints = Endpoints {
        token_endpoint,
        device_authorization_endpoint,
        authorization_endpoint,
        revocation_endpoint,
        ..Endpoints::default()
    };
    (endpoints != Endpoints::default()).then_some(endpoints)
}

/// The config file inside a config directory
pub fn config_path(dir: &Path) -> PathBuf {
    dir.join("config.toml")
}

impl Config {
    /// Reads the config of `dir`; a missing file is an empty config
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let path = config_path(dir);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(ConfigError::Io {
                    what: "read",
                    path: path.display().to_string(),
                    detail: e.to_string(),
                });
            }
        };
        Self::parse(&text, &path)
    }

    fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let invalid = |detail: String| ConfigError::Invalid {
            path: path.display().to_string(),
            detail,
        };
        // Look at the version first, so a newer file is refused for the right reason.
        let raw: toml::Table = toml::from_str(text).map_err(|e| invalid(e.message().to_owned()))?;
        let version = match raw.get("version") {
            Some(toml::Value::Integer(v)) => {
                u32::try_from(*v).map_err(|_| invalid("`version` is out of range".into()))?
            }
            Some(_) => return Err(invalid("`version` is not a number".into())),
            None => return Err(invalid("it has no `version`".into())),
        };
        if version > CONFIG_VERSION {
            return Err(ConfigError::TooNew {
                path: path.display().to_string(),
                version,
            });
        }
        toml::from_str(text).map_err(|e| invalid(e.message().to_owned()))
    }

    /// Writes the config of `dir` atomically
    pub fn save(&self, dir: &Path) -> Result<(), ConfigError> {
        let path = config_path(dir);
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Invalid {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        write_atomic(&path, text.as_bytes()).map_err(|e| ConfigError::Io {
            what: "write",
            path: path.display().to_string(),
            detail: e.to_string(),
        })
    }

    /// The remote to use: the named one, else the current one, else the only one
    pub fn pick_remote(&self, named: Option<&str>) -> Result<&str, NoRemote> {
        if let Some(name) = named {
            return self
                .remotes
                .get_key_value(name)
                .map(|(k, _)| k.as_str())
                .ok_or_else(|| NoRemote::Unknown(name.to_owned()));
        }
        if let Some(current) = &self.current_remote
            && self.remotes.contains_key(current)
        {
            return Ok(current);
        }
        match self.remotes.len() {
            0 => Err(NoRemote::NoneConfigured),
            1 => Ok(self.remotes.keys().next().expect("one remote exists")),
            _ => Err(NoRemote::Several(self.remotes.keys().cloned().collect())),
        }
    }
}

/// Why [`Config::pick_remote`] found no remote; the CLI phrases it with the product's commands
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRemote {
    /// `--remote NAME` names none
    Unknown(String),
    /// No remote at all
    NoneConfigured,
    /// Several, none current, none named
    Several(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn sample() -> Config {
        let mut remotes = BTreeMap::new();
        remotes.insert(
            "work".into(),
            RemoteConfig {
                issuer: Some("https://id.example.com".into()),
                discovered: Some(Endpoints {
                    token_endpoint: Some("https://id.example.com/token".into()),
                    ..Endpoints::default()
                }),
                client_id: "cli".into(),
                scopes: vec!["openid".into(), "offline_access".into()],
                api_url: Some("https://api.example.com".into()),
                key_check: Some(KeyCheckSettings {
                    method: "GET".into(),
                    url: "https://api.example.com/me".into(),
                    header: "authorization".into(),
                    scheme: "Bearer".into(),
                    identity: BTreeMap::from([("email".into(), "/email".into())]),
                }),
                env_key_precedence: EnvKeyPrecedence::Fallback,
                callback_port: Some(8400),
                active_account: Some("me@example.com".into()),
                accounts: BTreeMap::from([(
                    "me@example.com".into(),
                    AccountConfig {
                        project: Some("p1".into()),
                        auth_type: Some(AuthType::Oauth),
                    },
                )]),
                ..RemoteConfig::default()
            },
        );
        Config {
            version: CONFIG_VERSION,
            current_remote: Some("work".into()),
            remotes,
        }
    }

    #[test]
    fn round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::load(dir.path()).unwrap(), Config::default());
        let c = sample();
        c.save(dir.path()).unwrap();
        let text = fs::read_to_string(config_path(dir.path())).unwrap();
        assert!(text.starts_with("version = 1\n"), "{text}");
        assert_eq!(Config::load(dir.path()).unwrap(), c);
    }

    #[test]
    fn refuses_newer_and_broken_files_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            config_path(dir.path()),
            "version = 7\n[remotes.x]\nfuture = 1\n",
        )
        .unwrap();
        let e = Config::load(dir.path()).unwrap_err();
        assert!(matches!(e, ConfigError::TooNew { version: 7, .. }), "{e}");
        assert!(e.to_string().contains("upgrade keyhole"));
        fs::write(config_path(dir.path()), "remotes = 3").unwrap();
        let e = Config::load(dir.path()).unwrap_err();
        assert!(e.to_string().contains("no `version`"), "{e}");
        fs::write(config_path(dir.path()), "version = 1\nremotes = 3").unwrap();
        assert!(matches!(
            Config::load(dir.path()).unwrap_err(),
            ConfigError::Invalid { .. }
        ));
    }

    #[test]
    fn picks_the_named_current_or_only_remote() {
        let mut c = sample();
        assert_eq!(c.pick_remote(None).unwrap(), "work");
        assert_eq!(
            c.pick_remote(Some("nope")),
            Err(NoRemote::Unknown("nope".into()))
        );
        c.current_remote = None;
        assert_eq!(c.pick_remote(None).unwrap(), "work");
        c.remotes.insert("home".into(), RemoteConfig::default());
        assert_eq!(
            c.pick_remote(None),
            Err(NoRemote::Several(vec!["home".into(), "work".into()]))
        );
        assert_eq!(c.pick_remote(Some("home")).unwrap(), "home");
        assert_eq!(
            Config::default().pick_remote(None),
            Err(NoRemote::NoneConfigured)
        );
    }
}
