//! Writes the committed seed corpus, fuzz/corpus/<target>/: each transcript of tests/transcripts
//! encoded for its machine target, the callbacks the browser transcripts receive, the records
//! and headers they carry. Run from fuzz/: `cargo run --example make_seeds`.
use std::fs;

use keyhole_fuzz::{Writer, transcript_seed, transcripts, transcripts_of};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = format!("corpus/{target}");
    fs::create_dir_all(&dir).unwrap();
    fs::write(format!("{dir}/{name}"), bytes).unwrap();
}

fn main() {
    for kind in keyhole_core::wire::MACHINE_KINDS {
        for (i, t) in transcripts_of(kind).iter().enumerate() {
            write(&format!("machine_{kind}"), t.name, &transcript_seed(i as u8, t));
        }
    }
    for (i, t) in transcripts_of("browser_login").iter().enumerate() {
        for (j, step) in t.doc["steps"].as_array().unwrap().iter().enumerate() {
            if let Some(target) = step["input"]["target"].as_str() {
                let mut bytes = vec![i as u8];
                bytes.extend_from_slice(target.as_bytes());
                write("callback_query", &format!("{}_{j}", t.name), &bytes);
            }
        }
    }
    for t in transcripts() {
        for (j, step) in t.doc["steps"].as_array().unwrap().iter().enumerate() {
            let input = &step["input"];
            if input["type"] == "stored" {
                if let Some(v) = input["value"].as_str() {
                    write("stored_record", &format!("{}_{j}", t.name), v.as_bytes());
                }
            }
            let Some(headers) = input["headers"].as_object() else { continue };
            for (name, value) in headers {
                let value = value.as_str().unwrap_or_default();
                if name.eq_ignore_ascii_case("retry-after") {
                    let mut w = Writer::default();
                    w.u32(1_700_000_000);
                    w.u16(0);
                    w.out.extend_from_slice(value.as_bytes());
                    write("retry_after", &format!("{}_{j}", t.name), &w.out);
                }
                if name.eq_ignore_ascii_case("www-authenticate") {
                    let mut w = Writer::default();
                    w.u8(0);
                    w.bytes(value.as_bytes());
                    write("www_authenticate", &format!("{}_{j}", t.name), &w.out);
                }
            }
        }
    }
    // Headers no transcript has: an IMF-fixdate, and several challenges in one field.
    let mut w = Writer::default();
    w.u32(1_700_000_000);
    w.u16(0);
    w.out.extend_from_slice(b"Sun, 06 Nov 1994 08:49:37 GMT");
    write("retry_after", "imf_fixdate", &w.out);
    let mut w = Writer::default();
    w.u8(0);
    w.bytes(br#"Basic realm="x", Bearer realm="api", error="insufficient_scope", scope="a b""#);
    write("www_authenticate", "two_challenges", &w.out);
}
