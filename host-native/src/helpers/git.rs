//! git's credential helper protocol (`git help credential`): `key=value` lines on stdin up to a
//! blank line or the end; `get` answers with `username`, `password` and, for OAuth tokens,
//! `password_expiry_utc` (git ≥ 2.41 then asks again once the token has expired), or with nothing
//! at all for a host that is not ours, so git goes on to its next helper. `store` and `erase`
//! report what git did with a credential; keyhole's own login is not git's to delete, so both
//! are acknowledged and change nothing.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use super::{Credential, HelperError, Hosts, TokenSource, is_loopback_host, printable};

/// What git asks
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// A credential for the request
    Get,
    /// git used the credential successfully (acknowledged)
    Store,
    /// the credential was rejected (acknowledged; keyhole's login stays)
    Erase,
}

/// The attributes of a request that decide the answer (others, like `wwwauth[]` or
/// `capability[]`, are read and ignored)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// `https`, `http`, …
    pub protocol: Option<String>,
    /// `name` or `name:port`
    pub host: Option<String>,
    /// The repository path, when `credential.useHttpPath` is set
    pub path: Option<String>,
    /// The user name from the remote URL or config
    pub username: Option<String>,
}

/// Parses a request: lines of `key=value` up to a blank line or the end of input
pub fn parse_request(text: &str) -> Result<Request, HelperError> {
    let mut request = Request::default();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| {
            HelperError::BadRequest(format!(
                "git sent a line that is not key=value: `{}`",
                printable(line)
            ))
        })?;
        if value.contains('\0') {
            return Err(HelperError::BadRequest(format!(
                "git sent a NUL byte in `{}`",
                printable(key)
            )));
        }
        let value = Some(value.to_owned());
        match key {
            "protocol" => request.protocol = value,
            "host" => request.host = value,
            "path" => request.path = value,
            "username" => request.username = value,
            "url" => {
                let url = url::Url::parse(value.as_deref().unwrap_or_default()).map_err(|e| {
                    HelperError::BadRequest(format!("git sent a url that does not parse: {e}"))
                })?;
                request.protocol = Some(url.scheme().to_owned());
                request.host = url.host_str().map(|h| match url.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_owned(),
                });
                let path = url.path().trim_start_matches('/');
                request.path = (!path.is_empty()).then(|| path.to_owned());
                request.username = (!url.username().is_empty()).then(|| url.username().to_owned());
            }
            _ => {}
        }
    }
    Ok(request)
}

/// Whether the request is for one of `hosts` over https (or plain http to this machine)
pub fn is_ours(request: &Request, hosts: &Hosts) -> bool {
    let (Some(protocol), Some(host)) = (request.protocol.as_deref(), request.host.as_deref())
    else {
        return false;
    };
    let secure = protocol == "https" || (protocol == "http" && is_loopback_host(host));
    secure && hosts.contains_host(protocol, host)
}

/// The answer to `get` with `credential`: the request's user name, else `default_username`
pub fn format_answer(
    request: &Request,
    credential: &Credential,
    default_username: &str,
) -> Result<String, HelperError> {
    let secret = credential.secret.expose();
    if secret.is_empty() || secret.contains(['\n', '\r', '\0']) {
        return Err(HelperError::Failed(
            "the stored credential is empty or has a line break; git cannot carry it".into(),
        ));
    }
    let username = request
        .username
        .as_deref()
        .filter(|u| !u.is_empty())
        .unwrap_or(default_username);
    let mut answer = String::new();
    for (key, value) in [
        ("protocol", request.protocol.as_deref()),
        ("host", request.host.as_deref()),
    ] {
        if let Some(value) = value {
            answer.push_str(&format!("{key}={value}\n"));
        }
    }
    answer.push_str(&format!("username={username}\npassword={secret}\n"));
    if let (true, Some(ms)) = (credential.oauth, credential.expires_at_ms) {
        answer.push_str(&format!("password_expiry_utc={}\n", ms / 1000));
    }
    Ok(answer)
}

