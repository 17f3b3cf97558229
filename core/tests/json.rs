//! Differential tests: the core's own JSON (`keyhole_core::json`) against serde_json
//!
//! - what serde_json writes, ours parses, and ours writes back byte for byte as
//!   `serde_json::to_string` does (integers, strings with every kind of character, nesting);
//! - on hostile bytes (random, and valid JSON with random edits) ours accepts exactly what
//!   `serde_json::from_slice::<Value>` accepts, and reads the same value;
//! - the nesting limit is serde_json's;
//! - `Number::trunc_u64` reads numbers as `as_u64()`, else a non-negative float truncated, would.

use keyhole_core::json::{self, Value as Ours};
use proptest::prelude::*;
use serde_json::Value;

/// serde_json's reading of our writing of `ours`
fn as_serde(ours: &Ours) -> Value {
    serde_json::from_str(&ours.to_json()).expect("ours writes JSON serde_json reads")
}

/// Both parsers on the same bytes: both refuse, or both accept the same value
fn agree(bytes: &[u8]) {
    let theirs = serde_json::from_slice::<Value>(bytes);
    let ours = json::parse(bytes);
    match (&ours, &theirs) {
        (Ok(o), Ok(t)) => assert_eq!(&as_serde(o), t, "{:?}", String::from_utf8_lossy(bytes)),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "{:?}: ours {:?}, serde_json {:?}",
            String::from_utf8_lossy(bytes),
            ours.map(|v| v.to_json()),
            theirs
        ),
    }
}

/// JSON values without floats: what the core writes
fn integer_values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[\\x00-\\x1f\"\\\\/a\u{7f}\u{e9}\u{2028}\u{1f600}]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec(("[a-d\u{e9}\"]{0,3}", inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Number text, valid and not: signs, leading zeros, fractions, exponents, near-overflow
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,6})?([eE][+-]?[0-9]{1,4})?",
        "[-+]?[0-9]{0,3}\\.?[0-9]{0,3}([eE][+-]?)?[0-9]{0,3}",
        // Around the largest float, but not within a few units of its last place, where
        // serde_json (without its `float_roundtrip` feature) rounds long numbers inexactly.
        "-?1\\.79769313486231[0-4][0-9]{0,3}e308",
        "-?1\\.7976931348623[2-9][0-9]{0,3}e308",
        "-?179769313486231[0-4][0-9]{293}",
        "-?17976931348623[2-9][0-9]{294}",
        "-?0\\.[0-9]{0,3}e-?[0-9]{1,25}",
    ]
}

/// Bytes that look a little like JSON
fn json_ish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let alphabet: &[u8] = b"{}[],:\" \n\t\\/-+.eE0129aftrunlsu\x00\x1f\x7f\xc3\xa9\xed\xa0\x80\xff";
    prop::collection::vec(prop::sample::select(alphabet.to_vec()), 0..24)
}

