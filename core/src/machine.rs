//! The one shape every flow has: inputs in, outputs out, time passed in

use crate::error::{AuthError, StoreError};
use crate::http::{HttpRequest, HttpResponse, TransportError};
use crate::secret::Secret;

/// An event fed to a machine with [`Machine::handle_input`]
#[derive(Clone, PartialEq, Eq)]
pub enum Input {
    /// The first input, once, right after construction
    Start,
    /// The answer to the last [`Output::Send`]
    Response(HttpResponse),
    /// The last [`Output::Send`] produced no response
    TransportFailed(TransportError),
    /// The answer to the last [`Output::Store`]: the record in the store *after* the operation
    ///
    /// For `Load` that is the current record; for `CompareAndSwap` it is the new record when the
    /// swap happened and the current one when it did not; for `Delete`, `Lock` and `Unlock` it is
    /// `None`. `Ok(None)` means "not found" and is not an error.
    Stored(Result<Option<Secret>, StoreError>),
    /// Browser login: the request target (`/callback?code=…&state=…`) seen on the loopback listener
    ///
    /// The host holds that request open: the drain that follows answers it with one
    /// [`Output::AnswerCallback`].
    Callback(String),
    /// The last [`Output::Wait`] deadline passed
    Timer,
}

// A callback's query carries the authorization code and state: Debug shows the path only.
impl core::fmt::Debug for Input {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Input::Start => f.write_str("Start"),
            Input::Response(r) => f.debug_tuple("Response").field(r).finish(),
            Input::TransportFailed(e) => f.debug_tuple("TransportFailed").field(e).finish(),
            Input::Stored(s) => f.debug_tuple("Stored").field(s).finish(),
            Input::Callback(target) => {
                // Everything after the path may carry the code: a query, a fragment, or a
                // malformed target that puts `&code=` or `;code=` straight after the path.
                let path = target
                    .split(['?', '#', '&', ';', '='])
                    .next()
                    .unwrap_or_default();
                let redacted = if path.len() < target.len() {
                    "?[redacted]"
                } else {
                    ""
                };
                write!(f, "Callback({path:?}{redacted})")
            }
            Input::Timer => f.write_str("Timer"),
        }
    }
}

/// A secret-store operation; keys are built by [`crate::record::storage_key`]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Read the record under `key`
    Load {
        /// The record's key
        key: String,
    },
    /// Atomically replace the record under `key` with `new` if it is still `expected`
    ///
    /// `expected: None` means "only if absent". The store answers with the record it holds
    /// afterwards, so the machine sees whether it won.
    CompareAndSwap {
        /// The record's key
        key: String,
        /// What the machine last read
        expected: Option<Secret>,
        /// What to write
        new: Secret,
    },
    /// Remove the record under `key` (absent is fine)
    Delete {
        /// The record's key
        key: String,
    },
    /// Take the cross-process lock for `key` (blocking up to a host-chosen time)
    ///
    /// Held around a refresh so that concurrent processes send one refresh request, not one each.
    /// `Err(StoreError::Unavailable)` means the lock could not be taken in time; the machine then
    /// goes on without it and relies on compare-and-swap.
    Lock {
        /// The record's key
        key: String,
    },
    /// Release the lock taken with `Lock`
    Unlock {
        /// The record's key
        key: String,
    },
}

/// What the user must see to approve a device login
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The code to type at the verification page (short-lived and meant to be shown)
    pub user_code: String,
    /// Where to type it
    pub verification_uri: String,
    /// The same page with the code filled in, when the provider gives one
    pub verification_uri_complete: Option<String>,
    /// Seconds the code stays valid, as clamped by the machine
    pub expires_in_s: u64,
    /// When the code expires (unix ms)
    pub expires_at_ms: u64,
}

/// How the host answers the loopback request of the last [`Input::Callback`]
///
/// The machine decides after checking the request (path, `state`, `iss`); the host only renders
/// the page. Nothing here carries the request's code or state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackVerdict {
    /// The login's own redirect with its code: answer 200 with a page saying the login was
    /// received and the terminal finishes it
    Accepted,
    /// Not the login's redirect (another path, a missing or wrong `state`): answer 400 with a
    /// short page that confirms nothing; the login keeps waiting for the real one
    Rejected,
    /// The login's own redirect, but it ends the login (the provider's error, a wrong `iss`, no
    /// code, the deadline passed): answer with a page saying the login failed and the terminal
    /// says why
    Failed,
}

