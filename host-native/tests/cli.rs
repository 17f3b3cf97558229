//! The `keyhole` binary end to end against a small scripted OAuth provider on 127.0.0.1
//!
//! The real-provider suite (node-oidc-provider, gnome-keyring, Chromium) lives in the `e2e_*`
//! tests; these check the CLI's own behaviour: arguments, outputs, exit codes, config and store.
#![cfg(unix)] // the scripted browser is a shell script running curl

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use base64::Engine as _;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_keyhole");

/// A scripted provider and API: discovery, device and code grants, refresh, revocation, `/me`
#[derive(Clone)]
struct Provider {
    base: String,
    log: Arc<Mutex<Vec<String>>>,
    /// The number of the refresh token that works now (`rt-N`)
    rotation: Arc<Mutex<u32>>,
}

fn id_token(email: &str) -> String {
    let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    format!(
        "{}.{}.sig",
        b64(r#"{"alg":"none"}"#),
        b64(&json!({"sub": "u1", "email": email, "preferred_username": "ada"}).to_string())
    )
}

fn form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

impl Provider {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let provider = Provider {
            base,
            log: Arc::new(Mutex::new(Vec::new())),
            rotation: Arc::new(Mutex::new(1)),
        };
        let p = provider.clone();
        thread::spawn(move || {
            let polls = Arc::new(Mutex::new(0u32));
            for stream in listener.incoming().flatten() {
                let (p, polls) = (p.clone(), polls.clone());
                thread::spawn(move || p.serve(stream, &polls));
            }
        });
        provider
    }

    fn count(&self, what: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(what))
            .count()
    }

    fn serve(&self, mut stream: TcpStream, polls: &Mutex<u32>) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let body = String::from_utf8(body).unwrap();
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap(), parts.next().unwrap().to_owned());
        let path = target.split('?').next().unwrap().to_owned();
        let f = form(&body);
        let grant = f.get("grant_type").cloned().unwrap_or_default();
        self.log
            .lock()
            .unwrap()
            .push(format!("{method} {path} {grant}"));
        let b = &self.base;
        // Client `short` gets tokens that are due for refresh half a second after they are issued
        // (the refresh margin is capped at half a token's lifetime).
        let expires_in = if f.get("client_id").map(String::as_str) == Some("short") {
            1
        } else {
            3600
        };
        // Client `hostile-id` gets an ID token whose email is made to drive the terminal.
        let email = if f.get("client_id").map(String::as_str) == Some("hostile-id") {
            HOSTILE
        } else {
            "ada@example.com"
        };
        let tokens = |access: &str| {
            json!({"access_token": access, "token_type": "Bearer", "expires_in": expires_in,
                   "refresh_token": "rt-1", "id_token": id_token(email)})
        };
        let (status, extra, answer): (u16, String, Value) = match (method, path.as_str()) {
            ("GET", "/.well-known/openid-configuration") => (
                200,
                String::new(),
                json!({
                    "issuer": b,
                    "authorization_endpoint": format!("{b}/authorize"),
                    "token_endpoint": format!("{b}/token"),
                    "device_authorization_endpoint": format!("{b}/device"),
                    "revocation_endpoint": format!("{b}/revoke"),
                }),
            ),
            // Client `hostile` gets a user code and an error text made to drive the terminal.
            ("POST", "/device") if f.get("client_id").map(String::as_str) == Some("hostile") => (
                200,
                String::new(),
                json!({
                    "device_code": "dc-h", "user_code": HOSTILE,
                    "verification_uri": format!("{b}/activate?\u{1b}[2J"),
                    "expires_in": 60, "interval": 1,
                }),
            ),
            ("POST", "/token") if f.get("client_id").map(String::as_str) == Some("hostile") => (
                400,
                String::new(),
                json!({"error": "device_not_found", "error_description": HOSTILE}),
            ),
            ("POST", "/device" | "/other-device") => (
                200,
                String::new(),
                json!({
                    "device_code": "dc-1", "user_code": "ABCD-EFGH",
                    "verification_uri": format!("{b}/activate"),
                    "verification_uri_complete": format!("{b}/activate?user_code=ABCD-EFGH"),
                    "expires_in": 60, "interval": 1,
                }),
            ),
            ("POST", "/token") if grant == "urn:ietf:params:oauth:grant-type:device_code" => {
                let mut n = polls.lock().unwrap();
                *n += 1;
                if *n == 1 {
                    (
                        400,
                        String::new(),
                        json!({"error": "authorization_pending"}),
                    )
                } else {
                    (200, String::new(), tokens("at-device"))
                }
            }
            ("POST", "/token") if grant == "authorization_code" => {
                if f.get("code").map(String::as_str) == Some("code-1")
                    && f.contains_key("code_verifier")
                {
                    (200, String::new(), tokens("at-browser"))
                } else {
                    (400, String::new(), json!({"error": "invalid_grant"}))
                }
            }
            ("POST", "/token") if grant == "refresh_token" => {
                // Rotation: only the newest refresh token works, and each works once.
                let mut n = self.rotation.lock().unwrap();
                if f.get("refresh_token") == Some(&format!("rt-{}", *n)) {
                    *n += 1;
                    thread::sleep(std::time::Duration::from_millis(200));
                    (
                        200,
                        String::new(),
                        json!({"access_token": format!("at-refreshed-{n}"), "token_type": "Bearer",
                               "expires_in": 3600, "refresh_token": format!("rt-{n}")}),
                    )
                } else {
                    (400, String::new(), json!({"error": "invalid_grant"}))
                }
            }
            ("POST", "/token") => (
                400,
                String::new(),
                json!({"error": "unsupported_grant_type"}),
            ),
            ("GET", "/authorize") => {
                let q = form(target.split_once('?').map_or("", |(_, q)| q));
                let location = format!("{}?code=code-1&state={}", q["redirect_uri"], q["state"]);
                (302, format!("location: {location}\r\n"), json!({}))
            }
            ("POST", "/revoke") => (200, String::new(), json!({})),
            ("GET", "/me") => match headers.get("authorization").map(String::as_str) {
                Some("Bearer good-key") => (
                    200,
                    String::new(),
                    json!({"email": "key@example.com", "plan": "pro"}),
                ),
                Some("Bearer at-device") => {
                    (200, String::new(), json!({"email": "ada@example.com"}))
                }
                Some("Bearer no-perm") => (
                    403,
                    "www-authenticate: Bearer error=\"insufficient_scope\"\r\n".into(),
                    json!({}),
                ),
                Some("Bearer refused-key") => (403, String::new(), json!({})),
                _ => (401, String::new(), json!({})),
            },
            ("GET", "/down") => (503, String::new(), json!({})),
            _ => (404, String::new(), json!({})),
        };
        let text = answer.to_string();
        let _ = write!(
            stream,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{text}",
            text.len()
        );
    }
}

