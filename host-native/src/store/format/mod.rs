//! Storage formats: where a vendor keeps its remotes and the file fallback of its credentials
//!
//! A [`StorageFormat`] answers three questions for one vendor layout:
//! 1. **Config**: how the remotes ([`Config`]) are read and written ([`StorageFormat::load_config`],
//!    [`StorageFormat::save_config`]).
//! 2. **Credentials**: the [`SecretStore`] used when the OS keyring is not
//!    ([`StorageFormat::file_store`]), whether a keyring is used at all
//!    ([`StorageFormat::uses_keyring`]), and any bookkeeping the format does next to a keyring
//!    entry ([`StorageFormat::wrap_keyring`], e.g. truss's keyring marker).
//! 3. **Status and migration**: what `status` says about a stored credential
//!    ([`StorageFormat::credential_status`]) and one-off moves from legacy locations
//!    ([`StorageFormat::migrate`]).
//!
//! Every format keeps the [`SecretStore`] contract: records are keyhole-core's `StoredRecord` JSON
//! under `remote/account` keys, `get` of an absent key is `Ok(None)`, and `compare_and_swap`
//! is atomic across processes. A format that keeps less than the whole record (vast keeps only
//! the API key) compares what it keeps. Files are written atomically (temp file, fsync, rename),
//! 0600 in 0700 directories; a file that cannot be read or parsed is reported with its path and
//! line and is never written over.
//!
//! The formats: [`KeyholeToml`] (the default), [`TrussRc`], [`VtrixYaml`], [`VastKeyFile`].

mod keyhole_toml;
mod trussrc;
mod vast_key;
mod vtrix_yaml;

use std::fmt;
use std::path::{Path, PathBuf};

use keyhole_core::record::StoredRecord;
use keyhole_core::{Secret, StoreError};

use super::lock::{LockDir, LockGuard};
use super::{SecretStore, Source};
use crate::config::{Config, ConfigError};

pub use self::keyhole_toml::KeyholeToml;
pub use self::trussrc::TrussRc;
pub use self::vast_key::{VastKeyFile, VastMigration};
pub use self::vtrix_yaml::VtrixYaml;

/// One vendor's on-disk layout of remotes and credentials
///
/// Implementations are cheap values holding paths; nothing is read until a method is called.
pub trait StorageFormat: Send + Sync + fmt::Debug {
    /// A stable name for messages and docs: `keyhole-toml`, `trussrc`, `vtrix-yaml`, `vast-key-file`
    fn name(&self) -> &'static str;

    /// The file holding the remotes (it may also hold credentials, as `~/.trussrc` does)
    fn config_path(&self) -> PathBuf;

    /// Where the file fallback writes credentials: a directory (keyhole) or a file
    fn credentials_path(&self) -> PathBuf;

    /// The lock directory shared by the config, the credential store and refreshes
    fn locks(&self) -> LockDir;

    /// Whether credentials go to the OS keyring first; `false` means the file store only (vast)
    fn uses_keyring(&self) -> bool {
        true
    }

    /// Reads the remotes; a missing file is an empty (or built-in) config
    fn load_config(&self) -> Result<Config, ConfigError>;

    /// Writes the remotes atomically, keeping whatever else the file holds
    ///
    /// Callers hold [`StorageFormat::lock_config`] from the load to the save.
    fn save_config(&self, config: &Config) -> Result<(), ConfigError>;

    /// The cross-process lock held from loading the config to saving it
    fn lock_config(&self) -> Result<LockGuard, ConfigError> {
        self.locks()
            .acquire("config", "write", CONFIG_LOCK_WAIT)
            .map_err(|e| ConfigError::Io {
                what: "lock",
                path: self.config_path().display().to_string(),
                detail: e.to_string(),
            })
    }

    /// The credential store used without a keyring (or always, when `uses_keyring` is false)
    fn file_store(&self) -> Box<dyn SecretStore>;

    /// Whether a credential found in the file store while the keyring works moves into the
    /// keyring (keyhole's layout); `false` leaves it where it is (truss's page promises no
    /// auto-migration of `~/.trussrc` entries; vtrix's YAML holds the API key other tools read)
    fn moves_file_credentials_to_keyring(&self) -> bool {
        false
    }

    /// The keyring store as this format uses it; the default uses it as it is
    ///
    /// truss wraps it to record a keyring marker in `~/.trussrc` and to keep reading legacy
    /// plaintext entries that have no keyring entry.
    fn wrap_keyring(&self, keyring: Box<dyn SecretStore>) -> Box<dyn SecretStore> {
        keyring
    }

    /// What the files say about the credential under `key`, for `status`
    ///
    /// `Ok(None)` when the format cannot tell (the default): the caller reports the store's
    /// [`Source`] and the record's own auth type.
    fn credential_status(&self, key: &str) -> Result<Option<CredentialStatus>, StoreError> {
        let _ = key;
        Ok(None)
    }

