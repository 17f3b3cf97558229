//! The running context of one [`Product`]: its config directory (resolved from the environment
//! once), its secret store and its config file
//!
//! ```no_run
//! static MYAPP: keyhole_native::Product = keyhole_native::Product {
//!     name: "myapp",
//!     ..keyhole_native::Product::KEYHOLE
//! };
//! let app = keyhole_native::App::new(&MYAPP);
//! let mut engine = keyhole_native::NativeEngine::new(&app);
//! ```

use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError};
use crate::product::{Product, Storage, fill};
use crate::store::format::{KeyholeToml, StorageFormat, TrussRc, VastKeyFile, VtrixYaml};
use crate::store::{Backend, LockGuard, Store};

/// A product, with its config directory resolved
#[derive(Debug, Clone)]
pub struct App {
    product: &'static Product,
    config_dir: PathBuf,
}

impl App {
    /// The product's context: config dir from its config-dir variable, else
    /// `$XDG_CONFIG_HOME/<config_dir_name>`, else `~/.config/<config_dir_name>`
    pub fn new(product: &'static Product) -> Self {
        let dir_name = product.config_dir_name;
        let config_dir = std::env::var_os(product.env.config_dir)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CONFIG_HOME")
                    .filter(|v| !v.is_empty())
                    .map(|x| PathBuf::from(x).join(dir_name))
            })
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .or_else(std::env::home_dir)
                    .map(|h| h.join(".config").join(dir_name))
            })
            .unwrap_or_else(|| PathBuf::from(format!(".{dir_name}")));
        Self {
            product,
            config_dir,
        }
    }

    /// The product this app runs as
    pub fn product(&self) -> &'static Product {
        self.product
    }

    /// The same app with another config directory (tests, portable installs)
    pub fn with_config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config_dir = dir.into();
        self
    }

    /// The command name in messages
    pub fn name(&self) -> &str {
        self.product.name
    }

    /// Where config, credential files and lock files live
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// The value of an environment variable, if set and not empty
    pub fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    /// The user agent of HTTP requests
    pub fn user_agent(&self) -> String {
        self.product.user_agent()
    }

    /// The secret store: the keyring with a file fallback, or the file when the product's
    /// force-file variable (`KEYHOLE_NO_KEYRING`) is set to anything but `0`
    pub fn store(&self) -> Store {
        let forced_file = self
            .env(self.product.env.no_keyring)
            .is_some_and(|v| v != "0");
        let backend = if forced_file {
            Backend::File
        } else {
            Backend::Auto
        };
        let format = self.format();
        // Legacy locations move before the first read (vast's `~/.vast_api_key`); a move that
        // fails leaves the credential readable where it was, so it is a warning, not an error.
        match format.migrate() {
            // Lines name accounts and paths from files: made safe for the terminal.
            Ok(moves) => moves
                .iter()
                .for_each(|line| eprintln!("{}", crate::text::terminal_safe(line))),
            Err(e) => eprintln!("warning: {}", crate::text::terminal_safe(&e.to_string())),
        }
        let line = self.product.messages.keyring_fallback;
        let warn = Box::new(move |why: &str| {
            eprintln!(
                "{}",
                fill(line, &[("why", &crate::text::terminal_safe(why))])
            );
        });
        Store::open_format(self.product.keyring_service, &*format, backend, warn)
    }

    /// The product's storage format with its paths resolved from the environment
    ///
    /// keyhole's own layout lives in [`App::config_dir`]; the vendor layouts live where their
    /// CLIs keep them (`~/.trussrc`, `~/.config/vtrix/config.yml`, `vastai/vast_api_key`), and
    /// fall back to keyhole's layout only when no home directory is known.
    pub fn format(&self) -> Box<dyn StorageFormat> {
        let product = self.product;
        let template = product
            .default_template()
            .map(|t| t.to_config(product))
            .unwrap_or_default();
        let remote = product.default_remote.unwrap_or(product.name);
        let vendor: Option<Box<dyn StorageFormat>> = match product.storage {
            Storage::KeyholeToml => None,
            Storage::TrussRc => TrussRc::from_env(template).map(|f| Box::new(f) as _),
            Storage::VtrixYaml => VtrixYaml::from_env(remote, template).map(|f| Box::new(f) as _),
            Storage::VastKeyFile => {
                VastKeyFile::from_env(remote, template).map(|f| Box::new(f) as _)
            }
        };
        vendor.unwrap_or_else(|| Box::new(KeyholeToml::new(&self.config_dir)))
    }

    /// Reads the config file
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        self.format().load_config()
    }

    /// Writes the config file atomically
    pub fn save_config(&self, config: &Config) -> Result<(), ConfigError> {
        self.format().save_config(config)
    }

    /// The cross-process lock to hold from loading the config to saving it, so that two
    /// processes changing it at once do not lose each other's change
    pub fn lock_config(&self) -> Result<LockGuard, ConfigError> {
        self.format().lock_config()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static MY_APP: Product = Product {
        name: "my-app",
        ..Product::KEYHOLE
    };

    #[test]
    fn the_product_decides_the_names() {
        let app = App::new(&MY_APP).with_config_dir("/tmp/x");
        assert_eq!(app.config_dir(), Path::new("/tmp/x"));
        assert!(app.user_agent().starts_with("my-app/"));
        assert_eq!(app.product().env.api_key, "KEYHOLE_API_KEY");
    }
}
