//! The file backend: one 0600 file per key in `<config dir>/credentials/`, replaced atomically
//!
//! A write goes to a temporary file in the same directory, is fsynced, renamed over the old file,
//! and the directory is fsynced, so a crash at any point leaves either the old or the new record.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use keyhole_core::{Secret, StoreError};

use super::lock::LockDir;
use super::{SecretStore, Source, create_private_dir, file_name_for_key};

/// Credentials in files under a directory
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
    locks: LockDir,
}

impl FileStore {
    /// Records live in `dir`; compare-and-swap is serialised through lock files in `locks`
    pub fn new(dir: impl Into<PathBuf>, locks: LockDir) -> Self {
        Self {
            dir: dir.into(),
            locks,
        }
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}.json", file_name_for_key(key)))
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    match e.kind() {
        ErrorKind::PermissionDenied => {
            StoreError::Denied(format!("cannot {what} {}: {e}", path.display()))
        }
        _ => StoreError::Other(format!("cannot {what} {}: {e}", path.display())),
    }
}

/// Writes `contents` to `path` atomically: temp file (0600), fsync, rename, fsync of the directory
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .expect("store paths are always a file inside a directory");
    create_private_dir(dir)?;
    let name = path
        .file_name()
        .expect("store paths always end in a file name")
        .to_string_lossy();
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&tmp)
            .map_err(|e| io_error("create", &tmp, e))?;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error("write", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| io_error("replace", path, e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    remove_stale_temporaries(dir, &name);
    result
}

/// How old a temporary file must be before it counts as left behind by a killed writer
const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(60);

/// Removes temporary files of `name` that a killed writer left behind (they may hold secrets)
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMPORARY);
        if file_name.starts_with(&prefix) && file_name.ends_with(".tmp") && stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Makes a rename or removal in `dir` durable
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("sync", dir, e))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

impl SecretStore for FileStore {
    fn source(&self) -> Source {
        Source::File
    }

    fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        let path = self.path_of(key);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(Secret::new(text))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", &path, e)),
        }
    }

    fn set(&self, key: &str, value: &Secret) -> Result<(), StoreError> {
        write_atomic(&self.path_of(key), value.expose().as_bytes())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path_of(key);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("remove", &path, e)),
        }
    }

    fn locks(&self) -> &LockDir {
        &self.locks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::thread;
    use std::time::Duration;

    fn store(dir: &Path) -> FileStore {
        FileStore::new(dir.join("credentials"), LockDir::new(dir.join("locks")))
    }

    #[test]
    fn set_get_delete_and_0600() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        assert_eq!(s.get("work/me@x.org").unwrap(), None);
        s.set("work/me@x.org", &Secret::new("{\"v\":1}")).unwrap();
        assert_eq!(
            s.get("work/me@x.org").unwrap().unwrap().expose(),
            "{\"v\":1}"
        );
        let files: Vec<_> = fs::read_dir(dir.path().join("credentials"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(
            files.len(),
            1,
            "no temporary file is left behind: {files:?}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&files[0]).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dmode = fs::metadata(dir.path().join("credentials"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dmode & 0o777, 0o700);
        }
        s.delete("work/me@x.org").unwrap();
        s.delete("work/me@x.org").unwrap();
        assert_eq!(s.get("work/me@x.org").unwrap(), None);
    }

    #[test]
    fn temporaries_left_by_killed_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        s.set("r/a", &Secret::new("1")).unwrap();
        let creds = dir.path().join("credentials");
        let stale = creds.join(".r%2Fa.json.999.0.tmp");
        let fresh = creds.join(".r%2Fa.json.998.0.tmp");
        fs::write(&stale, "old secret").unwrap();
        fs::write(&fresh, "a writer is busy with this one").unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        s.set("r/a", &Secret::new("2")).unwrap();
        assert!(!stale.exists());
        assert!(fresh.exists());
    }

    #[test]
    fn keys_cannot_escape_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        s.set("../../evil", &Secret::new("x")).unwrap();
        assert!(!dir.path().join("evil").exists());
        assert_eq!(s.get("../../evil").unwrap().unwrap().expose(), "x");
        assert_eq!(s.get("../../evil2").unwrap(), None);
    }

    #[test]
    fn compare_and_swap_conflict_returns_the_current_record() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let (a, b, c) = (Secret::new("a"), Secret::new("b"), Secret::new("c"));
        assert_eq!(s.compare_and_swap("k", None, &a).unwrap(), Some(a.clone()));
        // "only if absent" loses now
        assert_eq!(s.compare_and_swap("k", None, &b).unwrap(), Some(a.clone()));
        // a stale expectation loses and sees the current record
        assert_eq!(
            s.compare_and_swap("k", Some(&c), &b).unwrap(),
            Some(a.clone())
        );
        assert_eq!(
            s.compare_and_swap("k", Some(&a), &b).unwrap(),
            Some(b.clone())
        );
        assert_eq!(s.get("k").unwrap(), Some(b));
    }

    /// Increments a counter record `n` times with compare-and-swap, retrying lost races
    ///
    /// Each write carries a unique tag: the store answers a swap with the record it holds
    /// afterwards, so two writers must never write equal records or a loser would think it won.
    fn increment(s: &FileStore, n: usize) {
        static ATTEMPT: AtomicU64 = AtomicU64::new(0);
        for _ in 0..n {
            loop {
                let current = s.get("counter").unwrap();
                let value: u64 = current
                    .as_ref()
                    .map(|c| c.expose().split(' ').next().unwrap().parse().unwrap())
                    .unwrap_or(0);
                let tag = ATTEMPT.fetch_add(1, Ordering::Relaxed);
                let next = Secret::new(format!("{} {}-{tag}", value + 1, std::process::id()));
                if s.compare_and_swap("counter", current.as_ref(), &next)
                    .unwrap()
                    == Some(next.clone())
                {
                    break;
                }
            }
        }
    }

    fn counter(s: &FileStore) -> String {
        let held = s.get("counter").unwrap().unwrap();
        held.expose().split(' ').next().unwrap().to_owned()
    }

    #[test]
    fn compare_and_swap_is_atomic_across_threads() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let workers: Vec<_> = (0..6)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || increment(&s, 20))
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(counter(&s), "120");
    }

    const CHILD_DIR: &str = "KEYHOLE_TEST_CHILD_DIR";

    fn spawn_self(test: &str, dir: &Path) -> std::process::Child {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--test-threads=1", "--quiet"])
            .env(CHILD_DIR, dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Parent: 4 processes increment one counter 25 times each; child: does its 25
    #[test]
    fn compare_and_swap_is_atomic_across_processes() {
        if let Some(dir) = std::env::var_os(CHILD_DIR) {
            increment(&store(Path::new(&dir)), 25);
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let children: Vec<_> = (0..4)
            .map(|_| {
                spawn_self(
                    "store::file::tests::compare_and_swap_is_atomic_across_processes",
                    dir.path(),
                )
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
        assert_eq!(counter(&store(dir.path())), "100");
    }

    fn record(fill: char) -> String {
        // Large enough that a kill often lands in the middle of writing it.
        format!(
            "{{\"version\":1,\"api_key\":\"{}\",\"updated_at_ms\":1}}",
            fill.to_string().repeat(256 * 1024)
        )
    }

    /// Parent: SIGKILLs writers mid-write many times and checks the record each time; child: writes
    /// the two records alternately (plain sets and compare-and-swaps) until killed
    #[test]
    fn sigkill_mid_write_leaves_old_or_new_record() {
        let (old, new) = (record('o'), record('n'));
        if let Some(dir) = std::env::var_os(CHILD_DIR) {
            let s = store(Path::new(&dir));
            let (old, new) = (Secret::new(old), Secret::new(new));
            loop {
                s.set("crash/me", &new).unwrap();
                s.compare_and_swap("crash/me", Some(&new), &old).unwrap();
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        s.set("crash/me", &Secret::new(old.clone())).unwrap();
        for round in 0..40u64 {
            let mut child = spawn_self(
                "store::file::tests::sigkill_mid_write_leaves_old_or_new_record",
                dir.path(),
            );
            thread::sleep(Duration::from_millis(15 + (round * 7) % 40));
            child.kill().unwrap(); // SIGKILL on unix
            child.wait().unwrap();
            let held = s
                .get("crash/me")
                .unwrap()
                .expect("the record never vanishes");
            let held = held.expose();
            assert!(
                held == old || held == new,
                "round {round}: the record is torn ({} bytes)",
                held.len()
            );
            serde_json::from_str::<serde_json::Value>(held).unwrap();
        }
        // The lock of a killed writer is released with its process.
        s.compare_and_swap("crash/me", None, &Secret::new("x"))
            .unwrap();
    }
}
