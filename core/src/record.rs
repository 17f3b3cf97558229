//! The stored credential record: versioned JSON, the same for every host
//!
//! A record written by the native CLI is read by the wasm component and the JS hosts, so the key
//! layout and the format live here, once. Secrets are written out by [`StoredRecord::to_json`] and
//! nowhere else.
use serde_json::{Map, Value, json};

use crate::error::AuthError;
use crate::oauth::{TokenSet, optional_string};
use crate::secret::Secret;

/// The record format this build writes; it reads this version and refuses newer ones
pub const RECORD_VERSION: u64 = 1;

/// The secret-store key of one account's record on one remote
pub fn storage_key(remote: &str, account: &str) -> String {
    format!("{remote}/{account}")
}

/// One account's credentials: an API key, OAuth tokens, or both
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredRecord {
    /// A long-lived API key (`set-key`, `login --api-key`)
    pub api_key: Option<Secret>,
    /// Tokens from a device or browser login
    pub oauth: Option<TokenSet>,
    /// When the record was last written (unix ms)
    pub updated_at_ms: u64,
}

impl StoredRecord {
    /// Whether the record holds no credential at all
    pub fn is_empty(&self) -> bool {
        self.api_key.is_none() && self.oauth.is_none()
    }

    /// Serialises the record, secrets included, for the secret store only
    pub fn to_json(&self) -> Secret {
        let mut out = Map::new();
        out.insert("version".into(), json!(RECORD_VERSION));
        if let Some(key) = &self.api_key {
            out.insert("api_key".into(), json!(key.expose()));
        }
        if let Some(t) = &self.oauth {
            let mut o = Map::new();
            o.insert("access_token".into(), json!(t.access_token.expose()));
            o.insert("token_type".into(), json!(t.token_type));
            if let Some(r) = &t.refresh_token {
                o.insert("refresh_token".into(), json!(r.expose()));
            }
            if let Some(i) = &t.id_token {
                o.insert("id_token".into(), json!(i.expose()));
            }
            if let Some(s) = &t.scope {
                o.insert("scope".into(), json!(s));
            }
            if let Some(e) = t.expires_at_ms {
                o.insert("expires_at_ms".into(), json!(e));
            }
            if let Some(r) = t.refresh_at_ms {
                o.insert("refresh_at_ms".into(), json!(r));
            }
            if let Some(i) = t.issued_at_ms {
                o.insert("issued_at_ms".into(), json!(i));
            }
            out.insert("oauth".into(), Value::Object(o));
        }
        out.insert("updated_at_ms".into(), json!(self.updated_at_ms));
        Secret::new(Value::Object(out).to_string())
    }

    /// Parses a stored record; errors name the field and never echo the content
    pub fn from_json(stored: &Secret) -> Result<Self, AuthError> {
        let bad = |detail: &str| AuthError::CorruptCredential {
            detail: detail.to_owned(),
        };
        let value: Value = crate::body::parse_json(stored.expose().as_bytes())
            .map_err(|_| bad("it is not JSON"))?;
        let Value::Object(map) = value else {
            return Err(bad("it is not a JSON object"));
        };
        match map.get("version").and_then(Value::as_u64) {
            Some(RECORD_VERSION) => {}
            Some(v) if v > RECORD_VERSION => {
                return Err(AuthError::Config {
                    detail: format!(
                        "the stored credential has format version {v}, written by a newer keyhole; upgrade keyhole"
                    ),
                });
            }
            _ => return Err(bad("it has no known format version")),
        }
        let api_key =
            optional_string(&map, "api_key").map_err(|_| bad("`api_key` is not a string"))?;
        let oauth = match map.get("oauth") {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(read_tokens(o).map_err(|e| match e {
                AuthError::Protocol { field, detail } => bad(&format!("`oauth.{field}` {detail}")),
                other => other,
            })?),
            Some(_) => return Err(bad("`oauth` is not an object")),
        };
        Ok(StoredRecord {
            api_key: api_key.map(Secret::new),
            oauth,
            updated_at_ms: map
                .get("updated_at_ms")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        })
    }
}

pub(crate) fn read_tokens(o: &Map<String, Value>) -> Result<TokenSet, AuthError> {
    let ms = |k: &str| match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| AuthError::protocol(k, "is not a unix time in ms")),
    };
    Ok(TokenSet {
        access_token: Secret::new(crate::oauth::required_string(o, "access_token")?),
        token_type: optional_string(o, "token_type")?
            .unwrap_or_else(|| crate::oauth::BEARER.into()),
        refresh_token: optional_string(o, "refresh_token")?.map(Secret::new),
        id_token: optional_string(o, "id_token")?.map(Secret::new),
        scope: optional_string(o, "scope")?,
        expires_at_ms: ms("expires_at_ms")?,
        refresh_at_ms: ms("refresh_at_ms")?,
        issued_at_ms: ms("issued_at_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = StoredRecord {
            api_key: Some(Secret::new("k")),
            oauth: Some(TokenSet {
                access_token: Secret::new("a"),
                token_type: "Bearer".into(),
                refresh_token: Some(Secret::new("r")),
                id_token: None,
                scope: Some("openid".into()),
                expires_at_ms: Some(5),
                refresh_at_ms: None,
                issued_at_ms: Some(2),
            }),
            updated_at_ms: 3,
        };
        assert_eq!(StoredRecord::from_json(&r.to_json()).unwrap(), r);
    }

    /// The text is the released format's, byte for byte (it was written with serde_json's
    /// compact form); a record in that form reads back, escapes and all
    #[test]
    fn writes_and_reads_the_released_format() {
        let r = StoredRecord {
            api_key: Some(Secret::new("k\"\\/\u{1}\u{e9}")),
            oauth: Some(TokenSet {
                access_token: Secret::new("a\n"),
                token_type: "DPoP".into(),
                refresh_token: Some(Secret::new("r")),
                id_token: Some(Secret::new("i")),
                scope: Some("openid email".into()),
                expires_at_ms: Some(1_700_000_000_000),
                refresh_at_ms: Some(u64::MAX),
                // A record of the released format has no issue time.
                issued_at_ms: None,
            }),
            updated_at_ms: 3,
        };
        let released = concat!(
            r#"{"api_key":"k\"\\/\u0001é","oauth":{"access_token":"a\n","expires_at_ms":1700000000000,"#,
            r#""id_token":"i","refresh_at_ms":18446744073709551615,"refresh_token":"r","scope":"openid email","#,
            r#""token_type":"DPoP"},"updated_at_ms":3,"version":1}"#
        );
        assert_eq!(r.to_json().expose(), released);
        assert_eq!(StoredRecord::from_json(&Secret::new(released)).unwrap(), r);
        let serde: serde_json::Value = serde_json::from_str(released).unwrap();
        assert_eq!(serde_json::to_string(&serde).unwrap(), released);
    }

    #[test]
    fn refuses_garbage_and_newer_versions_without_echoing() {
        let e = StoredRecord::from_json(&Secret::new(r#"{"version":1,"api_key":5}"#)).unwrap_err();
        assert_eq!(e.code(), "corrupt_credential");
        let e = StoredRecord::from_json(&Secret::new(r#"{"version":9}"#)).unwrap_err();
        assert!(e.to_string().contains("newer keyhole"));
        let e = StoredRecord::from_json(&Secret::new("tok_leak{")).unwrap_err();
        assert!(!e.to_string().contains("tok_leak"));
    }
}
