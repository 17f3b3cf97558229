//! Hand-written readers for the machines' JSON configs (what [`crate::wire::config_from_wire`] uses)
//!
//! The config types also derive serde's `Deserialize` for hosts that read them from their own
//! files (host-native's TOML); the core reads them here instead, over its own parsed [`Value`]
//! ([`crate::json`]), because a serde deserializer instantiated for every config type costs tens
//! of KB in the wasm artefacts. `tests` below checks both readers agree on every transcript's
//! config. Unknown fields are ignored, as with the derive.
use crate::prelude::*;

use alloc::collections::BTreeMap;

use crate::json::{Map, Value};

use crate::browser::{BrowserLoginConfig, default_timeout_s};
use crate::credential::{
    CredentialConfig, EnvPrecedence, Prefer, default_api_key_scheme,
    default_skew_s as credential_skew_s,
};
use crate::device::{DeviceLoginConfig, default_max_slow_downs};
use crate::discovery::{DiscoveryConfig, default_max_response_bytes};
use crate::error::AuthError;
use crate::key_check::{
    KeyCheckConfig, KeyCheckMethod, KeyCheckSpec, default_header, default_scheme,
};
use crate::oauth::{Client, Endpoints, TokenSet};
use crate::refresh::{RefreshConfig, default_max_retries, default_skew_s};
use crate::revocation::RevocationConfig;
use crate::secret::Secret;

/// A config type read from its JSON form; the error names the field by its dotted path
pub trait FromWire: Sized {
    /// Reads `value`; `path` is where it sits (`""` at the top, else `"client."`-style)
    fn from_wire(value: &Value, path: &str) -> Result<Self, String>;
}

/// The fields of one JSON object, with `path` for error messages
struct Fields<'a> {
    map: &'a Map,
    path: &'a str,
}

impl<'a> Fields<'a> {
    fn of(value: &'a Value, path: &'a str) -> Result<Self, String> {
        match value {
            Value::Object(map) => Ok(Self { map, path }),
            _ => Err(if path.is_empty() {
                "it must be a JSON object".to_owned()
            } else {
                format!("`{}` must be an object", path.trim_end_matches('.'))
            }),
        }
    }

    fn wrong(&self, name: &str, wanted: &str) -> String {
        format!("`{}{name}` must be {wanted}", self.path)
    }

    /// A field that may be missing: `None` when absent (and, for `Option` fields, when null)
    fn get(&self, name: &str, null_is_absent: bool) -> Option<&'a Value> {
        match self.map.get(name) {
            Some(Value::Null) if null_is_absent => None,
            other => other,
        }
    }

    fn string(&self, name: &str) -> Result<String, String> {
        match self.map.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.wrong(name, "a string")),
            None => Err(format!("`{}{name}` is missing (a string)", self.path)),
        }
    }

    fn string_or(&self, name: &str, default: fn() -> String) -> Result<String, String> {
        match self.get(name, false) {
            None => Ok(default()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.wrong(name, "a string")),
        }
    }

    fn opt_string(&self, name: &str) -> Result<Option<String>, String> {
        match self.get(name, true) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.wrong(name, "a string or null")),
        }
    }

    fn opt_secret(&self, name: &str) -> Result<Option<Secret>, String> {
        Ok(self.opt_string(name)?.map(Secret::new))
    }

    /// A whole number from 0 to `max`
    fn number(&self, name: &str, max: u64) -> Result<Option<u64>, String> {
        match self.get(name, false) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| *n <= max)
                .map(Some)
                .ok_or_else(|| self.wrong(name, &format!("a whole number from 0 to {max}"))),
        }
    }

    fn u64_or(&self, name: &str, default: fn() -> u64) -> Result<u64, String> {
        Ok(self.number(name, u64::MAX)?.unwrap_or_else(default))
    }

    fn u32_or(&self, name: &str, default: fn() -> u32) -> Result<u32, String> {
        Ok(match self.number(name, u32::MAX.into())? {
            Some(n) => u32::try_from(n).expect("number() checked the range"),
            None => default(),
        })
    }

    fn bool_or_false(&self, name: &str) -> Result<bool, String> {
        match self.get(name, false) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.wrong(name, "true or false")),
        }
    }

    /// One of `choices` (name, value), or the default when missing
    fn choice<T: Copy + Default>(&self, name: &str, choices: &[(&str, T)]) -> Result<T, String> {
        let Some(value) = self.get(name, false) else {
            return Ok(T::default());
        };
        let text = value.as_str();
        choices
            .iter()
            .find(|(n, _)| Some(*n) == text)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                self.wrong(name, &format!("one of {}", names.join(", ")))
            })
    }

    fn nested<T: FromWire>(&self, name: &str) -> Result<T, String> {
        match self.map.get(name) {
            Some(v) => T::from_wire(v, &format!("{}{name}.", self.path)),
            None => Err(format!("`{}{name}` is missing (an object)", self.path)),
        }
    }

    fn nested_or_default<T: FromWire + Default>(&self, name: &str) -> Result<T, String> {
        match self.get(name, false) {
            Some(v) => T::from_wire(v, &format!("{}{name}.", self.path)),
            None => Ok(T::default()),
        }
    }
}

