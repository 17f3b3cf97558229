//! Secret stores: the OS keyring, a file fallback, and the cross-process locks both share
//!
//! [`Store`] is what the host's `Io` talks to: it performs the core's [`StoreOp`]s on a backend
//! chosen once per process (keyring, or the file when no keyring is usable or
//! `KEYHOLE_NO_KEYRING=1`), and holds the per-key locks that `StoreOp::Lock` takes.

pub mod file;
pub mod format;
pub mod keyring;
pub mod lock;

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use keyhole_core::{Secret, StoreError, StoreOp};

pub use self::file::FileStore;
pub use self::keyring::KeyringStore;
pub use self::lock::{LockDir, LockGuard};

/// Longest wait for the short lock around one compare-and-swap
pub const CAS_LOCK_WAIT: Duration = Duration::from_secs(10);
/// Longest wait for the lock `StoreOp::Lock` takes around a refresh
pub const REFRESH_LOCK_WAIT: Duration = Duration::from_secs(30);

/// Where a credential came from, as `status` reports it
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The OS keyring
    Keyring,
    /// The credentials file in the config directory
    File,
    /// An environment variable (`KEYHOLE_API_KEY`)
    Env,
}

impl Source {
    /// `keyring`, `file` or `env`
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Keyring => "keyring",
            Source::File => "file",
            Source::Env => "env",
        }
    }
}

/// A key-value store for credential records
///
/// `compare_and_swap` is atomic across processes: it holds the key's `cas` lock file while it
/// reads, compares and writes.
pub trait SecretStore: Send + Sync {
    /// Which backend this is
    fn source(&self) -> Source;
    /// The record under `key`; `Ok(None)` when there is none
    fn get(&self, key: &str) -> Result<Option<Secret>, StoreError>;
    /// Replaces the record under `key`
    fn set(&self, key: &str, value: &Secret) -> Result<(), StoreError>;
    /// Removes the record under `key`; absent is fine
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// The lock files this store uses
    fn locks(&self) -> &LockDir;
    /// How long a compare-and-swap waits for another one to finish
    fn cas_lock_wait(&self) -> Duration {
        CAS_LOCK_WAIT
    }

    /// Writes `new` if the record is still `expected` (`None`: absent); answers the record held after
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&Secret>,
        new: &Secret,
    ) -> Result<Option<Secret>, StoreError> {
        let _guard = self.locks().acquire(key, "cas", self.cas_lock_wait())?;
        let current = self.get(key)?;
        if current.as_ref() == expected {
            self.set(key, new)?;
            Ok(Some(new.clone()))
        } else {
            Ok(current)
        }
    }

    /// Takes the per-key lock held around a refresh, waiting a bounded time
    fn lock(&self, key: &str) -> Result<LockGuard, StoreError> {
        self.locks().acquire(key, "refresh", REFRESH_LOCK_WAIT)
    }
}

/// A file name for a store key: letters, digits, `-` and `_` kept, every other byte `%XX`
///
/// Injective, so two keys never share a file, and never a path separator or `..`.
pub(crate) fn file_name_for_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Creates `dir` (and parents) readable by the owner only
///
/// A `dir` that already exists with group or other permission bits is tightened to 0700 when the
/// user owns it, and refused otherwise: credentials and config never live in a directory that
/// someone else can list or write.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        #[cfg(unix)]
        tighten_existing_dir(dir)?;
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        StoreError::Other(format!(
            "cannot create the directory {}: {e}",
            dir.display()
        ))
    })
}

#[cfg(unix)]
fn tighten_existing_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = fs::metadata(dir).map_err(|e| {
        StoreError::Other(format!(
            "cannot inspect the directory {}: {e}",
            dir.display()
        ))
    })?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(StoreError::Other(format!(
            "refusing to use {}: it is owned by uid {}, not you (uid {me}), and others can access \
             it (mode {mode:04o}); remove it or choose another directory",
            dir.display(),
            meta.uid()
        )));
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
        StoreError::Other(format!(
            "the directory {} is open to others (mode {mode:04o}) and cannot be made private: {e}; \
             run `chmod 700` on it",
            dir.display()
        ))
    })
}

