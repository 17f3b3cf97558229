//! The embedding API: an app name decides the keyring service, the config directory and the
//! environment-variable prefix, so another Rust CLI can embed keyhole under its own name
//!
//! ```no_run
//! let app = keyhole_native::App::new("myapp"); // MYAPP_API_KEY, ~/.config/myapp, keyring "myapp"
//! let mut engine = keyhole_native::NativeEngine::new(&app);
//! let code: std::process::ExitCode = keyhole_native::cli::run_from_env(&mut engine, &app);
//! ```

use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError};
use crate::store::{Backend, LockDir, LockGuard, Store};

/// Longest wait for another process's config change
const CONFIG_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Who is embedding keyhole
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    name: String,
    env_prefix: String,
    config_dir: PathBuf,
}

impl App {
    /// An app named `name`: keyring service `name`, env prefix `NAME_`, config dir from
    /// `$NAME_CONFIG_DIR`, else `$XDG_CONFIG_HOME/name`, else `~/.config/name`
    pub fn new(name: &str) -> Self {
        let env_prefix: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        let var = |suffix: &str| {
            std::env::var_os(format!("{env_prefix}_{suffix}")).filter(|v| !v.is_empty())
        };
        let config_dir = var("CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CONFIG_HOME")
                    .filter(|v| !v.is_empty())
                    .map(|x| PathBuf::from(x).join(name))
            })
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .or_else(std::env::home_dir)
                    .map(|h| h.join(".config").join(name))
            })
            .unwrap_or_else(|| PathBuf::from(format!(".{name}")));
        Self {
            name: name.to_owned(),
            env_prefix,
            config_dir,
        }
    }

    /// The same app with another config directory (tests, portable installs)
    pub fn with_config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config_dir = dir.into();
        self
    }

    /// The app's name (also the keyring service and the command name in messages)
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where config, credential files and lock files live
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// The name of the app's environment variable with this suffix: `KEYHOLE_API_KEY`
    pub fn env_name(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.env_prefix)
    }

    /// The value of the app's environment variable with this suffix, if set and not empty
    pub fn env(&self, suffix: &str) -> Option<String> {
        std::env::var(self.env_name(suffix))
            .ok()
            .filter(|v| !v.is_empty())
    }

    /// The user agent of HTTP requests
    pub fn user_agent(&self) -> String {
        format!("{}/{} (keyhole)", self.name, env!("CARGO_PKG_VERSION"))
    }

    /// The secret store: the keyring with a file fallback, or the file when `KEYHOLE_NO_KEYRING` (the app's prefix)
    /// is set to anything but `0`
    pub fn store(&self) -> Store {
        let forced_file = self.env("NO_KEYRING").is_some_and(|v| v != "0");
        let backend = if forced_file {
            Backend::File
        } else {
            Backend::Auto
        };
        Store::open(&self.name, &self.config_dir, backend)
    }

    /// Reads the config file
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        Config::load(&self.config_dir)
    }

    /// Writes the config file atomically
    pub fn save_config(&self, config: &Config) -> Result<(), ConfigError> {
        config.save(&self.config_dir)
    }

    /// The cross-process lock to hold from loading the config to saving it, so that two
    /// processes changing it at once do not lose each other's change
    pub fn lock_config(&self) -> Result<LockGuard, ConfigError> {
        LockDir::new(self.config_dir.join("locks"))
            .acquire("config", "write", CONFIG_LOCK_WAIT)
            .map_err(|e| ConfigError::Io {
                what: "lock",
                path: crate::config::config_path(&self.config_dir)
                    .display()
                    .to_string(),
                detail: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_decides_the_prefix() {
        let app = App::new("my-app").with_config_dir("/tmp/x");
        assert_eq!(app.env_name("API_KEY"), "MY_APP_API_KEY");
        assert_eq!(app.config_dir(), Path::new("/tmp/x"));
        assert!(app.user_agent().starts_with("my-app/"));
    }
}
