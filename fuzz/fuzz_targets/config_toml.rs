//! keyhole's own `config.toml` (remotes, accounts, projects), as a user or another tool may have
//! edited it: a file that loads saves and loads back to the same config; a file that does not
//! is refused as invalid (never as unreadable: the file was read) with an error naming the file
//! and, for a TOML syntax or shape error, the line.
#![no_main]
use keyhole_native::config::ConfigError;
use keyhole_native::store::format::{KeyholeToml, StorageFormat};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = keyhole_fuzz::files::scratch_dir("config_toml");
    let format = KeyholeToml::new(dir);
    let path = format.config_path();
    keyhole_fuzz::files::put(&path, data);
    match format.load_config() {
        Ok(config) => {
            format
                .save_config(&config)
                .expect("a config that loaded is saved");
            let again = format.load_config().expect("a saved config loads");
            assert_eq!(again, config, "a config changed on a save and load");
        }
        Err(e) => {
            let message = e.to_string();
            match &e {
                ConfigError::Invalid { detail, .. } => {
                    // Checks of our own about `version` name the key; every other refusal
                    // comes from the TOML reader and must point at the line.
                    if !detail.contains("`version`") {
                        keyhole_fuzz::files::assert_names_file_and_line(&message, &path);
                    }
                }
                ConfigError::TooNew { .. } => {}
                ConfigError::Io { .. } => {
                    panic!("a config file's content read as an I/O error: {message}")
                }
            }
            assert!(message.contains(&path.display().to_string()), "{message}");
        }
    }
});
