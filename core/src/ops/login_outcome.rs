//! What a login produced, and the account it is stored under

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::credential::AuthType;
use crate::machine::WireValue;
use crate::oauth::Endpoints;

/// The account name used when nothing better is known
pub const DEFAULT_ACCOUNT: &str = "default";

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

impl WireValue for LoginOutcome {
    fn to_wire(&self) -> Value {
        json!({
            "remote": self.remote,
            "account": self.account,
            "auth_type": self.auth_type.as_str(),
            "endpoints": self.endpoints.as_ref().map(WireValue::to_wire),
            "identity": self.identity,
            "expires_at_ms": self.expires_at_ms,
        })
    }
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

/// [`DEFAULT_ACCOUNT_LABEL`] as a [`super::RemoteSpec::account_label`]
pub fn default_account_label() -> Vec<String> {
    DEFAULT_ACCOUNT_LABEL
        .iter()
        .map(|c| (*c).to_owned())
        .collect()
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
