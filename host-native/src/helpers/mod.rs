//! Credential helpers: the protocols git, docker, kubectl and Terraform use to ask an external
//! program for a credential, and `exec`, which hands the credential to any command
//!
//! Each protocol is a module of plain functions over the parsed request (from a [`Read`]), a
//! [`TokenSource`] that yields the current credential (the CLI passes one that goes through
//! `Engine::token`, the single-flight refresh under the cross-process lock), the [`Hosts`] the
//! credential is for, and a [`Write`] for stdout. Nothing here prompts, and no error text carries
//! the secret.
//!
//! [`Read`]: std::io::Read
//! [`Write`]: std::io::Write

pub mod docker;
pub mod exec;
pub mod git;
pub mod kube;
pub mod terraform;

use std::ffi::OsString;
use std::io::Read;

use keyhole_core::Secret;

/// The user name the git and docker helpers answer with when the request names none: GitLab wants
/// `oauth2` with OAuth tokens; GitHub, Gitea and most registries take any non-empty name
pub const DEFAULT_USERNAME: &str = "oauth2";

/// Longest protocol request read from stdin; the real ones are a few hundred bytes
pub const MAX_REQUEST: u64 = 64 * 1024;

/// The credential a helper hands out
pub struct Credential {
    /// The access token or API key
    pub secret: Secret,
    /// When an OAuth access token expires (unix ms), when known
    pub expires_at_ms: Option<u64>,
    /// Whether it is an OAuth access token (else an API key)
    pub oauth: bool,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("secret", &self.secret)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("oauth", &self.oauth)
            .finish()
    }
}

/// Why a helper failed: one line for stderr, never containing a secret
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelperError {
    /// A (new) login is required
    #[error("{0}")]
    LoginRequired(String),
    /// The tool sent something the protocol does not allow
    #[error("{0}")]
    BadRequest(String),
    /// Anything else (the provider, the store, a file)
    #[error("{0}")]
    Failed(String),
}

/// Where a helper gets the current credential from, refreshed when needed
pub trait TokenSource {
    /// The credential, or why there is none
    fn credential(&mut self) -> Result<Credential, HelperError>;
}

impl<F: FnMut() -> Result<Credential, HelperError>> TokenSource for F {
    fn credential(&mut self) -> Result<Credential, HelperError> {
        self()
    }
}

/// The hosts a credential is for, as `host` or `host:port` (lower case; the scheme's default
/// port left out)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosts(Vec<String>);