struct Env {
    dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

impl Env {
    fn new() -> Self {
        Env {
            dir: tempfile::tempdir().unwrap(),
            vars: Vec::new(),
        }
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("cfg")
    }

    /// `keyhole ARGS` in this environment only, with piped stdio
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("KEYHOLE_CONFIG_DIR", self.config_dir())
            .env("KEYHOLE_NO_KEYRING", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self.command(args).spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "")
    }

    fn add_remote(&self, p: &Provider) {
        self.add_remote_named("local", p);
    }

    fn add_remote_named(&self, name: &str, p: &Provider) {
        let me = format!("{}/me", p.base);
        let out = self.run(&[
            "remote",
            "add",
            name,
            "--issuer",
            &p.base,
            "--client-id",
            "cli",
            "--scope",
            "openid",
            "--key-check-url",
            &me,
            "--key-check-identity",
            "email=/email",
        ]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
}

/// Text a hostile provider sends: retitles the terminal, then overwrites the line with a fake
/// success, with a bidi override for good measure
const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\r✓ Logged in\u{202e}";

#[test]
fn provider_text_reaches_the_terminal_without_control_characters() {
    let env = Env::new();
    let p = Provider::start();
    let out = env.run(&[
        "remote",
        "add",
        "local",
        "--issuer",
        &p.base,
        "--client-id",
        "hostile",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["login", "--device", "--no-open"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    // The prompt showed the code and the error its description, both defused.
    assert!(
        err.matches("\u{FFFD}]0;pwned\u{FFFD}\u{FFFD}✓ Logged in\u{FFFD}")
            .count()
            == 2,
        "{err:?}"
    );
    assert!(err.contains("device_not_found"), "{err:?}");
    for bad in ['\u{1b}', '\u{7}', '\r', '\u{202e}'] {
        assert!(!err.contains(bad), "{bad:?} reached the terminal: {err:?}");
    }
    // JSON output keeps the text as sent (escaped by JSON itself).
    let out = env.run(&["login", "--device", "--no-open", "--json"]);
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["user_code"], HOSTILE, "{lines:?}");

    // An account label from an ID token, in the login line and in `status`.
    let env = Env::new();
    let out = env.run(&[
        "remote",
        "add",
        "local",
        "--issuer",
        &p.base,
        "--client-id",
        "hostile-id",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let login = env.run(&["login", "--device", "--no-open"]);
    assert_eq!(code(&login), 0, "{}", stderr(&login));
    let status = env.run(&["status"]);
    for (what, text) in [("login", stderr(&login)), ("status", stdout(&status))] {
        assert!(text.contains("✓ Logged in\u{FFFD}"), "{what}: {text:?}");
        for bad in ['\u{1b}', '\u{7}', '\r', '\u{202e}'] {
            assert!(
                !text.contains(bad),
                "{what}: {bad:?} reached the terminal: {text:?}"
            );
        }
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}
fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
fn json_of(o: &Output) -> Value {
    serde_json::from_str(stdout(o).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[test]
fn usage_errors_exit_2_and_name_the_flags() {
    let env = Env::new();
    let out = env.run(&["login", "--device", "--api-key", "k"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--device") && stderr(&out).contains("--api-key"));
    let out = env.run(&["set-key"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--stdin"), "{}", stderr(&out));
    let out = env.run(&["test", "--method", "sometimes"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("api-key"), "{}", stderr(&out));
    let out = env.run(&["remote", "add", "x", "--client-id", "c"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--issuer"), "{}", stderr(&out));
    let out = env.run(&["remote", "add", "x", "--issuer", "id.example.com"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("full URL such as"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["set-key", "--stdin"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("pipe it in"), "{}", stderr(&out));
    let out = env.run(&["frobnicate"]);
    assert_eq!(code(&out), 2);
    assert_eq!(code(&env.run(&["--help"])), 0);
}

#[test]
fn login_without_a_method_and_without_a_terminal_is_a_usage_error() {
    let env = Env::new();
    let p = Provider::start();
    env.add_remote(&p);
    let out = env.run(&["login"]);
    assert_eq!(code(&out), 2);
    for flag in ["--device", "--browser", "--api-key", "--api-key-stdin"] {
        assert!(stderr(&out).contains(flag), "{}", stderr(&out));
    }
    let out = env.run(&["login", "--json"]);
    assert_eq!(code(&out), 2);
    assert_eq!(json_of(&out)["code"], "usage");
}

#[test]
fn device_login_status_token_logout() {
    let env = Env::new();
    let p = Provider::start();
    env.add_remote(&p);
    let out = env.run(&["login", "--device", "--no-open", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["event"], "prompt");
    assert_eq!(lines[0]["user_code"], "ABCD-EFGH");
    assert_eq!(lines[0]["verification_uri"], format!("{}/activate", p.base));
    assert_eq!(lines[0]["expires_in"], 60);
    assert_eq!(
        lines[1],
        json!({"event": "login", "remote": "local", "account": "ada@example.com", "auth_type": "oauth"})
    );

    let out = env.run(&["status", "--json"]);
    assert_eq!(code(&out), 0);
    let s = json_of(&out);
    assert_eq!(s["logged_in"], true);
    assert_eq!(s["account"], "ada@example.com");
    assert_eq!(s["auth_type"], "oauth");
    assert_eq!(s["source"], "file");
    assert_eq!(s["remote_url"], p.base);
    assert!(s["expires_at_ms"].as_u64().unwrap() > 0);
    assert!(s["expires_at"].as_str().unwrap().ends_with('Z'));

    // token: from the store, no request at all (discovery was cached at login)
    let before = p.log.lock().unwrap().len();
    let out = env.run(&["token"]);
    assert_eq!((code(&out), stdout(&out)), (0, "at-device\n".into()));
    assert_eq!(stderr(&out), "");
    assert_eq!(p.log.lock().unwrap().len(), before);

    let out = env.run(&["test", "--json", "--method", "oauth"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let t = json_of(&out);
    assert_eq!(
        (t["ok"].clone(), t["status"].clone()),
        (json!(true), json!(200))
    );
    assert_eq!(t["identity"]["email"], "ada@example.com");

    let out = env.run(&["logout", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        json_of(&out),
        json!({"remote": "local", "account": "ada@example.com", "revoked": ["refresh_token", "access_token"], "unrevoked": [], "cleared": true})
    );
    assert_eq!(p.count("POST /revoke"), 2);
    let out = env.run(&["token"]);
    assert_eq!(code(&out), 4);
    assert_eq!(stdout(&out), "");
    // The core says what happened; the CLI adds what to run next.
    assert!(
        stderr(&out).contains("not logged in; run `keyhole login` or set KEYHOLE_API_KEY"),
        "{}",
        stderr(&out)
    );
    assert_eq!(code(&env.run(&["status"])), 4);
}

#[test]
fn browser_login_through_a_browser_command() {
    let env = Env::new();
    let p = Provider::start();
    env.add_remote(&p);
    // The "browser" follows the authorize redirect to the CLI's loopback callback.
    let script = env.dir.path().join("browser.sh");
    std::fs::write(&script, "#!/bin/sh\nexec curl -s -L -o /dev/null \"$1\"\n").unwrap();
    set_exec(&script);
    let mut env = env;
    env.vars
        .push(("BROWSER".into(), script.display().to_string()));
    let out = env.run(&["login", "--browser", "--timeout", "20"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Logged in to local as ada@example.com"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&env.run(&["token"])), "at-browser\n");
}

#[test]
fn browser_login_falls_back_to_the_device_flow_without_a_browser() {
    let mut env = Env::new();
    let p = Provider::start();
    env.add_remote(&p);
    env.vars
        .push(("BROWSER".into(), "/nonexistent/browser".into()));
    let out = env.run(&["login", "--browser", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("device login"), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("{\"event\":\"prompt\""),
        "{}",
        stdout(&out)
    );
}

fn set_exec(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn api_keys_are_checked_before_they_are_saved() {
    let env = Env::new();
    let p = Provider::start();
    env.add_remote(&p);
    let out = env.run(&["login", "--api-key", "bad-key", "--json"]);
    assert_eq!(code(&out), 4);
    assert_eq!(json_of(&out)["code"], "invalid_key");
    let out = env.run(&["login", "--api-key", "no-perm"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("lacks permission"),
        "{}",
        stderr(&out)
    );
    assert_eq!(code(&env.run(&["token"])), 4);

    let out = env.run_with_stdin(&["login", "--api-key-stdin", "--json"], "good-key\n");
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(
        json_of(&out),
        json!({"event": "login", "remote": "local", "account": "key@example.com", "auth_type": "api_key"})
    );
    assert_eq!(stdout(&env.run(&["token"])), "good-key\n");
    let out = env.run(&["test", "--verbose"]);
    assert_eq!(code(&out), 0);
    assert!(
        stderr(&out).contains(&format!("{}/me -> HTTP 200", p.base)),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["test", "--key", "bad-key", "--json"]);
    assert_eq!(code(&out), 4);
    assert_eq!(json_of(&out)["ok"], false);
    // The key to check can come from stdin, out of argv and shell history.
    let out = env.run_with_stdin(&["test", "--key-stdin", "--json"], "bad-key\n");
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert_eq!(json_of(&out)["ok"], false);
    let out = env.run_with_stdin(&["test", "--key-stdin", "--json"], "good-key\n");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json_of(&out)["identity"]["email"], "key@example.com");
}

#[test]
fn parse_errors_never_echo_a_secret() {
    let env = Env::new();
    for args in [
        &["login", "--api-key", "--sk-live-0123456789"][..],
        &["test", "--key", "--sk-live-0123456789"],
        &["test", "--key=--sk-live-0123456789", "--bogus"],
        &["set-key", "--sk-live-0123456789"],
    ] {
        let out = env.run(args);
        assert_eq!(code(&out), 2, "{args:?}");
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(text.contains("error:"), "{args:?}: {text}");
        assert!(!text.contains("sk-live"), "{args:?} echoed the key: {text}");
    }
    // What is not a secret is still named.
    let out = env.run(&["test", "--key=k", "--bogus"]);
    assert!(stderr(&out).contains("'--bogus'"), "{}", stderr(&out));
    let help = env.run(&["--help"]);
    assert_eq!(code(&help), 0);
    assert!(
        stdout(&help).starts_with("Log in to OAuth/OpenID providers and APIs"),
        "keyhole's about, not the type's Rust docs: {}",
        stdout(&help)
    );
    let help = env.run(&["test", "--help"]);
    assert!(stdout(&help).contains("--key-stdin"), "{}", stdout(&help));
    assert!(
        stdout(&help).contains("prefer --key-stdin"),
        "{}",
        stdout(&help)
    );
}

#[test]
fn set_key_keeps_oauth_tokens_and_env_precedence_applies() {
    let mut env = Env::new();
    let p = Provider::start();
    env.add_remote(&p);
    assert_eq!(code(&env.run(&["login", "--device", "--no-open"])), 0);
    let out = env.run_with_stdin(&["set-key", "--stdin"], "good-key\n");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let record = std::fs::read_to_string(
        env.config_dir()
            .join("credentials/local%2Fada%40example%2Ecom.json"),
    )
    .unwrap();
    let record: Value = serde_json::from_str(&record).unwrap();
    assert_eq!(record["api_key"], "good-key");
    assert_eq!(record["oauth"]["access_token"], "at-device");
    // The last login method is preferred.
    assert_eq!(stdout(&env.run(&["token"])), "good-key\n");

    env.vars.push(("KEYHOLE_API_KEY".into(), "env-key".into()));
    assert_eq!(stdout(&env.run(&["token"])), "env-key\n");
    assert_eq!(json_of(&env.run(&["status", "--json"]))["source"], "env");
    // Fallback: the stored key wins, the env key only stands in.
    let cfg = env.config_dir().join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            "env_key_precedence = \"override\"",
            "env_key_precedence = \"fallback\"",
        ),
    )
    .unwrap();
    assert_eq!(stdout(&env.run(&["token"])), "good-key\n");
    assert_eq!(code(&env.run(&["logout"])), 0);
    assert_eq!(stdout(&env.run(&["token"])), "env-key\n");
}

#[test]
fn remotes_accounts_switch_and_project() {
    let env = Env::new();
    let p = Provider::start();
    env.add_remote(&p);
    let out = env.run(&[
        "remote",
        "add",
        "other",
        "--issuer",
        "https://id.example.org",
        "--client-id",
        "c2",
    ]);
    assert_eq!(code(&out), 0);
    let list = json_of(&env.run(&["remote", "list", "--json"]));
    assert_eq!(list[0]["name"], "local");
    assert_eq!(list[0]["current"], true);
    assert_eq!(list[1]["current"], false);

    assert_eq!(code(&env.run(&["login", "--api-key", "good-key"])), 0);
    assert_eq!(code(&env.run(&["login", "--device", "--no-open"])), 0);
    let s = json_of(&env.run(&["status", "--json"]));
    assert_eq!(s["account"], "ada@example.com");
    let out = env.run(&["switch", "--json"]);
    assert_eq!(json_of(&out)["account"], "key@example.com");
    assert_eq!(stdout(&env.run(&["token"])), "good-key\n");
    assert_eq!(code(&env.run(&["switch", "nobody"])), 1);
    assert_eq!(code(&env.run(&["project", "p-42"])), 0);
    assert_eq!(stdout(&env.run(&["project"])), "p-42\n");
    assert_eq!(json_of(&env.run(&["status", "--json"]))["project"], "p-42");

    let all = json_of(&env.run(&["status", "--all", "--json"]));
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    let out = env.run(&["--remote", "other", "status", "--json"]);
    assert_eq!(code(&out), 4);
    assert_eq!(json_of(&out)["logged_in"], false);

    assert_eq!(code(&env.run(&["remote", "use", "other"])), 0);
    assert_eq!(code(&env.run(&["token"])), 4);
    let mut env2 = Env {
        dir: env.dir,
        vars: vec![("KEYHOLE_REMOTE".into(), "local".into())],
    };
    assert_eq!(stdout(&env2.run(&["token"])), "good-key\n");
    env2.vars.clear();
    assert_eq!(code(&env2.run(&["remote", "remove", "local"])), 0);
    assert!(
        !env2
            .config_dir()
            .join("credentials/local%2Fkey%40example%2Ecom.json")
            .exists()
    );
    let list = json_of(&env2.run(&["remote", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn concurrent_token_calls_refresh_once() {
    let env = Env::new();
    let p = Provider::start();
    let out = env.run(&[
        "remote",
        "add",
        "local",
        "--issuer",
        &p.base,
        "--client-id",
        "short",
    ]);
    assert_eq!(code(&out), 0);
    assert_eq!(code(&env.run(&["login", "--device", "--no-open"])), 0);
    thread::sleep(std::time::Duration::from_millis(600));
    let children: Vec<_> = (0..16)
        .map(|_| env.command(&["token"]).spawn().unwrap())
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outputs {
        assert_eq!(code(o), 0, "{}", stderr(o));
        assert_eq!(stdout(o), stdout(&outputs[0]));
    }
    assert!(
        stdout(&outputs[0]).starts_with("at-refreshed-"),
        "{}",
        stdout(&outputs[0])
    );
    assert_eq!(p.count("POST /token refresh_token"), 1);
}

#[test]
fn browser_login_with_no_open_prints_the_url_as_a_json_line() {
    let env = Env::new();
    let p = Provider::start();
    env.add_remote(&p);
    let mut child = env
        .command(&[
            "login",
            "--browser",
            "--no-open",
            "--json",
            "--timeout",
            "30",
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["event"], "open_browser");
    let url = first["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/authorize?", p.base)), "{url}");
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    // The user opens the URL; the provider redirects to the CLI's loopback callback.
    let status = Command::new("curl")
        .args(["-s", "-L", "-o", "/dev/null", &url])
        .status()
        .unwrap();
    assert!(status.success());
    let last: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(last["event"], "login");
    assert_eq!(last["account"], "ada@example.com");
    assert!(child.wait().unwrap().success());
}

#[test]
fn concurrent_config_changes_are_all_kept() {
    let env = Env::new();
    let children: Vec<_> = (0..8)
        .map(|i| {
            let name = format!("r{i}");
            env.command(&[
                "remote",
                "add",
                &name,
                "--issuer",
                "https://id.example.com",
                "--client-id",
                "c",
            ])
            .spawn()
            .unwrap()
        })
        .collect();
    for c in children {
        assert!(c.wait_with_output().unwrap().status.success());
    }
    let list = json_of(&env.run(&["remote", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 8, "{list}");
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["current"] == true)
            .count(),
        1
    );
}

#[test]
fn failed_tests_show_the_request_the_status_and_the_time() {
    let env = Env::new();
    let p = Provider::start();
    env.add_remote(&p);
    let me = format!("{}/me", p.base);
    for (key, status, error) in [
        ("bad-key", 401, "invalid_key"),
        ("no-perm", 403, "insufficient_permission"),
        ("refused-key", 403, "forbidden"),
    ] {
        let out = env.run(&["test", "--key", key, "--verbose"]);
        assert_ne!(code(&out), 0);
        let err = stderr(&out);
        assert!(
            err.contains(&format!("GET {me} -> HTTP {status} in ")) && err.contains(" ms"),
            "{err}"
        );
        let out = env.run(&["test", "--key", key, "--json"]);
        let j = json_of(&out);
        assert_eq!(
            (&j["ok"], &j["code"], &j["status"]),
            (&json!(false), &json!(error), &json!(status)),
            "{j}"
        );
        assert!(j["elapsed_ms"].is_u64(), "{j}");
    }

    let down = format!("{}/down", p.base);
    let out = env.run(&[
        "test",
        "--key",
        "good-key",
        "--url",
        &down,
        "--verbose",
        "--json",
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(&format!("GET {down} -> HTTP 503 in ")),
        "{}",
        stderr(&out)
    );
    let j = json_of(&out);
    assert_eq!(
        (&j["code"], &j["status"]),
        (&json!("unavailable"), &json!(503))
    );

    // Nothing listens on a port just released: no response, so no status, but the time taken.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!("http://127.0.0.1:{port}/me");
    let out = env.run(&[
        "test",
        "--key",
        "good-key",
        "--url",
        &closed,
        "--verbose",
        "--json",
    ]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("GET {closed} -> no response after ")) && err.contains(" ms"),
        "{err}"
    );
    let j = json_of(&out);
    assert_eq!(j["code"], "transport", "{j}");
    assert!(j.get("status").is_some_and(Value::is_null), "{j}");
    assert!(j["elapsed_ms"].is_u64(), "{j}");
    for out in [&out, &env.run(&["test", "--key", "bad-key", "--verbose"])] {
        assert!(!stderr(out).contains("bad-key") && !stdout(out).contains("bad-key"));
        assert!(!stderr(out).contains("good-key") && !stdout(out).contains("good-key"));
    }

    // Failing before any request (nothing to test): the error alone, no status.
    let out = env.run(&["test", "--json", "--verbose"]);
    assert_eq!(code(&out), 4);
    let j = json_of(&out);
    assert_eq!(j["code"], "not_logged_in", "{j}");
    assert!(j.get("status").is_some_and(Value::is_null), "{j}");
}

#[test]
fn status_of_nobody_names_the_configured_account_or_none() {
    let env = Env::new();
    let p = Provider::start();
    env.add_remote(&p);
    let out = env.run(&["status", "--json"]);
    assert_eq!(code(&out), 4);
    let s = json_of(&out);
    assert_eq!(s["logged_in"], false);
    assert!(s.get("account").is_some_and(Value::is_null), "{s}");

    assert_eq!(code(&env.run(&["login", "--api-key", "good-key"])), 0);
    // The credentials vanish (removed by hand, another tool): the account is still configured.
    std::fs::remove_file(
        env.config_dir()
            .join("credentials/local%2Fkey%40example%2Ecom.json"),
    )
    .unwrap();
    let out = env.run(&["status", "--json"]);
    assert_eq!(code(&out), 4);
    let s = json_of(&out);
    assert_eq!(
        (&s["logged_in"], &s["account"]),
        (&json!(false), &json!("key@example.com")),
        "{s}"
    );
}

#[test]
fn logout_all_with_a_remote_stays_on_that_remote() {
    let mut env = Env::new();
    let p = Provider::start();
    env.add_remote_named("one", &p);
    env.add_remote_named("two", &p);
    env.add_remote_named("three", &p);
    for remote in ["one", "two", "three"] {
        let out = env.run(&["--remote", remote, "login", "--api-key", "good-key"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let help = stdout(&env.run(&["logout", "--help"]));
    assert!(
        help.contains("with --remote (or `KEYHOLE_REMOTE`), of that remote only"),
        "{help}"
    );

    let out = env.run(&["--remote", "two", "logout", "--all", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        json_of(&out),
        json!([{"remote": "two", "account": "key@example.com", "revoked": [], "unrevoked": ["api_key"], "cleared": true}])
    );
    assert_eq!(code(&env.run(&["--remote", "two", "token"])), 4);
    assert_eq!(
        stdout(&env.run(&["--remote", "one", "token"])),
        "good-key\n"
    );

    env.vars.push(("KEYHOLE_REMOTE".into(), "three".into()));
    let out = env.run(&["logout", "--all", "--json"]);
    assert_eq!(
        json_of(&out).as_array().unwrap().len(),
        1,
        "{}",
        stdout(&out)
    );
    assert_eq!(code(&env.run(&["token"])), 4);
    env.vars.clear();
    assert_eq!(
        stdout(&env.run(&["--remote", "one", "token"])),
        "good-key\n"
    );

    // No remote named: every account everywhere.
    assert_eq!(
        code(&env.run(&["login", "--api-key", "good-key", "--remote", "two"])),
        0
    );
    let out = env.run(&["logout", "--all", "--json"]);
    assert_eq!(
        json_of(&out).as_array().unwrap().len(),
        2,
        "{}",
        stdout(&out)
    );
    for remote in ["one", "two", "three"] {
        assert_eq!(code(&env.run(&["--remote", remote, "token"])), 4);
    }
}

#[test]
fn status_all_marks_the_active_account_of_each_remote() {
    let env = Env::new();
    let p = Provider::start();
    env.add_remote(&p);
    assert_eq!(code(&env.run(&["login", "--api-key", "good-key"])), 0);
    assert_eq!(code(&env.run(&["login", "--device", "--no-open"])), 0);
    let out = env.run(&["status", "--all"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let line = |who: &str| {
        text.lines()
            .find(|l| l.contains(who))
            .unwrap_or_else(|| panic!("no line for {who}:\n{text}"))
            .to_owned()
    };
    assert!(line("ada@example.com").contains("(active)"), "{text}");
    assert!(!line("key@example.com").contains("(active)"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("local")).count(),
        1,
        "the remote is named once\n{text}"
    );

    let all = json_of(&env.run(&["status", "--all", "--json"]));
    let active: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["active"] == true)
        .filter_map(|s| s["account"].as_str())
        .collect();
    assert_eq!(active, ["ada@example.com"], "{all}");

    assert_eq!(code(&env.run(&["switch", "key@example.com"])), 0);
    let text = stdout(&env.run(&["status", "--all"]));
    assert!(
        text.lines()
            .any(|l| l.contains("key@example.com") && l.contains("(active)")),
        "{text}"
    );
}

#[test]
fn remote_choice_errors_name_the_commands_to_run() {
    let env = Env::new();
    let out = env.run(&["status"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(
            "no remote is configured; add one with `keyhole remote add NAME --issuer URL --client-id ID`"
        ),
        "{}",
        stderr(&out)
    );
    let p = Provider::start();
    env.add_remote_named("a", &p);
    env.add_remote_named("b", &p);
    env.add_remote_named("c", &p);
    let out = env.run(&["--remote", "nope", "status"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(
            "no remote named `nope`; `keyhole remote list` shows them, `keyhole remote add` adds one"
        ),
        "{}",
        stderr(&out)
    );
    // Two remotes and none current (a config written by hand).
    assert_eq!(code(&env.run(&["remote", "remove", "a"])), 0);
    let cfg = env.config_dir().join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("current_remote = \"b\""), "{text}");
    std::fs::write(&cfg, text.replace("current_remote = \"b\"\n", "")).unwrap();
    let out = env.run(&["status"]);
    assert_eq!(code(&out), 2, "a usage error: {}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "several remotes are configured (b, c); choose one with --remote NAME or `keyhole remote use NAME`"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn explicit_endpoints_override_discovered_ones_field_by_field() {
    let p = Provider::start();
    // A device endpoint alone is stored and used; the token endpoint still comes from discovery.
    let env = Env::new();
    let other = format!("{}/other-device", p.base);
    let out = env.run(&[
        "remote",
        "add",
        "local",
        "--issuer",
        &p.base,
        "--client-id",
        "cli",
        "--device-authorization-endpoint",
        &other,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = std::fs::read_to_string(env.config_dir().join("config.toml")).unwrap();
    assert!(text.contains(&other), "not stored: {text}");
    let out = env.run(&["login", "--device", "--no-open"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(p.count("POST /other-device"), 1);
    assert_eq!(p.count("POST /device "), 0);
    // Revocation still comes from discovery (cached at login).
    let out = env.run(&["logout", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(p.count("POST /revoke"), 2, "{}", stdout(&out));

    // A token endpoint with an issuer no longer replaces discovery: the discovered device and
    // revocation endpoints stay.
    let env = Env::new();
    let out = env.run(&[
        "remote",
        "add",
        "local",
        "--issuer",
        &p.base,
        "--client-id",
        "cli",
        "--token-endpoint",
        &format!("{}/token", p.base),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["login", "--device", "--no-open"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["logout", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        json_of(&out)["revoked"],
        json!(["refresh_token", "access_token"])
    );

    // An endpoint keyhole would refuse to call is refused when it is configured.
    let env = Env::new();
    let out = env.run(&[
        "remote",
        "add",
        "local",
        "--issuer",
        &p.base,
        "--revocation-endpoint",
        "http://example.com/revoke",
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--revocation-endpoint"),
        "{}",
        stderr(&out)
    );
    assert!(!env.config_dir().join("config.toml").exists());
}

#[test]
fn logout_says_plainly_what_stays_valid_at_the_provider() {
    let env = Env::new();
    let p = Provider::start();
    // Explicit endpoints without a revocation endpoint.
    let out = env.run(&[
        "remote",
        "add",
        "bare",
        "--client-id",
        "cli",
        "--token-endpoint",
        &format!("{}/token", p.base),
        "--device-authorization-endpoint",
        &format!("{}/device", p.base),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&env.run(&["login", "--device", "--no-open"])), 0);
    let out = env.run(&["logout", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json_of(&out);
    assert_eq!(v["revoked"], json!([]));
    assert_eq!(v["unrevoked"], json!(["refresh_token", "access_token"]));
    assert_eq!(p.count("POST /revoke"), 0);
    assert!(
        stderr(&out).contains(
            "the refresh and access tokens were not revoked at the provider (the provider has no revocation endpoint): they stay valid there until they expire; the local credentials are cleared"
        ),
        "{}",
        stderr(&out)
    );
    // The human line says it too, beside the logout line.
    assert_eq!(code(&env.run(&["login", "--device", "--no-open"])), 0);
    let out = env.run(&["logout"]);
    assert_eq!(code(&out), 0);
    assert!(
        stderr(&out).contains("Logged out of bare"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out)
            .contains("not revoked at the provider (the provider has no revocation endpoint)"),
        "{}",
        stderr(&out)
    );
}

/// Issue 16 item 15: an account whose refresh the provider refuses (`invalid_grant`) goes on
/// with the API key stored beside its tokens, says so on stderr in one line, and sends no
/// refused refresh again; a remote configured without the fallback needs a login as before
#[test]
fn a_refused_refresh_falls_back_to_the_stored_api_key() {
    let env = Env::new();
    let p = Provider::start();
    env.add_remote(&p);
    assert_eq!(code(&env.run(&["login", "--device", "--no-open"])), 0);
    let out = env.run_with_stdin(&["set-key", "--stdin"], "good-key\n");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Logging in again makes OAuth the preferred credential; the record keeps the key.
    assert_eq!(code(&env.run(&["login", "--device", "--no-open"])), 0);
    let path = env
        .config_dir()
        .join("credentials/local%2Fada%40example%2Ecom.json");
    let mut record: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(record["api_key"], "good-key");
    // An expired token whose refresh token the provider no longer knows.
    record["oauth"]["refresh_token"] = json!("rt-revoked");
    record["oauth"]["expires_at_ms"] = json!(1);
    let refused = record.to_string();
    std::fs::write(&path, &refused).unwrap();

    // Not allowed for this remote: a login is needed, and the record is left as it was.
    let cfg = env.config_dir().join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            "[remotes.local]\n",
            "[remotes.local]\napi_key_fallback = false\n",
        ),
    )
    .unwrap();
    let out = env.run(&["token"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid_grant"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), refused);
    assert_eq!(p.count("POST /token refresh_token"), 1);

    // Allowed (keyhole's default): the stored key, with one warning line.
    std::fs::write(&cfg, &text).unwrap();
    let out = env.run(&["token"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "good-key\n");
    assert_eq!(
        stderr(&out),
        "! the OAuth session for ada@example.com was refused (the refresh token was rejected: \
         invalid_grant); using the stored API key — run `keyhole login` to restore it\n"
    );
    assert_eq!(p.count("POST /token refresh_token"), 2);
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(record["api_key"], "good-key");
    assert!(
        record.get("oauth").is_none(),
        "the refused tokens are dropped: {record}"
    );

    // The next call uses the key without asking the provider again.
    let out = env.run(&["token"]);
    assert_eq!(
        (stdout(&out).as_str(), stderr(&out).as_str()),
        ("good-key\n", "")
    );
    assert_eq!(p.count("POST /token refresh_token"), 2);
}

/// Issue 12: what names an account is the product's (`Product::account_label`): a vendor whose
/// accounts go by username gets `ada` where keyhole says `ada@example.com`, from the same ID
/// token; the order is written into the remotes the vendor's CLI creates
#[test]
fn the_product_decides_which_claim_names_the_account() {
    use keyhole_native::product::{EnvNames, Product};
    use keyhole_native::{App, NativeEngine};
    static BY_USERNAME: Product = Product {
        name: "byname",
        config_dir_name: "byname",
        env: EnvNames {
            api_key: "BYNAME_API_KEY",
            no_keyring: "BYNAME_NO_KEYRING",
            config_dir: "BYNAME_CONFIG_DIR",
            remote: "BYNAME_REMOTE",
            token: "BYNAME_TOKEN",
        },
        account_label: &["preferred_username", "sub"],
        ..Product::KEYHOLE
    };
    // Only this test reads the variable (the other tests run `keyhole` with a cleared env).
    unsafe { std::env::set_var("BYNAME_NO_KEYRING", "1") };
    let p = Provider::start();
    let dir = tempfile::tempdir().unwrap();
    let app = App::new(&BY_USERNAME).with_config_dir(dir.path().join("cfg"));
    let mut engine = NativeEngine::new(&app);
    let mut run = |args: &[&str]| {
        let argv = std::iter::once("byname").chain(args.iter().copied());
        format!("{:?}", keyhole_native::cli::run(&mut engine, &app, argv))
    };
    let ok = format!("{:?}", std::process::ExitCode::SUCCESS);
    let add = [
        "remote",
        "add",
        "local",
        "--issuer",
        &p.base,
        "--client-id",
        "cli",
    ];
    assert_eq!(run(&add), ok);
    assert_eq!(run(&["login", "--device", "--no-open"]), ok);
    let config = app.load_config().unwrap();
    let remote = &config.remotes["local"];
    assert_eq!(remote.accounts.keys().collect::<Vec<_>>(), ["ada"]);
    assert_eq!(
        remote.account_label.as_deref(),
        Some(&["preferred_username".to_owned(), "sub".to_owned()][..])
    );
    assert!(dir.path().join("cfg/credentials/local%2Fada.json").exists());

    // keyhole's own order names the same login after the email, and writes no order.
    let env = Env::new();
    env.add_remote(&p);
    assert_eq!(code(&env.run(&["login", "--device", "--no-open"])), 0);
    assert_eq!(
        json_of(&env.run(&["status", "--json"]))["account"],
        "ada@example.com"
    );
    let text = std::fs::read_to_string(env.config_dir().join("config.toml")).unwrap();
    assert!(!text.contains("account_label"), "{text}");
}
