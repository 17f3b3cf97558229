//! The end-to-end harness: real peers for the `keyhole` binary
//!
//! - [`Provider`]: node-oidc-provider from `tests/provider/server.mjs` on 127.0.0.1, its test switches,
//!   scripted device approval and token introspection; stopped on drop.
//! - [`Env`]: a private config directory and environment per test, and [`Env::keyhole`], the command
//!   builder for the binary under test (`KEYHOLE_E2E_BIN` overrides the native one, so the same suite
//!   can run against another build such as `keyhole-wasi`).
//! - [`Keyring`]: a private D-Bus session with an unlocked gnome-keyring (`tests/support/with-keyring`).
//! - [`run`] and [`Spawned`]: every child process runs under a deadline and is killed if it overstays.
//!
//! Nothing is skipped: a missing Node.js, Chromium or gnome-keyring fails the test with a message
//! naming the piece and `tests/support/install-deps`, which installs them.

#![allow(dead_code)] // each e2e file uses its own part of the harness

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// How long one `keyhole` command may take before the test calls it hung
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// The repository root (the workspace that holds `host-native/`)
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host-native lives inside the workspace root")
        .to_path_buf()
}

fn provider_dir() -> PathBuf {
    repo_root().join("tests/provider")
}

/// Fails the test when a tool the e2e suite needs is not installed
pub fn require_tool(tool: &str, what_for: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        || Path::new(tool).is_file();
    assert!(
        found,
        "the e2e tests need `{tool}` ({what_for}) and it is not installed; \
         run tests/support/install-deps (as root it installs the Debian and npm pieces)"
    );
}

