//! truss's INI file `~/.trussrc`: one section per remote, credentials in the keyring or inline
//!
//! ```ini
//! [baseten]                         ; written by an older truss: a legacy plaintext key
//! remote_provider = baseten
//! api_key = abc123
//! remote_url = https://app.baseten.co
//!
//! [staging]                         ; keyhole, keyring in use: only a marker here
//! remote_url = https://staging.baseten.co
//! account = ada@example.com
//! auth_type = oauth
//! credential_store = keyring
//! ```
//!
//! A section is a remote when it has `remote_url`. keyhole writes `account`, `auth_type`
//! (`api_key` | `oauth`) and `credential_store` (`keyring` | `inline`); inline credentials are
//! `api_key`, `oauth_access_token`, `oauth_refresh_token`, `oauth_id_token`, `oauth_token_type`,
//! `oauth_scope`, `oauth_expires_at_ms`, `oauth_refresh_at_ms`, `oauth_issued_at_ms` and `updated_at_ms`. An `api_key`
//! in a section without `credential_store` was written by an older truss: it is used as it is and
//! never migrated. Every other key, section and the order of both are kept on each write (comments
//! are not: truss's own writer, Python's configparser, drops them too). Values are read and written
//! literally, as configparser does: no quotes, no escapes.
//!
//! Every change of the file (config save, inline credential, keyring marker) is a
//! read-modify-write under one lock file, so the config and the credentials in it never overwrite
//! each other.

use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::Duration;

use ini::{EscapePolicy, Ini, LineSeparator, ParseOption, Properties, WriteOption};
use keyhole_core::client::{AuthType, DEFAULT_ACCOUNT};
use keyhole_core::oauth::TokenSet;
use keyhole_core::record::StoredRecord;
use keyhole_core::{Secret, StoreError};

use super::{
    CredentialStatus, ReadError, StorageFormat, StoredAuthType, io_error, parse_record, split_key,
};
use crate::config::{AccountConfig, Config, ConfigError, RemoteConfig};
use crate::store::file::write_atomic;
use crate::store::{LockDir, SecretStore, Source};

/// The `source` label of credentials kept in the file
pub const INLINE_LABEL: &str = "trussrc-inline";
/// The `source` label of credentials kept in the keyring
pub const KEYRING_LABEL: &str = "keyring";

const REMOTE_URL: &str = "remote_url";
const ACCOUNT: &str = "account";
const AUTH_TYPE: &str = "auth_type";
const CREDENTIAL_STORE: &str = "credential_store";
const API_KEY: &str = "api_key";
const ACCESS: &str = "oauth_access_token";
const REFRESH: &str = "oauth_refresh_token";
const ID: &str = "oauth_id_token";
const TOKEN_TYPE: &str = "oauth_token_type";
const SCOPE: &str = "oauth_scope";
const EXPIRES: &str = "oauth_expires_at_ms";
const REFRESH_AT: &str = "oauth_refresh_at_ms";
const ISSUED_AT: &str = "oauth_issued_at_ms";
const UPDATED: &str = "updated_at_ms";
/// Every key holding (part of) an inline credential
const CREDENTIAL_KEYS: [&str; 10] = [
    API_KEY, ACCESS, REFRESH, ID, TOKEN_TYPE, SCOPE, EXPIRES, REFRESH_AT, ISSUED_AT, UPDATED,
];
/// Longest wait for another writer of the file
const FILE_LOCK_WAIT: Duration = Duration::from_secs(10);

/// `~/.trussrc`
#[derive(Debug, Clone)]
pub struct TrussRc {
    path: PathBuf,
    locks: LockDir,
    template: RemoteConfig,
}

impl TrussRc {
    /// The file at `path`, lock files in `locks_dir`; remotes are `template` with the file's
    /// `remote_url` as `api_url` (and its `issuer` / `client_id` when it has them)
    pub fn new(
        path: impl Into<PathBuf>,
        locks_dir: impl Into<PathBuf>,
        template: RemoteConfig,
    ) -> Self {
        Self {
            path: path.into(),
            locks: LockDir::new(locks_dir),
            template,
        }
    }

    /// `$HOME/.trussrc`, lock files in `$XDG_CONFIG_HOME/truss/locks` (else `~/.config/…`)
    pub fn from_env(template: RemoteConfig) -> Option<Self> {
        let path = super::home_dir()?.join(".trussrc");
        let locks = super::xdg_config_home()?.join("truss").join("locks");
        Some(Self::new(path, locks, template))
    }

