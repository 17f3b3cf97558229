//! vtrix's YAML file `~/.config/vtrix/config.yml`: the credential file fallback (Linux without
//! D-Bus, or `VTRIX_NO_KEYCHAIN=1`) and the signed-in user
//!
//! ```yaml
//! user: ada@example.com        # the account, also written when the keychain holds the secrets
//! api_key: vx-123              # `auth set-key` changes only this field
//! auth_token: eyJhbGciOi...    # AuthToken: the OAuth access token
//! refresh_token: rt-456        # RefreshToken
//! id_token: eyJ...
//! token_type: Bearer
//! scope: openid email
//! expires_at_ms: 1783641600000
//! updated_at_ms: 1783638000000
//! output: table                # anything else is kept as it is
//! ```
//!
//! vtrix has one remote and one account: every store key names the same credential. `issuer`,
//! `client_id` and `api_url` keys, when present, override the built-in remote (this is how tests
//! point vtrix at another server).

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use keyhole_core::client::{AuthType, DEFAULT_ACCOUNT};
use keyhole_core::oauth::TokenSet;
use keyhole_core::record::StoredRecord;
use keyhole_core::{Secret, StoreError};
use serde_yaml_ng::{Mapping, Value};

use super::{ReadError, StorageFormat, io_error, parse_record, split_key};
use crate::config::{AccountConfig, Config, ConfigError, RemoteConfig};
use crate::store::file::write_atomic;
use crate::store::{LockDir, SecretStore, Source};

const USER: &str = "user";
const API_KEY: &str = "api_key";
const AUTH_TOKEN: &str = "auth_token";
const REFRESH_TOKEN: &str = "refresh_token";
const ID_TOKEN: &str = "id_token";
const TOKEN_TYPE: &str = "token_type";
const SCOPE: &str = "scope";
const EXPIRES: &str = "expires_at_ms";
const REFRESH_AT: &str = "refresh_at_ms";
const ISSUED_AT: &str = "issued_at_ms";
const UPDATED: &str = "updated_at_ms";
/// Every key holding (part of) the credential
const CREDENTIAL_KEYS: [&str; 10] = [
    API_KEY,
    AUTH_TOKEN,
    REFRESH_TOKEN,
    ID_TOKEN,
    TOKEN_TYPE,
    SCOPE,
    EXPIRES,
    REFRESH_AT,
    ISSUED_AT,
    UPDATED,
];
/// Config keys overriding the built-in remote
const OVERRIDES: [&str; 3] = ["issuer", "client_id", "api_url"];
/// Longest wait for another writer of the file
const FILE_LOCK_WAIT: Duration = Duration::from_secs(10);

/// `~/.config/vtrix/config.yml`
#[derive(Debug, Clone)]
pub struct VtrixYaml {
    path: PathBuf,
    locks: LockDir,
    remote: String,
    template: RemoteConfig,
}

impl VtrixYaml {
    /// The file at `path` (lock files in `locks/` beside it); the config is one remote `remote`
    /// built from `template`
    pub fn new(path: impl Into<PathBuf>, remote: &str, template: RemoteConfig) -> Self {
        let path = path.into();
        let locks = LockDir::new(path.parent().unwrap_or(Path::new(".")).join("locks"));
        Self {
            path,
            locks,
            remote: remote.to_owned(),
            template,
        }
    }

    /// `~/.config/vtrix/config.yml`, as documented (the home directory, not `$XDG_CONFIG_HOME`)
    pub fn from_env(remote: &str, template: RemoteConfig) -> Option<Self> {
        let path = super::home_dir()?
            .join(".config")
            .join("vtrix")
            .join("config.yml");
        Some(Self::new(path, remote, template))
    }

