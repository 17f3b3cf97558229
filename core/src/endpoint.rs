//! Endpoint policy: which URLs keyhole will talk to
//!
//! Not transport: a machine checks every endpoint before it asks a host to send anything, and a
//! host checks again before it connects (host-native's `io.rs` uses [`is_loopback_host`]). URLs are
//! parsed with the `url` crate, the WHATWG parser hosts use too, so core and host agree on what a
//! URL means.
use url::{Host, Url};

use crate::error::AuthError;

/// Parses an endpoint URL and refuses anything but https, or http on a loopback host
///
/// [RFC 8252 §8.3](https://www.rfc-editor.org/rfc/rfc8252#section-8.3) allows plain http only for
/// loopback redirect URIs; every provider endpoint must be TLS-protected
/// ([RFC 6749 §3.2](https://www.rfc-editor.org/rfc/rfc6749#section-3.2)). A URL that does not
/// parse, or that carries a user name or password, is a config error that says what to change.
pub fn check_endpoint(raw: &str) -> Result<Url, AuthError> {
    let url = match Url::parse(raw) {
        Ok(url) => url,
        Err(error) => {
            return Err(AuthError::Config {
                detail: format!(
                    "{} is not a URL ({error}); write it as https://host/path",
                    quoted(raw)
                ),
            });
        }
    };
    if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback(&url)) {
        return Err(AuthError::InsecureEndpoint {
            url: without_userinfo(raw),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AuthError::Config {
            detail: "the URL has a user name or password before `@`; remove it (keyhole sends \
                     credentials itself)"
                .into(),
        });
    }
    Ok(url)
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
        "the URL".into()
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
        assert!(check_endpoint("https://idp.example.com/token").is_ok());
        assert!(check_endpoint("http://127.0.0.1:8080/token").is_ok());
        assert!(check_endpoint("http://127.9.9.9/token").is_ok());
        assert!(check_endpoint("http://[::1]:9/token").is_ok());
        assert!(check_endpoint("http://localhost:9/token").is_ok());
        assert!(matches!(
            check_endpoint("http://idp.example.com/token"),
            Err(AuthError::InsecureEndpoint { .. })
        ));
        assert!(matches!(
            check_endpoint("http://127.0.0.1.evil.com/token"),
            Err(AuthError::InsecureEndpoint { .. })
        ));
        assert!(matches!(
            check_endpoint("ftp://x/"),
            Err(AuthError::InsecureEndpoint { .. })
        ));
        // A password in a refused URL never reaches the message.
        let refused = check_endpoint("ftp://ada:hunter2@files.example/x?y@z").unwrap_err();
        assert_eq!(
            refused,
            AuthError::InsecureEndpoint {
                url: "ftp://***@files.example/x?y@z".into()
            }
        );
        assert!(!refused.to_string().contains("hunter2"));
        let refused = check_endpoint("https://ada:hunter2@idp.example/").unwrap_err();
        assert!(matches!(refused, AuthError::Config { .. }));
        assert!(!refused.to_string().contains("hunter2"));
        assert!(matches!(
            check_endpoint("not a url"),
            Err(AuthError::Config { .. })
        ));
    }

    #[test]
    fn non_ascii_hosts_are_refused() {
        // idna_adapter 1.0.0 (pinned) accepts ASCII host names only.
        assert!(matches!(
            check_endpoint("https://exämple.com/"),
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
