//! The high-level operations a CLI offers, composed from the machines and run with [`drive`]
//!
//! Hosts (the native `keyhole`, the wasm component's `client` export, JS) call these with their
//! [`Io`]; they keep their own configuration and hand in a [`RemoteSpec`]. Everything here is plain
//! data so that the WIT `client` interface can mirror it one to one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::drive::{Io, drive};
use crate::error::AuthError;
use crate::oauth::{Client, Endpoints};
use crate::secret::Secret;

/// The kind of credential an account uses
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    /// Tokens from a device or browser login
    Oauth,
    /// A long-lived API key
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

/// Whether an API key from the environment beats stored credentials
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvPrecedence {
    /// The environment key wins over stored credentials
    #[default]
    Override,
    /// The environment key is used only when nothing is stored
    Fallback,
}

/// How to validate an API key: one request, the key in a header
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCheckSpec {
    /// `GET` or `POST`
    #[serde(default = "default_method")]
    pub method: String,
    /// The URL to call (https, or http on loopback)
    pub url: String,
    /// The header carrying the key
    #[serde(default = "default_header")]
    pub header: String,
    /// The scheme before the key (`Bearer`, `Api-Key`), or empty for the raw key
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Identity fields to read from a 2xx JSON body: name → JSON pointer (`/email`)
    #[serde(default)]
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
