//! vtrix's YAML file `~/.config/vtrix/config.yml` (the user, the credential fallback, overrides
//! of the built-in remote, and anything else vtrix keeps), as vtrix or a user may have written
//! it. A file that loads gives its credential without error; saving the config loads back to
//! the same config and credential (or, for YAML the writer cannot represent, is refused as
//! such and the file kept); the credential written back reads back the same. A refused
//! file is named (with its line for a YAML syntax error), and no credential value appears in
//! the error: YAML parsers quote the text they stop at.
#![no_main]
use keyhole_core::StoredRecord;
use keyhole_native::config::{ConfigError, RemoteConfig};
use keyhole_native::store::format::{StorageFormat, VtrixYaml};

const CREDENTIAL_KEYS: &[&str] = &["api_key", "auth_token", "refresh_token", "id_token"];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = keyhole_fuzz::files::scratch_dir("vtrix_yaml");
    let path = dir.join("vtrix/config.yml");
    let template = RemoteConfig {
        issuer: Some("https://id.example.com".into()),
        client_id: "vtrix-cli".into(),
        api_url: Some("https://api.example.com".into()),
        ..RemoteConfig::default()
    };
    let format = VtrixYaml::new(&path, "vtrix", template);
    keyhole_fuzz::files::put(&path, data);
    let store = format.file_store();
    match format.load_config() {
        Ok(config) => {
            let account = config.remotes["vtrix"]
                .active_account
                .clone()
                .unwrap_or_default();
            let key = format!("vtrix/{account}");
            let record = store.get(&key).expect("a loaded file gives its credential");
            let record =
                record.map(|r| StoredRecord::from_json(&r).expect("a store record parses"));
            if let Err(e) = format.save_config(&config) {
                // The YAML writer cannot represent everything its reader takes (a tagged
                // key): refused as the file's content, and the file kept as it was.
                let message = e.to_string();
                assert!(
                    matches!(e, ConfigError::Invalid { .. })
                        && message.contains("cannot write this YAML back"),
                    "a config that loaded is not saved: {message}"
                );
                assert_eq!(
                    std::fs::read(&path).unwrap(),
                    data,
                    "a refused save changed the file"
                );
                return;
            }
            let written = std::fs::read_to_string(&path).unwrap();
            assert_eq!(
                format.load_config().expect("a saved file loads"),
                config,
                "{written}"
            );
            let now = store.get(&key).expect("a saved file gives its credential");
            let now = now.map(|r| StoredRecord::from_json(&r).unwrap());
            assert_eq!(
                now, record,
                "the credential changed on a config save:\n{written}"
            );
            if let Some(record) = record {
                store
                    .set(&key, &record.to_json())
                    .expect("a credential that was read is written");
                let again = store
                    .get(&key)
                    .expect("a written credential reads")
                    .expect("it is there");
                assert_eq!(
                    StoredRecord::from_json(&again).unwrap(),
                    record,
                    "it changed on a write and read"
                );
                assert_eq!(
                    format.load_config().expect("it loads"),
                    config,
                    "the config changed on a credential write"
                );
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            if message.contains("YAML") {
                keyhole_fuzz::files::assert_names_file_and_line(&message, &path);
            }
            if let Ok(text) = std::str::from_utf8(data) {
                let values = keyhole_fuzz::files::credential_values(text, CREDENTIAL_KEYS, &path);
                keyhole_fuzz::files::assert_no_value(&values, &message);
            }
            assert!(
                store.get("vtrix/default").is_err(),
                "the store reads a file the config refuses"
            );
        }
    }
});
