//! The browser login's loopback callback (`/callback?code=…&state=…`), which any local process can
//! send: after `Start`, the target string comes from the fuzzer. The authorization code it carries
//! must never reach `Debug` text or an error message.
#![no_main]
use keyhole_core::Input;
use keyhole_fuzz::{Reader, assert_no_secret, drain, transcripts_of, watched_secrets};

/// What a callback's Debug shows in place of its query
const REDACTED: &str = "Callback(\"/callback\"?[redacted])";

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let all = transcripts_of("browser_login");
    let mut r = Reader::new(data);
    let t = all[r.u8() as usize % all.len()];
    let target = String::from_utf8_lossy(r.rest()).into_owned();
    let mut secrets = watched_secrets(t, data);
    // The query's `code` is a secret too, when long enough to be told apart from the
    // machine's own text.
    let config = t.doc["config"].to_string();
    // The path is shown as it is; a code that also spells part of it is not a leak.
    let path = target.split(['?', '#', '&', ';', '=']).next().unwrap_or_default();
    let values: Vec<&str> = target
        .split(['?', '&', '#'])
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "code")
        .map(|(_, v)| v)
        // A code that is a piece of the redacted Debug text itself is not a leak.
        .filter(|v| {
            v.len() >= 12 && !config.contains(v) && !REDACTED.contains(v) && !path.contains(v)
        })
        .collect();
    let now = t.doc["now_ms"].as_u64().unwrap();
    let mut m = keyhole_core::wire::new_debug_machine("browser_login", &t.doc["config"], now, &t.random)
        .expect("transcript configs build");
    m.handle_input(now, Input::Start);
    let _ = drain(m.as_mut(), now, &secrets);
    let input = Input::Callback(target.clone());
    let shown = format!("{input:?}");
    assert!(
        !shown.contains('?') || shown.ends_with("?[redacted])"),
        "a callback's query reaches Debug: {shown}"
    );
    assert_no_secret(&values, "the Debug text of a callback", &shown);
    m.handle_input(now + 1, input);
    secrets.retain(|s| !target.contains(s));
    let last = drain(m.as_mut(), now + 1, &secrets);
    assert_no_secret(&values, "the Debug text of the machine", &format!("{m:?}"));
    if let Some(message) = last.pointer("/error/message").and_then(|v| v.as_str()) {
        assert_no_secret(&values, "an error message", message);
    }
});
