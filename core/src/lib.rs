//! keyhole-core: the sans-IO state machines behind a CLI's `auth` command group
//!
//! Every flow (discovery, device login, browser login, refresh, credential lifecycle, key check,
//! revocation, account calls) is a [`Machine`]: constructed from its config plus `now_ms` and random bytes where
//! it needs them, fed with [`Machine::handle_input`], and drained with [`Machine::poll_output`].
//! Nothing here reads a clock, draws random numbers, touches the network or the file system: time
//! and entropy come in, HTTP requests and secret-store operations go out.
//!
//! **After every `handle_input`, call `poll_output` until it returns `Wait` or `Done`.**
//!
//! A synchronous host implements [`Io`] and calls [`drive`]; an asynchronous host writes the same
//! loop with `await`. See `docs/architecture.md` for the picture.
#![warn(missing_docs, unreachable_pub)]

/// The str0m-style guard tests every machine carries: it is `Send`, it is `UnwindSafe`, and its
/// size stays within a bound (a jump means something large moved inline; the bounds were last
/// raised when endpoints became `url::Url`, 88 bytes each against a `String`'s 24)
#[cfg(test)]
macro_rules! machine_guard_tests {
    ($machine:ty, $max_bytes:expr) => {
        #[test]
        fn is_send() {
            fn check<T: Send>() {}
            check::<$machine>();
        }

        #[test]
        fn is_unwind_safe() {
            fn check<T: std::panic::UnwindSafe>() {}
            check::<$machine>();
        }

        #[test]
        fn size_is_bounded() {
            let n = std::mem::size_of::<$machine>();
            assert!(n <= $max_bytes, "{} is {n} bytes", stringify!($machine));
        }
    };
}

mod body;
pub mod client;
#[cfg(any(feature = "component", feature = "component-machines"))]
mod component;
mod drive;
pub mod endpoint;
mod error;
pub mod flows;
pub mod http;
#[cfg(feature = "js")]
mod js;
mod json_text;
mod machine;
pub mod oauth;
pub mod ops;
mod outbox;
pub mod record;
mod retry;
mod secret;
pub mod wire;

/// The header parsers the machines use internally, for the fuzz targets in `fuzz/` (feature
/// `fuzzing`); not an API
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use crate::{AuthError, HttpResponse};

    /// Seconds to wait from the response's `Retry-After` header (delta-seconds or IMF-fixdate)
    pub fn retry_after_s(response: &HttpResponse, now_ms: u64) -> Option<u64> {
        crate::oauth::retry_after_s(response, now_ms)
    }

    /// Whether a `WWW-Authenticate` field challenges with `error="insufficient_scope"`
    pub fn insufficient_scope(response: &HttpResponse) -> bool {
        crate::key_check::insufficient_scope(response)
    }

    /// What a non-2xx key-check answer means (status, challenges, `Retry-After`, body)
    pub fn key_check_error(response: &HttpResponse, now_ms: u64) -> AuthError {
        crate::key_check::key_check_error(response, now_ms)
    }
}

pub use flows::{account, browser, credential, device, discovery, key_check, refresh, revocation};

pub use account::{
    AccountCall, AccountCallConfig, AccountOperation, AccountValue, CreatedKey, Project,
};
pub use browser::{BrowserLogin, BrowserLoginConfig};
pub use credential::{Credential, CredentialConfig, ResolvedCredential};
pub use device::{DeviceLogin, DeviceLoginConfig};
pub use discovery::{Discovery, DiscoveryConfig};
pub use drive::{Io, drive};
pub use error::{AuthError, Refusal, StoreError};
pub use http::{HttpRequest, HttpResponse, TransportError};
pub use json_text::JsonText;
pub use key_check::{KeyCheck, KeyCheckConfig, KeyCheckReport, KeyCheckSpec};
pub use machine::{CallbackVerdict, FromConfig, Input, Machine, Output, Prompt, StoreOp};
pub use oauth::{Endpoints, TokenSet};
pub use record::StoredRecord;
pub use refresh::{Refresh, RefreshConfig, RefreshOutcome, needs_refresh};
pub use retry::SwapBudget;
pub use revocation::{Revocation, RevocationConfig, RevocationReport};
pub use secret::Secret;
