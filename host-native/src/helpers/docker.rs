//! docker's credential helper protocol (github.com/docker/docker-credential-helpers): docker runs
//! `docker-credential-<suffix> ACTION` from `PATH` for each registry that `credHelpers` in
//! `config.json` maps to `<suffix>`. `get` and `erase` read the server URL on stdin; `store` reads
//! `{"ServerURL","Username","Secret"}`; `get` prints that object; `list` prints
//! `{serverURL: username}`. A failure is its message on stdout and exit status 1; an unknown
//! server is the message [`NOT_FOUND`], which docker treats as "no credentials" rather than an
//! error.
//!
//! The CLI answers to that name when it is installed as (or symlinked to) `docker-credential-<app>`
//! (see [`super::args_for_program_name`]).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{HelperError, Hosts, TokenSource, printable};

/// What docker asks
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// The credential for the server URL on stdin
    Get,
    /// docker logged in and hands over what it got (acknowledged; keyhole's login is kept)
    Store,
    /// `docker logout` (acknowledged; keyhole's login is kept)
    Erase,
    /// The servers and user names this helper answers for
    List,
    /// The helper's version
    Version,
}

/// The answer for a server this helper has nothing for (docker-credential-helpers'
/// `ErrCredentialsNotFound`, matched by docker word for word)
pub const NOT_FOUND: &str = "credentials not found in native keychain";
/// The answer to an empty server URL (`ErrCredentialsMissingServerURL`)
pub const MISSING_SERVER_URL: &str = "no credentials server URL";
/// The answer to a `store` without a user name (`ErrCredentialsMissingUsername`)
pub const MISSING_USERNAME: &str = "no credentials username";

/// The credential docker reads and writes
#[derive(Serialize, Deserialize)]
pub struct DockerCredential {
    /// The registry
    #[serde(rename = "ServerURL", default)]
    pub server_url: String,
    /// The user name
    #[serde(rename = "Username", default)]
    pub username: String,
    /// The password or token
    #[serde(rename = "Secret", default)]
    pub secret: String,
}

/// How an invocation ended, short of an error
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The answer (possibly none) was written
    Done,
    /// The server is not one of ours: the caller prints [`NOT_FOUND`] and exits 1
    NotFound,
}

/// Runs one helper invocation; `version` is the text `version` prints
pub fn run(
    action: Action,
    input: &str,
    hosts: &Hosts,
    username: &str,
    version: &str,
    source: &mut dyn TokenSource,
    out: &mut dyn Write,
) -> Result<Answer, HelperError> {
    let write = |out: &mut dyn Write, text: &str| {
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| HelperError::Failed(format!("cannot answer docker: {e}")))
    };
    match action {
        Action::Get => {
            let server = server_url(input)?;
            if !hosts.contains_url(server) {
                return Ok(Answer::NotFound);
            }
            let credential = source.credential()?;
            let answer = DockerCredential {
                server_url: server.to_owned(),
                username: username.to_owned(),
                secret: credential.secret.expose().to_owned(),
            };
            let mut text = serde_json::to_string(&answer)
                .map_err(|e| HelperError::Failed(format!("cannot encode the answer: {e}")))?;
            text.push('\n');
            write(out, &text)?;
        }
        Action::Store => {
            let stored: DockerCredential = serde_json::from_str(input).map_err(|e| {
                HelperError::BadRequest(format!("docker sent a credential that is not JSON: {e}"))
            })?;
            if stored.server_url.trim().is_empty() {
                return Err(HelperError::BadRequest(MISSING_SERVER_URL.into()));
            }
            if stored.username.trim().is_empty() {
                return Err(HelperError::BadRequest(MISSING_USERNAME.into()));
            }
        }
        Action::Erase => {
            server_url(input)?;
        }
        Action::List => {
            let list: serde_json::Map<String, Value> = hosts
                .iter()
                .map(|h| (h.to_owned(), Value::String(username.to_owned())))
                .collect();
            write(out, &format!("{}\n", Value::Object(list)))?;
        }
        Action::Version => write(out, &format!("{version}\n"))?,
    }
    Ok(Answer::Done)
}

fn server_url(input: &str) -> Result<&str, HelperError> {
    let server = input.trim();
    if server.is_empty() {
        Err(HelperError::BadRequest(MISSING_SERVER_URL.into()))
    } else {
        Ok(server)
    }
}

