//! vast's plain key file (`~/.config/vastai/vast_api_key`: the API key and nothing else), as any
//! tool may have written it: a key that is read is the file's one line, trimmed, and writes back
//! to the same key; a refused file is named with its line and the key is never shown.
#![no_main]
use keyhole_core::StoredRecord;
use keyhole_native::config::RemoteConfig;
use keyhole_native::store::format::{StorageFormat, VastKeyFile};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = keyhole_fuzz::files::scratch_dir("vast_key_file");
    let path = dir.join("vastai/vast_api_key");
    let format = VastKeyFile::new(&path, None, "vast", RemoteConfig::default());
    keyhole_fuzz::files::put(&path, data);
    let store = format.file_store();
    match store.get("vast/default") {
        Ok(found) => {
            let text = std::str::from_utf8(data).expect("a key file that reads is UTF-8");
            let key = text.trim();
            assert!(
                !key.contains(['\n', '\r']),
                "a key of several lines was read"
            );
            let config = format
                .load_config()
                .expect("a readable key file loads as config");
            let remote = &config.remotes["vast"];
            let Some(record) = found else {
                assert!(key.is_empty(), "a key file holding {key:?} read as empty");
                assert!(remote.accounts.is_empty(), "an account without a key");
                return;
            };
            let record = StoredRecord::from_json(&record).expect("the store's record parses");
            assert_eq!(
                record.api_key.as_ref().map(|k| k.expose()),
                Some(key),
                "the key changed on read"
            );
            assert!(record.oauth.is_none());
            assert!(
                remote.accounts.contains_key("default"),
                "a key without its account"
            );
            store
                .set("vast/default", &record.to_json())
                .expect("a key that was read is written");
            assert_eq!(
                std::fs::read(&path).unwrap(),
                format!("{key}\n").into_bytes()
            );
            let again = store
                .get("vast/default")
                .expect("a written key reads")
                .expect("a key");
            assert_eq!(
                StoredRecord::from_json(&again).unwrap(),
                record,
                "the key changed on a write and read"
            );
        }
        Err(e) => {
            let message = e.to_string();
            keyhole_fuzz::files::assert_names_file_and_line(&message, &path);
            if let Ok(text) = std::str::from_utf8(data) {
                // Each line may be the key, or a piece of it.
                let shown = path.display().to_string();
                let lines: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| keyhole_fuzz::files::secret_like(text, l, &shown))
                    .collect();
                keyhole_fuzz::files::assert_no_value(&lines, &message);
            }
            let config = format.load_config();
            assert!(
                config.is_err(),
                "the config reads a key file the store refuses"
            );
        }
    }
});
