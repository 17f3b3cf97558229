//! Compile once: the precompiled component in the user's cache directory, verified before use
//!
//! An entry is named after the component's SHA-256 and a key for this build of wasmtime (its
//! version and the engine's [`Engine::precompile_compatibility_hash`]), so a new component or a new
//! wasmtime never meets an old artefact. The file holds a header with both, the artefact's length
//! and its CRC-32; anything that does not check out is recompiled and rewritten, never loaded.
//!
//! Why a CRC and not a cryptographic hash of the artefact: the check is against corruption and
//! truncation (a crash mid-write, a bad disk), which CRC-32 catches, in a twentieth of the time
//! of SHA-256 over the ~1 MB artefact (0.05 ms against 0.7 ms of a ~1 ms warm load). Against
//! someone who can write the file, a hash kept next to it protects nothing whatever its strength;
//! that is what the private directory is for. The component's identity, where a collision would
//! load the wrong code, is a SHA-256.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::Error;

const MAGIC: &[u8; 8] = b"KHCWASM2";
/// Magic, component SHA-256, engine key, artefact length (u64 LE), artefact CRC-32 (u32 LE)
const HEADER_LEN: usize = MAGIC.len() + 32 + 32 + 8 + 4;

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

/// Where the entry for this component and engine lives
pub(crate) fn entry_path(dir: &Path, component_sha: &[u8; 32], engine_key: &[u8; 32]) -> PathBuf {
    dir.join(format!(
        "{}-{}.cwasm",
        hex(&component_sha[..16]),
        hex(&engine_key[..8])
    ))
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
    let outcome = match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => CacheOutcome::Miss,
        Err(e) => CacheOutcome::Rebuilt(format!("unreadable: {e}")),
        Ok(bytes) => match verified_artefact(&bytes, &component_sha, &engine_key) {
            Err(reason) => CacheOutcome::Rebuilt(reason.to_owned()),
            Ok(artefact) => {
                // SAFETY: `Component::deserialize` trusts its input to be an artefact wasmtime
                // produced (it maps it as executable code). This one was written by `store` below
                // from `Component::serialize`, for this exact component (SHA-256) and engine key
                // (both checked above), into a file only the user can write (0600 in a 0700
                // directory), and its length and CRC-32 match, so it is what wasmtime wrote: a
                // truncated, corrupted or foreign file is refused before this call. wasmtime
                // then checks its own version and config header and refuses a mismatch.
                match unsafe { Component::deserialize(engine, artefact) } {
                    Ok(component) => return Ok((component, CacheOutcome::Hit)),
                    Err(e) => CacheOutcome::Rebuilt(format!("wasmtime refused it: {e}")),
                }
            }
        },
    };
    let component = compile(engine, wasm)?;
    // A cache that cannot be written (read-only home, full disk) costs speed, not correctness.
    let _ = store(&path, &component, &component_sha, &engine_key);
    Ok((component, outcome))
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, Error> {
    Component::from_binary(engine, wasm).map_err(|e| Error::Malformed(format!("{e:#}")))
}

/// The artefact inside a cache file, if the header and checksum match
fn verified_artefact<'a>(
    bytes: &'a [u8],
    component_sha: &[u8; 32],
    engine_key: &[u8; 32],
) -> Result<&'a [u8], &'static str> {
    if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a keyhole cache file");
    }
    let (header, artefact) = bytes.split_at(HEADER_LEN);
    let (sha, rest) = header[MAGIC.len()..].split_at(32);
    let (key, rest) = rest.split_at(32);
    let (len, crc) = rest.split_at(8);
    if sha != component_sha || key != engine_key {
        return Err("made for another component or engine");
    }
    if len != (artefact.len() as u64).to_le_bytes() {
        return Err("length mismatch (truncated)");
    }
    if crc != crc32fast::hash(artefact).to_le_bytes() {
        return Err("checksum mismatch (corrupt)");
    }
    Ok(artefact)
}

/// Writes an entry atomically: a temporary file in the same directory, then a rename
fn store(
    path: &Path,
    component: &Component,
    component_sha: &[u8; 32],
    engine_key: &[u8; 32],
) -> std::io::Result<()> {
    let artefact = component
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let dir = path
        .parent()
        .expect("entry paths are built inside a directory");
    // A random name opened with O_EXCL (tempfile), so a file or symlink planted at a guessable
    // name is never followed or reused; 0600, then renamed over the entry.
    let mut file = tempfile::Builder::new()
        .prefix(".keyhole-cwasm-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    file.write_all(MAGIC)?;
    file.write_all(component_sha)?;
    file.write_all(engine_key)?;
    file.write_all(&(artefact.len() as u64).to_le_bytes())?;
    file.write_all(&crc32fast::hash(&artefact).to_le_bytes())?;
    file.write_all(&artefact)?;
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
