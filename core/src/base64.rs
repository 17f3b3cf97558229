//! base64 ([RFC 4648](https://www.rfc-editor.org/rfc/rfc4648)): base64url without padding (§5)
//! for PKCE verifiers, state, challenges and ID token payloads; standard padded base64 (§4) for
//! binary response bodies in the wire form
//!
//! The same results as the `base64` crate's `URL_SAFE_NO_PAD` and `STANDARD` engines, including
//! what they refuse (checked against them in `core/tests/base64.rs`), in a fraction of their size
//! in the wasm artefacts.
use crate::prelude::*;

const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `bytes` as base64url text, without `=` padding
pub fn encode_url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        // 1 byte -> 2 symbols, 2 -> 3, 3 -> 4
        for i in 0..=chunk.len() {
            out.push(char::from(URL_SAFE[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// The bytes of base64url text without padding; `None` for any other symbol (`=` included), an
/// impossible length, or leftover bits that are not zero (a non-canonical encoding)
pub fn decode_url(text: &str) -> Option<Vec<u8>> {
    decode(text.as_bytes(), |s| match s {
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    })
}

/// The bytes of standard base64 with canonical `=` padding; `None` for anything else
pub fn decode_standard(text: &str) -> Option<Vec<u8>> {
    let symbols = text.as_bytes();
    if !symbols.len().is_multiple_of(4) {
        return None;
    }
    let padding = symbols
        .iter()
        .rev()
        .take(2)
        .take_while(|&&s| s == b'=')
        .count();
    decode(&symbols[..symbols.len() - padding], |s| match s {
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    })
}

/// Unpadded symbols to bytes; `last_two` maps the alphabet's symbols 62 and 63
fn decode(symbols: &[u8], last_two: impl Fn(u8) -> Option<u8>) -> Option<Vec<u8>> {
    if symbols.len() % 4 == 1 {
        return None;
    }
    let value = |s: u8| match s {
        b'A'..=b'Z' => Some(s - b'A'),
        b'a'..=b'z' => Some(s - b'a' + 26),
        b'0'..=b'9' => Some(s - b'0' + 52),
        _ => last_two(s),
    };
    let mut out = Vec::with_capacity(symbols.len() / 4 * 3 + 2);
    for chunk in symbols.chunks(4) {
        let mut n = 0u32;
        for (i, &s) in chunk.iter().enumerate() {
            n |= u32::from(value(s)?) << (18 - 6 * i);
        }
        let bytes = chunk.len() - 1; // 2 symbols -> 1 byte, 3 -> 2, 4 -> 3
        if n & (0x00ff_ffff >> (8 * bytes)) != 0 {
            return None;
        }
        out.extend((0..bytes).map(|i| (n >> (16 - 8 * i)) as u8));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_vectors() {
        for (plain, url, standard) in [
            ("", "", ""),
            ("f", "Zg", "Zg=="),
            ("fo", "Zm8", "Zm8="),
            ("foo", "Zm9v", "Zm9v"),
            ("foob", "Zm9vYg", "Zm9vYg=="),
            ("fooba", "Zm9vYmE", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
        ] {
            assert_eq!(encode_url(plain.as_bytes()), url);
            assert_eq!(decode_url(url).as_deref(), Some(plain.as_bytes()));
            assert_eq!(decode_standard(standard).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(encode_url(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode_standard("+/8=").as_deref(), Some(&[0xfb, 0xff][..]));
    }

    #[test]
    fn refuses_what_is_not_canonical() {
        for bad in ["Z", "Zg==", "Zh", "Zm9", "Zm+v", "Zm/v", "Zm9v\n"] {
            assert_eq!(decode_url(bad), None, "{bad}");
        }
        for bad in [
            "Zg", "Zg=", "Zh==", "Zm9=", "Zm-v", "Z===", "Zg==Zg==", "=Zg=",
        ] {
            assert_eq!(decode_standard(bad), None, "{bad}");
        }
    }
}
