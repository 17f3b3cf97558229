//! A stored credential record as the secret store hands it back (a file or keyring entry anyone
//! with the user's access can edit). A record that parses writes back to text that parses to the
//! same record; errors never echo the content; `Debug` shows no secret.
#![no_main]
use keyhole_core::{Secret, StoredRecord};
use keyhole_fuzz::assert_printable;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match StoredRecord::from_json(&Secret::new(text)) {
        Ok(record) => {
            let again = StoredRecord::from_json(&record.to_json()).expect("a written record parses");
            assert_eq!(again, record, "a record changed on a write and read");
            let debug = format!("{record:?}");
            // What Debug may show: the record with every secret emptied. A secret that appears
            // in the real Debug text but not there has leaked.
            let mut skeleton = record.clone();
            let mut secrets: Vec<String> = Vec::new();
            if let Some(k) = skeleton.api_key.take() {
                secrets.push(k.expose().to_owned());
                skeleton.api_key = Some(Secret::new(""));
            }
            if let Some(o) = skeleton.oauth.as_mut() {
                secrets.push(std::mem::take(&mut o.access_token).into_exposed());
                for s in [o.refresh_token.as_mut(), o.id_token.as_mut()].into_iter().flatten() {
                    secrets.push(std::mem::take(s).into_exposed());
                }
            }
            let skeleton = format!("{skeleton:?}");
            for s in secrets.iter().filter(|s| !s.is_empty()) {
                assert!(
                    !debug.contains(s.as_str()) || skeleton.contains(s.as_str()),
                    "a stored secret appears in Debug: {debug}"
                );
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert_printable("a stored-record error", &message);
            // The record's own text is never echoed. A text that is a piece of our own fixed
            // wording is not an echo: only texts with a character our messages never use count.
            if text.len() >= 24 && text.contains(['{', '"', '\\']) {
                assert!(!message.contains(text), "a record error echoes the record: {message}");
            }
        }
    }
});