/// `config.json` in `$DOCKER_CONFIG`, else `~/.docker`
pub fn config_path(docker_config: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    docker_config
        .filter(|d| !d.as_os_str().is_empty())
        .or_else(|| home.map(|h| h.join(".docker")))
        .map(|d| d.join("config.json"))
}

/// The registries `config` (the text of `config.json`) maps to `suffix` in `credHelpers`
pub fn registries_for(config: &str, suffix: &str) -> Vec<String> {
    let Ok(Value::Object(config)) = serde_json::from_str::<Value>(config) else {
        return Vec::new();
    };
    let Some(Value::Object(helpers)) = config.get("credHelpers") else {
        return Vec::new();
    };
    helpers
        .iter()
        .filter(|(_, v)| v.as_str() == Some(suffix))
        .map(|(k, _)| k.clone())
        .collect()
}

/// The registry as docker names it in `credHelpers`: `host[:port]`, from a bare name or a URL
pub fn registry_key(registry: &str) -> Result<String, HelperError> {
    let registry = registry.trim();
    let full = if registry.contains("://") {
        registry.to_owned()
    } else {
        format!("https://{registry}")
    };
    let bad = || {
        HelperError::BadRequest(format!(
            "`{}` is not a registry host name",
            printable(registry)
        ))
    };
    let url = url::Url::parse(&full).map_err(|_| bad())?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(bad)?;
    if !url.username().is_empty() || url.query().is_some() {
        return Err(bad());
    }
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// Sets `credHelpers[registry] = suffix` in `config` (the text of `config.json`, or `None` when
/// there is none yet), keeping every other key; returns the new text
pub fn with_cred_helper(
    config: Option<&str>,
    registry: &str,
    suffix: &str,
) -> Result<String, String> {
    let mut value = match config {
        None => Value::Object(serde_json::Map::new()),
        Some(text) if text.trim().is_empty() => Value::Object(serde_json::Map::new()),
        Some(text) => serde_json::from_str::<Value>(text)
            .map_err(|e| format!("it is not valid JSON ({e})"))?,
    };
    let Value::Object(map) = &mut value else {
        return Err("it is not a JSON object".into());
    };
    let helpers = map
        .entry("credHelpers")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    let Value::Object(helpers) = helpers else {
        return Err("its `credHelpers` is not a JSON object".into());
    };
    helpers.insert(registry.to_owned(), Value::String(suffix.to_owned()));
    // docker writes the file with tabs
    let mut text = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut text,
        serde_json::ser::PrettyFormatter::with_indent(b"\t"),
    );
    value
        .serialize(&mut ser)
        .map_err(|e| format!("cannot encode it: {e}"))?;
    text.push(b'\n');
    String::from_utf8(text).map_err(|e| e.to_string())
}

/// Maps `registry` to the helper `docker-credential-<suffix>` in the docker config at `path`:
/// read, change, then a temp file in the same directory renamed over it (mode kept, else 0600;
/// a symlinked config is changed where it points). A file that is not valid JSON is refused and
/// left as it is.
pub fn configure(path: &Path, registry: &str, suffix: &str) -> Result<PathBuf, HelperError> {
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let existing = match fs::read_to_string(&target) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(HelperError::Failed(format!(
                "cannot read {}: {e}",
                target.display()
            )));
        }
    };
    let text = with_cred_helper(existing.as_deref(), registry, suffix).map_err(|why| {
        HelperError::Failed(format!(
            "{} was not changed: {why}; fix it or move it away, then run this again",
            target.display()
        ))
    })?;
    write_keeping_mode(&target, text.as_bytes())
        .map_err(|e| HelperError::Failed(format!("cannot write {}: {e}", target.display())))?;
    Ok(target)
}