    /// Moves credentials from legacy locations; run once at start-up, before any read
    ///
    /// Returns one line per move made (for a notice); a move that fails leaves the credential
    /// where it was and readable.
    fn migrate(&self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
}

/// Longest wait for another process's config change
pub const CONFIG_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The kind of credential a file holds, as `status` names it
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredAuthType {
    /// An API key written by keyhole
    ApiKey,
    /// OAuth tokens
    Oauth,
    /// A plaintext API key written by an older vendor CLI, used as it is
    LegacyPlaintextApiKey,
}

impl StoredAuthType {
    /// `api_key`, `oauth` or `api_key (legacy plaintext)`
    pub fn as_str(self) -> &'static str {
        match self {
            StoredAuthType::ApiKey => "api_key",
            StoredAuthType::Oauth => "oauth",
            StoredAuthType::LegacyPlaintextApiKey => "api_key (legacy plaintext)",
        }
    }
}

/// Where a stored credential is and what it is
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialStatus {
    /// What kind of credential
    pub auth_type: StoredAuthType,
    /// The keyring or the file
    pub source: Source,
    /// The format's name for that place: `keyring`, `trussrc-inline`, …
    pub source_label: &'static str,
}

/// Splits a store key `remote/account` (see `keyhole_core::record::storage_key`)
pub(crate) fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or((key, ""))
}

/// Text from a file made safe for a terminal ([`crate::text::terminal_safe`])
pub fn display_safe(text: &str) -> String {
    crate::text::terminal_safe(text).into_owned()
}

/// A file's bytes as text; else the line (from 1) of the first byte that is not UTF-8
pub(crate) fn utf8_text(bytes: Vec<u8>) -> Result<String, usize> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        1 + valid.iter().filter(|&&b| b == b'\n').count()
    })
}

/// Parses a record given to `set`; the error never echoes the content
pub(crate) fn parse_record(value: &Secret) -> Result<StoredRecord, StoreError> {
    StoredRecord::from_json(value)
        .map_err(|e| StoreError::Other(format!("the record to store is not valid: {e}")))
}

/// Compare-and-swap for a store that keeps only part of a record
///
/// `keep` maps a record to what the store persists; two records are equal when what would be
/// kept is equal. Holds the key's `cas` lock around the read, the comparison and the write.
pub(crate) fn compare_and_swap_kept<S: SecretStore + ?Sized>(
    store: &S,
    key: &str,
    expected: Option<&Secret>,
    new: &Secret,
    keep: fn(StoredRecord) -> StoredRecord,
) -> Result<Option<Secret>, StoreError> {
    let _guard = store.locks().acquire(key, "cas", store.cas_lock_wait())?;
    let current = store.get(key)?;
    let kept = |s: Option<&Secret>| -> Option<Result<StoredRecord, ()>> {
        s.map(|s| StoredRecord::from_json(s).map(keep).map_err(|_| ()))
    };
    let same = match (kept(current.as_ref()), kept(expected)) {
        (Some(Ok(a)), Some(Ok(b))) => a == b,
        (None, None) => true,
        _ => current.as_ref() == expected,
    };
    if same {
        store.set(key, new)?;
        Ok(Some(new.clone()))
    } else {
        Ok(current)
    }
}

/// An I/O error as a store error naming the file
pub(crate) fn io_error(what: &str, path: &Path, e: &std::io::Error) -> StoreError {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            StoreError::Denied(format!("cannot {what} {}: {e}", path.display()))
        }
        _ => StoreError::Other(format!("cannot {what} {}: {e}", path.display())),
    }
}

/// A store error as a config error about `path`
pub(crate) fn config_io(what: &'static str, path: &Path, e: StoreError) -> ConfigError {
    ConfigError::Io {
        what,
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// Why a vendor file could not be read: it is unreadable, or it is not valid
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The OS refused (or the lock timed out)
    Store(StoreError),
    /// The text is malformed; `detail` names the file and the line
    Invalid { path: PathBuf, detail: String },
}

impl From<StoreError> for ReadError {
    fn from(e: StoreError) -> Self {
        ReadError::Store(e)
    }
}

impl From<ReadError> for StoreError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Store(e) => e,
            ReadError::Invalid { path, detail } => StoreError::Other(format!(
                "{} {detail}; fix or remove the file",
                path.display()
            )),
        }
    }
}

impl ReadError {
    /// As a config error (`what`: `read` or `write`)
    pub(crate) fn into_config(self, what: &'static str, path: &Path) -> ConfigError {
        match self {
            ReadError::Store(e) => config_io(what, path, e),
            ReadError::Invalid { path, detail } => ConfigError::Invalid {
                path: path.display().to_string(),
                detail,
            },
        }
    }
}

/// The user's home directory: `$HOME`, else the platform's idea of it
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(std::env::home_dir)
}

