//! Issue 16 item 8: the precompiled-code cache is only used from a directory that the user owns
//! and no one else can write, and its temporary files never follow a planted symlink.
#![cfg(unix)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::component_bytes;
use keyhole_wasi::{CacheOutcome, Runtime};

fn entries(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

fn refused(outcome: &CacheOutcome, why: &str) {
    match outcome {
        CacheOutcome::Refused(reason) => {
            assert!(
                reason.contains(why) && reason.contains("chmod 700"),
                "{reason}"
            )
        }
        other => panic!("the cache was used: {other:?}"),
    }
}

#[test]
fn a_cache_directory_others_can_write_is_refused() {
    let wasm = component_bytes();
    let tmp = tempfile::tempdir().unwrap();
    let open = tmp.path().join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let runtime = Runtime::from_bytes(&wasm, Some(&open)).unwrap();
    refused(runtime.cache_outcome(), "writable by others");
    assert!(entries(&open).is_empty(), "nothing written into it");
    assert_eq!(
        fs::metadata(&open).unwrap().mode() & 0o777,
        0o777,
        "left as it was"
    );
    // The component still works, compiled in memory.
    runtime.instantiate(None).unwrap();

    let is_root = fs::metadata(tmp.path()).unwrap().uid() == 0;
    if is_root {
        let theirs = tmp.path().join("theirs");
        fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        fs::set_permissions(&theirs, fs::Permissions::from_mode(0o700)).unwrap();
        let runtime = Runtime::from_bytes(&wasm, Some(&theirs)).unwrap();
        refused(runtime.cache_outcome(), "belongs to another user");
        assert!(entries(&theirs).is_empty());
    }
}

#[test]
fn a_symlink_at_the_temporary_name_is_never_followed() {
    let wasm = component_bytes();
    let tmp = tempfile::tempdir().unwrap();
    // The entry's name is the same in any directory (component and engine hashes).
    let probe = tmp.path().join("probe");
    Runtime::from_bytes(&wasm, Some(&probe)).unwrap();
    let entry_name = entries(&probe)[0].file_name().unwrap().to_owned();

    let cache = tmp.path().join("cache");
    fs::create_dir(&cache).unwrap();
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o700)).unwrap();
    let victim = tmp.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    // The name the cache used to write through: `.<entry>.<pid>.tmp`.
    let guessed = cache.join(format!(
        ".{}.{}.tmp",
        entry_name.to_string_lossy(),
        std::process::id()
    ));
    std::os::unix::fs::symlink(&victim, &guessed).unwrap();
    let runtime = Runtime::from_bytes(&wasm, Some(&cache)).unwrap();
    assert_eq!(runtime.cache_outcome(), &CacheOutcome::Miss);
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "precious",
        "the symlink was followed"
    );
    let entry = cache.join(&entry_name);
    assert!(
        !fs::symlink_metadata(&entry)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the entry is a file of its own"
    );
    assert_eq!(
        Runtime::from_bytes(&wasm, Some(&cache))
            .unwrap()
            .cache_outcome(),
        &CacheOutcome::Hit
    );
}