    /// The parsed file and its text; `None` when it does not exist
    fn read(&self) -> Result<Option<(Ini, String)>, ReadError> {
        let invalid = |detail: String| ReadError::Invalid {
            path: self.path.clone(),
            detail,
        };
        let text = match fs::read(&self.path) {
            Ok(bytes) => super::utf8_text(bytes)
                .map_err(|line| invalid(format!("line {line}: the text is not UTF-8")))?,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", &self.path, &e).into()),
        };
        // rust-ini joins a line ending in `\` with the next one even with escapes off, where
        // truss's reader keeps the backslash: the two would read different values. rust-ini
        // also ends a line at a bare `\r`, so the check splits there too.
        if let Some(n) = text.lines().position(|l| {
            l.split('\r').any(|part| {
                let t = part.trim();
                t.ends_with('\\') && !t.starts_with([';', '#'])
            })
        }) {
            return Err(invalid(format!(
                "line {}: the line ends with `\\`, which INI readers disagree on (truss keeps it, \
                 keyhole would join the next line); remove it",
                n + 1
            )));
        }
        // A `[` with no `]` on its line makes the parser read the section name on into the next
        // lines (where a secret may be) and trim the line break away, so the check after
        // parsing cannot see it: such a line is refused first, as truss's reader refuses it.
        if let Some(detail) = Self::malformed_line(&text) {
            return Err(invalid(detail));
        }
        let ini = Ini::load_from_str_opt(&text, Self::options()).map_err(|e| {
            // The parser reports an unclosed `[` where it gave up (often the end of the file);
            // the line that opened it is the one to fix.
            match Self::malformed_line(&text) {
                Some(detail) => invalid(detail),
                None => invalid(format!("line {}: {}", e.line, super::display_safe(&e.msg))),
            }
        })?;
        // The parser reads a section name up to its `]` and a key up to its `=` across line
        // breaks, so a line that is neither would join the next into one name, which errors
        // then show (with whatever secret the next line holds). truss's reader refuses it.
        let spans_lines = |t: &str| t.contains(['\n', '\r']);
        if ini
            .iter()
            .any(|(name, s)| name.is_some_and(spans_lines) || s.iter().any(|(k, _)| spans_lines(k)))
        {
            return Err(invalid(Self::malformed_line(&text).unwrap_or_else(|| {
                "line 1: a section name or key runs over a line break".into()
            })));
        }
        Self::refuse_duplicates(&ini, &text).map_err(invalid)?;
        // A file keyhole would change by writing it back (a key the writer puts where the next
        // read takes it for a comment, say) is refused now, before anything is written.
        if let Some((section, key)) = Self::not_kept(&ini) {
            let line = Self::line_of_nth(&text, section.as_deref(), key.as_deref(), 1).max(1);
            return Err(invalid(format!(
                "line {line}: keyhole cannot write this line back as it is (INI readers \
                 disagree on it); change it"
            )));
        }
        Ok(Some((ini, text)))
    }