    /// The top-level mapping; empty when the file does not exist or is empty
    fn read(&self) -> Result<Mapping, ReadError> {
        let invalid = |detail: String| ReadError::Invalid {
            path: self.path.clone(),
            detail,
        };
        let text = match fs::read(&self.path) {
            Ok(bytes) => super::utf8_text(bytes)
                .map_err(|line| invalid(format!("line {line}: the text is not UTF-8")))?,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Mapping::new()),
            Err(e) => return Err(io_error("read", &self.path, &e).into()),
        };
        let value: Value = serde_yaml_ng::from_str(&text).map_err(|e| {
            let line = e.location().map_or(0, |l| l.line());
            // The parser's message may quote the text it choked on, which can be a secret.
            invalid(format!("line {line}: it is not valid YAML"))
        })?;
        match value {
            Value::Null => Ok(Mapping::new()),
            Value::Mapping(m) => Ok(m),
            _ => Err(invalid("line 1: the file is not a YAML mapping".into())),
        }
    }

    /// Reads, changes and writes the file under its lock; a file that cannot be read is left alone
    fn update(&self, change: impl FnOnce(&mut Mapping)) -> Result<(), ReadError> {
        let _guard = self.locks.acquire("config.yml", "file", FILE_LOCK_WAIT)?;
        let mut map = self.read()?;
        change(&mut map);
        // The YAML writer cannot represent everything the reader accepts (a tagged key, say):
        // that is the file's content, not the disk, and the file is left as it is.
        let text = serde_yaml_ng::to_string(&map).map_err(|_| ReadError::Invalid {
            path: self.path.clone(),
            detail: "keyhole cannot write this YAML back (it holds a tag or key its writer \
                     cannot represent); nothing was changed"
                .into(),
        })?;
        // A dotfile is often a symlink into a dotfiles repository: replace the file it points
        // at, not the link.
        let target = fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        Ok(write_atomic(&target, text.as_bytes())?)
    }

    /// The credential in the file, if any
    fn record(&self, map: &Mapping) -> Result<Option<StoredRecord>, ReadError> {
        let bad = |k: &str, what: &str| ReadError::Invalid {
            path: self.path.clone(),
            detail: format!("`{k}` is not {what}"),
        };
        let text = |k: &str| -> Result<Option<String>, ReadError> {
            match map.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(bad(k, "text")),
            }
        };
        let ms = |k: &str| -> Result<Option<u64>, ReadError> {
            match map.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| bad(k, "a unix time in ms")),
            }
        };
        let oauth = match text(AUTH_TOKEN)? {
            Some(access) => Some(TokenSet {
                access_token: Secret::new(access),
                token_type: text(TOKEN_TYPE)?.unwrap_or_else(|| "Bearer".into()),
                refresh_token: text(REFRESH_TOKEN)?.map(Secret::new),
                id_token: text(ID_TOKEN)?.map(Secret::new),
                scope: text(SCOPE)?,
                expires_at_ms: ms(EXPIRES)?,
                refresh_at_ms: ms(REFRESH_AT)?,
                issued_at_ms: ms(ISSUED_AT)?,
            }),
            None => None,
        };
        let record = StoredRecord {
            api_key: text(API_KEY)?.map(Secret::new),
            oauth,
            updated_at_ms: ms(UPDATED)?.unwrap_or(0),
        };
        Ok((!record.is_empty()).then_some(record))
    }
}

fn put(map: &mut Mapping, key: &str, value: impl Into<Value>) {
    map.insert(Value::String(key.into()), value.into());
}

impl StorageFormat for VtrixYaml {
    fn name(&self) -> &'static str {
        "vtrix-yaml"
    }

    fn config_path(&self) -> PathBuf {
        self.path.clone()
    }

    fn credentials_path(&self) -> PathBuf {
        self.path.clone()
    }

    fn locks(&self) -> LockDir {
        self.locks.clone()
    }

    /// The one remote, its overrides, and the account named by `user` (else `default`) when
    /// the file holds a credential or a user
    fn load_config(&self) -> Result<Config, ConfigError> {
        let read = |e: ReadError| e.into_config("read", &self.path);
        let map = self.read().map_err(read)?;
        let mut remote = self.template.clone();
        for key in OVERRIDES {
            if let Some(Value::String(v)) = map.get(key) {
                match key {
                    "issuer" => remote.issuer = Some(v.clone()),
                    "client_id" => remote.client_id = v.clone(),
                    _ => remote.api_url = Some(v.clone()),
                }
            }
        }
        let record = self.record(&map).map_err(read)?;
        let user = match map.get(USER) {
            Some(Value::String(u)) if !u.is_empty() => Some(u.clone()),
            _ => None,
        };
        if record.is_some() || user.is_some() {
            let account = user.unwrap_or_else(|| DEFAULT_ACCOUNT.into());
            remote.active_account = Some(account.clone());
            remote.accounts.insert(
                account,
                AccountConfig {
                    project: None,
                    auth_type: record.map(|r| {
                        if r.oauth.is_some() {
                            AuthType::Oauth
                        } else {
                            AuthType::ApiKey
                        }
                    }),
                },
            );
        }
        let mut config = Config {
            current_remote: Some(self.remote.clone()),
            ..Config::default()
        };
        config.remotes.insert(self.remote.clone(), remote);
        Ok(config)
    }

    /// Writes `user` (the active account) and the overrides that differ from the built-in
    /// remote; every other key is kept
    fn save_config(&self, config: &Config) -> Result<(), ConfigError> {
        let remote = config.remotes.get(&self.remote);
        self.update(|map| {
            match remote.and_then(|r| r.active_account.as_ref()) {
                Some(user) if user != DEFAULT_ACCOUNT => put(map, USER, user.as_str()),
                _ => {
                    map.remove(USER);
                }
            }
            let Some(r) = remote else { return };
            let t = &self.template;
            let pairs = [
                ("issuer", r.issuer.clone().filter(|_| r.issuer != t.issuer)),
                (
                    "client_id",
                    Some(r.client_id.clone()).filter(|_| r.client_id != t.client_id),
                ),
                (
                    "api_url",
                    r.api_url.clone().filter(|_| r.api_url != t.api_url),
                ),
            ];
            for (k, v) in pairs {
                if let Some(v) = v {
                    put(map, k, v);
                }
            }
        })
        .map_err(|e| e.into_config("write", &self.path))
    }

    fn file_store(&self) -> Box<dyn SecretStore> {
        Box::new(self.clone())
    }
}

