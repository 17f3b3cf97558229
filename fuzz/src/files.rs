//! Shared code of the targets for the files a user (or anyone with the user's access) edits:
//! the config files of every storage format and the permissions file
//!
//! They drive keyhole-native's real readers, which take a path, so each run writes the fuzzer's
//! bytes to a file in a per-process scratch directory (in `/dev/shm` when there is one, so
//! the atomic writes' fsyncs stay cheap).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A scratch directory of this process for `target`, created once; directories of processes
/// that are gone are removed then
pub fn scratch_dir(target: &str) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
        .join("keyhole-fuzz");
        std::fs::create_dir_all(&base).expect("a scratch directory");
        for e in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let dir = base.join(format!("{target}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    })
}

/// Replaces `path` (and its directory) with `bytes`
pub fn put(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("a scratch directory");
    }
    std::fs::write(path, bytes).expect("the scratch file is written");
}

/// The values a file gives to credential keys (`api_key = …`, `auth_token: "…"`), line by line,
/// that an error message must never show
///
/// Only values that could not come from anywhere else count: at least 8 characters, no
/// whitespace, a digit or capital letter (our messages' own words have neither), spelled once
/// in the whole file, and not part of `path` (which messages name).
pub fn credential_values<'a>(text: &'a str, keys: &[&str], path: &Path) -> Vec<&'a str> {
    let path = path.display().to_string();
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(['=', ':'])?;
            let key = key.trim().trim_matches(['"', '\'']);
            keys.contains(&key)
                .then(|| value.trim().trim_matches(['"', '\'']))
        })
        .filter(|v| secret_like(text, v, &path))
        .collect()
}

/// Whether `value`, found in the file `text` at `path`, can only have come from there when a
/// message shows it (see [`credential_values`])
pub fn secret_like(text: &str, value: &str, path: &str) -> bool {
    value.len() >= 8
        && !value.chars().any(char::is_whitespace)
        && value
            .chars()
            .any(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        && text.matches(value).count() == 1
        && !path.contains(value)
}

/// Panics when an error message about a file shows one of its credential values, in the
/// file's spelling or as made terminal-safe
pub fn assert_no_value(values: &[&str], message: &str) {
    for v in values {
        let safe = keyhole_native::text::terminal_safe(v);
        assert!(
            !message.contains(v) && !message.contains(safe.as_ref()),
            "an error about the file shows a credential value: {message}"
        );
    }
}

/// Panics unless an error message names `path` and a line (`line N`)
pub fn assert_names_file_and_line(message: &str, path: &Path) {
    assert!(
        message.contains(&path.display().to_string()),
        "an error about a file does not name it: {message}"
    );
    let line = message
        .split("line ")
        .skip(1)
        .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    assert!(
        line,
        "an error about a file's text names no line: {message}"
    );
}