    fn options() -> ParseOption {
        ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            ..ParseOption::default()
        }
    }

    /// The file's text for `ini`, as keyhole writes it
    fn write_text(ini: &Ini) -> Vec<u8> {
        let mut out = Vec::new();
        ini.write_to_opt(
            &mut out,
            WriteOption {
                escape_policy: EscapePolicy::Nothing,
                line_separator: LineSeparator::CR,
                kv_separator: " = ",
            },
        )
        .expect("writing to memory does not fail");
        out
    }

    /// The first section (key `None`) or key whose name or value does not read back the same
    /// after a write
    fn not_kept(ini: &Ini) -> Option<(Option<String>, Option<String>)> {
        let text = String::from_utf8(Self::write_text(ini)).unwrap_or_default();
        let again = Ini::load_from_str_opt(&text, Self::options()).ok();
        let again: Vec<_> = again.iter().flat_map(|a| a.iter()).collect();
        for (i, (name, props)) in ini.iter().enumerate() {
            let Some((name_again, props_again)) = again.get(i) else {
                return Some((name.map(str::to_owned), None));
            };
            if name != *name_again {
                return Some((name.map(str::to_owned), None));
            }
            let mut kept = props_again.iter();
            for (key, value) in props.iter() {
                if kept.next() != Some((key, value)) {
                    return Some((name.map(str::to_owned), Some(key.to_owned())));
                }
            }
        }
        None
    }

    /// The first line that is neither blank, a comment, a `[section]` nor a `key = value`
    fn malformed_line(text: &str) -> Option<String> {
        text.lines().enumerate().find_map(|(n, line)| {
            let t = line.trim();
            let n = n + 1;
            if t.is_empty() || t.starts_with([';', '#']) {
                None
            } else if t.starts_with('[') {
                (!t.contains(']')).then(|| format!("line {n}: the section name has no closing `]`"))
            } else {
                (!t.contains(['=', ':'])).then(|| {
                    format!("line {n}: it is neither a `[section]` nor a `key = value` line")
                })
            }
        })
    }

    /// A section or a key given twice: truss's reader (Python's configparser, strict by
    /// default) refuses such a file, and keyhole would read one value and write over another
    fn refuse_duplicates(ini: &Ini, text: &str) -> Result<(), String> {
        let mut seen: Vec<Option<&str>> = Vec::new();
        for (name, section) in ini.iter() {
            let shown = name.map_or_else(
                || "the lines before the first section".to_owned(),
                |n| format!("[{}]", super::display_safe(n)),
            );
            if seen.contains(&name) {
                return Err(format!(
                    "line {}: {shown} appears twice; truss refuses that too: merge the two",
                    Self::line_of_nth(text, name, None, 2)
                ));
            }
            seen.push(name);
            let mut keys: Vec<&str> = Vec::new();
            for (key, _) in section.iter() {
                if keys.contains(&key) {
                    return Err(format!(
                        "line {}: `{}` appears twice in {shown}; truss refuses that too: keep one",
                        Self::line_of_nth(text, name, Some(key), 2),
                        super::display_safe(key)
                    ));
                }
                keys.push(key);
            }
        }
        Ok(())
    }

    /// Reads, changes and writes the file under its lock; a file that cannot be read is left alone
    fn update(
        &self,
        change: impl FnOnce(&mut Ini) -> Result<(), StoreError>,
    ) -> Result<(), ReadError> {
        let _guard = self.locks.acquire("trussrc", "file", FILE_LOCK_WAIT)?;
        let mut ini = self.read()?.map(|(ini, _)| ini).unwrap_or_default();
        change(&mut ini)?;
        // What the file cannot hold as written (a line break, a trailing `\` that would join
        // the next line, a key the next read takes for a comment) is refused, never mangled.
        if let Some((section, key)) = Self::not_kept(&ini) {
            return Err(ReadError::Store(StoreError::Other(format!(
                "`{}` in [{}] cannot be written to ~/.trussrc as it is (a line break, a \
                 trailing `\\` or a leading `;`/`#`); nothing was written",
                super::display_safe(key.as_deref().unwrap_or_default()),
                super::display_safe(section.as_deref().unwrap_or_default())
            ))));
        }
        let out = Self::write_text(&ini);
        // A dotfile is often a symlink into a dotfiles repository: replace the file it points
        // at, not the link.
        let target = fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        Ok(write_atomic(&target, &out)?)
    }

    /// A value's line in the file, for errors about it
    fn line_of(text: &str, section: &str, key: &str) -> usize {
        Self::line_of_nth(text, Some(section), Some(key), 1)
    }

    /// The line of the `nth` header of `section` (`key: None`), or of the `nth` `key` in the
    /// sections named `section` (`None`: the lines before the first section); 0 if none
    fn line_of_nth(text: &str, section: Option<&str>, key: Option<&str>, nth: usize) -> usize {
        let mut current = None;
        let mut found = 0;
        for (n, line) in text.lines().enumerate() {
            let t = line.trim();
            if let Some(name) = t.strip_prefix('[').and_then(|t| t.split(']').next()) {
                current = Some(name.trim());
                found += usize::from(key.is_none() && current == section);
            } else if current == section
                && key.is_some()
                && t.split(['=', ':']).next().map(str::trim) == key
            {
                found += 1;
            }
            if found == nth {
                return n + 1;
            }
        }
        0
    }

    /// The inline credential of a section, if it holds one (keyring-marked sections do not)
    fn inline_record(
        &self,
        text: &str,
        name: &str,
        section: &Properties,
    ) -> Result<Option<StoredRecord>, ReadError> {
        if section.get(CREDENTIAL_STORE) == Some("keyring") {
            return Ok(None);
        }
        let secret = |k: &str| section.get(k).filter(|v| !v.is_empty()).map(Secret::new);
        let ms = |k: &str| -> Result<Option<u64>, ReadError> {
            section
                .get(k)
                .map(|v| {
                    v.parse().map_err(|_| ReadError::Invalid {
                        path: self.path.clone(),
                        detail: format!(
                            "line {}: `{k}` in [{}] is not a number",
                            Self::line_of(text, name, k),
                            super::display_safe(name)
                        ),
                    })
                })
                .transpose()
        };
        let oauth = match secret(ACCESS) {
            Some(access_token) => Some(TokenSet {
                access_token,
                token_type: section.get(TOKEN_TYPE).unwrap_or("Bearer").to_owned(),
                refresh_token: secret(REFRESH),
                id_token: secret(ID),
                scope: section.get(SCOPE).map(str::to_owned),
                expires_at_ms: ms(EXPIRES)?,
                refresh_at_ms: ms(REFRESH_AT)?,
                issued_at_ms: ms(ISSUED_AT)?,
            }),
            None => None,
        };
        let record = StoredRecord {
            api_key: secret(API_KEY),
            oauth,
            updated_at_ms: ms(UPDATED)?.unwrap_or(0),
        };
        Ok((!record.is_empty()).then_some(record))
    }

    /// The inline credential of a remote, as a store record
    fn get_inline(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        let (remote, _) = split_key(key);
        let Some((ini, text)) = self.read()? else {
            return Ok(None);
        };
        match ini.section(Some(remote)) {
            Some(s) => Ok(self.inline_record(&text, remote, s)?.map(|r| r.to_json())),
            None => Ok(None),
        }
    }

    /// Writes the bookkeeping of a credential into the remote's section (created if missing)
    fn mark(
        &self,
        key: &str,
        record: Option<&StoredRecord>,
        inline: bool,
    ) -> Result<(), StoreError> {
        let (remote, account) = split_key(key);
        if let Some(r) = record.filter(|_| inline) {
            let values = [r.api_key.as_ref()]
                .into_iter()
                .chain(r.oauth.iter().flat_map(|t| {
                    [
                        Some(&t.access_token),
                        t.refresh_token.as_ref(),
                        t.id_token.as_ref(),
                    ]
                }))
                .flatten();
            for v in values {
                if v.expose().contains(['\n', '\r']) {
                    return Err(StoreError::Other(
                        "the credential contains a line break, which ~/.trussrc cannot hold".into(),
                    ));
                }
            }
        }
        let template_url = self.template.url();
        self.update(|ini| {
            if record.is_none() && ini.section(Some(remote)).is_none() {
                return Ok(());
            }
            let section = ini
                .entry(Some(remote.to_owned()))
                .or_insert_with(Properties::new);
            for k in CREDENTIAL_KEYS {
                section.remove(k);
            }
            let Some(r) = record else {
                for k in [ACCOUNT, AUTH_TYPE, CREDENTIAL_STORE] {
                    section.remove(k);
                }
                return Ok(());
            };
            if !section.contains_key(REMOTE_URL)
                && let Some(url) = &template_url
            {
                section.insert(REMOTE_URL, url.clone());
            }
            if !account.is_empty() {
                section.insert(ACCOUNT, account);
            }
            section.insert(
                AUTH_TYPE,
                if r.oauth.is_some() {
                    "oauth"
                } else {
                    "api_key"
                },
            );
            section.insert(CREDENTIAL_STORE, if inline { "inline" } else { "keyring" });
            if inline {
                if let Some(k) = &r.api_key {
                    section.insert(API_KEY, k.expose());
                }
                if let Some(t) = &r.oauth {
                    section.insert(ACCESS, t.access_token.expose());
                    section.insert(TOKEN_TYPE, t.token_type.clone());
                    if let Some(v) = &t.refresh_token {
                        section.insert(REFRESH, v.expose());
                    }
                    if let Some(v) = &t.id_token {
                        section.insert(ID, v.expose());
                    }
                    if let Some(v) = &t.scope {
                        section.insert(SCOPE, v.clone());
                    }
                    if let Some(v) = t.expires_at_ms {
                        section.insert(EXPIRES, v.to_string());
                    }
                    if let Some(v) = t.refresh_at_ms {
                        section.insert(REFRESH_AT, v.to_string());
                    }
                    if let Some(v) = t.issued_at_ms {
                        section.insert(ISSUED_AT, v.to_string());
                    }
                }
                section.insert(UPDATED, r.updated_at_ms.to_string());
            }
            Ok(())
        })
        .map_err(Into::into)
    }
}