impl FromWire for Endpoints {
    fn from_wire(value: &Value, path: &str) -> Result<Self, String> {
        let f = Fields::of(value, path)?;
        Ok(Endpoints {
            issuer: f.opt_string("issuer")?,
            authorization_endpoint: f.opt_string("authorization_endpoint")?,
            token_endpoint: f.opt_string("token_endpoint")?,
            device_authorization_endpoint: f.opt_string("device_authorization_endpoint")?,
            revocation_endpoint: f.opt_string("revocation_endpoint")?,
            userinfo_endpoint: f.opt_string("userinfo_endpoint")?,
            introspection_endpoint: f.opt_string("introspection_endpoint")?,
        })
    }
}

impl FromWire for Client {
    fn from_wire(value: &Value, path: &str) -> Result<Self, String> {
        let f = Fields::of(value, path)?;
        let scopes = match f.get("scopes", false) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| f.wrong("scopes", "an array of strings"))?,
            Some(_) => return Err(f.wrong("scopes", "an array of strings")),
        };
        Ok(Client {
            client_id: f.string("client_id")?,
            client_secret: f.opt_secret("client_secret")?,
            scopes,
        })
    }
}

impl FromWire for TokenSet {
    fn from_wire(value: &Value, path: &str) -> Result<Self, String> {
        let f = Fields::of(value, path)?;
        // The stored record's reader: one definition of a token set's JSON form.
        crate::record::read_tokens(f.map).map_err(|e| match e {
            AuthError::Protocol { field, detail } => format!("`{path}{field}` {detail}"),
            other => other.to_string(),
        })
    }
}

impl FromWire for KeyCheckSpec {
    fn from_wire(value: &Value, path: &str) -> Result<Self, String> {
        let f = Fields::of(value, path)?;
        let not_pointers = || f.wrong("identity", "an object of JSON pointer strings");
        // Inserted one by one: `collect` into a BTreeMap would add a sort to the artefacts.
        let mut identity = BTreeMap::new();
        match f.get("identity", false) {
            None => {}
            Some(Value::Object(map)) => {
                for (k, v) in map {
                    let pointer = v.as_str().ok_or_else(not_pointers)?;
                    identity.insert(k.clone(), pointer.to_owned());
                }
            }
            Some(_) => return Err(not_pointers()),
        }
        Ok(KeyCheckSpec {
            method: f.choice(
                "method",
                &[
                    ("GET", KeyCheckMethod::Get),
                    ("get", KeyCheckMethod::Get),
                    ("POST", KeyCheckMethod::Post),
                    ("post", KeyCheckMethod::Post),
                ],
            )?,
            url: f.string("url")?,
            header: f.string_or("header", default_header)?,
            scheme: f.string_or("scheme", default_scheme)?,
            identity,
        })
    }
}

impl FromWire for DiscoveryConfig {
    fn from_wire(value: &Value, path: &str) -> Result<Self, String> {
        let f = Fields::of(value, path)?;
        Ok(DiscoveryConfig {
            issuer: f.string("issuer")?,
            max_response_bytes: match f.number("max_response_bytes", usize::MAX as u64)? {
                Some(n) => usize::try_from(n).expect("number() checked the range"),
                None => default_max_response_bytes(),
            },
        })
    }
}