/// Which backend to use
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Try the keyring; fall back to the file (with a one-line warning) if it is unusable
    Auto,
    /// The file only (`KEYHOLE_NO_KEYRING=1`), silently
    File,
}

/// The store the host uses: the chosen backend plus the locks held for `StoreOp::Lock`
pub struct Store {
    keyring: Option<Box<dyn SecretStore>>,
    file: Box<dyn SecretStore>,
    /// Once a backend answered, the process sticks with it (no split-brain between two backends)
    decided: Option<Source>,
    held: HashMap<String, LockGuard>,
    warn: Box<dyn FnMut(&str) + Send>,
    /// Why the keyring was given up, until the first write tells the user (reads stay quiet)
    unwarned_fallback: Option<String>,
    /// Whether a record the keyring lacks but the file holds moves into the keyring on read
    moves_to_keyring: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("decided", &self.decided)
            .field("held_locks", &self.held.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Store {
    /// A store over the given backends; `warn` prints the one-line fallback warning, given why
    /// the keyring is unusable
    pub fn new(
        keyring: Option<Box<dyn SecretStore>>,
        file: Box<dyn SecretStore>,
        warn: Box<dyn FnMut(&str) + Send>,
    ) -> Self {
        Self {
            decided: keyring.is_none().then_some(Source::File),
            keyring,
            file,
            held: HashMap::new(),
            warn,
            unwarned_fallback: None,
            moves_to_keyring: false,
        }
    }

    /// Moves credentials left in the file (written while no keyring worked) into the keyring
    /// as they are read, once the keyring works
    pub fn moving_file_credentials_to_keyring(mut self, yes: bool) -> Self {
        self.moves_to_keyring = yes;
        self
    }

    /// The standard store of an app: keyring service `service`, files under `config_dir`
    pub fn open(service: &str, config_dir: &Path, backend: Backend) -> Self {
        let locks = LockDir::new(config_dir.join("locks"));
        let file = Box::new(FileStore::new(
            config_dir.join("credentials"),
            locks.clone(),
        ));
        let keyring: Option<Box<dyn SecretStore>> = match backend {
            Backend::Auto => Some(Box::new(KeyringStore::new(service, locks))),
            Backend::File => None,
        };
        let line = crate::product::Messages::KEYHOLE.keyring_fallback;
        let warn = Box::new(move |why: &str| {
            eprintln!(
                "{}",
                crate::product::fill(line, &[("why", &crate::text::terminal_safe(why))])
            );
        });
        Self::new(keyring, file, warn).moving_file_credentials_to_keyring(true)
    }

    /// The store of an app whose files follow `format`: keyring service `service` (when the
    /// format uses a keyring and `backend` allows it, wrapped by the format), else the format's
    /// file store
    pub fn open_format(
        service: &str,
        format: &dyn format::StorageFormat,
        backend: Backend,
        warn: Box<dyn FnMut(&str) + Send>,
    ) -> Self {
        let keyring = match backend {
            Backend::Auto if format.uses_keyring() => {
                Some(format.wrap_keyring(Box::new(KeyringStore::new(service, format.locks()))))
            }
            _ => None,
        };
        Self::new(keyring, format.file_store(), warn)
            .moving_file_credentials_to_keyring(format.moves_file_credentials_to_keyring())
    }

    /// The backend in use, once one has answered (`File` from the start when forced)
    pub fn source(&self) -> Option<Source> {
        self.decided
    }

    /// Runs `op` on the decided backend; the first keyring call that finds no usable keyring
    /// switches the process to the file, with a one-line warning at the first write
    fn with_backend<T>(
        &mut self,
        writes: bool,
        op: impl Fn(&dyn SecretStore) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let result = match (self.decided, &self.keyring) {
            (Some(Source::Keyring), Some(k)) => return op(k.as_ref()),
            (None, Some(k)) => match op(k.as_ref()) {
                // A keyring that exists but does not answer (locked, a prompt nobody sees) may
                // hold this account's credential, or take a write late: switching to the file
                // now would split one account across two stores. Report it and decide nothing;
                // the next call asks the keyring again.
                Err(StoreError::Unavailable(why)) if why.starts_with(keyring::NO_ANSWER) => {
                    return Err(StoreError::Unavailable(why));
                }
                Err(StoreError::Unavailable(why)) => {
                    self.decided = Some(Source::File);
                    self.unwarned_fallback = Some(why);
                    op(self.file.as_ref())
                }
                other => {
                    self.decided = Some(Source::Keyring);
                    return other;
                }
            },
            _ => op(self.file.as_ref()),
        };
        // No keyring at all (a server without D-Bus) is normal and quiet until something is
        // stored.
        if writes && let Some(why) = self.unwarned_fallback.take() {
            (self.warn)(&why);
        }
        result
    }

    /// The file's record under `key`, moved into the keyring (which lacks it): written there
    /// only if still absent, read back, and only then deleted from the file. Any failure leaves
    /// the file's copy in place and answers with it, so nothing is lost.
    fn move_to_keyring(&mut self, key: &str) -> Result<Option<Secret>, StoreError> {
        let Some(record) = self.file.get(key)? else {
            return Ok(None);
        };
        let Some(keyring) = &self.keyring else {
            return Ok(Some(record));
        };
        match keyring.compare_and_swap(key, None, &record) {
            Ok(Some(held)) if held == record => {
                if let Err(e) = self.file.delete(key) {
                    // `warn` words the keyring fallback; this is another matter.
                    eprintln!(
                        "warning: the credential moved to the keyring, but its copy in the file store could not be removed ({e}); delete it by hand"
                    );
                }
                Ok(Some(record))
            }
            // Another process stored one meanwhile: the keyring's is the newer.
            Ok(Some(held)) => Ok(Some(held)),
            Ok(None) | Err(_) => Ok(Some(record)),
        }
    }

    /// Performs one core store operation
    pub fn perform(&mut self, op: &StoreOp) -> Result<Option<Secret>, StoreError> {
        match op {
            StoreOp::Load { key } => {
                let found = self.with_backend(false, |s| s.get(key))?;
                if found.is_none() && self.moves_to_keyring && self.decided == Some(Source::Keyring)
                {
                    return self.move_to_keyring(key);
                }
                Ok(found)
            }
            StoreOp::CompareAndSwap { key, expected, new } => {
                self.with_backend(true, |s| s.compare_and_swap(key, expected.as_ref(), new))
            }
            StoreOp::Delete { key } => self.with_backend(true, |s| s.delete(key)).map(|()| None),
            StoreOp::Lock { key } => {
                if !self.held.contains_key(key) {
                    let guard = self.file.lock(key)?;
                    self.held.insert(key.clone(), guard);
                }
                Ok(None)
            }
            StoreOp::Unlock { key } => {
                self.held.remove(key);
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[cfg(unix)]
    #[test]
    fn loose_existing_directories_are_tightened_or_refused() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let root = tempfile::tempdir().unwrap();

        // The user's own 0777 credential directory: a write through the file store tightens it.
        let creds = root.path().join("credentials");
        fs::create_dir(&creds).unwrap();
        fs::set_permissions(&creds, fs::Permissions::from_mode(0o777)).unwrap();
        let files = file::FileStore::new(&creds, LockDir::new(root.path().join("locks")));
        files.set("acct", &Secret::new("s3cret")).unwrap();
        assert_eq!(mode(&creds), 0o700);

        // The user's own 0775 config directory: saving the config tightens it.
        let config = root.path().join("config");
        fs::create_dir(&config).unwrap();
        fs::set_permissions(&config, fs::Permissions::from_mode(0o775)).unwrap();
        crate::config::Config::default().save(&config).unwrap();
        assert_eq!(mode(&config), 0o700);

        // A loose directory someone else owns is refused and left as it is. As root, make one;
        // otherwise /tmp (root's, 1777) is one already.
        // SAFETY: geteuid has no preconditions.
        let foreign = if unsafe { libc::geteuid() } == 0 {
            let dir = root.path().join("foreign");
            fs::create_dir(&dir).unwrap();
            std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
            dir
        } else {
            std::path::PathBuf::from("/tmp")
        };
        let before = mode(&foreign);
        let err = create_private_dir(&foreign).unwrap_err().to_string();
        assert!(
            err.contains("refusing to use") && err.contains("not you"),
            "{err}"
        );
        assert_eq!(mode(&foreign), before);
    }

    /// A working keyring stand-in, in memory; `fail_writes` makes every write fail
    struct MemKeyring(LockDir, Arc<Mutex<HashMap<String, Secret>>>, bool);

    impl SecretStore for MemKeyring {
        fn source(&self) -> Source {
            Source::Keyring
        }
        fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
            Ok(self.1.lock().unwrap().get(key).cloned())
        }
        fn set(&self, key: &str, value: &Secret) -> Result<(), StoreError> {
            if self.2 {
                return Err(StoreError::Other("write refused".into()));
            }
            self.1.lock().unwrap().insert(key.into(), value.clone());
            Ok(())
        }
        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.1.lock().unwrap().remove(key);
            Ok(())
        }
        fn locks(&self) -> &LockDir {
            &self.0
        }
    }

    fn keyring_and_file(
        dir: &Path,
        fail_writes: bool,
    ) -> (Store, Arc<Mutex<HashMap<String, Secret>>>, file::FileStore) {
        let locks = LockDir::new(dir.join("locks"));
        let held = Arc::new(Mutex::new(HashMap::new()));
        let file = file::FileStore::new(dir.join("credentials"), locks.clone());
        let store = Store::new(
            Some(Box::new(MemKeyring(
                locks.clone(),
                held.clone(),
                fail_writes,
            ))),
            Box::new(file::FileStore::new(dir.join("credentials"), locks)),
            Box::new(|_| ()),
        )
        .moving_file_credentials_to_keyring(true);
        (store, held, file)
    }

    #[test]
    fn a_file_credential_moves_into_a_working_keyring_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, keyring, file) = keyring_and_file(dir.path(), false);
        let record = Secret::new("written while no keyring worked");
        file.set("r/a", &record).unwrap();
        let load = StoreOp::Load { key: "r/a".into() };
        assert_eq!(store.perform(&load).unwrap(), Some(record.clone()));
        assert_eq!(
            keyring.lock().unwrap().get("r/a"),
            Some(&record),
            "in the keyring"
        );
        assert_eq!(file.get("r/a").unwrap(), None, "and out of the file");
        assert_eq!(store.perform(&load).unwrap(), Some(record));
        // Off (truss, vtrix): the file's copy stays where it is.
        let dir = tempfile::tempdir().unwrap();
        let (store, keyring, file) = keyring_and_file(dir.path(), false);
        let mut store = store.moving_file_credentials_to_keyring(false);
        file.set("r/a", &Secret::new("x")).unwrap();
        assert_eq!(
            store.perform(&load).unwrap(),
            None,
            "the keyring is the store"
        );
        assert!(keyring.lock().unwrap().is_empty());
        assert!(file.get("r/a").unwrap().is_some());
    }

