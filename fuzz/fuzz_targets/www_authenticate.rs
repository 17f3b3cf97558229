//! `WWW-Authenticate` challenge lists on a 401/403 key-check answer (several fields, quoted
//! strings): only a Bearer/DPoP `insufficient_scope` challenge means "valid but lacks permission"
#![no_main]
use keyhole_core::{AuthError, HttpResponse};
use keyhole_fuzz::Reader;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let status = if r.u8() & 1 == 0 { 403 } else { 401 };
    let mut headers = Vec::new();
    while !r.is_empty() && headers.len() < 4 {
        headers.push(("www-authenticate".to_owned(), r.string()));
    }
    let response = HttpResponse { status, headers, body: Vec::new() };
    let scoped = keyhole_core::fuzzing::insufficient_scope(&response);
    if scoped {
        // Quoted strings may escape any character (`i\nsufficient_scope` is the same value).
        let all = response.headers.iter().map(|(_, v)| v.as_str()).collect::<String>();
        assert!(
            all.replace('\\', "").contains("insufficient_scope"),
            "insufficient_scope read from {all:?}"
        );
    }
    let e = keyhole_core::fuzzing::key_check_error(&response, 0);
    match (status, scoped) {
        (401, _) => assert!(matches!(e, AuthError::InvalidKey), "{e:?}"),
        (_, true) => assert!(matches!(e, AuthError::InsufficientPermission), "{e:?}"),
        _ => assert!(matches!(e, AuthError::Forbidden), "{e:?}"),
    }
    keyhole_fuzz::assert_printable("a key-check error", &e.to_string());
});