impl FromWire for DeviceLoginConfig {
    fn from_wire(value: &Value, path: &str) -> Result<Self, String> {
        let f = Fields::of(value, path)?;
        Ok(DeviceLoginConfig {
            endpoints: f.nested("endpoints")?,
            client: f.nested("client")?,
            max_slow_downs: f.u32_or("max_slow_downs", default_max_slow_downs)?,
        })
    }
}

impl FromWire for BrowserLoginConfig {
    fn from_wire(value: &Value, path: &str) -> Result<Self, String> {
        let f = Fields::of(value, path)?;
        let redirect_port = match f.number("redirect_port", u16::MAX.into())? {
            Some(n) => u16::try_from(n).expect("number() checked the range"),
            None => return Err(format!("`{path}redirect_port` is missing (a port number)")),
        };
        Ok(BrowserLoginConfig {
            endpoints: f.nested("endpoints")?,
            client: f.nested("client")?,
            redirect_port,
            timeout_s: f.u64_or("timeout_s", default_timeout_s)?,
        })
    }
}

impl FromWire for RefreshConfig {
    fn from_wire(value: &Value, path: &str) -> Result<Self, String> {
        let f = Fields::of(value, path)?;
        Ok(RefreshConfig {
            endpoints: f.nested("endpoints")?,
            client: f.nested("client")?,
            tokens: f.nested("tokens")?,
            skew_s: f.u64_or("skew_s", default_skew_s)?,
            max_retries: f.u32_or("max_retries", default_max_retries)?,
            force: f.bool_or_false("force")?,
        })
    }
}

impl FromWire for CredentialConfig {
    fn from_wire(value: &Value, path: &str) -> Result<Self, String> {
        let f = Fields::of(value, path)?;
        Ok(CredentialConfig {
            key: f.string("key")?,
            endpoints: f.nested_or_default("endpoints")?,
            client: f.nested_or_default("client")?,
            env_api_key: f.opt_secret("env_api_key")?,
            env_precedence: f.choice(
                "env_precedence",
                &[
                    ("override", EnvPrecedence::Override),
                    ("fallback", EnvPrecedence::Fallback),
                ],
            )?,
            prefer: f.choice(
                "prefer",
                &[("oauth", Prefer::OAuth), ("api_key", Prefer::ApiKey)],
            )?,
            skew_s: f.u64_or("skew_s", credential_skew_s)?,
            api_key_scheme: f.string_or("api_key_scheme", default_api_key_scheme)?,
        })
    }
}

impl FromWire for KeyCheckConfig {
    fn from_wire(value: &Value, path: &str) -> Result<Self, String> {
        let f = Fields::of(value, path)?;
        Ok(KeyCheckConfig {
            spec: f.nested("spec")?,
            key: Secret::new(f.string("key")?),
        })
    }
}

impl FromWire for RevocationConfig {
    fn from_wire(value: &Value, path: &str) -> Result<Self, String> {
        let f = Fields::of(value, path)?;
        Ok(RevocationConfig {
            endpoints: f.nested("endpoints")?,
            client: f.nested("client")?,
            refresh_token: f.opt_secret("refresh_token")?,
            access_token: f.opt_secret("access_token")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;

    use crate::json::{json, parse};

    use super::*;

    /// Both readers give the same config, or both refuse it
    fn same<C: FromWire + DeserializeOwned + PartialEq + std::fmt::Debug>(config: &Value) {
        let ours = C::from_wire(config, "");
        let serde = serde_json::from_str::<C>(&config.to_json());
        match (&ours, &serde) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{config}"),
            (Err(_), Err(_)) => {}
            _ => panic!("the readers disagree on {config}: ours {ours:?}, serde's {serde:?}"),
        }
    }

    fn check(kind: &str, config: &Value) {
        match kind {
            "discovery" => same::<DiscoveryConfig>(config),
            "device_login" => same::<DeviceLoginConfig>(config),
            "browser_login" => same::<BrowserLoginConfig>(config),
            "refresh" => same::<RefreshConfig>(config),
            "credential" => same::<CredentialConfig>(config),
            "key_check" => same::<KeyCheckConfig>(config),
            "revocation" => same::<RevocationConfig>(config),
            other => panic!("unknown machine `{other}`"),
        }
    }

    #[test]
    fn agrees_with_serde_on_every_transcript_config() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/transcripts");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).expect("tests/transcripts exists") {
            let path = entry.expect("readable directory entry").path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let doc = parse(&std::fs::read(&path).unwrap()).expect("transcripts are JSON");
            let kind = doc["machine"].as_str().expect("a machine kind");
            let config = &doc["config"];
            check(kind, config);
            // Each field removed, nulled and given a wrong type in turn: same answer again.
            if let Value::Object(map) = config {
                for field in map.keys() {
                    for replacement in [None, Some(Value::Null), Some(json!(7)), Some(json!("x"))] {
                        let mut changed = map.clone();
                        match replacement {
                            None => changed.remove(field),
                            Some(v) => changed.insert(field.clone(), v),
                        };
                        check(kind, &Value::Object(changed));
                    }
                }
            }
            n += 1;
        }
        assert!(n >= 40, "only {n} transcripts");
    }

