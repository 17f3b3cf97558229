//! vast.ai's plain key file: `$XDG_CONFIG_HOME/vastai/vast_api_key` (else
//! `~/.config/vastai/vast_api_key`), 0600 in a 0700 directory, holding just the API key
//!
//! There is no keyring and no config file: one remote, one credential. The legacy
//! `~/.vast_api_key` is moved to the new place by [`StorageFormat::migrate`]; until that succeeds
//! it is still read, so a failed move never hides the key.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use keyhole_core::client::AuthType;
use keyhole_core::record::StoredRecord;
use keyhole_core::{Secret, StoreError};

use super::{StorageFormat, compare_and_swap_kept, config_io, io_error, parse_record};
use crate::config::{AccountConfig, Config, ConfigError, RemoteConfig};
use crate::store::file::write_atomic;
use crate::store::{LockDir, SecretStore, Source, create_private_dir};

/// The account name the single credential is listed under
const ACCOUNT: &str = keyhole_core::client::DEFAULT_ACCOUNT;

/// vast's key file
#[derive(Debug, Clone)]
pub struct VastKeyFile {
    path: PathBuf,
    legacy: Option<PathBuf>,
    remote: String,
    template: RemoteConfig,
    locks: LockDir,
}

/// What [`VastKeyFile::migrate_legacy`] did
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VastMigration {
    /// No legacy file
    Nothing,
    /// The legacy key now lives at the new path and the legacy file is gone
    Moved,
    /// Both exist: the new file wins and is left alone, the legacy file too
    NewFileKept,
}

impl VastKeyFile {
    /// The key file at `path`, the legacy file at `legacy`; the config is one remote `remote`
    /// built from `template`
    pub fn new(
        path: impl Into<PathBuf>,
        legacy: Option<PathBuf>,
        remote: &str,
        template: RemoteConfig,
    ) -> Self {
        let path = path.into();
        let locks = LockDir::new(path.parent().unwrap_or(Path::new(".")).join("locks"));
        Self {
            path,
            locks,
            legacy,
            remote: remote.to_owned(),
            template,
        }
    }

    /// The documented places: `$XDG_CONFIG_HOME/vastai/vast_api_key` (else
    /// `~/.config/vastai/vast_api_key`) and the legacy `~/.vast_api_key`
    pub fn from_env(remote: &str, template: RemoteConfig) -> Option<Self> {
        let path = super::xdg_config_home()?
            .join("vastai")
            .join("vast_api_key");
        let legacy = super::home_dir().map(|h| h.join(".vast_api_key"));
        Some(Self::new(path, legacy, remote, template))
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The key at the new path, else at the legacy one
    fn read_key(&self) -> Result<Option<Secret>, StoreError> {
        if let Some(key) = read_key_file(&self.path)? {
            return Ok(Some(key));
        }
        match &self.legacy {
            Some(legacy) => read_key_file(legacy),
            None => Ok(None),
        }
    }

    /// Moves `~/.vast_api_key` to the new path without ever losing it
    ///
    /// Copy to a temporary file beside the new path and fsync it; link it to the new path, which
    /// fails rather than replace a file that exists; fsync the directory; only then remove the
    /// legacy file. A crash or error at any step leaves the key in at least one of the two places.
    pub fn migrate_legacy(&self) -> Result<VastMigration, StoreError> {
        let Some(legacy) = &self.legacy else {
            return Ok(VastMigration::Nothing);
        };
        let bytes = match fs::read(legacy) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(VastMigration::Nothing),
            Err(e) => return Err(io_error("read", legacy, &e)),
        };
        if self.path.symlink_metadata().is_ok() {
            return Ok(VastMigration::NewFileKept);
        }
        create_private_dir(self.dir())?;
        let tmp = self
            .dir()
            .join(format!(".vast_api_key.{}.migrate.tmp", std::process::id()));
        let result = (|| {
            let mut options = OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(&tmp)
                .map_err(|e| io_error("create", &tmp, &e))?;
            file.write_all(&bytes)
                .and_then(|()| file.sync_all())
                .map_err(|e| io_error("write", &tmp, &e))?;
            match fs::hard_link(&tmp, &self.path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(io_error("create", &self.path, &e)),
            }
        })();
        let _ = fs::remove_file(&tmp);
        if !result? {
            return Ok(VastMigration::NewFileKept);
        }
        sync_dir(self.dir())?;
        fs::remove_file(legacy).map_err(|e| io_error("remove", legacy, &e))?;
        if let Some(parent) = legacy.parent() {
            let _ = sync_dir(parent);
        }
        Ok(VastMigration::Moved)
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("sync", dir, &e))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The key in a key file (surrounding whitespace trimmed); `None` when absent or empty
fn read_key_file(path: &Path) -> Result<Option<Secret>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => {
            let text = super::utf8_text(bytes).map_err(|line| {
                StoreError::Other(format!(
                    "{} line {line}: the key is not UTF-8 text",
                    path.display()
                ))
            })?;
            let key = text.trim();
            if key.contains(['\n', '\r']) {
                return Err(StoreError::Other(format!(
                    "{} line 2: the file holds more than one line; it must hold only the API key",
                    path.display()
                )));
            }
            Ok((!key.is_empty()).then(|| Secret::new(key)))
        }
        // (a file where the directory should be is "no key here", so the legacy file is read)
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => Ok(None),
        Err(e) => Err(io_error("read", path, &e)),
    }
}

