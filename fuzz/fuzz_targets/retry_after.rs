//! The `Retry-After` header of a 429/503 (delta-seconds or an IMF-fixdate), as a provider sends it:
//! never a panic or overflow, at most a day, and delta-seconds taken as written
#![no_main]
use keyhole_core::HttpResponse;
use keyhole_fuzz::Reader;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let now_ms = u64::from(r.u32()) * 1000 + u64::from(r.u16());
    let value = String::from_utf8_lossy(r.rest()).into_owned();
    for status in [429, 503] {
        let response = HttpResponse {
            status,
            headers: vec![("retry-after".into(), value.clone())],
            body: Vec::new(),
        };
        let s = keyhole_core::fuzzing::retry_after_s(&response, now_ms);
        if let Some(s) = s {
            assert!(s <= 24 * 3600, "a Retry-After of {s} s is more than a day");
        }
        if let Ok(n) = value.trim().parse::<u64>() {
            assert_eq!(s, Some(n.min(24 * 3600)), "delta-seconds {n} read as {s:?}");
        }
        // The machines turn it into an error the user reads.
        let e = keyhole_core::fuzzing::key_check_error(&response, now_ms);
        keyhole_fuzz::assert_printable("a rate-limit error", &e.to_string());
    }
});
