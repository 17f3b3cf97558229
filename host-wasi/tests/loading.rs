//! Loading the component: the cache, and the errors a broken component gives

mod common;

use common::component_bytes;
use keyhole_wasi::{CacheOutcome, Error, Runtime};

/// The one cache entry's artefact (`.cwasm`), after checking that its check file (`.check`) is
/// the only other file
fn only_entry(dir: &std::path::Path) -> std::path::PathBuf {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert_eq!(entries.len(), 2, "one cache entry, two files: {entries:?}");
    let artefact = entries[1].clone();
    assert_eq!(artefact.extension().unwrap(), "cwasm", "{entries:?}");
    assert_eq!(entries[0], check_of(&artefact), "{entries:?}");
    artefact
}

fn check_of(artefact: &std::path::Path) -> std::path::PathBuf {
    artefact.with_extension("check")
}

#[test]
fn compiles_once_then_loads_from_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    // A cache directory that does not exist yet: the loader creates it, private.
    let cache = tmp.path().join("cache/keyhole");
    let wasm = component_bytes();
    let first = Runtime::from_bytes(&wasm, Some(&cache)).unwrap();
    assert_eq!(first.cache_outcome(), &CacheOutcome::Miss);
    let second = Runtime::from_bytes(&wasm, Some(&cache)).unwrap();
    assert_eq!(second.cache_outcome(), &CacheOutcome::Hit);
    // The cached artefact really works.
    let mut instance = second.instantiate(None).unwrap();
    let m = instance
        .machine("discovery", r#"{"issuer": "https://idp.example"}"#, 1, &[])
        .unwrap();
    instance
        .handle_input(&m, 1, &keyhole_core::Input::Start)
        .unwrap();
    let out = instance.poll_output(&m).unwrap();
    assert_eq!(out["type"].as_str(), Some("send"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(
            mode(&cache) & 0o777,
            0o700,
            "the cache directory is private"
        );
        let entry = only_entry(&cache);
        for file in [check_of(&entry), entry] {
            assert_eq!(mode(&file) & 0o777, 0o600, "{} is private", file.display());
        }
    }
}

#[test]
fn the_embedded_component_shares_the_cache_key_of_its_bytes() {
    // `embedded` uses the SHA-256 computed at build time; a wrong one would file the artefact
    // under another component's key. Loading the same bytes the ordinary way must hit its entry.
    let dir = tempfile::tempdir().unwrap();
    let embedded = Runtime::embedded(Some(dir.path())).unwrap();
    assert_eq!(embedded.cache_outcome(), &CacheOutcome::Miss);
    let again = Runtime::from_bytes(&component_bytes(), Some(dir.path())).unwrap();
    assert_eq!(again.cache_outcome(), &CacheOutcome::Hit);
    assert_eq!(
        Runtime::embedded(Some(dir.path())).unwrap().cache_outcome(),
        &CacheOutcome::Hit
    );
    only_entry(dir.path());
}

#[test]
fn a_corrupt_or_truncated_cache_entry_is_rebuilt_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = component_bytes();
    // Each load's `Runtime` is dropped before the next file edit: a loaded artefact is mapped
    // from its file, and a file cut short under a live mapping is SIGBUS, as for any mapped
    // executable. keyhole itself only ever replaces entries by renaming a new file over them.
    let load = || {
        Runtime::from_bytes(&wasm, Some(dir.path()))
            .unwrap()
            .cache_outcome()
            .clone()
    };
    assert_eq!(load(), CacheOutcome::Miss);
    let entry = only_entry(dir.path());

    // One flipped byte deep inside the artefact.
    let mut bytes = std::fs::read(&entry).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    match load() {
        CacheOutcome::Rebuilt(reason) => assert!(reason.contains("checksum mismatch"), "{reason}"),
        other => panic!("a corrupt entry was not rebuilt: {other:?}"),
    }
    // The rebuilt entry is good again.
    assert_eq!(load(), CacheOutcome::Hit);

    // Truncated.
    let bytes = std::fs::read(&entry).unwrap();
    std::fs::write(&entry, &bytes[..bytes.len() / 2]).unwrap();
    match load() {
        CacheOutcome::Rebuilt(reason) => assert!(reason.contains("truncated"), "{reason}"),
        other => panic!("a truncated entry was not rebuilt: {other:?}"),
    }

    // Not an artefact at all.
    std::fs::write(&entry, b"hello").unwrap();
    assert!(matches!(load(), CacheOutcome::Rebuilt(_)));
    assert_eq!(load(), CacheOutcome::Hit);

    // A check file that is not one.
    std::fs::write(check_of(&entry), b"hello").unwrap();
    match load() {
        CacheOutcome::Rebuilt(reason) => {
            assert!(reason.contains("not a keyhole cache"), "{reason}")
        }
        other => panic!("a broken check file was trusted: {other:?}"),
    }
    assert_eq!(load(), CacheOutcome::Hit);

    // An artefact whose check was never written (a crash between the two writes) is compiled
    // again, not loaded unchecked.
    std::fs::remove_file(check_of(&entry)).unwrap();
    assert_eq!(load(), CacheOutcome::Miss);
    assert_eq!(load(), CacheOutcome::Hit);
}

