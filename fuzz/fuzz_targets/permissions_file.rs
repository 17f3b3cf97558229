//! The permissions file of `keys create --permission-file F` (a JSON object sent as the new
//! key's permissions): what is read is a JSON object, exactly as written (it serializes and
//! reads back to the same value); what is refused names the file (and, for bad JSON, the line
//! and column serde_json found), with no control character, and nothing is sent.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = keyhole_fuzz::files::scratch_dir("permissions_file").join("permissions.json");
    keyhole_fuzz::files::put(&path, data);
    match keyhole_native::fuzzing::read_permissions(&path) {
        Ok(value) => {
            assert!(
                value.is_object(),
                "permissions that are not an object: {value}"
            );
            let text = std::str::from_utf8(data).expect("a read permissions file is UTF-8");
            let direct: serde_json::Value = serde_json::from_str(text).expect("it is JSON");
            assert_eq!(value, direct, "the permissions differ from the file's JSON");
            let again: serde_json::Value =
                serde_json::from_str(&value.to_string()).expect("written permissions parse");
            assert_eq!(again, value, "permissions changed on a write and read");
        }
        Err(message) => {
            keyhole_fuzz::assert_printable("a permissions-file error", &message);
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(
                message.contains("nothing was sent") || message.contains("cannot read"),
                "{message}"
            );
            if let Ok(text) = std::str::from_utf8(data)
                && let Err(e) = serde_json::from_str::<serde_json::Value>(text)
            {
                let at = format!("line {}, column {}", e.line(), e.column());
                assert!(
                    message.contains(&at),
                    "a JSON error does not say {at}: {message}"
                );
            }
        }
    }
});