fn require_provider_modules() {
    require_tool("node", "runs the test OpenID provider");
    let modules = provider_dir().join("node_modules");
    for module in ["oidc-provider", "playwright-core"] {
        assert!(
            modules.join(module).is_dir(),
            "tests/provider/node_modules/{module} is missing; run tests/support/install-deps \
             (it runs `npm ci` in tests/provider)"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Child processes under a deadline

/// What a finished command left behind
#[derive(Debug, Clone)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The run of a process that exited (`Some`), or a panic naming `what` with its output when it
    /// had to be killed at the deadline (`None`)
    fn finished(
        what: &str,
        status: Option<ExitStatus>,
        stdout: String,
        stderr: String,
        deadline: Duration,
    ) -> Self {
        match status {
            Some(status) => Self {
                status,
                stdout,
                stderr,
            },
            None => panic!(
                "{what} did not finish within {deadline:?} and was killed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
            ),
        }
    }

    /// The exit code (None when killed by a signal)
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// stdout parsed as one JSON value
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}):\n{}", self.describe()))
    }

    /// stdout parsed as JSON lines
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| {
                    panic!("stdout line is not JSON ({e}): {line}\n{}", self.describe())
                })
            })
            .collect()
    }

    /// Asserts the exit code, showing everything the command printed when it differs
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "unexpected exit status\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn expect_ok(&self) -> &Self {
        self.expect_code(0)
    }

    pub fn describe(&self) -> String {
        format!(
            "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

fn drain<R: Read + Send + 'static>(mut reader: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs a command to completion with no stdin, killing it after `deadline`
pub fn run_with_deadline(cmd: &mut Command, deadline: Duration) -> Run {
    run_with_input(cmd, None, deadline)
}

/// Runs a command with the given stdin (or none), killing it after `deadline`
pub fn run_with_input(cmd: &mut Command, input: Option<&[u8]>, deadline: Duration) -> Run {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin was piped just above");
        let _ = stdin.write_all(input);
    }
    let out = drain(child.stdout.take().expect("stdout was piped just above"));
    let err = drain(child.stderr.take().expect("stderr was piped just above"));
    let status = wait_deadline(&mut child, deadline);
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Run::finished(&format!("{cmd:?}"), status, stdout, stderr, deadline)
}

/// Waits for a child at most `deadline`; kills it and returns None when it overstays
pub fn wait_deadline(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let until = Instant::now() + deadline;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < until => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// A running child whose stdout is read line by line; killed on drop unless waited for
pub struct Spawned {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Option<thread::JoinHandle<String>>,
    pub stdin: Option<ChildStdin>,
}

impl Spawned {
    pub fn start(cmd: &mut Command) -> Self {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Self::start_configured(cmd)
    }

    /// Like [`Spawned::start`] with stdin piped (for commands that read a key from stdin)
    pub fn start_with_stdin(cmd: &mut Command) -> Self {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Self::start_configured(cmd)
    }

    fn start_configured(cmd: &mut Command) -> Self {
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = child.stdout.take().expect("stdout was piped by start");
        let stderr = drain(child.stderr.take().expect("stderr was piped by start"));
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child: Some(child),
            lines: rx,
            seen: Vec::new(),
            stderr: Some(stderr),
            stdin,
        }
    }

    /// The next stdout line, or None if stdout closed or `deadline` passed
    pub fn next_line(&mut self, deadline: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(deadline).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Reads JSON lines until one has `"event": event`; panics (with the output) otherwise
    pub fn wait_event(&mut self, event: &str, deadline: Duration) -> Value {
        let until = Instant::now() + deadline;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let Some(line) = self.next_line(left) else {
                let run = self.finish(Duration::from_secs(5));
                panic!(
                    "no {event:?} event on stdout within {deadline:?}\n{}",
                    run.describe()
                );
            };
            if let Ok(value) = serde_json::from_str::<Value>(&line)
                && value["event"] == event
            {
                return value;
            }
        }
    }

    /// Waits for the process to exit (killing it after `deadline`) and collects its output
    pub fn finish(&mut self, deadline: Duration) -> Run {
        let mut child = self.child.take().expect("finish is called once");
        drop(self.stdin.take());
        let status = wait_deadline(&mut child, deadline);
        // The reader thread ends at EOF; collect what it has not handed over yet.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let stdout = self.seen.iter().map(|l| format!("{l}\n")).collect();
        Run::finished("process", status, stdout, stderr, deadline)
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }
}

impl Spawned {
    /// Closes stdin and waits at most `deadline`, killing on overstay; never panics (for Drop)
    pub fn close(&mut self, deadline: Duration) -> Option<ExitStatus> {
        drop(self.stdin.take());
        let mut child = self.child.take()?;
        wait_deadline(&mut child, deadline)
    }
}

impl Spawned {
    /// SIGKILLs the process now and reaps it (for crash tests)
    pub fn close_with_kill(&mut self) -> Option<ExitStatus> {
        drop(self.stdin.take());
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 client for the provider's test routes (127.0.0.1 only, Connection: close)

/// An HTTP answer: status and body text
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: String,
}

impl HttpAnswer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// One request to a `http://127.0.0.1:PORT/...` URL
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> HttpAnswer {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("test HTTP is plain http to loopback, got {url}"));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    assert!(
        authority.starts_with("127.0.0.1:"),
        "test traffic stays on 127.0.0.1, got {url}"
    );
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(authority)
        .unwrap_or_else(|e| panic!("cannot connect to {authority}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a positive read timeout is valid");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("cannot send to {url}: {e}"));
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("cannot read the answer from {url}: {e}"));
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("malformed HTTP answer from {url}: {raw}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in the answer from {url}: {head}"));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    HttpAnswer { status, body }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The provider

/// The public client keyhole logs in with
pub const CLIENT_ID: &str = "keyhole-cli";
const INTROSPECTOR_ID: &str = "keyhole-test-introspector";
const INTROSPECTOR_SECRET: &str = "introspector-secret-for-tests-only";
/// The device-code grant type, as counted by the provider
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A running test provider on 127.0.0.1; stopped (its process group killed) on drop
pub struct Provider {
    child: Child,
    _stdin: ChildStdin,
    pub issuer: String,
    pub port: u16,
}

impl Provider {
    /// Starts the provider with a 1 s device-poll interval in its answers (so logins are quick)
    pub fn start() -> Self {
        Self::start_with(&[("KEYHOLE_TEST_INTERVAL", "1")])
    }