/// The file fallback: the credential fields of `config.yml`
impl SecretStore for VtrixYaml {
    fn source(&self) -> Source {
        Source::File
    }

    fn get(&self, _key: &str) -> Result<Option<Secret>, StoreError> {
        let map = self.read()?;
        Ok(self.record(&map)?.map(|r| r.to_json()))
    }

    /// Replaces the credential fields with the record's (so a `set-key` record, which carries
    /// the stored tokens along, changes only `api_key`) and names the user; other keys stay
    fn set(&self, key: &str, value: &Secret) -> Result<(), StoreError> {
        let record = parse_record(value)?;
        let (_, account) = split_key(key);
        self.update(|map| {
            for k in CREDENTIAL_KEYS {
                map.remove(k);
            }
            if !account.is_empty() && account != DEFAULT_ACCOUNT {
                put(map, USER, account);
            }
            if let Some(k) = &record.api_key {
                put(map, API_KEY, k.expose());
            }
            if let Some(t) = &record.oauth {
                put(map, AUTH_TOKEN, t.access_token.expose());
                if let Some(v) = &t.refresh_token {
                    put(map, REFRESH_TOKEN, v.expose());
                }
                if let Some(v) = &t.id_token {
                    put(map, ID_TOKEN, v.expose());
                }
                put(map, TOKEN_TYPE, t.token_type.as_str());
                if let Some(v) = &t.scope {
                    put(map, SCOPE, v.as_str());
                }
                if let Some(v) = t.expires_at_ms {
                    put(map, EXPIRES, v);
                }
                if let Some(v) = t.refresh_at_ms {
                    put(map, REFRESH_AT, v);
                }
                if let Some(v) = t.issued_at_ms {
                    put(map, ISSUED_AT, v);
                }
            }
            put(map, UPDATED, record.updated_at_ms);
        })
        .map_err(Into::into)
    }

    /// Removes the credential fields and the user (logout); other keys stay
    fn delete(&self, _key: &str) -> Result<(), StoreError> {
        if !self.path.exists() {
            return Ok(());
        }
        self.update(|map| {
            for k in CREDENTIAL_KEYS.into_iter().chain([USER]) {
                map.remove(k);
            }
        })
        .map_err(Into::into)
    }

    fn locks(&self) -> &LockDir {
        &self.locks
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn format(dir: &Path) -> VtrixYaml {
        VtrixYaml::new(
            dir.join(".config/vtrix/config.yml"),
            "vtrix",
            RemoteConfig {
                issuer: Some("https://vtrix.ai".into()),
                client_id: "vtrix-cli".into(),
                ..RemoteConfig::default()
            },
        )
    }

    #[test]
    fn set_key_keeps_the_tokens_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let f = format(dir.path());
        fs::create_dir_all(f.path.parent().unwrap()).unwrap();
        fs::write(&f.path, "output: table\nmodels:\n  default: vx-large\n").unwrap();
        let store = f.file_store();
        let login = oauth_record("AT-1", "RT-1");
        assert_eq!(
            store
                .compare_and_swap("vtrix/ada@example.com", None, &login)
                .unwrap(),
            Some(login.clone())
        );
        assert_eq!(
            store.get("vtrix/ada@example.com").unwrap(),
            Some(login.clone())
        );
        // set-key as the core does it: the loaded record with a new api_key.
        let mut rec = record(&login);
        rec.api_key = Some(Secret::new("vx-key"));
        let with_key = rec.to_json();
        assert_eq!(
            store
                .compare_and_swap("vtrix/ada@example.com", Some(&login), &with_key)
                .unwrap(),
            Some(with_key.clone())
        );
        let text = fs::read_to_string(&f.path).unwrap();
        let map: Mapping = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(map.get(API_KEY).and_then(Value::as_str), Some("vx-key"));
        assert_eq!(map.get(AUTH_TOKEN).and_then(Value::as_str), Some("AT-1"));
        assert_eq!(map.get(REFRESH_TOKEN).and_then(Value::as_str), Some("RT-1"));
        assert_eq!(
            map.get(USER).and_then(Value::as_str),
            Some("ada@example.com")
        );
        assert_eq!(map.get("output").and_then(Value::as_str), Some("table"));
        assert!(text.contains("models:\n  default: vx-large"), "{text}");
        #[cfg(unix)]
        {
            assert_eq!(mode(&f.path), 0o600);
        }
        let config = f.load_config().unwrap();
        let remote = &config.remotes["vtrix"];
        assert_eq!(remote.active_account.as_deref(), Some("ada@example.com"));
        assert_eq!(
            remote.accounts["ada@example.com"].auth_type,
            Some(AuthType::Oauth)
        );
        assert_eq!(store.get("vtrix/ada@example.com").unwrap(), Some(with_key));

        store.delete("vtrix/ada@example.com").unwrap();
        assert_eq!(store.get("vtrix/ada@example.com").unwrap(), None);
        let map: Mapping = serde_yaml_ng::from_str(&fs::read_to_string(&f.path).unwrap()).unwrap();
        assert_eq!(map.len(), 2, "only foreign keys are left: {map:?}");
    }