    #[test]
    fn a_move_that_fails_keeps_the_file_copy_and_answers_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, keyring, file) = keyring_and_file(dir.path(), true);
        let record = Secret::new("only copy");
        file.set("r/a", &record).unwrap();
        let load = StoreOp::Load { key: "r/a".into() };
        assert_eq!(store.perform(&load).unwrap(), Some(record.clone()));
        assert!(keyring.lock().unwrap().is_empty());
        assert_eq!(file.get("r/a").unwrap(), Some(record), "nothing lost");
    }

    /// A keyring stand-in whose every call fails as `Unavailable` with this message
    struct NoKeyring(LockDir, &'static str);

    impl SecretStore for NoKeyring {
        fn source(&self) -> Source {
            Source::Keyring
        }
        fn get(&self, _: &str) -> Result<Option<Secret>, StoreError> {
            Err(StoreError::Unavailable(self.1.into()))
        }
        fn set(&self, _: &str, _: &Secret) -> Result<(), StoreError> {
            Err(StoreError::Unavailable(self.1.into()))
        }
        fn delete(&self, _: &str) -> Result<(), StoreError> {
            Err(StoreError::Unavailable(self.1.into()))
        }
        fn locks(&self) -> &LockDir {
            &self.0
        }
    }

    #[test]
    fn key_file_names_are_safe_and_distinct() {
        assert_eq!(file_name_for_key("work/me@x.org"), "work%2Fme%40x%2Eorg");
        assert_eq!(file_name_for_key(".."), "%2E%2E");
        assert_ne!(file_name_for_key("a/b"), file_name_for_key("a%2Fb"));
    }

    /// A store over a failing keyring and a file, collecting warnings
    fn failing_keyring(dir: &Path, why: &'static str) -> (Store, Arc<Mutex<Vec<String>>>) {
        let locks = LockDir::new(dir.join("locks"));
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let sink = warnings.clone();
        let store = Store::new(
            Some(Box::new(NoKeyring(locks.clone(), why))),
            Box::new(FileStore::new(dir.join("credentials"), locks)),
            Box::new(move |l| sink.lock().unwrap().push(l.to_owned())),
        );
        (store, warnings)
    }

    #[test]
    fn a_hanging_keyring_is_an_error_and_never_a_switch_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, warnings) =
            failing_keyring(dir.path(), "the keyring did not answer within 3 s");
        let save = StoreOp::CompareAndSwap {
            key: "r/a".into(),
            expected: None,
            new: Secret::new("v".to_owned()),
        };
        for op in [StoreOp::Load { key: "r/a".into() }, save] {
            let err = store.perform(&op).unwrap_err();
            assert_eq!(err.kind(), "unavailable");
            assert_eq!(store.source(), None, "nothing decided");
        }
        assert!(warnings.lock().unwrap().is_empty());
        assert!(
            !dir.path().join("credentials").exists(),
            "nothing went to the file"
        );
    }

    #[test]
    fn falls_back_to_the_file_quietly_for_reads_and_warns_once_at_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, warnings) = failing_keyring(dir.path(), "no D-Bus session");
        assert_eq!(store.source(), None);
        assert_eq!(
            store.perform(&StoreOp::Load { key: "r/a".into() }).unwrap(),
            None
        );
        assert!(warnings.lock().unwrap().is_empty());
        let new = Secret::new("rec");
        let op = StoreOp::CompareAndSwap {
            key: "r/a".into(),
            expected: None,
            new: new.clone(),
        };
        assert_eq!(store.perform(&op).unwrap(), Some(new.clone()));
        assert_eq!(
            store.perform(&StoreOp::Load { key: "r/a".into() }).unwrap(),
            Some(new)
        );
        assert_eq!(store.source(), Some(Source::File));
        store
            .perform(&StoreOp::Delete { key: "r/b".into() })
            .unwrap();
        let warnings = warnings.lock().unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            warnings[0], "no D-Bus session",
            "the reason, for the product's line"
        );
    }

    #[test]
    fn lock_ops_hold_until_unlock() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open("keyhole-test", dir.path(), Backend::File);
        assert_eq!(store.source(), Some(Source::File));
        store.perform(&StoreOp::Lock { key: "r/a".into() }).unwrap();
        let other = LockDir::new(dir.path().join("locks"));
        assert!(other.acquire("r/a", "refresh", Duration::ZERO).is_err());
        store
            .perform(&StoreOp::Unlock { key: "r/a".into() })
            .unwrap();
        // (a forked child of another test may hold a copy of the fd for a moment)
        assert!(
            other
                .acquire("r/a", "refresh", Duration::from_secs(5))
                .is_ok()
        );
    }
}