/// Whether a section is a remote
fn is_remote(section: &Properties) -> bool {
    section.contains_key(REMOTE_URL)
}

impl StorageFormat for TrussRc {
    fn name(&self) -> &'static str {
        "trussrc"
    }

    fn config_path(&self) -> PathBuf {
        self.path.clone()
    }

    fn credentials_path(&self) -> PathBuf {
        self.path.clone()
    }

    fn locks(&self) -> LockDir {
        self.locks.clone()
    }

    fn load_config(&self) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let read = |e: ReadError| e.into_config("read", &self.path);
        let Some((ini, text)) = self.read().map_err(read)? else {
            return Ok(config);
        };
        for (name, section) in ini.iter() {
            let (Some(name), Some(url)) = (name, section.get(REMOTE_URL)) else {
                continue;
            };
            let mut remote = self.template.clone();
            remote.api_url = Some(url.to_owned());
            if let Some(v) = section.get("issuer") {
                remote.issuer = Some(v.to_owned());
            }
            if let Some(v) = section.get("client_id") {
                remote.client_id = v.to_owned();
            }
            let inline = self.inline_record(&text, name, section).map_err(read)?;
            let auth_type = match section.get(AUTH_TYPE) {
                Some("oauth") => Some(AuthType::Oauth),
                Some("api_key") => Some(AuthType::ApiKey),
                _ => inline.as_ref().map(|r| {
                    if r.oauth.is_some() {
                        AuthType::Oauth
                    } else {
                        AuthType::ApiKey
                    }
                }),
            };
            if auth_type.is_some() {
                let account = section.get(ACCOUNT).unwrap_or(DEFAULT_ACCOUNT).to_owned();
                remote.active_account = Some(account.clone());
                remote.accounts.insert(
                    account,
                    AccountConfig {
                        project: None,
                        auth_type,
                    },
                );
            }
            config.remotes.insert(name.to_owned(), remote);
        }
        Ok(config)
    }

    /// Adds and updates one section per remote; removes the sections of remotes no longer in
    /// `config` (truss's logout); keeps every other section and key
    fn save_config(&self, config: &Config) -> Result<(), ConfigError> {
        self.update(|ini| {
            let gone: Vec<String> = ini
                .iter()
                .filter_map(|(name, s)| {
                    name.filter(|n| is_remote(s) && !config.remotes.contains_key(*n))
                })
                .map(str::to_owned)
                .collect();
            for name in gone {
                ini.delete(Some(name));
            }
            for (name, remote) in &config.remotes {
                let section = ini
                    .entry(Some(name.clone()))
                    .or_insert_with(Properties::new);
                if let Some(url) = remote.url() {
                    section.insert(REMOTE_URL, url);
                }
                if remote.issuer != self.template.issuer
                    && let Some(issuer) = &remote.issuer
                {
                    section.insert("issuer", issuer.clone());
                }
                if remote.client_id != self.template.client_id {
                    section.insert("client_id", remote.client_id.clone());
                }
                if let Some(account) = &remote.active_account
                    && section.contains_key(AUTH_TYPE)
                {
                    section.insert(ACCOUNT, account.clone());
                }
            }
            Ok(())
        })
        .map_err(|e| e.into_config("write", &self.path))
    }

    fn file_store(&self) -> Box<dyn SecretStore> {
        Box::new(TrussInline(self.clone()))
    }

    fn wrap_keyring(&self, keyring: Box<dyn SecretStore>) -> Box<dyn SecretStore> {
        Box::new(TrussKeyring {
            rc: self.clone(),
            keyring,
        })
    }

    fn credential_status(&self, key: &str) -> Result<Option<CredentialStatus>, StoreError> {
        let (remote, _) = split_key(key);
        let Some((ini, text)) = self.read()? else {
            return Ok(None);
        };
        let Some(section) = ini.section(Some(remote)) else {
            return Ok(None);
        };
        let declared = match section.get(AUTH_TYPE) {
            Some("oauth") => StoredAuthType::Oauth,
            _ => StoredAuthType::ApiKey,
        };
        Ok(match section.get(CREDENTIAL_STORE) {
            Some("keyring") => Some(CredentialStatus {
                auth_type: declared,
                source: Source::Keyring,
                source_label: KEYRING_LABEL,
            }),
            marker => self
                .inline_record(&text, remote, section)?
                .map(|r| CredentialStatus {
                    auth_type: match marker {
                        None => StoredAuthType::LegacyPlaintextApiKey,
                        Some(_) if r.oauth.is_some() => StoredAuthType::Oauth,
                        Some(_) => StoredAuthType::ApiKey,
                    },
                    source: Source::File,
                    source_label: INLINE_LABEL,
                }),
        })
    }
}

