//! truss's INI file `~/.trussrc` (remotes, keyring markers, inline and legacy plaintext
//! credentials), as truss, keyhole or a user may have written it. A file that loads:
//! - every remote's credential and status read without error;
//! - saving the config keeps every section and key of the file with its value (the format
//!   promises it) and loads back to the same config;
//! - an inline credential written back reads back the same.
//!
//! A refused file is named with its line, and no credential value appears in the error.
#![no_main]
use ini::{Ini, ParseOption};
use keyhole_core::StoredRecord;
use keyhole_native::config::RemoteConfig;
use keyhole_native::store::format::{StorageFormat, TrussRc};

const CREDENTIAL_KEYS: &[&str] = &[
    "api_key",
    "oauth_access_token",
    "oauth_refresh_token",
    "oauth_id_token",
];

fn parse(text: &str) -> Ini {
    let options = ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        ..ParseOption::default()
    };
    Ini::load_from_str_opt(text, options).expect("a file that loaded parses")
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = keyhole_fuzz::files::scratch_dir("trussrc");
    let path = dir.join(".trussrc");
    let template = RemoteConfig {
        issuer: Some("https://id.example.com".into()),
        client_id: "truss-cli".into(),
        ..RemoteConfig::default()
    };
    let format = TrussRc::new(&path, dir.join("locks"), template);
    keyhole_fuzz::files::put(&path, data);
    match format.load_config() {
        Ok(config) => {
            let text = std::str::from_utf8(data).expect("a file that loaded is UTF-8");
            let store = format.file_store();
            let mut records = Vec::new();
            for (name, remote) in &config.remotes {
                let account = remote.active_account.clone().unwrap_or_default();
                let key = format!("{name}/{account}");
                format
                    .credential_status(&key)
                    .expect("a loaded file gives a status");
                if let Some(r) = store
                    .get(&key)
                    .expect("a loaded file gives its credentials")
                {
                    records.push((
                        key,
                        StoredRecord::from_json(&r).expect("a store record parses"),
                    ));
                }
            }
            let before = parse(text);
            format
                .save_config(&config)
                .expect("a config that loaded is saved");
            let written = std::fs::read_to_string(&path).unwrap();
            let after = parse(&written);
            for (section, props) in before.iter() {
                for (k, v) in props.iter() {
                    let now = after.section(section).and_then(|s| s.get(k));
                    assert_eq!(
                        now,
                        Some(v),
                        "[{section:?}] {k} changed on a config save:\n{written}"
                    );
                }
            }
            assert_eq!(
                format.load_config().expect("a saved file loads"),
                config,
                "{written}"
            );
            for (key, record) in records {
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
                    "{key} changed on a write and read"
                );
            }
        }
        Err(e) => {
            let message = e.to_string();
            keyhole_fuzz::files::assert_names_file_and_line(&message, &path);
            if let Ok(text) = std::str::from_utf8(data) {
                let values = keyhole_fuzz::files::credential_values(text, CREDENTIAL_KEYS, &path);
                keyhole_fuzz::files::assert_no_value(&values, &message);
            }
        }
    }
});
