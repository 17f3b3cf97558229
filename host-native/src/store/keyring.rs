//! The OS keyring backend (Secret Service on Linux, Keychain on macOS, Credential Manager on
//! Windows), every call on a worker thread under a timeout so a locked or absent keyring never hangs

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use keyhole_core::{Secret, StoreError};

use super::lock::LockDir;
use super::{SecretStore, Source};

/// How a timed-out call's `Unavailable` message starts: a keyring that exists but does not
/// answer (locked, waiting on a prompt), as opposed to no keyring at all
pub const NO_ANSWER: &str = "the keyring did not answer";

/// How long one keyring call may take before the keyring counts as unavailable
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(3);

/// Credentials in the OS keyring under one service name
#[derive(Debug, Clone)]
pub struct KeyringStore {
    service: String,
    timeout: Duration,
    locks: LockDir,
}

impl KeyringStore {
    /// Entries are `(service, key)`; compare-and-swap is serialised through lock files in `locks`
    pub fn new(service: impl Into<String>, locks: LockDir) -> Self {
        Self {
            service: service.into(),
            timeout: KEYRING_TIMEOUT,
            locks,
        }
    }

    fn call<T: Send + 'static>(
        &self,
        key: &str,
        op: impl FnOnce(keyring::Entry) -> keyring::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (service, user) = (self.service.clone(), key.to_owned());
        with_timeout(self.timeout, move || {
            keyring::Entry::new(&service, &user).and_then(op)
        })?
        .map_err(map_error)
    }
}

/// Runs `f` on a worker thread; `Unavailable` when it has not answered within `timeout`
///
/// A call that hangs (a keyring daemon waiting on an unlock prompt nobody sees) is abandoned: its
/// thread is left to finish or to die with the process.
pub(crate) fn with_timeout<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("keyhole-keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| StoreError::Other(format!("cannot start a keyring thread: {e}")))?;
    rx.recv_timeout(timeout).map_err(|e| match e {
        mpsc::RecvTimeoutError::Timeout => {
            StoreError::Unavailable(format!("{NO_ANSWER} within {} s", timeout.as_secs_f32()))
        }
        mpsc::RecvTimeoutError::Disconnected => {
            StoreError::Unavailable("the keyring call failed unexpectedly".into())
        }
    })
}

/// Maps keyring errors to store errors; the messages never contain the secret
fn map_error(e: keyring::Error) -> StoreError {
    match e {
        keyring::Error::PlatformFailure(inner) => StoreError::Unavailable(inner.to_string()),
        keyring::Error::NoStorageAccess(inner) => StoreError::Denied(inner.to_string()),
        keyring::Error::BadEncoding(_) => {
            StoreError::Other("the keyring entry is not valid UTF-8".into())
        }
        keyring::Error::TooLong(what, max) => {
            StoreError::Other(format!("the keyring refused a {what} longer than {max}"))
        }
        keyring::Error::Invalid(what, why) => StoreError::Other(format!("invalid {what}: {why}")),
        keyring::Error::Ambiguous(_) => {
            StoreError::Other("the keyring holds several entries for this account".into())
        }
        keyring::Error::NoEntry => StoreError::Other("no keyring entry".into()),
        other => StoreError::Other(other.to_string()),
    }
}

impl SecretStore for KeyringStore {
    fn source(&self) -> Source {
        Source::Keyring
    }

    fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        self.call(key, |entry| match entry.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e),
        })
    }

    fn set(&self, key: &str, value: &Secret) -> Result<(), StoreError> {
        let value = value.clone();
        self.call(key, move |entry| entry.set_password(value.expose()))
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.call(key, |entry| match entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(e),
        })
    }

    fn locks(&self) -> &LockDir {
        &self.locks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_hanging_call_becomes_unavailable_in_time() {
        let started = Instant::now();
        let err = with_timeout(Duration::from_millis(100), || {
            thread::sleep(Duration::from_secs(5));
        })
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(err.kind(), "unavailable");
        assert!(err.to_string().contains("KEYHOLE_NO_KEYRING=1"), "{err}");
    }

    #[test]
    fn a_quick_call_answers() {
        assert_eq!(with_timeout(Duration::from_secs(1), || 7).unwrap(), 7);
    }

    #[test]
    fn a_panicking_call_is_unavailable_not_a_crash() {
        let err =
            with_timeout(Duration::from_secs(1), || -> u8 { panic!("backend bug") }).unwrap_err();
        assert_eq!(err.kind(), "unavailable");
    }

    #[test]
    fn platform_failures_are_unavailable_and_access_is_denied() {
        let e = map_error(keyring::Error::PlatformFailure("no bus".into()));
        assert_eq!(e.kind(), "unavailable");
        let e = map_error(keyring::Error::NoStorageAccess("locked".into()));
        assert_eq!(e.kind(), "denied");
    }
}