    #[test]
    fn config_overrides_round_trip_and_stale_swaps_lose() {
        let dir = tempfile::tempdir().unwrap();
        let f = format(dir.path());
        let mut config = f.load_config().unwrap();
        assert!(config.remotes["vtrix"].accounts.is_empty());
        let remote = config.remotes.get_mut("vtrix").unwrap();
        remote.issuer = Some("http://127.0.0.1:3000".into());
        remote.active_account = Some("bo@example.com".into());
        f.save_config(&config).unwrap();
        let text = fs::read_to_string(&f.path).unwrap();
        assert!(text.contains("issuer: http://127.0.0.1:3000"), "{text}");
        assert!(!text.contains("client_id"), "equal to the built-in: {text}");
        let loaded = f.load_config().unwrap();
        assert_eq!(
            loaded.remotes["vtrix"].issuer.as_deref(),
            Some("http://127.0.0.1:3000")
        );
        assert_eq!(
            loaded.remotes["vtrix"].active_account.as_deref(),
            Some("bo@example.com")
        );
        #[cfg(unix)]
        assert_eq!(mode(f.path.parent().unwrap()), 0o700);

        let (a, b) = (api_key_record("a"), api_key_record("b"));
        f.set("vtrix/x", &a).unwrap();
        assert_eq!(
            f.compare_and_swap("vtrix/x", Some(&b), &b).unwrap(),
            Some(a.clone())
        );
        assert_eq!(f.compare_and_swap("vtrix/x", None, &b).unwrap(), Some(a));
    }

    #[test]
    fn a_corrupt_file_names_the_line_hides_secrets_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let f = format(dir.path());
        fs::create_dir_all(f.path.parent().unwrap()).unwrap();
        let broken = "output: table\napi_key: vx-secret\n  more: x\nuser: a\n";
        fs::write(&f.path, broken).unwrap();
        let e = f.load_config().unwrap_err().to_string();
        assert!(e.contains("config.yml") && e.contains("line 3"), "{e}");
        assert!(!e.contains("vx-secret"), "{e}");
        let e = f.get("vtrix/a").unwrap_err().to_string();
        assert!(e.contains("config.yml") && !e.contains("vx-secret"), "{e}");
        assert!(f.set("vtrix/a", &api_key_record("k")).is_err());
        assert!(f.delete("vtrix/a").is_err());
        assert!(f.save_config(&Config::default()).is_err());
        assert_eq!(fs::read_to_string(&f.path).unwrap(), broken);

        fs::write(&f.path, "- a list\n").unwrap();
        assert!(
            f.load_config()
                .unwrap_err()
                .to_string()
                .contains("not a YAML mapping")
        );
        fs::write(&f.path, "auth_token: 5\n").unwrap();
        assert!(
            f.get("vtrix/a")
                .unwrap_err()
                .to_string()
                .contains("`auth_token` is not text")
        );
    }

    /// Found by the vtrix_yaml fuzz target: a file the reader takes but the writer cannot
    /// represent failed to save with "check free disk space"; it is the file's content, named
    /// as such, and the file is kept
    #[test]
    fn a_file_the_writer_cannot_represent_is_named_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let f = format(dir.path());
        fs::create_dir_all(f.path.parent().unwrap()).unwrap();
        let odd = "!pi_key: &k vx-ANCkeyresapihpi_key: &k vx-ANCkeyresapih_teny\n";
        fs::write(&f.path, odd).unwrap();
        let config = f.load_config().unwrap();
        let e = f.save_config(&config).unwrap_err().to_string();
        assert!(
            e.contains("config.yml") && e.contains("cannot write this YAML back"),
            "{e}"
        );
        assert!(!e.contains("disk space") && !e.contains("vx-ANC"), "{e}");
        assert_eq!(fs::read_to_string(&f.path).unwrap(), odd);
    }
}
