//! The one error type every machine ends with, and the secret store's error

use crate::http::TransportError;
/// Why an authentication flow ended without a result
///
/// Every variant has a stable machine-readable [`AuthError::code`] (used by `--json` output, the
/// WIT `auth-error` variant and the JS bindings) and a message that says what happened and what to
/// do next. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The user (or the provider) refused the authorization request
    #[error("the authorization request was denied; run the login again and approve it")]
    Denied,
    /// The device code or the login window expired before approval
    #[error("the login expired before it was approved; run the login again and approve it sooner")]
    Expired,
    /// The provider asked to slow down too many times (usually a wrong clock, cli/cli#9370)
    #[error(
        "the provider asked to slow down {count} times; check that this machine's clock is right, then log in again"
    )]
    ClockDrift {
        /// How many `slow_down` answers were seen
        count: u32,
    },
    /// The credential (an API key or an access token) was rejected (401)
    #[error(
        "the credential was rejected; check the API key (or create a new one), or log in again"
    )]
    InvalidKey,
    /// The credential was refused with 403 and no `insufficient_scope` challenge: it may be
    /// revoked or expired as well as not allowed, so it is not called valid
    #[error(
        "HTTP 403: the credential was refused (it may be revoked, expired or not allowed here); check the API key (or create a new one), or log in again"
    )]
    Forbidden,
    /// The credential is valid but lacks permission (403 with an `insufficient_scope` challenge,
    /// [RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1))
    #[error(
        "the credential is valid but lacks permission for this request; use a key with more permissions"
    )]
    InsufficientPermission,
    /// An account call was refused (403): the credential lacks the permission for that operation
    ///
    /// Same code as [`AuthError::InsufficientPermission`]; this one names what was refused.
    #[error("the credential may not {operation}{}; use a key (or an account) with that permission", detail.as_deref().map(|d| format!(" (the provider says: {d})")).unwrap_or_default())]
    NotPermitted {
        /// What was refused, as a phrase after "may not": `create API keys`, `list projects`, …
        operation: String,
        /// The provider's explanation, stripped of control characters, when it gave one
        detail: Option<String>,
    },
    /// An account call was refused with an API error object that maps to nothing more
    /// specific (a 4xx with `error`): the request, not the login, is what to fix
    #[error("{0}")]
    Refused(Box<Refusal>),
    /// An account call named something the provider does not have (404 on an id)
    #[error("nothing found with id `{id}`; check the id (the list command shows the valid ones)")]
    NotFound {
        /// The id asked for, stripped of control characters
        id: String,
    },
    /// The provider is rate limiting (429)
    #[error("{}", rate_limited_message(*retry_after_s))]
    RateLimited {
        /// Seconds the provider asked us to wait, when it said
        retry_after_s: Option<u64>,
    },
    /// The provider answered with a server error or is unreachable after retries
    #[error("{}", unavailable_message(*status))]
    Unavailable {
        /// The last HTTP status seen, if any response arrived
        status: Option<u16>,
    },
    /// The stored session can no longer be used (refresh token revoked, expired or rotated away)
    #[error("the session has ended ({reason}); log in again")]
    ReloginRequired {
        /// What the provider said, for example `invalid_grant`
        reason: String,
    },
    /// No credential was found
    #[error("not logged in")]
    NotLoggedIn,
    /// The stored credential cannot be read (damaged, or not written by keyhole); it is kept as is
    #[error("the stored credential cannot be read ({detail}); log in again to replace it")]
    CorruptCredential {
        /// What is wrong with it (never its content)
        detail: String,
    },
    /// An endpoint is plain http on a non-loopback host
    #[error("refusing insecure endpoint {url}; use https (plain http is allowed only on loopback)")]
    InsecureEndpoint {
        /// The offending URL, with any user name and password replaced by `***`
        url: String,
    },
    /// A response arrived and was readable but broke the protocol (a field missing or of the wrong type)
    #[error("the provider's response has a bad `{field}`: {detail}; report this to the provider")]
    Protocol {
        /// The offending field
        field: String,
        /// What was wrong with it
        detail: String,
    },
    /// A response arrived but could not be read at all
    #[error(
        "the provider sent an unreadable response (HTTP {status}: {reason}); try again later or check the provider URL"
    )]
    Malformed {
        /// Its HTTP status
        status: u16,
        /// Why it could not be read
        reason: String,
    },
    /// The provider refused with an OAuth error this flow does not map to anything more specific
    #[error("the provider refused the request: {code}{}; {}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(), provider_hint(code))]
    Provider {
        /// The OAuth `error` code
        code: String,
        /// The `error_description`, if any
        description: Option<String>,
    },
    /// No response arrived
    #[error("{}", transport_message(.0))]
    Transport(TransportError),
    /// The secret store failed
    #[error("{0}")]
    Storage(#[from] StoreError),
    /// The browser-login wait ended at its deadline, and a request to the callback came with a
    /// missing or wrong `state` (a stale tab or another program); such requests never end the
    /// login early
    #[error(
        "no login callback matched this login before the deadline; one came with another state (an old browser tab or another program); start the login again"
    )]
    StateMismatch,
    /// No browser-login callback arrived in time
    #[error("no login callback arrived in time; run the login again, or use the device login")]
    CallbackTimeout,
    /// The configuration cannot work
    #[error("invalid configuration: {detail}")]
    Config {
        /// What is wrong
        detail: String,
    },
}