    /// Starts the provider with extra environment (KEYHOLE_TEST_* start-up values)
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        require_provider_modules();
        let mut cmd = Command::new("node");
        cmd.arg(provider_dir().join("server.mjs"))
            .arg("--die-with-stdin")
            .env("PORT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the test provider (node): {e}"));
        let stdin = child.stdin.take().expect("stdin was piped just above");
        let stdout = child.stdout.take().expect("stdout was piped just above");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            // Keep draining so the provider never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the test provider did not print READY within 30 s");
            }
        };
        let ready: Value = line
            .strip_prefix("READY ")
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_else(|| panic!("unexpected first line from the provider: {line}"));
        let issuer = ready["issuer"]
            .as_str()
            .expect("READY carries the issuer")
            .to_string();
        let port = ready["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("READY carries the port");
        Self {
            child,
            _stdin: stdin,
            issuer,
            port,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Merges switches (a JSON object) into the provider's test state
    pub fn set(&self, switches: Value) {
        let answer = http(
            "POST",
            &self.url("/__test/set"),
            &[("Content-Type", "application/json")],
            &switches.to_string(),
        );
        assert_eq!(answer.status, 200, "test switch refused: {}", answer.body);
    }

    pub fn reset(&self) {
        let answer = http("POST", &self.url("/__test/reset"), &[], "");
        assert_eq!(answer.status, 200);
    }

    /// Switches and counters
    pub fn state(&self) -> Value {
        http("GET", &self.url("/__test/state"), &[], "").json()
    }

    /// How many token-endpoint requests with this grant_type arrived
    pub fn token_requests(&self, grant_type: &str) -> u64 {
        self.state()["counters"]["token_requests"][grant_type]
            .as_u64()
            .unwrap_or(0)
    }

    pub fn revocations(&self) -> u64 {
        self.state()["counters"]["revocations"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Approves a device-flow user code as `login` (cookie-jar HTTP, like a person in a browser)
    pub fn approve_device(&self, user_code: &str, login: &str) {
        self.device_decision(user_code, login, false);
    }

    /// Denies a device-flow user code
    pub fn deny_device(&self, user_code: &str) {
        self.device_decision(user_code, "alice", true);
    }

    fn device_decision(&self, user_code: &str, login: &str, deny: bool) {
        let mut cmd = Command::new("node");
        cmd.arg(provider_dir().join("approve-device.mjs")).args([
            "--issuer",
            &self.issuer,
            "--user-code",
            user_code,
            "--login",
            login,
        ]);
        if deny {
            cmd.arg("--deny");
        }
        let run = run_with_deadline(&mut cmd, Duration::from_secs(30));
        assert_eq!(
            run.code(),
            Some(0),
            "device approval failed\n{}",
            run.describe()
        );
    }

    /// Whether the provider says the token is active (RFC 7662, as a confidential test client)
    pub fn introspect(&self, token: &str) -> bool {
        let auth = format!(
            "Basic {}",
            base64(format!("{INTROSPECTOR_ID}:{INTROSPECTOR_SECRET}").as_bytes())
        );
        let answer = http(
            "POST",
            &self.url("/token/introspection"),
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", &auth),
            ],
            &form_encode(&[("token", token)]),
        );
        assert_eq!(answer.status, 200, "introspection failed: {}", answer.body);
        answer.json()["active"] == Value::Bool(true)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        // The provider leads its own process group: end the whole group, then reap.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// A private environment per test

/// A directory removed on drop
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "keyhole-e2e-{label}-{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary under test: `KEYHOLE_E2E_BIN`, else the native `keyhole` built with these tests
pub fn keyhole_bin() -> PathBuf {
    match std::env::var_os("KEYHOLE_E2E_BIN") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_keyhole")),
    }
}

/// A seed CLI's binary: `target/<profile>/examples/NAME`, next to this test's `deps/`
pub fn example_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("a test knows its own path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    let path = dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "{} is missing: `cargo test -p keyhole-native` builds the examples",
        path.display()
    );
    path
}

/// One test's private world: config dir, HOME, and the environment every `keyhole` gets
pub struct Env {
    dir: TempDir,
    vars: BTreeMap<String, String>,
    removed: Vec<String>,
}

impl Env {
    /// A fresh config dir; the file store (`KEYHOLE_NO_KEYRING=1`) unless a test opts into a keyring
    pub fn new() -> Self {
        let dir = TempDir::new("env");
        let mut env = Self {
            dir,
            vars: BTreeMap::new(),
            removed: Vec::new(),
        };
        let root = env.dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("home")).expect("a fresh temp dir is writable");
        env.set("KEYHOLE_CONFIG_DIR", root.join("config").to_string_lossy());
        env.set("HOME", root.join("home").to_string_lossy());
        env.set(
            "XDG_CONFIG_HOME",
            root.join("home/.config").to_string_lossy(),
        );
        env.set("KEYHOLE_NO_KEYRING", "1");
        env.set("NO_COLOR", "1");
        // Opening a browser by accident must not find a real one.
        env.set("BROWSER", "false");
        // No ambient keyring bus unless a test brings its own.
        env.set(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/keyhole-e2e-no-bus",
        );
        for inherited in [
            "KEYHOLE_API_KEY",
            "KEYHOLE_REMOTE",
            "DISPLAY",
            "WAYLAND_DISPLAY",
        ] {
            env.remove(inherited);
        }
        env
    }

    pub fn set(&mut self, key: &str, value: impl AsRef<str>) -> &mut Self {
        self.removed.retain(|k| k != key);
        self.vars
            .insert(key.to_string(), value.as_ref().to_string());
        self
    }

    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.vars.remove(key);
        self.removed.push(key.to_string());
        self
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// `keyhole ARGS…` in this environment
    pub fn keyhole<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(keyhole_bin());
        cmd.args(args);
        self.apply(&mut cmd);
        cmd
    }

    /// The seed CLI `host-native/examples/NAME.rs` (built by `cargo test`) with `args`
    pub fn example<I, S>(&self, name: &str, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(example_bin(name));
        cmd.args(args);
        self.apply(&mut cmd);
        cmd
    }

    /// Runs the seed CLI `NAME ARGS…` to completion under [`COMMAND_DEADLINE`]
    pub fn run_example<I, S>(&self, name: &str, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_with_deadline(&mut self.example(name, args), COMMAND_DEADLINE)
    }

    /// Applies this environment to any command (a pty helper, a shell)
    pub fn apply(&self, cmd: &mut Command) {
        for key in &self.removed {
            cmd.env_remove(key);
        }
        for (key, value) in &self.vars {
            cmd.env(key, value);
        }
    }

    /// Runs `keyhole ARGS…` to completion under [`COMMAND_DEADLINE`]
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_with_deadline(&mut self.keyhole(args), COMMAND_DEADLINE)
    }

    /// Runs `keyhole ARGS…` with `input` on stdin
    pub fn run_input<I, S>(&self, args: I, input: &str) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_with_input(
            &mut self.keyhole(args),
            Some(input.as_bytes()),
            COMMAND_DEADLINE,
        )
    }

    /// `keyhole remote add NAME --issuer … --client-id keyhole-cli` plus the key-check spec of the
    /// provider's fake API and any extra flags
    pub fn add_remote(&self, name: &str, provider: &Provider, extra: &[&str]) {
        let mut args: Vec<String> = [
            "remote",
            "add",
            name,
            "--issuer",
            &provider.issuer,
            "--client-id",
            CLIENT_ID,
            "--scope",
            "openid",
            "--scope",
            "email",
            "--scope",
            "offline_access",
            "--api-url",
            &provider.url("/api"),
            "--key-check-url",
            &provider.url("/api/me"),
            "--key-check-header",
            "Authorization",
            "--key-check-scheme",
            "Bearer",
            "--key-check-identity",
            "email=/email",
            "--key-check-identity",
            "id=/id",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        args.extend(extra.iter().map(ToString::to_string));
        self.run(&args).expect_ok();
    }

    /// A device login (`login --device --no-open --json`) approved as `login`; returns the last event
    pub fn device_login(&self, provider: &Provider, login: &str, extra: &[&str]) -> Value {
        let mut args = vec!["login", "--device", "--no-open", "--json"];
        args.extend_from_slice(extra);
        let mut child = Spawned::start(&mut self.keyhole(&args));
        let prompt = child.wait_event("prompt", Duration::from_secs(30));
        let user_code = prompt["user_code"]
            .as_str()
            .unwrap_or_else(|| panic!("prompt without user_code: {prompt}"));
        provider.approve_device(user_code, login);
        let run = child.finish(COMMAND_DEADLINE);
        run.expect_ok();
        let events = run.json_lines();
        let last = events.last().cloned().expect("login printed events");
        assert_eq!(last["event"], "login", "last event: {}", run.describe());
        last
    }

    /// `keyhole token`, asserting success, trimmed
    pub fn token(&self) -> String {
        let run = self.run(["token"]);
        run.expect_ok();
        assert!(
            run.stdout.ends_with('\n') && run.stdout.trim_end().lines().count() == 1,
            "token prints the credential and a newline only\n{}",
            run.describe()
        );
        run.stdout.trim_end().to_string()
    }

    /// `keyhole status --json`, with its exit code
    pub fn status(&self) -> (Option<i32>, Value) {
        let run = self.run(["status", "--json"]);
        (run.code(), run.json())
    }

    /// The credential records of the file store (`<config>/credentials/*.json`), parsed
    pub fn stored_records(&self) -> Vec<(String, Value)> {
        let dir = self.config_dir().join("credentials");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut records = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let text = std::fs::read_to_string(entry.path())
                .unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
            let value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("credential file {name} does not parse ({e})"));
            records.push((name, value));
        }
        records.sort_by(|a, b| a.0.cmp(&b.0));
        records
    }
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