impl Hosts {
    /// The hosts of `urls` (unparseable ones skipped) and the bare `hosts` given explicitly
    pub fn new<'a>(
        urls: impl IntoIterator<Item = &'a str>,
        hosts: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut out = Hosts::default();
        for url in urls {
            if let Some(a) = authority_of_url(url) {
                out.push(a);
            }
        }
        for host in hosts {
            if let Some(a) = authority_of_host("https", host) {
                out.push(a);
            }
        }
        out
    }

    fn push(&mut self, authority: String) {
        if !self.0.contains(&authority) {
            self.0.push(authority);
        }
    }

    /// Whether `host` (`name` or `name:port`, as git and Terraform send it) for `scheme` is one
    /// of them
    pub fn contains_host(&self, scheme: &str, host: &str) -> bool {
        authority_of_host(scheme, host).is_some_and(|a| self.0.contains(&a))
    }

    /// Whether the host of `url` (a bare `host[:port]` counts as https) is one of them
    pub fn contains_url(&self, url: &str) -> bool {
        let url = url.trim();
        let full = if url.contains("://") {
            url.to_owned()
        } else {
            format!("https://{url}")
        };
        authority_of_url(&full).is_some_and(|a| self.0.contains(&a))
    }

    /// The hosts, in the order they were given
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether there are none
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn authority_of_url(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

fn authority_of_host(scheme: &str, host: &str) -> Option<String> {
    let host = host.trim();
    if host.is_empty() || host.contains(['/', '?', '#', '@']) {
        return None;
    }
    authority_of_url(&format!("{scheme}://{host}/"))
}

/// Whether `host` (`name[:port]`) is this machine, where plain http cannot be overheard
pub fn is_loopback_host(host: &str) -> bool {
    let Ok(url) = url::Url::parse(&format!("http://{host}/")) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Reads a protocol request of at most [`MAX_REQUEST`] bytes
pub fn read_request(input: impl Read) -> Result<String, HelperError> {
    let mut text = String::new();
    input
        .take(MAX_REQUEST + 1)
        .read_to_string(&mut text)
        .map_err(|e| HelperError::BadRequest(format!("cannot read the request on stdin: {e}")))?;
    if text.len() as u64 > MAX_REQUEST {
        return Err(HelperError::BadRequest(format!(
            "the request on stdin is longer than {MAX_REQUEST} bytes"
        )));
    }
    Ok(text)
}

/// The command line a helper program name stands for: run as `docker-credential-<app>` or
/// `terraform-credentials-<app>` (a symlink or copy of the CLI under that name, which is how
/// docker and Terraform find helpers), the CLI behaves as `<app> docker-credential …` or
/// `<app> terraform-credential …`; any other name leaves `args` as they are
pub fn args_for_program_name(args: Vec<OsString>) -> Vec<OsString> {
    let Some(program) = args.first() else {
        return args;
    };
    let name = std::path::Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name.strip_suffix(".exe").unwrap_or(&name);
    let command = if name.starts_with("docker-credential-") {
        "docker-credential"
    } else if name.starts_with("terraform-credentials-") {
        "terraform-credential"
    } else {
        return args;
    };
    let mut out = Vec::with_capacity(args.len() + 1);
    out.push(args[0].clone());
    out.push(command.into());
    out.extend(args.into_iter().skip(1));
    out
}

/// A one-line rendering of text that came from outside ([`crate::text::terminal_safe`]), at most
/// 200 characters
pub(crate) fn printable(text: &str) -> String {
    crate::text::terminal_safe(text).chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_compare_authorities() {
        let hosts = Hosts::new(
            [
                "https://API.example.com/v1",
                "http://127.0.0.1:3000/api",
                "https://id.example.com:443/",
                "not a url",
            ],
            ["git.example.org:8443"],
        );
        assert_eq!(
            hosts.iter().collect::<Vec<_>>(),
            [
                "api.example.com",
                "127.0.0.1:3000",
                "id.example.com",
                "git.example.org:8443"
            ]
        );
        assert!(hosts.contains_host("https", "api.example.com"));
        assert!(hosts.contains_host("https", "API.example.com:443"));
        assert!(hosts.contains_host("https", "127.0.0.1:3000"));
        assert!(!hosts.contains_host("https", "127.0.0.1"));
        assert!(!hosts.contains_host("https", "example.com"));
        assert!(!hosts.contains_host("https", "api.example.com.evil.test"));
        assert!(!hosts.contains_host("https", "user@api.example.com"));
        assert!(hosts.contains_url("api.example.com"));
        assert!(hosts.contains_url("https://api.example.com/v2/"));
        assert!(hosts.contains_url(" git.example.org:8443\n"));
        assert!(!hosts.contains_url("https://index.docker.io/v1/"));
    }

    #[test]
    fn credentials_do_not_show_their_secret_in_debug() {
        let c = Credential {
            secret: Secret::new("s3cr3t-value"),
            expires_at_ms: Some(1),
            oauth: true,
        };
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1:8080"));
        assert!(is_loopback_host("localhost"));
        assert!(is_loopback_host("[::1]:99"));
        assert!(!is_loopback_host("example.com"));
        assert!(!is_loopback_host("10.0.0.1"));
    }

    #[test]
    fn requests_are_capped() {
        assert_eq!(read_request(&b"abc"[..]).unwrap(), "abc");
        let big = vec![b'a'; MAX_REQUEST as usize + 1];
        assert!(matches!(
            read_request(&big[..]),
            Err(HelperError::BadRequest(_))
        ));
    }

    #[test]
    fn helper_program_names_dispatch() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            args_for_program_name(os(&["/usr/bin/docker-credential-vtrix", "get"])),
            os(&[
                "/usr/bin/docker-credential-vtrix",
                "docker-credential",
                "get"
            ])
        );
        assert_eq!(
            args_for_program_name(os(&[
                "terraform-credentials-vtrix",
                "--remote",
                "a",
                "get",
                "h"
            ])),
            os(&[
                "terraform-credentials-vtrix",
                "terraform-credential",
                "--remote",
                "a",
                "get",
                "h"
            ])
        );
        assert_eq!(
            args_for_program_name(os(&["vtrix", "token"])),
            os(&["vtrix", "token"])
        );
    }
}