impl CallbackVerdict {
    /// The name in the transcript format and the WIT (`accepted`, `rejected`, `failed`)
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackVerdict::Accepted => "accepted",
            CallbackVerdict::Rejected => "rejected",
            CallbackVerdict::Failed => "failed",
        }
    }
}

/// What a machine needs done next; drain with [`Machine::poll_output`] until `Wait` or `Done`
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Output<T> {
    /// Perform it; answer with [`Input::Response`] or [`Input::TransportFailed`]
    Send(HttpRequest),
    /// Perform it; answer with [`Input::Stored`]
    Store(StoreOp),
    /// Show the device-login prompt to the user; no answer
    Show(Prompt),
    /// Open this URL in the user's browser; no answer (a host that cannot open one shows it)
    OpenBrowser(String),
    /// Answer the loopback request of the last [`Input::Callback`] as the verdict says, and
    /// close it; no answer. Comes in the drain after every `Callback` the machine takes
    AnswerCallback(CallbackVerdict),
    /// Nothing to do until `until_ms` (answer with [`Input::Timer`] then, or earlier with a
    /// [`Input::Callback`]); `None` means "until the answer to the pending Send or Store"
    Wait {
        /// Unix ms, always later than the `now_ms` of the last input; `None` for no deadline
        until_ms: Option<u64>,
    },
    /// The flow is over; every later poll returns the same `Done`
    Done(Result<T, AuthError>),
}

/// A flow: discovery, device login, browser login, refresh, credential, key check, revocation
///
/// A machine has two groups of methods. `handle_input` feeds it one event together with the
/// current time; `poll_output` asks what it needs done.
/// **After every `handle_input`, call `poll_output` until it returns `Wait` or `Done`.**
///
/// Handlers are tolerant: a spurious or early `Timer`, a late `Response`, a second `Start` or any
/// input after `Done` is ignored, and the next drain repeats the same `Wait` or `Done`. A `now_ms`
/// lower than one seen before counts as the latest seen, so time never runs backwards inside.
pub trait Machine {
    /// What a successful `Done` carries
    type Value;

    /// Feeds one event; `now_ms` is the current unix time in milliseconds
    fn handle_input(&mut self, now_ms: u64, input: Input);

    /// The next thing to do; may change after `handle_input` only
    #[must_use = "drain poll_output until it returns Wait or Done, performing what it asks"]
    fn poll_output(&mut self) -> Output<Self::Value>;
}

/// A machine built from its config, the time and random bytes (only browser login uses them):
/// what every entry in [`crate::for_each_machine`] implements
pub trait FromConfig: Machine + Sized {
    /// The config, as the transcripts, JS and the component pass it
    type Config: serde::de::DeserializeOwned;

    /// Builds the machine; `random` is ignored by machines that need no entropy
    fn from_config(config: Self::Config, now_ms: u64, random: &[u8]) -> Self;
}

/// A machine's successful result in JSON (secrets exposed: these go to the host that asked)
pub trait WireValue {
    /// The value as JSON
    fn to_wire(&self) -> serde_json::Value;
}

impl WireValue for () {
    fn to_wire(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::Input;

    #[test]
    fn a_callback_shows_its_path_only() {
        // The last two were found by the callback_query fuzz target: a code right after the path.
        for target in [
            "/callback?code=sekrit-code&state=s",
            "/callback#code=sekrit-code",
            "/callback&code=sekrit-code",
            "/callback;code=sekrit-code",
        ] {
            let shown = format!("{:?}", Input::Callback(target.into()));
            assert_eq!(shown, r#"Callback("/callback"?[redacted])"#, "{target}");
        }
        assert_eq!(
            format!("{:?}", Input::Callback("/favicon.ico".into())),
            r#"Callback("/favicon.ico")"#
        );
    }
}