/// A free TCP port on 127.0.0.1 (bound then released)
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 works on any test machine")
}

// ---------------------------------------------------------------------------------------------
// A real keyring

/// gnome-keyring on a private D-Bus session (tests/support/with-keyring holding a shell open);
/// the bus, the daemon and their files go away on drop
pub struct Keyring {
    holder: Spawned,
    pub bus_address: String,
}

impl Keyring {
    pub fn start() -> Self {
        for (tool, why) in [
            (
                "dbus-run-session",
                "a private D-Bus session for the keyring tests",
            ),
            (
                "gnome-keyring-daemon",
                "the real Secret Service for the keyring tests",
            ),
        ] {
            require_tool(tool, why);
        }
        let mut cmd = Command::new(repo_root().join("tests/support/with-keyring"));
        cmd.args([
            "sh",
            "-c",
            "echo \"BUS $DBUS_SESSION_BUS_ADDRESS\"; read _ignored",
        ]);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut holder = Spawned::start_with_stdin(&mut cmd);
        let line = holder.next_line(Duration::from_secs(20));
        let Some(bus_address) = line.as_deref().and_then(|l| l.strip_prefix("BUS ")) else {
            let run = holder.finish(Duration::from_secs(5));
            panic!("with-keyring did not come up\n{}", run.describe());
        };
        let bus_address = bus_address.to_string();
        Self {
            holder,
            bus_address,
        }
    }

