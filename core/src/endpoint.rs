//! Endpoint policy: which URLs keyhole will talk to
//!
//! Not transport: a machine checks every endpoint before it asks a host to send anything, and a
//! host checks again before it connects (host-native's `io.rs` uses [`is_loopback`] on the same
//! `Url`). URLs are parsed once, with the `url` crate, and cross to hosts as `url::Url`, so core
//! and host cannot disagree on what a URL means.
use url::{Host, Url};

use crate::error::AuthError;

/// Parses an endpoint URL and applies [`check_endpoint`] to it
///
/// For URLs that arrive as text inside a machine (an issuer, a metadata document's endpoints); a
/// URL in a config is parsed when the config is read ([`url_field`]).
///
/// A refusal quotes `raw` as written, not its normalised form (`https://idp.example` parses as
/// `https://idp.example/`): an issuer is text, and the user should see what they typed.
pub fn parse_endpoint(raw: &str) -> Result<Url, AuthError> {
    let url = parse_url(raw).map_err(|detail| AuthError::Config { detail })?;
    match check_endpoint(&url) {
        Ok(()) => Ok(url),
        Err(AuthError::InsecureEndpoint { .. }) => Err(AuthError::InsecureEndpoint {
            url: without_userinfo(raw),
        }),
        Err(error) => Err(error),
    }
}

/// Refuses anything but https, or http on a loopback host
///
/// [RFC 8252 §8.3](https://www.rfc-editor.org/rfc/rfc8252#section-8.3) allows plain http only for
/// loopback redirect URIs; every provider endpoint must be TLS-protected
/// ([RFC 6749 §3.2](https://www.rfc-editor.org/rfc/rfc6749#section-3.2)). A URL that carries a
/// user name or password is a config error that says what to change.
pub fn check_endpoint(url: &Url) -> Result<(), AuthError> {
    if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback(url)) {
        return Err(AuthError::InsecureEndpoint {
            url: without_userinfo(url.as_str()),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AuthError::Config {
            detail: "the URL has a user name or password before `@`; remove it (keyhole sends \
                     credentials itself)"
                .into(),
        });
    }
    Ok(())
}

/// Parses a URL with the `url` crate, or says why not without quoting a possible password
pub(crate) fn parse_url(raw: &str) -> Result<Url, String> {
    Url::parse(raw).map_err(|error| {
        format!(
            "{} is not a URL ({error}); write it as https://host/path",
            quoted(raw)
        )
    })
}

/// serde `deserialize_with` helpers for URL fields in configs
///
/// `url`'s own `Deserialize` quotes the whole text in its error, which may hold a password; these
/// say what [`parse_endpoint`] says, and `serde_path_to_error` adds the field's path.
pub(crate) mod url_field {
    use serde::{Deserialize, Deserializer, de::Error};
    use url::Url;

    /// A required URL
    pub(crate) fn required<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
        super::parse_url(&String::deserialize(d)?).map_err(D::Error::custom)
    }

    /// An optional URL (absent or `null` is `None`; pair it with `#[serde(default)]`)
    pub(crate) fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|raw| super::parse_url(&raw).map_err(D::Error::custom))
            .transpose()
    }
}

/// Whether a URL's host is `localhost`, in 127.0.0.0/8 or `[::1]`
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether a host as `url::Url::host_str` gives it is `localhost`, in 127.0.0.0/8 or `[::1]`
pub fn is_loopback_host(host: &str) -> bool {
    match Host::parse(host) {
        Ok(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Ok(Host::Ipv4(ip)) => ip.is_loopback(),
        Ok(Host::Ipv6(ip)) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// `raw` in backticks, unless it may hold a password (anything before an `@`)
fn quoted(raw: &str) -> String {
    if raw.contains('@') {
        "the URL (not shown: it may hold a password)".into()
    } else {
        format!("`{raw}`")
    }
}

/// `raw` with anything before an `@` in its authority replaced by `***`: a URL of another scheme
/// (`ftp://user:password@host/`) is quoted in the refusal, its password must not be
fn without_userinfo(raw: &str) -> String {
    let Some(authority) = raw.find("://").map(|i| i + 3) else {
        return raw.to_owned();
    };
    let end = raw[authority..]
        .find(['/', '?', '#'])
        .map_or(raw.len(), |i| authority + i);
    match raw[authority..end].rfind('@') {
        Some(at) => format!("{}***{}", &raw[..authority], &raw[authority + at..]),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_only() {
        assert!(parse_endpoint("https://idp.example.com/token").is_ok());
        assert!(parse_endpoint("http://127.0.0.1:8080/token").is_ok());
        assert!(parse_endpoint("http://127.9.9.9/token").is_ok());
        assert!(parse_endpoint("http://[::1]:9/token").is_ok());
        assert!(parse_endpoint("http://localhost:9/token").is_ok());
        assert!(matches!(
            parse_endpoint("http://idp.example.com/token"),
            Err(AuthError::InsecureEndpoint { .. })
        ));
        assert!(matches!(
            parse_endpoint("http://127.0.0.1.evil.com/token"),
            Err(AuthError::InsecureEndpoint { .. })
        ));
        assert!(matches!(
            parse_endpoint("ftp://x/"),
            Err(AuthError::InsecureEndpoint { .. })
        ));
        // A password in a refused URL never reaches the message.
        let refused = parse_endpoint("ftp://ada:hunter2@files.example/x?y@z").unwrap_err();
        assert_eq!(
            refused,
            AuthError::InsecureEndpoint {
                url: "ftp://***@files.example/x?y@z".into()
            }
        );
        assert!(!refused.to_string().contains("hunter2"));
        let refused = parse_endpoint("https://ada:hunter2@idp.example/").unwrap_err();
        assert!(matches!(refused, AuthError::Config { .. }));
        assert!(!refused.to_string().contains("hunter2"));
        assert!(matches!(
            parse_endpoint("not a url"),
            Err(AuthError::Config { .. })
        ));
    }

    #[test]
    fn non_ascii_hosts_are_refused() {
        // idna_adapter 1.0.0 (pinned) accepts ASCII host names only.
        assert!(matches!(
            parse_endpoint("https://exämple.com/"),
            Err(AuthError::Config { .. })
        ));
    }

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "127.0.0.1", "127.1.2.3", "[::1]"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["example.com", "127.0.0.1.evil.com", "[::2]", ""] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