/// Runs one helper invocation: parses `input`, and for a `get` on one of `hosts` writes the
/// credential from `source` to `out`; anything else writes nothing. Returns whether it answered.
pub fn run(
    action: Action,
    input: &str,
    hosts: &Hosts,
    default_username: &str,
    source: &mut dyn TokenSource,
    out: &mut dyn Write,
) -> Result<bool, HelperError> {
    let request = parse_request(input)?;
    if action != Action::Get || !is_ours(&request, hosts) {
        return Ok(false);
    }
    let credential = source.credential()?;
    let answer = format_answer(&request, &credential, default_username)?;
    out.write_all(answer.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| HelperError::Failed(format!("cannot answer git: {e}")))?;
    Ok(true)
}

/// Quotes `word` for the POSIX shell git runs `!` helpers with
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The helper value for git config: `!'/path/to/cli' ARGS… git-credential --host H…`, which
/// git runs with the action appended
pub fn helper_value(program: &Path, global_args: &[String], hosts: &[String]) -> String {
    let mut value = format!("!{}", shell_quote(&program.to_string_lossy()));
    for arg in global_args {
        value.push(' ');
        value.push_str(&shell_quote(arg));
    }
    value.push_str(" git-credential");
    for host in hosts {
        value.push_str(" --host ");
        value.push_str(&shell_quote(host));
    }
    value
}

/// The `git config --global` calls that make `helper` the only credential helper for each of
/// `hosts`, as `gh auth setup-git` does: an empty value first (it cuts off the helpers inherited
/// from less specific config), then the helper
pub fn setup_commands(hosts: &Hosts, helper: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for host in hosts.iter() {
        let key = format!("credential.https://{host}.helper");
        commands.push(
            ["config", "--global", "--replace-all", &key, ""]
                .map(str::to_owned)
                .to_vec(),
        );
        commands.push(
            ["config", "--global", "--add", &key, helper]
                .map(str::to_owned)
                .to_vec(),
        );
    }
    commands
}