#[test]
fn an_entry_for_another_component_is_never_used() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = component_bytes();
    // The same component plus an empty custom section named `x`: valid, but other bytes.
    let mut b = a.clone();
    b.extend_from_slice(&[0x00, 0x02, 0x01, b'x']);
    Runtime::from_bytes(&a, Some(dir_a.path())).unwrap();
    assert_eq!(
        Runtime::from_bytes(&b, Some(dir_b.path()))
            .unwrap()
            .cache_outcome(),
        &CacheOutcome::Miss
    );
    // Put A's (valid, checksummed) artefact and its check where B's belong.
    let (from, to) = (only_entry(dir_a.path()), only_entry(dir_b.path()));
    std::fs::copy(&from, &to).unwrap();
    std::fs::copy(check_of(&from), check_of(&to)).unwrap();
    match Runtime::from_bytes(&b, Some(dir_b.path()))
        .unwrap()
        .cache_outcome()
    {
        CacheOutcome::Rebuilt(reason) => assert!(reason.contains("another component"), "{reason}"),
        other => panic!("another component's artefact was used: {other:?}"),
    }
}

#[test]
fn a_missing_component_names_its_path_and_the_fix() {
    let missing = std::path::Path::new("/nonexistent/keyhole.wasm");
    let err = Runtime::from_path(missing, None).err().expect("an error");
    assert!(matches!(err, Error::Missing { .. }));
    let text = err.to_string();
    assert!(text.contains("/nonexistent/keyhole.wasm"), "{text}");
    assert!(text.contains("KEYHOLE_COMPONENT"), "{text}");
}

#[test]
fn a_malformed_component_is_refused_clearly() {
    for bytes in [
        &b"not wasm at all"[..],
        b"\0asm\x0d\x00\x01\x00garbage",
        b"",
    ] {
        let err = Runtime::from_bytes(bytes, None).err().expect("an error");
        assert!(matches!(err, Error::Malformed(_)), "{err}");
        assert!(
            err.to_string().contains("not a valid wasm component"),
            "{err}"
        );
    }
    // A truncated copy of the real component.
    let wasm = component_bytes();
    let err = Runtime::from_bytes(&wasm[..wasm.len() / 2], None)
        .err()
        .expect("an error");
    assert!(matches!(err, Error::Malformed(_)), "{err}");
}

#[test]
fn a_component_of_another_world_is_incompatible() {
    // The smallest valid component: a header and nothing else, so none of keyhole's exports.
    let empty = b"\0asm\x0d\x00\x01\x00";
    let err = Runtime::from_bytes(empty, None).err().expect("an error");
    assert!(matches!(err, Error::Incompatible(_)), "{err}");
    assert!(err.to_string().contains("does not match"), "{err}");
}