/// What the key file keeps of a record: the API key
fn keep(record: StoredRecord) -> StoredRecord {
    StoredRecord {
        api_key: record.api_key,
        oauth: None,
        updated_at_ms: 0,
    }
}

impl StorageFormat for VastKeyFile {
    fn name(&self) -> &'static str {
        "vast-key-file"
    }

    /// There is no config file; this is the key file
    fn config_path(&self) -> PathBuf {
        self.path.clone()
    }

    fn credentials_path(&self) -> PathBuf {
        self.path.clone()
    }

    fn locks(&self) -> LockDir {
        self.locks.clone()
    }

    fn uses_keyring(&self) -> bool {
        false
    }

    /// The one remote, with the `default` account when a key is stored
    fn load_config(&self) -> Result<Config, ConfigError> {
        let mut remote = self.template.clone();
        if self
            .read_key()
            .map_err(|e| config_io("read", &self.path, e))?
            .is_some()
        {
            remote.active_account = Some(ACCOUNT.into());
            remote.accounts.insert(
                ACCOUNT.into(),
                AccountConfig {
                    project: None,
                    auth_type: Some(AuthType::ApiKey),
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

    /// Nothing to write: the remote is built in and the key file is the only state
    fn save_config(&self, _config: &Config) -> Result<(), ConfigError> {
        Ok(())
    }

    fn file_store(&self) -> Box<dyn SecretStore> {
        Box::new(self.clone())
    }

    fn migrate(&self) -> Result<Vec<String>, StoreError> {
        Ok(match self.migrate_legacy()? {
            VastMigration::Moved => vec![format!(
                "moved the API key from {} to {}",
                self.legacy.as_deref().unwrap_or(Path::new("")).display(),
                self.path.display()
            )],
            _ => Vec::new(),
        })
    }
}

/// The store: every key names the one credential (vast has one account)
impl SecretStore for VastKeyFile {
    fn source(&self) -> Source {
        Source::File
    }

    fn get(&self, _key: &str) -> Result<Option<Secret>, StoreError> {
        Ok(self.read_key()?.map(|key| {
            StoredRecord {
                api_key: Some(key),
                oauth: None,
                updated_at_ms: 0,
            }
            .to_json()
        }))
    }

    /// Writes the record's API key; a record with OAuth tokens is refused (vast has none)
    fn set(&self, key: &str, value: &Secret) -> Result<(), StoreError> {
        let record = parse_record(value)?;
        if record.oauth.is_some() {
            return Err(StoreError::Other(format!(
                "{} holds only an API key, not OAuth tokens",
                self.path.display()
            )));
        }
        match record.api_key {
            Some(api_key) if api_key.expose().contains(['\n', '\r']) => Err(StoreError::Other(
                "the API key contains a line break".into(),
            )),
            Some(api_key) => {
                let mut text = api_key.into_exposed();
                text.push('\n');
                write_atomic(&self.path, text.as_bytes())
            }
            None => self.delete(key),
        }
    }

    /// Removes the key file and the legacy file
    fn delete(&self, _key: &str) -> Result<(), StoreError> {
        for path in std::iter::once(&self.path).chain(self.legacy.as_ref()) {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove", path, &e)),
            }
        }
        Ok(())
    }

    fn locks(&self) -> &LockDir {
        &self.locks
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&Secret>,
        new: &Secret,
    ) -> Result<Option<Secret>, StoreError> {
        compare_and_swap_kept(self, key, expected, new, keep)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn format(home: &Path) -> VastKeyFile {
        VastKeyFile::new(
            home.join(".config/vastai/vast_api_key"),
            Some(home.join(".vast_api_key")),
            "vast",
            RemoteConfig::default(),
        )
    }

    #[test]
    fn set_get_delete_with_modes_and_no_keyring() {
        let home = tempfile::tempdir().unwrap();
        let f = format(home.path());
        assert!(!f.uses_keyring());
        let store = f.file_store();
        assert_eq!(store.get("vast/default").unwrap(), None);
        store.set("vast/default", &api_key_record("vk-1")).unwrap();
        assert_eq!(fs::read_to_string(&f.path).unwrap(), "vk-1\n");
        #[cfg(unix)]
        {
            assert_eq!(mode(&f.path), 0o600);
            assert_eq!(mode(f.path.parent().unwrap()), 0o700);
        }
        let got = record(&store.get("any/key").unwrap().unwrap());
        assert_eq!(got.api_key.unwrap().expose(), "vk-1");
        let config = f.load_config().unwrap();
        assert_eq!(config.current_remote.as_deref(), Some("vast"));
        assert_eq!(
            config.remotes["vast"].active_account.as_deref(),
            Some("default")
        );
        assert!(store.set("vast/default", &oauth_record("a", "r")).is_err());
        store.delete("vast/default").unwrap();
        assert!(!f.path.exists());
        assert!(f.load_config().unwrap().remotes["vast"].accounts.is_empty());
    }

    #[test]
    fn compare_and_swap_compares_the_key_only() {
        let home = tempfile::tempdir().unwrap();
        let f = format(home.path());
        let (a, b) = (api_key_record("a"), api_key_record("b"));
        assert_eq!(f.compare_and_swap("k", None, &a).unwrap(), Some(a.clone()));
        // The file drops updated_at_ms: what `get` answers is still "the same record".
        let held = f.get("k").unwrap().unwrap();
        assert_eq!(
            f.compare_and_swap("k", None, &b).unwrap(),
            Some(held.clone())
        );
        assert_eq!(f.compare_and_swap("k", Some(&b), &b).unwrap(), Some(held));
        assert_eq!(f.compare_and_swap("k", Some(&a), &b).unwrap(), Some(b));
        assert_eq!(
            record(&f.get("k").unwrap().unwrap())
                .api_key
                .unwrap()
                .expose(),
            "b"
        );
    }

    #[test]
    fn the_legacy_key_moves_and_is_read_until_then() {
        let home = tempfile::tempdir().unwrap();
        let f = format(home.path());
        fs::write(home.path().join(".vast_api_key"), "legacy-key\n").unwrap();
        assert_eq!(
            record(&f.get("vast/default").unwrap().unwrap())
                .api_key
                .unwrap()
                .expose(),
            "legacy-key"
        );
        assert_eq!(f.migrate().unwrap().len(), 1);
        assert!(!home.path().join(".vast_api_key").exists());
        assert_eq!(fs::read_to_string(&f.path).unwrap(), "legacy-key\n");
        #[cfg(unix)]
        assert_eq!(mode(&f.path), 0o600);
        let leftovers: Vec<_> = fs::read_dir(f.path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert_eq!(f.migrate_legacy().unwrap(), VastMigration::Nothing);
    }

    #[test]
    fn an_existing_new_file_is_never_clobbered() {
        let home = tempfile::tempdir().unwrap();
        let f = format(home.path());
        fs::write(home.path().join(".vast_api_key"), "old").unwrap();
        f.set("vast/default", &api_key_record("new")).unwrap();
        assert_eq!(f.migrate_legacy().unwrap(), VastMigration::NewFileKept);
        assert_eq!(fs::read_to_string(&f.path).unwrap(), "new\n");
        assert_eq!(
            fs::read_to_string(home.path().join(".vast_api_key")).unwrap(),
            "old"
        );
    }

    /// The new directory cannot be created (a file is in its way, which stops root too): the move
    /// fails, the legacy key stays and is still used; the next run completes the move
    #[test]
    fn a_move_that_fails_halfway_loses_nothing() {
        let home = tempfile::tempdir().unwrap();
        let f = format(home.path());
        fs::write(home.path().join(".vast_api_key"), "legacy-key").unwrap();
        let dir = f.path.parent().unwrap().to_owned();
        fs::create_dir_all(dir.parent().unwrap()).unwrap();
        fs::write(&dir, "in the way").unwrap();
        assert!(f.migrate().is_err());
        assert_eq!(
            fs::read_to_string(home.path().join(".vast_api_key")).unwrap(),
            "legacy-key"
        );
        assert_eq!(
            record(&f.get("vast/default").unwrap().unwrap())
                .api_key
                .unwrap()
                .expose(),
            "legacy-key"
        );
        fs::remove_file(&dir).unwrap();
        assert_eq!(f.migrate_legacy().unwrap(), VastMigration::Moved);
        assert_eq!(fs::read_to_string(&f.path).unwrap(), "legacy-key");
    }

    #[test]
    fn a_garbled_key_file_names_the_file_and_line_and_is_kept() {
        let home = tempfile::tempdir().unwrap();
        let f = format(home.path());
        fs::create_dir_all(f.path.parent().unwrap()).unwrap();
        fs::write(&f.path, "key-one\nkey-two\n").unwrap();
        let e = f.get("vast/default").unwrap_err().to_string();
        assert!(e.contains("vast_api_key line 2"), "{e}");
        assert!(!e.contains("key-one"), "{e}");
        assert!(f.compare_and_swap("k", None, &api_key_record("x")).is_err());
        assert_eq!(fs::read_to_string(&f.path).unwrap(), "key-one\nkey-two\n");
    }
}
