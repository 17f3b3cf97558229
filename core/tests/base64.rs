//! core/src/base64.rs against the `base64` crate: the same text for every input, and the same
//! verdict (and bytes) for every string offered for decoding

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyhole_core::base64::{decode_standard, decode_url, encode_url};
use proptest::prelude::*;

/// Strings of base64 symbols of both alphabets, padding and a few strangers, any length
fn base64ish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(
            b"AZaz09+/-_=Zg8Q\n ."
                .iter()
                .map(|&b| b as char)
                .collect::<Vec<_>>(),
        ),
        0..24,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Valid encodings of both kinds, as they are or with one symbol replaced, dropped or added:
/// most are accepted, many refused, so the decoding property sees both verdicts
fn near_valid() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(any::<u8>(), 0..20),
        any::<bool>(),
        0usize..4,
        any::<prop::sample::Index>(),
        prop::sample::select(b"A/+-_=g".to_vec()),
    )
        .prop_map(|(bytes, url, edit, at, symbol)| {
            let mut text = if url {
                URL_SAFE_NO_PAD.encode(&bytes)
            } else {
                STANDARD.encode(&bytes)
            }
            .into_bytes();
            let i = at.index(text.len() + 1);
            match edit {
                1 if i < text.len() => text[i] = symbol,
                2 if i < text.len() => drop(text.remove(i)),
                3 => text.insert(i, symbol),
                _ => {}
            }
            String::from_utf8(text).expect("ASCII")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn encodes_like_the_base64_crate(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let ours = encode_url(&bytes);
        prop_assert_eq!(&ours, &URL_SAFE_NO_PAD.encode(&bytes));
        prop_assert_eq!(decode_url(&ours), Some(bytes.clone()));
        prop_assert_eq!(decode_standard(&STANDARD.encode(&bytes)), Some(bytes));
    }

    #[test]
    fn decodes_and_refuses_like_the_base64_crate(text in prop_oneof![base64ish(), near_valid()]) {
        prop_assert_eq!(decode_url(&text), URL_SAFE_NO_PAD.decode(&text).ok(), "url: {:?}", text);
        prop_assert_eq!(decode_standard(&text), STANDARD.decode(&text).ok(), "standard: {:?}", text);
    }
}