    /// Points an environment at this keyring (and lets it use the keyring)
    pub fn use_in(&self, env: &mut Env) {
        env.set("DBUS_SESSION_BUS_ADDRESS", &self.bus_address);
        env.remove("KEYHOLE_NO_KEYRING");
    }

    /// `secret-tool ARGS…` against this keyring
    pub fn secret_tool(&self, args: &[&str]) -> Run {
        require_tool(
            "secret-tool",
            "looks into the keyring (Debian libsecret-tools)",
        );
        let mut cmd = Command::new("secret-tool");
        cmd.args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address);
        run_with_deadline(&mut cmd, Duration::from_secs(20))
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        // Closing the holder's stdin ends its shell; with-keyring then stops the daemon and the bus.
        let group = self.holder.id();
        if self.holder.close(Duration::from_secs(10)).is_none() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Waits until an access token issued `access_ttl_s` seconds long just before this call is due
/// for refresh: the core refreshes once the 60 s margin is reached, but never in the first half of
/// a token's lifetime (refresh.rs `needs_refresh`), so a short-lived token is fresh right after
/// it is issued
pub fn wait_until_due(access_ttl_s: u64) {
    thread::sleep(Duration::from_millis(access_ttl_s * 1000 / 2 + 100));
}

/// Polls `check` every `every` until it returns Some, at most `tries` times
pub fn poll<T>(tries: u32, every: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    for attempt in 0..tries {
        if let Some(value) = check() {
            return Some(value);
        }
        if attempt + 1 < tries {
            thread::sleep(every);
        }
    }
    None
}

/// Every object key of the JSON `text`, nested ones included, in the order the text has them
/// (`serde_json::Value` sorts keys, so order checks read the text itself)
pub fn keys_in_order(text: &str) -> Vec<String> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    struct Keys<'a>(&'a mut Vec<String>);
    impl<'de> DeserializeSeed<'de> for Keys<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Keys<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                self.0.push(key);
                map.next_value_seed(Keys(&mut *self.0))?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Keys(&mut *self.0))?.is_some() {}
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    let mut keys = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    Keys(&mut keys)
        .deserialize(&mut de)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    keys
}
