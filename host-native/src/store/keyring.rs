//! The OS keyring backend (Secret Service on Linux, Keychain on macOS, Credential Manager on
//! Windows), every call on a worker thread under a timeout so a locked or absent keyring never hangs

use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

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
/// thread is left to finish or to die with the process. Only for calls that change nothing; a
/// write goes through [`with_timeout_undo`].
pub(crate) fn with_timeout<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    with_timeout_undo(timeout, f, |_| {})
}

/// Where a worker call stands; the caller and the worker settle it under one lock, so exactly
/// one of "the caller got the result" and "the worker undoes its work" happens
enum Call<T> {
    Running,
    Done(T),
    Abandoned,
}

/// [`with_timeout`] for a call with an effect: when the caller has already reported the timeout,
/// the worker runs `undo` on the call's result as soon as the call finishes, so a failure the
/// user was told about leaves nothing behind (a write that lands late is taken back)
pub(crate) fn with_timeout_undo<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
    undo: impl FnOnce(T) + Send + 'static,
) -> Result<T, StoreError> {
    let state = Arc::new((Mutex::new(Call::Running), Condvar::new()));
    let worker = state.clone();
    thread::Builder::new()
        .name("keyhole-keyring".into())
        .spawn(move || {
            // A panic in `f` leaves `Running`; the caller reports it as a failed call.
            let value = f();
            let (lock, done) = &*worker;
            let mut call = lock.lock().unwrap_or_else(|e| e.into_inner());
            if matches!(*call, Call::Abandoned) {
                drop(call);
                undo(value);
            } else {
                *call = Call::Done(value);
                done.notify_all();
            }
        })
        .map_err(|e| StoreError::Other(format!("cannot start a keyring thread: {e}")))?;
    let (lock, done) = &*state;
    let deadline = Instant::now() + timeout;
    let mut call = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Call::Done(_) = &*call {
            let Call::Done(value) = std::mem::replace(&mut *call, Call::Abandoned) else {
                unreachable!("matched just above")
            };
            return Ok(value);
        }
        let now = Instant::now();
        if now >= deadline {
            *call = Call::Abandoned;
            return Err(StoreError::Unavailable(format!(
                "{NO_ANSWER} within {} s",
                timeout.as_secs_f32()
            )));
        }
        if Arc::strong_count(&state) == 1 {
            // The worker is gone without a result: it panicked.
            return Err(StoreError::Unavailable(
                "the keyring call failed unexpectedly".into(),
            ));
        }
        let wait = (deadline - now).min(Duration::from_millis(50));
        call = done
            .wait_timeout(call, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Puts an entry back as it was before a write: the old value, or no entry
fn restore(entry: &keyring::Entry, before: Option<String>) {
    let _ = match before {
        Some(old) => entry.set_password(&old),
        None => entry.delete_credential(),
    };
}

/// Whether D-Bus gave up waiting for the keyring daemon's answer (it hangs, rather than is absent)
fn is_no_reply(e: &keyring::Error) -> bool {
    matches!(e, keyring::Error::PlatformFailure(inner)
        if inner.to_string().to_ascii_lowercase().contains("did not receive a reply"))
}

/// Maps keyring errors to store errors; the messages never contain the secret
fn map_error(e: keyring::Error) -> StoreError {
    if is_no_reply(&e) {
        return StoreError::Unavailable(format!("{NO_ANSWER} (no reply on D-Bus)"));
    }
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
        let (service, user) = (self.service.clone(), key.to_owned());
        // The entry's value before the write, so a write that lands after its timeout was
        // reported can be put back (absent: deleted again).
        let write = move || -> (Option<keyring::Entry>, Option<String>, keyring::Result<()>) {
            let entry = match keyring::Entry::new(&service, &user) {
                Ok(entry) => entry,
                Err(e) => return (None, None, Err(e)),
            };
            let before = match entry.get_password() {
                Ok(old) => Some(old),
                Err(keyring::Error::NoEntry) => None,
                Err(e) => return (None, None, Err(e)),
            };
            let result = entry.set_password(value.expose());
            if result.as_ref().is_err_and(is_no_reply) {
                // D-Bus gave up waiting, but the daemon may still run the write when it wakes:
                // queue the undo behind it, on its own thread.
                let (entry, before) = (entry, before.clone());
                thread::spawn(move || restore(&entry, before));
                return (None, None, result);
            }
            (Some(entry), before, result)
        };
        let undo = |(entry, before, result): (
            Option<keyring::Entry>,
            Option<String>,
            keyring::Result<()>,
        )| {
            if let (Some(entry), Ok(())) = (entry, result) {
                restore(&entry, before);
            }
        };
        with_timeout_undo(self.timeout, write, undo)?
            .2
            .map_err(map_error)
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
    fn a_write_that_finishes_after_its_timeout_is_undone() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let landed = Arc::new(AtomicBool::new(false));
        let (write, undo) = (landed.clone(), landed.clone());
        let err = with_timeout_undo(
            Duration::from_millis(50),
            move || {
                thread::sleep(Duration::from_millis(300));
                write.store(true, Ordering::SeqCst);
            },
            move |()| undo.store(false, Ordering::SeqCst),
        )
        .unwrap_err();
        assert_eq!(err.kind(), "unavailable");
        thread::sleep(Duration::from_millis(600));
        assert!(!landed.load(Ordering::SeqCst), "the late write stayed");
        // In time: the result is the caller's and nothing is undone.
        let kept = Arc::new(AtomicBool::new(true));
        let k = kept.clone();
        with_timeout_undo(
            Duration::from_secs(1),
            || 1,
            move |_| k.store(false, Ordering::SeqCst),
        )
        .unwrap();
        thread::sleep(Duration::from_millis(50));
        assert!(kept.load(Ordering::SeqCst));
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
