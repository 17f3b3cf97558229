//! The browser login's loopback callback (`/callback?code=…&state=…`), which any local process can
//! send: after `Start`, the target string comes from the fuzzer. The authorization code it carries
//! must never reach `Debug` text or an error message.
#![no_main]
use keyhole_core::Input;
use keyhole_fuzz::{Reader, assert_no_secret, drain, transcripts_of, watched_secrets};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let all = transcripts_of("browser_login");
    let mut r = Reader::new(data);
    let t = all[r.u8() as usize % all.len()];
    let target = String::from_utf8_lossy(r.rest()).into_owned();
    let mut secrets = watched_secrets(t, data);
    // The query's `code` is a secret too, when long enough to be told apart from the
    // machine's own text.
    let config = t.doc["config"].to_string();
    // Debug shows the path (Debug-escaped, so `\u{1b}` or a replacement character as such) and
    // `?[redacted]` for everything after it; a code that spells part of that text is not a leak.
    let path = target
        .split(['?', '#', '&', ';', '='])
        .next()
        .unwrap_or_default();
    let redacted = format!(
        "Callback({path:?}{})",
        if path.len() < target.len() {
            "?[redacted]"
        } else {
            ""
        }
    );
    // The code is what the core reads: the decoded `code` of the query (after the first `?`,
    // split on `&`), as `url` parses it. A code the target spells a second time (inside `iss`
    // or `error_description`, which errors name) is the fuzzer's own text there.
    let plus_as_space = target.replace('+', " ");
    let decoded: Vec<u8> = percent_encoding::percent_decode(plus_as_space.as_bytes()).collect();
    let decoded = String::from_utf8_lossy(&decoded);
    // Error text loses control characters, which can join pieces into a code.
    let joined: String = decoded.chars().filter(|c| !c.is_control()).collect();
    let base = url::Url::parse("http://127.0.0.1/").unwrap();
    let codes: Vec<String> = match base.join(&target) {
        Ok(u) => u
            .query_pairs()
            .filter(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    let values: Vec<&str> = codes
        .iter()
        .map(String::as_str)
        .filter(|v| v.len() >= 12 && !config.contains(v) && !redacted.contains(v))
        .filter(|v| decoded.matches(v).count() <= 1 && joined.matches(v).count() <= 1)
        .collect();
    let now = t.doc["now_ms"].as_u64().unwrap();
    let mut m =
        keyhole_core::wire::new_debug_machine("browser_login", &t.doc["config"], now, &t.random)
            .expect("transcript configs build");
    m.handle_input(now, Input::Start);
    let _ = drain(m.as_mut(), now, &secrets);
    let input = Input::Callback(target.clone());
    let shown = format!("{input:?}");
    assert_eq!(
        shown, redacted,
        "a callback's Debug shows more than its path"
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