/// Runs `git` with each of `commands`, stopping at the first failure
pub fn run_git(git: &Path, commands: &[Vec<String>]) -> Result<(), HelperError> {
    for args in commands {
        let output = Command::new(git)
            .args(args)
            .output()
            .map_err(|e| HelperError::Failed(format!("cannot run {}: {e}", git.display())))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(HelperError::Failed(format!(
                "`git {}` failed: {}",
                args[..args.len().min(4)].join(" "),
                printable(stderr.trim())
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use keyhole_core::Secret;

    use super::*;

    fn hosts() -> Hosts {
        Hosts::new(
            ["https://git.example.com/api", "http://127.0.0.1:3000/"],
            [],
        )
    }

    fn oauth(secret: &str) -> Credential {
        Credential {
            secret: Secret::new(secret),
            expires_at_ms: Some(1_700_000_000_999),
            oauth: true,
        }
    }

    #[test]
    fn parses_key_value_lines_up_to_a_blank_line() {
        let r = parse_request(
            "protocol=https\r\nhost=git.example.com\nwwwauth[]=Bearer x\npath=a/b.git\n\nhost=evil\n",
        )
        .unwrap();
        assert_eq!(r.protocol.as_deref(), Some("https"));
        assert_eq!(r.host.as_deref(), Some("git.example.com"));
        assert_eq!(r.path.as_deref(), Some("a/b.git"));
        assert_eq!(r.username, None);
        let r = parse_request("url=https://me@git.example.com:8443/x.git").unwrap();
        assert_eq!(r.host.as_deref(), Some("git.example.com:8443"));
        assert_eq!(r.username.as_deref(), Some("me"));
        assert!(matches!(
            parse_request("protocol https\n"),
            Err(HelperError::BadRequest(_))
        ));
        assert!(parse_request("host=a\0b\n").is_err());
    }

    #[test]
    fn answers_only_for_our_hosts_over_https_or_loopback_http() {
        let ours = |t: &str| is_ours(&parse_request(t).unwrap(), &hosts());
        assert!(ours("protocol=https\nhost=git.example.com\n"));
        assert!(ours("protocol=http\nhost=127.0.0.1:3000\n"));
        assert!(!ours("protocol=http\nhost=git.example.com\n"));
        assert!(!ours("protocol=https\nhost=github.com\n"));
        assert!(!ours("protocol=https\n"));
        assert!(!ours("host=git.example.com\n"));
    }

    #[test]
    fn the_answer_carries_the_expiry_of_oauth_tokens() {
        let request = parse_request("protocol=https\nhost=git.example.com\n").unwrap();
        assert_eq!(
            format_answer(&request, &oauth("tok"), "oauth2").unwrap(),
            "protocol=https\nhost=git.example.com\nusername=oauth2\npassword=tok\npassword_expiry_utc=1700000000\n"
        );
        let key = Credential {
            oauth: false,
            expires_at_ms: None,
            ..oauth("key")
        };
        let request =
            parse_request("protocol=https\nhost=git.example.com\nusername=ann\n").unwrap();
        assert_eq!(
            format_answer(&request, &key, "oauth2").unwrap(),
            "protocol=https\nhost=git.example.com\nusername=ann\npassword=key\n"
        );
        let err = format_answer(&request, &oauth("a\nb"), "oauth2").unwrap_err();
        assert!(!err.to_string().contains("a\nb"));
    }

    #[test]
    fn store_erase_and_foreign_hosts_print_nothing_and_ask_for_no_token() {
        let mut asked = 0;
        let mut source = || {
            asked += 1;
            Ok(oauth("tok"))
        };
        let mut out = Vec::new();
        let input = "protocol=https\nhost=git.example.com\nusername=oauth2\npassword=tok\n";
        for action in [Action::Store, Action::Erase] {
            assert!(!run(action, input, &hosts(), "oauth2", &mut source, &mut out).unwrap());
        }
        let foreign = "protocol=https\nhost=github.com\n";
        assert!(
            !run(
                Action::Get,
                foreign,
                &hosts(),
                "oauth2",
                &mut source,
                &mut out
            )
            .unwrap()
        );
        assert!(out.is_empty());
        assert!(run(Action::Get, input, &hosts(), "x", &mut source, &mut out).unwrap());
        assert_eq!(asked, 1);
        assert!(String::from_utf8(out).unwrap().contains("password=tok\n"));
    }

    #[test]
    fn a_login_error_passes_through() {
        let mut source = || Err(HelperError::LoginRequired("not logged in".into()));
        let mut out = Vec::new();
        let input = "protocol=https\nhost=git.example.com\n";
        assert_eq!(
            run(
                Action::Get,
                input,
                &hosts(),
                "oauth2",
                &mut source,
                &mut out
            ),
            Err(HelperError::LoginRequired("not logged in".into()))
        );
        assert!(out.is_empty());
    }

    #[test]
    fn setup_writes_gh_style_config() {
        let helper = helper_value(
            Path::new("/opt/my tools/kh"),
            &["--remote".into(), "it's".into()],
            &["git.example.org".into()],
        );
        assert_eq!(
            helper,
            r"!'/opt/my tools/kh' '--remote' 'it'\''s' git-credential --host 'git.example.org'"
        );
        let commands = setup_commands(&Hosts::new([], ["git.example.org"]), &helper);
        assert_eq!(
            commands,
            [
                vec![
                    "config",
                    "--global",
                    "--replace-all",
                    "credential.https://git.example.org.helper",
                    ""
                ],
                vec![
                    "config",
                    "--global",
                    "--add",
                    "credential.https://git.example.org.helper",
                    helper.as_str()
                ],
            ]
        );
    }
}