/// Credentials inline in `~/.trussrc` (no keyring, or `BASETEN_TRUSS_AUTH_KEYRING_DISABLED=1`)
#[derive(Debug)]
struct TrussInline(TrussRc);

impl SecretStore for TrussInline {
    fn source(&self) -> Source {
        Source::File
    }

    fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        self.0.get_inline(key)
    }

    fn set(&self, key: &str, value: &Secret) -> Result<(), StoreError> {
        let record = parse_record(value)?;
        self.0.mark(key, Some(&record), true)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.mark(key, None, true)
    }

    fn locks(&self) -> &LockDir {
        &self.0.locks
    }
}

/// The keyring (service `baseten-truss`) with a marker in `~/.trussrc`; a remote without a
/// keyring entry still reads its inline (e.g. legacy plaintext) credential
struct TrussKeyring {
    rc: TrussRc,
    keyring: Box<dyn SecretStore>,
}

impl std::fmt::Debug for TrussKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrussKeyring")
            .field("rc", &self.rc)
            .finish()
    }
}

impl SecretStore for TrussKeyring {
    fn source(&self) -> Source {
        Source::Keyring
    }

    fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        match self.keyring.get(key)? {
            Some(s) => Ok(Some(s)),
            None => self.rc.get_inline(key),
        }
    }

    /// Stores in the keyring, then replaces any inline credential with the keyring marker
    fn set(&self, key: &str, value: &Secret) -> Result<(), StoreError> {
        let record = parse_record(value)?;
        self.keyring.set(key, value)?;
        self.rc.mark(key, Some(&record), false)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.keyring.delete(key)?;
        self.rc.mark(key, None, false)
    }

    fn locks(&self) -> &LockDir {
        &self.rc.locks
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::super::test_support::*;
    use super::*;

    const LEGACY: &str = "[baseten]\nremote_provider = baseten\napi_key = legacy-abc\nremote_url = https://app.baseten.co\n\n[tools]\ncolor = always\n";

    fn rc(dir: &std::path::Path) -> TrussRc {
        TrussRc::new(
            dir.join(".trussrc"),
            dir.join("locks"),
            RemoteConfig {
                api_url: Some("https://app.baseten.co".into()),
                client_id: "truss-cli".into(),
                ..RemoteConfig::default()
            },
        )
    }

    /// An in-memory keyring
    #[derive(Debug)]
    struct MemKeyring(Mutex<HashMap<String, Secret>>, LockDir);

    impl SecretStore for MemKeyring {
        fn source(&self) -> Source {
            Source::Keyring
        }
        fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
            Ok(self.0.lock().unwrap().get(key).cloned())
        }
        fn set(&self, key: &str, value: &Secret) -> Result<(), StoreError> {
            self.0.lock().unwrap().insert(key.into(), value.clone());
            Ok(())
        }
        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.0.lock().unwrap().remove(key);
            Ok(())
        }
        fn locks(&self) -> &LockDir {
            &self.1
        }
    }

    fn keyring(dir: &std::path::Path) -> Box<dyn SecretStore> {
        Box::new(MemKeyring(
            Mutex::default(),
            LockDir::new(dir.join("locks")),
        ))
    }

    #[test]
    fn legacy_plaintext_entries_work_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let f = rc(dir.path());
        fs::write(&f.path, LEGACY).unwrap();
        let config = f.load_config().unwrap();
        let remote = &config.remotes["baseten"];
        assert_eq!(remote.api_url.as_deref(), Some("https://app.baseten.co"));
        assert_eq!(remote.client_id, "truss-cli");
        assert_eq!(remote.active_account.as_deref(), Some("default"));
        assert_eq!(remote.accounts["default"].auth_type, Some(AuthType::ApiKey));
        assert!(!config.remotes.contains_key("tools"), "not a remote");
        // Read through the inline store and through the keyring (which has no entry).
        for store in [f.file_store(), f.wrap_keyring(keyring(dir.path()))] {
            let got = record(&store.get("baseten/default").unwrap().unwrap());
            assert_eq!(got.api_key.unwrap().expose(), "legacy-abc");
        }
        let status = f.credential_status("baseten/default").unwrap().unwrap();
        assert_eq!(status.auth_type.as_str(), "api_key (legacy plaintext)");
        assert_eq!(status.source_label, "trussrc-inline");
        // Saving the config it came from changes nothing: no migration.
        f.save_config(&config).unwrap();
        assert_eq!(f.load_config().unwrap(), config);
        let text = fs::read_to_string(&f.path).unwrap();
        assert!(text.contains("api_key = legacy-abc"), "{text}");
        assert!(!text.contains(CREDENTIAL_STORE), "{text}");
        assert!(text.contains("remote_provider = baseten"), "{text}");
        assert!(text.contains("[tools]\ncolor = always"), "{text}");
    }

    #[test]
    fn keyring_logins_leave_a_marker_and_replace_inline_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let f = rc(dir.path());
        fs::write(&f.path, LEGACY).unwrap();
        let store = f.wrap_keyring(keyring(dir.path()));
        let rec = oauth_record("AT-123", "RT-456");
        // The legacy key is what the store holds until something replaces it.
        let legacy = store.get("baseten/ada@example.com").unwrap();
        assert!(legacy.is_some());
        assert_eq!(
            store
                .compare_and_swap("baseten/ada@example.com", None, &rec)
                .unwrap(),
            legacy
        );
        assert_eq!(
            store
                .compare_and_swap("baseten/ada@example.com", legacy.as_ref(), &rec)
                .unwrap(),
            Some(rec.clone())
        );
        let text = fs::read_to_string(&f.path).unwrap();
        assert!(
            !text.contains("legacy-abc") && !text.contains("AT-123"),
            "{text}"
        );
        assert!(text.contains("credential_store = keyring"), "{text}");
        assert!(text.contains("auth_type = oauth"), "{text}");
        assert!(text.contains("account = ada@example.com"), "{text}");
        assert_eq!(store.get("baseten/ada@example.com").unwrap(), Some(rec));
        let status = f.credential_status("baseten/x").unwrap().unwrap();
        assert_eq!(
            (status.auth_type.as_str(), status.source_label),
            ("oauth", "keyring")
        );
        let config = f.load_config().unwrap();
        assert_eq!(
            config.remotes["baseten"].active_account.as_deref(),
            Some("ada@example.com")
        );
        store.delete("baseten/ada@example.com").unwrap();
        assert_eq!(store.get("baseten/ada@example.com").unwrap(), None);
        assert!(
            !fs::read_to_string(&f.path)
                .unwrap()
                .contains(CREDENTIAL_STORE)
        );
    }

    #[test]
    fn inline_credentials_round_trip_with_compare_and_swap() {
        let dir = tempfile::tempdir().unwrap();
        let f = rc(dir.path());
        let store = f.file_store();
        let (a, b) = (oauth_record("acc1", "ref1"), api_key_record("key2"));
        assert_eq!(
            store.compare_and_swap("staging/me", None, &a).unwrap(),
            Some(a.clone())
        );
        assert_eq!(store.get("staging/me").unwrap(), Some(a.clone()));
        assert_eq!(
            store.compare_and_swap("staging/me", None, &b).unwrap(),
            Some(a.clone())
        );
        assert_eq!(
            store.compare_and_swap("staging/me", Some(&b), &b).unwrap(),
            Some(a.clone())
        );
        assert_eq!(
            store.compare_and_swap("staging/me", Some(&a), &b).unwrap(),
            Some(b.clone())
        );
        let status = f.credential_status("staging/me").unwrap().unwrap();
        assert_eq!(
            (status.auth_type.as_str(), status.source_label),
            ("api_key", "trussrc-inline")
        );
        let text = fs::read_to_string(&f.path).unwrap();
        assert!(text.contains("[staging]\n"), "{text}");
        assert!(
            text.contains("remote_url = https://app.baseten.co\n"),
            "{text}"
        );
        assert!(text.contains("credential_store = inline"), "{text}");
        assert!(!text.contains("acc1"), "the old tokens are gone: {text}");
        #[cfg(unix)]
        assert_eq!(mode(&f.path), 0o600);
        let config = f.load_config().unwrap();
        assert_eq!(
            config.remotes["staging"].accounts["me"].auth_type,
            Some(AuthType::ApiKey)
        );
    }

    #[test]
    fn save_config_adds_and_removes_remote_sections_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = rc(dir.path());
        fs::write(&f.path, LEGACY).unwrap();
        let mut config = f.load_config().unwrap();
        config.remotes.insert(
            "staging".into(),
            RemoteConfig {
                api_url: Some("https://staging.example".into()),
                issuer: Some("https://id.staging.example".into()),
                client_id: "truss-cli".into(),
                ..RemoteConfig::default()
            },
        );
        f.save_config(&config).unwrap();
        let loaded = f.load_config().unwrap();
        assert_eq!(
            loaded.remotes["staging"].issuer.as_deref(),
            Some("https://id.staging.example")
        );
        assert_eq!(
            loaded.remotes["staging"].api_url.as_deref(),
            Some("https://staging.example")
        );
        config.remotes.remove("baseten");
        f.save_config(&config).unwrap();
        let text = fs::read_to_string(&f.path).unwrap();
        assert!(
            !text.contains("[baseten]"),
            "logout removes the section: {text}"
        );
        assert!(text.contains("[tools]"), "{text}");
        assert!(text.contains("[staging]"), "{text}");
    }

    #[test]
    fn a_corrupt_file_names_the_line_and_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let f = rc(dir.path());
        let broken =
            "[baseten]\nremote_url = https://app.baseten.co\n[broken\napi_key = secret-xyz\n";
        fs::write(&f.path, broken).unwrap();
        let e = f.load_config().unwrap_err().to_string();
        assert!(e.contains(".trussrc") && e.contains("line 3"), "{e}");
        assert!(!e.contains("secret-xyz"), "{e}");
        let e = f
            .file_store()
            .set("baseten/a", &api_key_record("k"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(".trussrc") && e.contains("line 3"), "{e}");
        assert!(f.save_config(&Config::default()).is_err());
        assert!(
            f.wrap_keyring(keyring(dir.path()))
                .set("baseten/a", &api_key_record("k"))
                .is_err()
        );
        assert_eq!(fs::read_to_string(&f.path).unwrap(), broken);

        let bad_number = "[baseten]\nremote_url = u\ncredential_store = inline\noauth_access_token = t\noauth_expires_at_ms = soon\n";
        fs::write(&f.path, bad_number).unwrap();
        let e = f.file_store().get("baseten/a").unwrap_err().to_string();
        assert!(
            e.contains(".trussrc") && e.contains("line 5") && e.contains("oauth_expires_at_ms"),
            "{e}"
        );
        assert!(!e.contains("soon") && !e.contains("= t"), "{e}");
    }

    /// Found by the trussrc fuzz target: with a section or a key given twice, a config save
    /// wrote the last one's value over the first; and a file that is not UTF-8 named no line
    #[test]
    fn duplicates_and_bad_text_are_refused_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = rc(dir.path());
        let cases = [
            (
                "[a]\nremote_url = https://one.example\n\n[a]\nremote_url = https://two.example\n",
                "line 4: [a] appears twice",
            ),
            (
                "[a]\nremote_url = https://one.example\napi_key = k1\nremote_url = https://two.example\n",
                "line 4: `remote_url` appears twice in [a]",
            ),
            (
                "color = 1\ncolor = 2\n[a]\nremote_url = u\n",
                "line 2: `color` appears twice in the lines before the first section",
            ),
        ];
        for (text, said) in cases {
            fs::write(&f.path, text).unwrap();
            let e = f.load_config().unwrap_err().to_string();
            assert!(e.contains(".trussrc") && e.contains(said), "{e}");
            assert!(f.save_config(&Config::default()).is_err());
            assert_eq!(fs::read_to_string(&f.path).unwrap(), text, "never written");
        }
        // A line with no `=` would run into the next as one key, and an unclosed `[` into the
        // next lines as one section name, which errors then showed.
        let cases = [
            (
                "[a]\nremote_url = u\noops\napi_key = sk-LIVE123\n",
                "line 3: it is neither a `[section]` nor a `key = value` line",
            ),
            (
                "[a\nremote_url = u\napi_key = sk-LIVE123\n]\nx = 1\nx = 2\n",
                "line 1: the section name has no closing `]`",
            ),
            // Found by the trussrc fuzz target (a long run): the parser trims the line break
            // out of such a name, and a later error showed it.
            (
                "[\r\napi_key = sk-LIVE123[prod]\nremote_url = u\n",
                "line 1: the section name has no closing `]`",
            ),
        ];
        for (text, said) in cases {
            fs::write(&f.path, text).unwrap();
            let e = f.load_config().unwrap_err().to_string();
            assert!(e.contains(said) && !e.contains("sk-LIVE123"), "{e}");
        }
        // Found by the trussrc fuzz target: rust-ini joins a line ending in `\` with the next
        // (truss keeps the backslash), and a value written with a trailing `\` swallowed the
        // line after it on the next read.
        let text = "[a]\nremote_url = https://a\\\nx = 1\n";
        fs::write(&f.path, text).unwrap();
        let e = f.load_config().unwrap_err().to_string();
        assert!(e.contains("line 2: the line ends with `\\`"), "{e}");
        fs::write(&f.path, "[a]\nremote_url = https://a\\").unwrap();
        assert!(f.load_config().is_err(), "at the end of the file too");
        // Found by the trussrc fuzz target (a long run): rust-ini also ends a line at a bare
        // `\r`, so a `\` before one joined lines too, and a saved file no longer loaded.
        let text = "[a]\nremote_url = https://a\\\r[b]\nx = 1\n";
        fs::write(&f.path, text).unwrap();
        let e = f.load_config().unwrap_err().to_string();
        assert!(e.contains("line 2: the line ends with `\\`"), "{e}");
        fs::write(&f.path, "[a]\nremote_url = https://a\n").unwrap();
        let e = f
            .file_store()
            .set("a/x", &api_key_record("sk-ends-in\\"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`api_key` in [a] cannot be written"), "{e}");
        assert_eq!(
            fs::read_to_string(&f.path).unwrap(),
            "[a]\nremote_url = https://a\n"
        );
        // A key the writer would put at the start of a line, where the next read (and truss)
        // takes it for a comment
        fs::write(&f.path, "[a]\nremote_url = u\n ;note = kept\n").unwrap();
        let e = f.load_config().unwrap_err().to_string();
        assert!(
            e.contains("line 3: keyhole cannot write this line back"),
            "{e}"
        );
        fs::write(&f.path, b"[a]\nremote_url = u\napi_key = \xff\n").unwrap();
        let e = f.load_config().unwrap_err().to_string();
        assert!(e.contains("line 3: the text is not UTF-8"), "{e}");
    }

    /// Config saves and credential writes from many threads never lose each other's change
    #[test]
    fn config_and_credential_writers_share_one_lock() {
        let dir = tempfile::tempdir().unwrap();
        let f = rc(dir.path());
        let workers: Vec<_> = (0..12)
            .map(|i| {
                let f = f.clone();
                std::thread::spawn(move || {
                    let remote = format!("r{i}");
                    {
                        let _lock = f.lock_config().unwrap();
                        let mut config = f.load_config().unwrap();
                        config.remotes.insert(
                            remote.clone(),
                            RemoteConfig {
                                api_url: Some(format!("https://{remote}.example")),
                                ..RemoteConfig::default()
                            },
                        );
                        f.save_config(&config).unwrap();
                    }
                    f.file_store()
                        .set(
                            &format!("{remote}/me"),
                            &api_key_record(&format!("key-{i}")),
                        )
                        .unwrap();
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let config = f.load_config().unwrap();
        for i in 0..12 {
            let remote = &config.remotes[&format!("r{i}")];
            assert_eq!(
                remote.api_url.as_deref(),
                Some(format!("https://r{i}.example").as_str())
            );
            let got = record(&f.file_store().get(&format!("r{i}/me")).unwrap().unwrap());
            assert_eq!(got.api_key.unwrap().expose(), format!("key-{i}"));
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_trussrc_stays_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let f = rc(dir.path());
        let real = dir.path().join("dotfiles-trussrc");
        fs::write(&real, LEGACY).unwrap();
        std::os::unix::fs::symlink(&real, &f.path).unwrap();
        f.file_store()
            .set("staging/me", &api_key_record("k"))
            .unwrap();
        assert!(f.path.symlink_metadata().unwrap().file_type().is_symlink());
        assert!(fs::read_to_string(&real).unwrap().contains("[staging]"));
    }

    #[test]
    fn line_breaks_in_secrets_are_refused_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let f = rc(dir.path());
        let e = f
            .file_store()
            .set("r/a", &api_key_record("a\nb = c"))
            .unwrap_err();
        assert!(!e.to_string().contains("b = c"));
        assert!(!f.path.exists());
    }
}