/// What to do about a provider's OAuth `error` code
///
/// The hint depends on the code alone, so every host rebuilds the same message from the code
/// (the WIT carries only code and description). Only the standard codes that mean the request
/// itself was wrong ([RFC 6749 §5.2](https://www.rfc-editor.org/rfc/rfc6749#section-5.2),
/// [RFC 8707](https://www.rfc-editor.org/rfc/rfc8707), [RFC 7009](https://www.rfc-editor.org/rfc/rfc7009))
/// point at the remote's settings; `invalid_grant` and codes the client does not know (a
/// provider's own `device_not_found`, say) are about what was sent: a code or credential the
/// provider does not know or no longer accepts, which a new login replaces.
fn provider_hint(code: &str) -> &'static str {
    match code {
        "invalid_client"
        | "unauthorized_client"
        | "invalid_scope"
        | "invalid_request"
        | "unsupported_grant_type"
        | "unsupported_response_type"
        | "unsupported_token_type"
        | "invalid_target" => "check the remote's settings (client id, scopes, key-check URL)",
        "server_error" | "temporarily_unavailable" => "the provider has a problem; try again later",
        _ => {
            "the provider does not know the code or credential it was sent, or it has expired; run the login again"
        }
    }
}

fn transport_message(error: &TransportError) -> String {
    match error {
        // An answer arrived: the provider was reached, and the network is not the problem.
        TransportError::TooLarge => "the provider's response was larger than allowed (max_response_bytes); check the remote's URL, or report this to the provider".into(),
        TransportError::Tls => format!("could not reach the provider securely: {error}; check this machine's clock and that it trusts the provider's certificate"),
        _ => format!("could not reach the provider: {error}; check the network and the remote's URL"),
    }
}

fn rate_limited_message(retry_after_s: Option<u64>) -> String {
    match retry_after_s {
        Some(s) => format!("the provider is rate limiting requests; try again in {s} s"),
        None => "the provider is rate limiting requests; try again later".into(),
    }
}

fn unavailable_message(status: Option<u16>) -> String {
    match status {
        Some(s) => format!("the provider is unavailable (HTTP {s}); try again later"),
        None => "the provider is unavailable; try again later".into(),
    }
}

/// What an account API said when it refused a request ([`AuthError::Refused`]; boxed, as it is
/// rare and `AuthError` travels in every `Result`)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the API refused to {operation}: HTTP {status} {code}{}; check the command's arguments (names, ids, the permissions file)", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
pub struct Refusal {
    /// What was asked, as a phrase after "refused to": `create API keys`, …
    pub operation: String,
    /// The HTTP status
    pub status: u16,
    /// The API's `error` code, stripped of control characters
    pub code: String,
    /// Its message, stripped of control characters
    pub description: Option<String>,
}