/// `$XDG_CONFIG_HOME`, else `~/.config`
pub fn xdg_config_home() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(".config")))
}

#[cfg(test)]
#[allow(dead_code)] // helpers shared by the formats' tests
pub(crate) mod test_support {
    use std::path::Path;

    use keyhole_core::Secret;
    use keyhole_core::oauth::TokenSet;
    use keyhole_core::record::StoredRecord;

    /// A file's permission bits
    #[cfg(unix)]
    pub fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    pub fn api_key_record(key: &str) -> Secret {
        StoredRecord {
            api_key: Some(Secret::new(key)),
            oauth: None,
            updated_at_ms: 7,
        }
        .to_json()
    }

    pub fn oauth_record(access: &str, refresh: &str) -> Secret {
        StoredRecord {
            api_key: None,
            oauth: Some(TokenSet {
                access_token: Secret::new(access),
                token_type: "Bearer".into(),
                refresh_token: Some(Secret::new(refresh)),
                id_token: Some(Secret::new("id.tok.en")),
                scope: Some("openid email".into()),
                expires_at_ms: Some(1_783_641_600_000),
                refresh_at_ms: None,
                issued_at_ms: Some(1_783_638_000_000),
            }),
            updated_at_ms: 9,
        }
        .to_json()
    }

    pub fn record(s: &Secret) -> StoredRecord {
        StoredRecord::from_json(s).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::config::RemoteConfig;
    use crate::store::{Backend, Store};
    use keyhole_core::StoreOp;

    fn formats(home: &Path) -> Vec<Box<dyn StorageFormat>> {
        vec![
            Box::new(KeyholeToml::new(home.join(".config/keyhole"))),
            Box::new(TrussRc::new(
                home.join(".trussrc"),
                home.join(".config/truss/locks"),
                RemoteConfig::default(),
            )),
            Box::new(VtrixYaml::new(
                home.join(".config/vtrix/config.yml"),
                "vtrix",
                RemoteConfig::default(),
            )),
            Box::new(VastKeyFile::new(
                home.join(".config/vastai/vast_api_key"),
                Some(home.join(".vast_api_key")),
                "vast",
                RemoteConfig::default(),
            )),
        ]
    }

    /// Every format through `Store::open_format` with the file backend: a record written by a
    /// compare-and-swap reads back, and nothing secret shows in Debug output
    #[test]
    fn every_format_serves_the_store_contract_without_leaks() {
        let home = tempfile::tempdir().unwrap();
        for format in formats(home.path()) {
            let mut store =
                Store::open_format("svc", format.as_ref(), Backend::File, Box::new(|_| ()));
            let rec = api_key_record("sk-live-leakcheck");
            let op = StoreOp::CompareAndSwap {
                key: "r/default".into(),
                expected: None,
                new: rec.clone(),
            };
            assert_eq!(
                store.perform(&op).unwrap(),
                Some(rec.clone()),
                "{}",
                format.name()
            );
            let got = store
                .perform(&StoreOp::Load {
                    key: "r/default".into(),
                })
                .unwrap();
            assert_eq!(
                record(&got.unwrap()).api_key.unwrap().expose(),
                "sk-live-leakcheck",
                "{}",
                format.name()
            );
            let debug = format!("{format:?} {store:?}");
            assert!(!debug.contains("leakcheck"), "{debug}");
            #[cfg(unix)]
            assert_eq!(
                mode(&format.credentials_path()) & 0o077,
                0,
                "{}",
                format.name()
            );
            store
                .perform(&StoreOp::Delete {
                    key: "r/default".into(),
                })
                .unwrap();
            assert_eq!(
                store
                    .perform(&StoreOp::Load {
                        key: "r/default".into()
                    })
                    .unwrap(),
                None
            );
        }
    }

    #[test]
    fn vast_never_uses_the_keyring() {
        let home = tempfile::tempdir().unwrap();
        let formats = formats(home.path());
        let uses: Vec<_> = formats
            .iter()
            .map(|f| (f.name(), f.uses_keyring()))
            .collect();
        assert_eq!(
            uses,
            [
                ("keyhole-toml", true),
                ("trussrc", true),
                ("vtrix-yaml", true),
                ("vast-key-file", false)
            ]
        );
        let vast = Store::open_format("svc", formats[3].as_ref(), Backend::Auto, Box::new(|_| ()));
        assert_eq!(vast.source(), Some(Source::File));
        let keyhole =
            Store::open_format("svc", formats[0].as_ref(), Backend::Auto, Box::new(|_| ()));
        assert_eq!(
            keyhole.source(),
            None,
            "decided by the keyring's first answer"
        );
    }

    #[test]
    fn display_safe_strips_control_characters() {
        assert_eq!(
            display_safe("a\u{1b}[31mb\nc\u{7}"),
            "a\u{FFFD}[31mb\u{FFFD}c\u{FFFD}"
        );
    }
}