    #[test]
    fn agrees_with_serde_on_defaults_and_edge_values() {
        let client = json!({"client_id": "c"});
        let endpoints = json!({"token_endpoint": "https://idp.example/t"});
        for config in [
            json!({"key": "r/a"}),
            json!({"key": "r/a", "env_precedence": "fallback", "prefer": "api_key", "env_api_key": "k"}),
            json!({"key": "r/a", "env_precedence": "sideways"}),
            json!({"key": "r/a", "env_api_key": null, "skew_s": -1}),
            parse(br#"{"key": "r/a", "skew_s": 1.5}"#).expect("JSON"),
            json!({"key": "r/a", "client": {"client_id": "c", "scopes": ["a", 1]}}),
            json!({"key": "r/a", "client": {"client_id": "c", "scopes": null}}),
            json!({"key": "r/a", "endpoints": null}),
            json!([]),
        ] {
            same::<CredentialConfig>(&config);
        }
        for port in [
            json!(0),
            json!(65535),
            json!(65536),
            json!(-1),
            json!("80"),
            Value::Null,
        ] {
            same::<BrowserLoginConfig>(&json!({
                "endpoints": endpoints, "client": client, "redirect_port": port,
            }));
        }
        for slow_downs in [json!(4_294_967_295u64), json!(4_294_967_296u64)] {
            same::<DeviceLoginConfig>(&json!({
                "endpoints": endpoints, "client": client, "max_slow_downs": slow_downs,
            }));
        }
        for tokens in [
            json!({"access_token": "a"}),
            json!({"access_token": "a", "expires_at_ms": 5, "refresh_token": "r", "token_type": "DPoP"}),
            json!({"access_token": 5}),
            json!({}),
        ] {
            same::<RefreshConfig>(&json!({
                "endpoints": endpoints, "client": client, "tokens": tokens, "force": true,
            }));
        }
        for method in [json!("GET"), json!("post"), json!("Post"), json!(1)] {
            same::<KeyCheckConfig>(&json!({
                "key": "k",
                "spec": {"url": "https://api.example/me", "method": method, "identity": {"e": "/email"}},
            }));
        }
        same::<KeyCheckConfig>(&json!({"key": "k", "spec": {"url": "u", "identity": {"e": 1}}}));
        same::<DiscoveryConfig>(
            &json!({"issuer": "https://idp.example", "max_response_bytes": 10}),
        );
    }

    #[test]
    fn errors_name_the_field_and_never_the_secret() {
        let e = RefreshConfig::from_wire(
            &json!({"endpoints": {}, "client": {"client_id": "c"}, "tokens": {"access_token": ["at_secret"]}}),
            "",
        )
        .unwrap_err();
        assert!(e.contains("`tokens.access_token`"), "{e}");
        assert!(!e.contains("at_secret"), "{e}");
        let e = CredentialConfig::from_wire(&json!({"key": "r/a", "client": {}}), "").unwrap_err();
        assert_eq!(e, "`client.client_id` is missing (a string)");
        let e =
            KeyCheckConfig::from_wire(&json!({"key": 5, "spec": {"url": "u"}}), "").unwrap_err();
        assert_eq!(e, "`key` must be a string");
    }
}