fn write_keeping_mode(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.as_os_str().is_empty() && !dir.exists() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o7777)
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.json".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(contents)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use keyhole_core::Secret;

    use super::super::Credential;
    use super::*;

    fn hosts() -> Hosts {
        Hosts::new([], ["registry.example.com", "localhost:5000"])
    }

    fn call(action: Action, input: &str) -> (Result<Answer, HelperError>, String, u32) {
        let mut asked = 0;
        let mut source = || {
            asked += 1;
            Ok(Credential {
                secret: Secret::new("tok"),
                expires_at_ms: None,
                oauth: true,
            })
        };
        let mut out = Vec::new();
        let result = run(
            action,
            input,
            &hosts(),
            "oauth2",
            "v1",
            &mut source,
            &mut out,
        );
        (result, String::from_utf8(out).unwrap(), asked)
    }

    #[test]
    fn get_answers_our_registries_and_not_found_for_others() {
        let (r, out, asked) = call(Action::Get, "registry.example.com\n");
        assert_eq!(r, Ok(Answer::Done));
        assert_eq!(
            out,
            "{\"ServerURL\":\"registry.example.com\",\"Username\":\"oauth2\",\"Secret\":\"tok\"}\n"
        );
        assert_eq!(asked, 1);
        assert_eq!(
            call(Action::Get, "https://localhost:5000").0,
            Ok(Answer::Done)
        );
        let (r, out, asked) = call(Action::Get, "https://index.docker.io/v1/");
        assert_eq!((r, out.as_str(), asked), (Ok(Answer::NotFound), "", 0));
        assert_eq!(
            call(Action::Get, " \n").0,
            Err(HelperError::BadRequest(MISSING_SERVER_URL.into()))
        );
    }

    #[test]
    fn store_and_erase_are_acknowledged_and_checked() {
        let store = r#"{"ServerURL":"registry.example.com","Username":"u","Secret":"s"}"#;
        assert_eq!(
            call(Action::Store, store),
            (Ok(Answer::Done), String::new(), 0)
        );
        let (r, ..) = call(Action::Store, r#"{"ServerURL":"registry.example.com"}"#);
        assert_eq!(r, Err(HelperError::BadRequest(MISSING_USERNAME.into())));
        assert!(matches!(
            call(Action::Store, "nope").0,
            Err(HelperError::BadRequest(_))
        ));
        assert_eq!(
            call(Action::Erase, "registry.example.com"),
            (Ok(Answer::Done), String::new(), 0)
        );
    }

    #[test]
    fn list_names_every_host() {
        let (r, out, asked) = call(Action::List, "");
        assert_eq!(r, Ok(Answer::Done));
        assert_eq!(asked, 0);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"registry.example.com": "oauth2", "localhost:5000": "oauth2"})
        );
    }

    #[test]
    fn registry_keys_are_host_and_port() {
        assert_eq!(
            registry_key("Registry.example.com").unwrap(),
            "registry.example.com"
        );
        assert_eq!(
            registry_key("https://r.example.com:8443/v2/").unwrap(),
            "r.example.com:8443"
        );
        assert!(registry_key("").is_err());
        assert!(registry_key("u@r.example.com").is_err());
    }

    #[test]
    fn cred_helpers_are_added_keeping_every_other_key() {
        let old = r#"{"auths":{"x.io":{"auth":"Zm9vOmJhcg=="}},"credHelpers":{"gcr.io":"gcloud"},"psFormat":"{{.ID}}"}"#;
        let new = with_cred_helper(Some(old), "registry.example.com", "keyhole").unwrap();
        let v: Value = serde_json::from_str(&new).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "auths": {"x.io": {"auth": "Zm9vOmJhcg=="}},
                "credHelpers": {"gcr.io": "gcloud", "registry.example.com": "keyhole"},
                "psFormat": "{{.ID}}"
            })
        );
        assert!(new.contains("\n\t\"auths\""));
        assert_eq!(
            registries_for(&new, "keyhole"),
            vec!["registry.example.com".to_owned()]
        );
        let fresh = with_cred_helper(None, "r.io", "keyhole").unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&fresh).unwrap(),
            serde_json::json!({"credHelpers": {"r.io": "keyhole"}})
        );
        assert!(with_cred_helper(Some("{not json"), "r.io", "k").is_err());
        assert!(with_cred_helper(Some("[1]"), "r.io", "k").is_err());
        assert!(with_cred_helper(Some(r#"{"credHelpers":3}"#), "r.io", "k").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn configure_writes_atomically_keeps_the_mode_and_refuses_broken_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        configure(&path, "r.io", "keyhole").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        configure(&path, "s.io", "keyhole").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(
            registries_for(&fs::read_to_string(&path).unwrap(), "keyhole"),
            ["r.io", "s.io"]
        );
        fs::write(&path, "{broken").unwrap();
        let err = configure(&path, "t.io", "keyhole").unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "{broken");
        assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
    }
}
