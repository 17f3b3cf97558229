//! The one redacting type for tokens, keys, codes and verifiers

use core::fmt;

/// A secret string: an access or refresh token, an API key, a device code, a PKCE verifier
///
/// `Debug` prints `Secret([redacted])`; there is no `Display`, no `Deref` and no `Serialize`. The
/// only way to read the value is [`Secret::expose`], which is easy to grep for. Equality is
/// constant-time in the length of the shorter operand.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value that must never be printed
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Reads the secret value
    ///
    /// # Security Warning
    /// Leaking this value compromises the account it belongs to. Only put it where it is meant to
    /// go: an HTTP request to the provider, the secret store, or the `token` command's stdout.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Consumes the wrapper and returns the secret value (same warning as [`Secret::expose`])
    pub fn into_exposed(self) -> String {
        self.0
    }

    /// Whether the secret is the empty string
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Secret {}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// Compares without an early exit on the first differing byte, so that timing does not reveal how
/// much of a guessed secret (an OAuth `state`, say) was right
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() ^ b.len()) >> 8) as u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    diff == 0 && a.len() == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("tok_live_123");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(Secret([redacted]))");
        assert_eq!(format!("{s:#?}"), "Secret([redacted])");
    }

    #[test]
    fn equality_compares_whole_values() {
        assert_eq!(Secret::new("abc"), Secret::new("abc"));
        assert_ne!(Secret::new("abc"), Secret::new("abd"));
        assert_ne!(Secret::new("abc"), Secret::new("abcd"));
        assert_ne!(Secret::new(""), Secret::new("a"));
    }
}