/// Valid JSON text with a few random byte edits
fn edited_json() -> impl Strategy<Value = Vec<u8>> {
    (
        integer_values(),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..4),
    )
        .prop_map(|(value, edits)| {
            let mut bytes = serde_json::to_vec(&value).expect("serialises");
            for (at, kind, byte) in edits {
                let byte = b"{}[],:\"\\-.e0u"[usize::from(byte) % 13];
                match kind {
                    0 if !bytes.is_empty() => {
                        bytes.remove(at.index(bytes.len()));
                    }
                    1 if !bytes.is_empty() => {
                        let i = at.index(bytes.len());
                        bytes[i] = byte;
                    }
                    _ => bytes.insert(at.index(bytes.len() + 1), byte),
                }
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn writes_exactly_what_serde_json_writes(value in integer_values()) {
        let compact = serde_json::to_string(&value).unwrap();
        let ours = json::parse(compact.as_bytes()).unwrap();
        prop_assert_eq!(ours.to_json(), compact.clone());
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        prop_assert_eq!(json::parse(pretty.as_bytes()).unwrap().to_json(), compact);
    }

    /// Objects as text, short and long (the parser sorts up to 16 entries in place and merges
    /// longer ones), with repeated keys: the last one read wins, as in serde_json
    #[test]
    fn reads_objects_with_repeated_keys_as_serde_json_does(
        entries in prop::collection::vec(("[a-e]{0,2}", any::<u16>()), 0..40)
    ) {
        let body: Vec<String> = entries.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
        agree(format!("{{{}}}", body.join(", ")).as_bytes());
    }

    /// Lookups by key, in small objects (scanned) and large ones (binary search), for keys
    /// present and absent, with keys of equal length that differ in one byte
    #[test]
    fn looks_up_keys_as_serde_json_does(
        entries in prop::collection::vec(("[ab]{0,3}", any::<u16>()), 0..40),
        probes in prop::collection::vec("[abc]{0,3}", 1..8),
    ) {
        let body: Vec<String> = entries.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
        let text = format!("{{{}}}", body.join(", "));
        let theirs: Value = serde_json::from_str(&text).unwrap();
        let ours = json::parse(text.as_bytes()).unwrap();
        let map = ours.as_object().unwrap();
        for probe in probes.iter().chain(entries.iter().map(|(k, _)| k)) {
            let theirs = theirs.get(probe).map(|v| v.to_string());
            prop_assert_eq!(ours.get(probe).map(|v| v.to_json()), theirs.clone());
            prop_assert_eq!(map.contains_key(probe), theirs.is_some());
            let mut removed = map.clone();
            prop_assert_eq!(removed.remove(probe).map(|v| v.to_json()), theirs);
            prop_assert!(removed.get(probe).is_none());
        }
    }

    #[test]
    fn reads_floats_as_serde_json_does(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        agree(serde_json::to_string(&x).unwrap().as_bytes());
        agree(format!("{x:e}").as_bytes());
        agree(format!("[{x}, {{\"n\": {x:?}}}]").as_bytes());
    }

    #[test]
    fn accepts_the_numbers_serde_json_accepts(text in number_text()) {
        agree(text.as_bytes());
        agree(format!("[{text}]").as_bytes());
    }

    #[test]
    fn accepts_the_bytes_serde_json_accepts(bytes in json_ish_bytes()) {
        agree(&bytes);
    }

    #[test]
    fn accepts_the_edited_json_serde_json_accepts(bytes in edited_json()) {
        agree(&bytes);
    }

    #[test]
    fn accepts_the_random_bytes_serde_json_accepts(bytes in prop::collection::vec(any::<u8>(), 0..32)) {
        agree(&bytes);
    }

    #[test]
    fn trunc_u64_reads_seconds_as_the_float_route_does(
        int in "-?(0|[1-9][0-9]{0,7})",
        frac in "(\\.[0-9]{1,6})?",
        exp in "([eE][+-]?[0-6])?",
    ) {
        let text = format!("{int}{frac}{exp}");
        let theirs: Value = serde_json::from_str(&text).unwrap();
        let Ours::Number(ours) = json::parse(text.as_bytes()).unwrap() else {
            panic!("{text} is a number");
        };
        // What oauth::seconds_field did with serde_json.
        let n = theirs.as_number().unwrap();
        let expected = match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Some(v),
            (None, Some(f)) if f >= 0.0 && f.is_finite() => Some(f.min(u64::MAX as f64) as u64),
            _ => None,
        };
        prop_assert_eq!(ours.trunc_u64(), expected, "{}", text);
    }
}

#[test]
fn nesting_limit_is_serde_jsons() {
    for depth in [1, 126, 127, 128, 129, 1000] {
        for (open, close) in [("[", "]"), ("{\"a\":", "}"), ("[{\"a\":", "}]")] {
            let text = open.repeat(depth) + "1" + &close.repeat(depth);
            agree(text.as_bytes());
        }
        agree(("[".repeat(depth)).as_bytes());
    }
    assert!(json::parse(("[".repeat(127) + &"]".repeat(127)).as_bytes()).is_ok());
    assert!(json::parse(("[".repeat(128) + &"]".repeat(128)).as_bytes()).is_err());
}

#[test]
fn edge_cases_agree() {
    for text in [
        "",
        " ",
        "null",
        " true ",
        "false",
        "nul",
        "-",
        "-0",
        "-0.0",
        "0e0",
        "1E+2",
        "01",
        "1.",
        ".1",
        "1e",
        "1e+",
        "+1",
        "NaN",
        "Infinity",
        "1e309",
        "-1e309",
        "1e-400",
        "-1e-400",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "\"\\ud83d\\ude00\"",
        "\"\\ud83d\"",
        "\"\\ude00\"",
        "\"\\ud83dx\"",
        "\"\\ud83d\\n\"",
        "\"\\ud83d\\u0041\"",
        "\"\\u00e9\\u0000\"",
        "\"\\uD83D\\uDE00\"",
        "\"\\u12\"",
        "\"\\x\"",
        "\"\t\"",
        "\"\u{7f}\"",
        "\"\\/\"",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{1:1}",
        "{\"a\":1 \"b\":2}",
        "{\"a\":1,\"a\":2}",
        "{\"b\":1,\"a\":2,\"b\":3}",
        "[] []",
        "{}x",
        "\u{feff}{}",
        "\r\n\t{}\r\n\t",
    ] {
        agree(text.as_bytes());
    }
    for bytes in [
        &b"\"\xff\""[..],
        b"\"\xc3\"",
        b"\"\xed\xa0\x80\"",
        b"\xef\xbb\xbf{}",
        b"{\"\xc3\xa9\":1}",
    ] {
        agree(bytes);
    }
}

#[test]
#[allow(clippy::disallowed_methods)] // a test's own wall clock, not the core's
fn many_keys_in_reverse_order_read_quickly() {
    // A hostile body: 100k keys in descending order. Inserting them one by one into a sorted
    // Vec would move ~10^11 bytes (minutes); the parser sorts once (well under a second).
    let mut text = String::from("{");
    for i in (0..100_000).rev() {
        text.push_str(&format!("\"k{i:06}\":{i},"));
    }
    text.push_str("\"k000000\":\"last\"}");
    let start = std::time::Instant::now();
    let ours = json::parse(text.as_bytes()).unwrap();
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(ours["k000000"], "last");
    assert_eq!(ours.as_object().unwrap().len(), 100_000);
    assert_eq!(
        ours.to_json(),
        serde_json::to_string(&serde_json::from_str::<Value>(&text).unwrap()).unwrap()
    );
}
