//! Compile once: the precompiled component in the user's cache directory, verified before use
//!
//! An entry is named after the component's SHA-256 and a key for this build of wasmtime (its
//! version and the engine's [`Engine::precompile_compatibility_hash`]), so a new component or a new
//! wasmtime never meets an old artefact. An entry is two files: `<name>.cwasm`, the artefact
//! exactly as [`Component::serialize`] wrote it, and `<name>.check`, which holds both keys, the
//! artefact's length and its CRC-32. Anything that does not check out is recompiled and
//! rewritten, never loaded.
//!
//! Why two files: wasmtime maps an artefact file into memory as it is
//! ([`Component::deserialize_file`]), where loading it from bytes copies it into fresh memory
//! first. The copy was 0.83 ms of a 1.42 ms warm load (2026-12-07, quiet machine, a 1.6 MB
//! artefact); mapping takes 0.26 ms. A file wasmtime maps must be its artefact alone, so the check
//! lives beside it.
//!
//! Why a CRC and not a cryptographic hash of the artefact: the check is against corruption and
//! truncation (a bad disk, a file cut short), which CRC-32 catches, in a twentieth of the time
//! of SHA-256 over the artefact (0.04 ms). Against someone who can write the file, a hash kept next
//! to it protects nothing whatever its strength; that is what the private directory is for. The
//! component's identity, where a collision would load the wrong code, is a SHA-256.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::Error;

const MAGIC: &[u8; 8] = b"KHCHECK3";
/// The check file: magic, component SHA-256, engine key, artefact length (u64 LE), artefact
/// CRC-32 (u32 LE)
const CHECK_LEN: usize = MAGIC.len() + 32 + 32 + 8 + 4;

/// What loading did with the cache
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// No cache directory: compiled in memory
    Disabled,
    /// Loaded the verified precompiled artefact
    Hit,
    /// No entry yet: compiled and stored
    Miss,
    /// An entry existed but was refused (the reason); compiled and stored again
    Rebuilt(String),
    /// The cache directory itself is not safe to load code from (the reason: its owner or mode);
    /// compiled in memory, nothing read from it or written to it
    Refused(String),
}

/// `$XDG_CACHE_HOME/keyhole`, else `~/.cache/keyhole`; `None` when neither is known
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache"),
    };
    Some(base.join("keyhole"))
}