impl AuthError {
    /// The stable machine-readable code of this error
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Denied => "denied",
            AuthError::Expired => "expired",
            AuthError::ClockDrift { .. } => "clock_drift",
            AuthError::InvalidKey => "invalid_key",
            AuthError::InsufficientPermission | AuthError::NotPermitted { .. } => {
                "insufficient_permission"
            }
            AuthError::NotFound { .. } => "not_found",
            AuthError::Refused(_) => "refused",
            AuthError::Forbidden => "forbidden",
            AuthError::RateLimited { .. } => "rate_limited",
            AuthError::Unavailable { .. } => "unavailable",
            AuthError::ReloginRequired { .. } => "relogin_required",
            AuthError::NotLoggedIn => "not_logged_in",
            AuthError::CorruptCredential { .. } => "corrupt_credential",
            AuthError::InsecureEndpoint { .. } => "insecure_endpoint",
            AuthError::Protocol { .. } => "protocol",
            AuthError::Malformed { .. } => "malformed",
            AuthError::Provider { .. } => "provider",
            AuthError::Transport(_) => "transport",
            AuthError::Storage(_) => "storage",
            AuthError::StateMismatch => "state_mismatch",
            AuthError::CallbackTimeout => "callback_timeout",
            AuthError::Config { .. } => "config",
        }
    }

    /// Whether a new login is what the user needs (CLI exit code 4)
    pub fn needs_login(&self) -> bool {
        matches!(
            self,
            AuthError::ReloginRequired { .. } | AuthError::NotLoggedIn | AuthError::InvalidKey
        )
    }

    /// Shorthand for a protocol error on `field`
    pub fn protocol(field: &str, detail: impl Into<String>) -> Self {
        AuthError::Protocol {
            field: field.to_owned(),
            detail: detail.into(),
        }
    }
}

/// Why the secret store could not answer (distinct from "not found", which is `Ok(None)`)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No usable backend (no keyring, locked keyring, timed out)
    #[error(
        "the secret store is unavailable ({}); unlock the keyring or set KEYHOLE_NO_KEYRING=1 to use a file",
        crate::account::clean_text(.0)
    )]
    Unavailable(String),
    /// The backend refused access
    #[error(
        "access to the secret store was denied ({}); allow access in the keyring prompt or set KEYHOLE_NO_KEYRING=1",
        crate::account::clean_text(.0)
    )]
    Denied(String),
    /// Anything else (a full disk, a corrupt record)
    #[error(
        "the secret store failed ({}); check free disk space and permissions of the config directory",
        crate::account::clean_text(.0)
    )]
    Other(String),
}

impl StoreError {
    /// Stable name: `unavailable`, `denied`, `other`
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Denied(_) => "denied",
            StoreError::Other(_) => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        assert_eq!(
            AuthError::RateLimited {
                retry_after_s: Some(3)
            }
            .to_string(),
            "the provider is rate limiting requests; try again in 3 s"
        );
        let e = AuthError::Provider {
            code: "invalid_client".into(),
            description: Some("unknown client".into()),
        };
        assert_eq!(e.code(), "provider");
        assert!(e.to_string().contains("invalid_client (unknown client)"));
        assert!(e.to_string().contains("check the remote's settings"));
        // Issue 16 item 21: a code the client does not know is not a settings problem.
        for code in ["device_not_found", "invalid_grant", "expired_device_code"] {
            let e = AuthError::Provider {
                code: code.into(),
                description: None,
            };
            let text = e.to_string();
            assert!(text.contains("run the login again"), "{text}");
            assert!(!text.contains("client id"), "{text}");
        }
    }
}

#[cfg(test)]
mod host_text_tests {
    use super::*;

    /// Found by fuzz/ (machine_discovery): a host's transport or store message quoting a server
    /// reached the error text with its escape sequences
    #[test]
    fn host_messages_lose_control_characters() {
        let t = AuthError::Transport(TransportError::Other("bad \u{1b}]0;owned\u{7}\n".into()));
        assert!(!t.to_string().chars().any(char::is_control), "{t}");
        for e in [
            StoreError::Unavailable("a\u{1b}[2J".into()),
            StoreError::Denied("b\r".into()),
            StoreError::Other("c\u{0}".into()),
        ] {
            assert!(!e.to_string().chars().any(char::is_control), "{e}");
        }
    }
}
