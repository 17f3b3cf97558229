//! Cross-process locks: one lock file per key and purpose, held with `flock`-style advisory locks
//!
//! `std::fs::File::lock` locks an open file description, so two handles in one process exclude each
//! other just as two processes do. A lock is released when its [`LockGuard`] is dropped (or when
//! the process dies, which is what makes it safe against crashes).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use keyhole_core::StoreError;

use super::{create_private_dir, file_name_for_key};

/// How long to sleep between two attempts to take a busy lock
const RETRY_EVERY: Duration = Duration::from_millis(10);

/// A directory of lock files
#[derive(Debug, Clone)]
pub struct LockDir {
    dir: PathBuf,
}

/// A held lock; dropping it releases the lock
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
}

impl LockDir {
    /// Lock files live in `dir` (created 0700 on first use)
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Where the lock files are
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Takes the `purpose` lock of `key`, waiting at most `wait`
    ///
    /// `Err(StoreError::Unavailable)` when another holder kept it for longer than that.
    pub fn acquire(
        &self,
        key: &str,
        purpose: &str,
        wait: Duration,
    ) -> Result<LockGuard, StoreError> {
        create_private_dir(&self.dir)?;
        let path = self
            .dir
            .join(format!("{}.{purpose}.lock", file_name_for_key(key)));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                StoreError::Other(format!("cannot open the lock file {}: {e}", path.display()))
            })?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(LockGuard { _file: file }),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    thread::sleep(RETRY_EVERY)
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(StoreError::Unavailable(format!(
                        "another keyhole process held the {purpose} lock for more than {} s",
                        wait.as_secs()
                    )));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(StoreError::Other(format!(
                        "cannot lock {}: {e}",
                        path.display()
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Long enough for a forked child of another test to exec and drop its copy of a lock fd
    const SETTLE: Duration = Duration::from_secs(5);

    #[test]
    fn excludes_other_holders_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let locks = LockDir::new(dir.path().join("locks"));
        let held = locks.acquire("r/a", "refresh", SETTLE).unwrap();
        let err = locks
            .acquire("r/a", "refresh", Duration::from_millis(50))
            .unwrap_err();
        assert_eq!(err.kind(), "unavailable");
        // Another purpose or another key is independent.
        let _cas = locks.acquire("r/a", "cas", SETTLE).unwrap();
        let _other = locks.acquire("r/b", "refresh", SETTLE).unwrap();
        drop(held);
        locks.acquire("r/a", "refresh", SETTLE).unwrap();
    }

    #[test]
    fn threads_never_overlap_inside_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let locks = LockDir::new(dir.path());
        let inside = Arc::new(AtomicUsize::new(0));
        let entered = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (locks, inside, entered) = (locks.clone(), inside.clone(), entered.clone());
                thread::spawn(move || {
                    for _ in 0..10 {
                        let _g = locks
                            .acquire("k", "refresh", Duration::from_secs(30))
                            .unwrap();
                        assert_eq!(
                            inside.fetch_add(1, Ordering::SeqCst),
                            0,
                            "two holders at once"
                        );
                        entered.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(1));
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(entered.load(Ordering::SeqCst), 80);
    }
}
