//! keyhole's own layout (the default): `config.toml` plus one JSON file per credential
//!
//! ```text
//! <config dir>/config.toml            remotes, accounts, projects (no secrets), versioned
//! <config dir>/credentials/<key>.json one StoredRecord per remote/account, 0600 (file fallback)
//! <config dir>/locks/                 lock files
//! ```

use std::path::PathBuf;

use super::StorageFormat;
use crate::config::{Config, ConfigError, config_path};
use crate::store::{FileStore, LockDir, SecretStore};

/// keyhole's TOML config and `credentials/` directory under one config directory
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyholeToml {
    dir: PathBuf,
}

impl KeyholeToml {
    /// Everything lives under `config_dir` (e.g. `App::config_dir()`)
    pub fn new(config_dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: config_dir.into(),
        }
    }
}

impl StorageFormat for KeyholeToml {
    fn name(&self) -> &'static str {
        "keyhole-toml"
    }

    fn config_path(&self) -> PathBuf {
        config_path(&self.dir)
    }

    fn credentials_path(&self) -> PathBuf {
        self.dir.join("credentials")
    }

    fn locks(&self) -> LockDir {
        LockDir::new(self.dir.join("locks"))
    }

    fn load_config(&self) -> Result<Config, ConfigError> {
        Config::load(&self.dir)
    }

    fn save_config(&self, config: &Config) -> Result<(), ConfigError> {
        config.save(&self.dir)
    }

    fn moves_file_credentials_to_keyring(&self) -> bool {
        true
    }

    fn file_store(&self) -> Box<dyn SecretStore> {
        Box::new(FileStore::new(self.credentials_path(), self.locks()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::config::RemoteConfig;

    #[test]
    fn config_and_credentials_round_trip_in_the_config_dir() {
        let dir = tempfile::tempdir().unwrap();
        let f = KeyholeToml::new(dir.path().join("keyhole"));
        assert_eq!(f.load_config().unwrap(), Config::default());
        let mut c = Config::default();
        c.remotes.insert(
            "work".into(),
            RemoteConfig {
                client_id: "cli".into(),
                ..RemoteConfig::default()
            },
        );
        let _lock = f.lock_config().unwrap();
        f.save_config(&c).unwrap();
        assert_eq!(f.load_config().unwrap(), c);
        assert!(f.config_path().ends_with("keyhole/config.toml"));

        let store = f.file_store();
        let rec = api_key_record("k1");
        assert_eq!(
            store.compare_and_swap("work/me", None, &rec).unwrap(),
            Some(rec.clone())
        );
        assert_eq!(store.get("work/me").unwrap(), Some(rec));
        #[cfg(unix)]
        {
            assert_eq!(mode(&f.credentials_path()), 0o700);
            assert_eq!(mode(&f.config_path()), 0o600);
        }
        assert!(f.uses_keyring());
        assert_eq!(f.credential_status("work/me").unwrap(), None);
        assert!(f.migrate().unwrap().is_empty());
    }
}
