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

/// The account label picked from identity fields: email, login, username, name, sub, then any
pub fn account_label(identity: &BTreeMap<String, String>) -> Option<String> {
    [
        "email",
        "login",
        "username",
        "preferred_username",
        "name",
        "sub",
        "id",
    ]
    .iter()
    .find_map(|k| identity.get(*k))
    .or_else(|| identity.values().next())
    .filter(|v| !v.trim().is_empty())
    .cloned()
}