/// A key for "artefacts from this engine load in this engine": wasmtime version + engine config
pub(crate) fn engine_key(engine: &Engine) -> [u8; 32] {
    // `DefaultHasher::new()` has fixed keys, so the value is stable for one build; a different
    // build that hashes differently only causes a recompile.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let mut key = Sha256::new();
    key.update(env!("KEYHOLE_WASMTIME_VERSION").as_bytes());
    key.update(hasher.finish().to_le_bytes());
    key.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the artefact of this component and engine lives (its check: [`check_path`])
pub(crate) fn entry_path(dir: &Path, component_sha: &[u8; 32], engine_key: &[u8; 32]) -> PathBuf {
    dir.join(format!(
        "{}-{}.cwasm",
        hex(&component_sha[..16]),
        hex(&engine_key[..8])
    ))
}

/// The check file beside an artefact
fn check_path(entry: &Path) -> PathBuf {
    entry.with_extension("check")
}

/// Compiles `wasm`, or loads its verified precompiled form from `cache_dir`
///
/// `known_sha` is `wasm`'s SHA-256 when it was computed at build time (the embedded component);
/// it must be the hash of these very bytes, which is why only this crate passes one.
pub(crate) fn load(
    engine: &Engine,
    wasm: &[u8],
    known_sha: Option<[u8; 32]>,
    cache_dir: Option<&Path>,
) -> Result<(Component, CacheOutcome), Error> {
    let Some(dir) = cache_dir else {
        return Ok((compile(engine, wasm)?, CacheOutcome::Disabled));
    };
    // Code from this directory is mapped executable: only a directory that no one but the user
    // can write into may supply it.
    if let Err(reason) = create_private_dir(dir).and_then(|()| check_private(dir)) {
        return Ok((compile(engine, wasm)?, CacheOutcome::Refused(reason)));
    }
    let component_sha: [u8; 32] = known_sha.unwrap_or_else(|| Sha256::digest(wasm).into());
    let engine_key = engine_key(engine);
    let path = entry_path(dir, &component_sha, &engine_key);
    let outcome = match verify_entry(&path, &component_sha, &engine_key) {
        Err(Refusal::Missing) => CacheOutcome::Miss,
        Err(Refusal::Bad(reason)) => CacheOutcome::Rebuilt(reason),
        Ok(()) => {
            // SAFETY: `Component::deserialize_file` trusts the file to be an artefact wasmtime
            // produced (it maps it as executable code). This one was written by `store` below
            // from `Component::serialize`, for this exact component (SHA-256) and engine key
            // (both checked above), into a file only the user can write (0600 in a 0700
            // directory), and its length and CRC-32 match, so it is what wasmtime wrote: a
            // truncated, corrupted or foreign file is refused before this call. Entries are only
            // ever replaced whole (a rename), so between the check and the mapping the name can
            // only come to hold another complete artefact for the same component and engine, and
            // a mapped file is never cut short under the mapping (which would be SIGBUS, as for
            // any mapped executable) except by someone who can write the private directory.
            // wasmtime then checks its own version and config header and refuses a mismatch.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(e) => CacheOutcome::Rebuilt(format!("wasmtime refused it: {e}")),
            }
        }
    };
    let component = compile(engine, wasm)?;
    // A cache that cannot be written (read-only home, full disk) costs speed, not correctness.
    let _ = store(&path, &component, &component_sha, &engine_key);
    Ok((component, outcome))
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, Error> {
    Component::from_binary(engine, wasm).map_err(|e| Error::Malformed(format!("{e:#}")))
}

/// Why an entry is not loaded
enum Refusal {
    /// There is none yet
    Missing,
    /// There is one, and this is what is wrong with it
    Bad(String),
}

/// Checks the artefact at `entry` against its check file: keys, length and CRC-32
fn verify_entry(
    entry: &Path,
    component_sha: &[u8; 32],
    engine_key: &[u8; 32],
) -> Result<(), Refusal> {
    let unreadable = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => Refusal::Missing,
        _ => Refusal::Bad(format!("unreadable: {e}")),
    };
    let check = std::fs::read(check_path(entry)).map_err(unreadable)?;
    if check.len() != CHECK_LEN || &check[..MAGIC.len()] != MAGIC {
        return Err(Refusal::Bad("not a keyhole cache file".into()));
    }
    let (sha, rest) = check[MAGIC.len()..].split_at(32);
    let (key, rest) = rest.split_at(32);
    let (len, crc) = rest.split_at(8);
    if sha != component_sha || key != engine_key {
        return Err(Refusal::Bad("made for another component or engine".into()));
    }
    let artefact = std::fs::File::open(entry).map_err(unreadable)?;
    let length = artefact.metadata().map_err(unreadable)?.len();
    if len != length.to_le_bytes() {
        return Err(Refusal::Bad("length mismatch (truncated)".into()));
    }
    // Mapped rather than read: the check reads 1.4-2.1 MB on every warm start, and a mapping of
    // pages the kernel already caches skips the copy into fresh memory (about 0.08 ms of the
    // 0.9 ms warm start, docs/performance.md).
    // SAFETY: the mapping is read-only and dropped before this returns. It is only unsound if
    // the file is cut short while mapped (SIGBUS), which needs write access to the private
    // directory: entries are only ever replaced whole, by a rename (see `load`).
    let mapped = unsafe { memmap2::Mmap::map(&artefact) }.map_err(unreadable)?;
    if mapped.len() as u64 != length {
        return Err(Refusal::Bad("length mismatch (truncated)".into()));
    }
    if crc != crc32fast::hash(&mapped).to_le_bytes() {
        return Err(Refusal::Bad("checksum mismatch (corrupt)".into()));
    }
    Ok(())
}

/// Writes an entry atomically: the artefact, then its check, each through a temporary file in
/// the same directory and a rename
///
/// A crash between the two renames leaves an artefact without a (matching) check, which is
/// refused and rewritten.
fn store(
    path: &Path,
    component: &Component,
    component_sha: &[u8; 32],
    engine_key: &[u8; 32],
) -> std::io::Result<()> {
    let artefact = component
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut check = Vec::with_capacity(CHECK_LEN);
    check.extend_from_slice(MAGIC);
    check.extend_from_slice(component_sha);
    check.extend_from_slice(engine_key);
    check.extend_from_slice(&(artefact.len() as u64).to_le_bytes());
    check.extend_from_slice(&crc32fast::hash(&artefact).to_le_bytes());
    write_private(path, &artefact)?;
    write_private(&check_path(path), &check)
}

/// Replaces `path` with `bytes`, 0600, through a temporary file and a rename
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .expect("entry paths are built inside a directory");
    // A random name opened with O_EXCL (tempfile), so a file or symlink planted at a guessable
    // name is never followed or reused; 0600, then renamed over the entry.
    let mut file = tempfile::Builder::new()
        .prefix(".keyhole-cwasm-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Refuses a cache directory that someone other than the user could write into: owned by
/// another user, group- or world-writable, or a symlink
#[cfg(unix)]
fn check_private(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot inspect the cache directory {}: {e}", dir.display()))?;
    let fix = "fix it (`chmod 700`, owned by you) or point XDG_CACHE_HOME elsewhere";
    if !meta.is_dir() {
        return Err(format!(
            "the cache directory {} is not a plain directory (a symlink?); {fix}",
            dir.display()
        ));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!(
            "the cache directory {} belongs to another user (uid {}); {fix}",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "the cache directory {} is writable by others (mode {:o}); {fix}",
            dir.display(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_dir: &Path) -> Result<(), String> {
    Ok(())
}

/// Creates a missing cache directory 0700; an existing one is checked, not changed
fn create_private_dir(dir: &Path) -> Result<(), String> {
    if std::fs::symlink_metadata(dir).is_ok() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| format!("cannot create the cache directory {}: {e}", dir.display()))
}
