//! `NativeIo`: the core's [`Io`] over reqwest (rustls), the secret [`Store`], the system clock, a
//! browser launcher, and a loopback listener for browser login
//!
//! The HTTP client is built on the first request only, so a `token` call answered from the store
//! never starts reqwest's runtime.
//!
//! Proxies: remote hosts go through the proxy the environment names (`HTTPS_PROXY`,
//! `HTTP_PROXY`, `ALL_PROXY`, minus `NO_PROXY`, as reqwest reads them); loopback hosts never do,
//! whatever the environment says, so a token sent to a local provider cannot reach a proxy.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keyhole_core::endpoint::is_loopback_host;
use keyhole_core::http::{Body, Method};
use keyhole_core::{
    CallbackVerdict, HttpRequest, HttpResponse, Io, Prompt, Secret, StoreError, StoreOp,
    TransportError,
};

use crate::store::Store;

/// Connection set-up limit
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request limit
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a wait wakes up to update the spinner
const TICK: Duration = Duration::from_millis(100);

/// What the user sees while a flow runs; the CLI implements it, embedders may too
pub trait Frontend {
    /// Shows the device-login prompt (code and URL)
    fn show_prompt(&mut self, prompt: &Prompt);
    /// Delivers `url` to the user: opens a browser, or shows the URL when the user asked for
    /// that; `false` when no browser could be opened and the login should not wait for one
    fn open_browser(&mut self, url: &str) -> bool {
        open_url(url)
    }
    /// Called about every 100 ms while waiting (spinners); `until_ms` is the current deadline
    fn tick(&mut self, _now_ms: u64, _until_ms: u64) {}
    /// The wait is over (clear a spinner)
    fn done_waiting(&mut self) {}
}

/// A frontend that shows nothing and opens no browser (tests, embedders without a terminal)
#[derive(Debug, Default)]
pub struct Silent;

impl Frontend for Silent {
    fn show_prompt(&mut self, _prompt: &Prompt) {}
    fn open_browser(&mut self, _url: &str) -> bool {
        false
    }
}

/// The native host's [`Io`]
///
/// It owns everything it uses (no borrowed state), so a wasmtime host can keep one in its store
/// data and implement the component's imports by calling its [`Io`] methods. Per operation, a
/// caller installs the user-facing [`Frontend`] (and the loopback listener of a browser login)
/// with [`NativeIo::begin`] and removes them with [`NativeIo::finish`].
pub struct NativeIo {
    /// Client for remote hosts (environment proxies apply), built on its first use
    http: Option<reqwest::blocking::Client>,
    /// Client for loopback hosts (never a proxy), built on its first use
    http_direct: Option<reqwest::blocking::Client>,
    user_agent: String,
    store: Store,
    frontend: Box<dyn Frontend + Send>,
    listener: Option<CallbackListener>,
    /// The request the last `wait_until` returned, open until the core's verdict
    held: Option<HeldRequest>,
    /// After a browser could not be opened for a browser login, the clock is moved past every
    /// deadline so the flow ends at once (with `callback_timeout`) instead of waiting for nothing
    skipped_to_ms: u64,
    no_browser: bool,
}

impl std::fmt::Debug for NativeIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeIo")
            .field("http_built", &self.http_client_built())
            .field("store", &self.store)
            .field("listener", &self.listener)
            .finish()
    }
}

impl NativeIo {
    /// An `Io` over `store`; it shows nothing until [`NativeIo::begin`] installs a frontend
    pub fn new(user_agent: impl Into<String>, store: Store) -> Self {
        Self {
            http: None,
            http_direct: None,
            user_agent: user_agent.into(),
            store,
            frontend: Box::new(Silent),
            listener: None,
            held: None,
            skipped_to_ms: 0,
            no_browser: false,
        }
    }

    /// Starts an operation: prompts go to `frontend`; a browser login passes its bound listener
    pub fn begin(&mut self, frontend: Box<dyn Frontend + Send>, listener: Option<TcpListener>) {
        self.frontend = frontend;
        self.listener = listener.map(CallbackListener::new);
        self.held = None;
        self.skipped_to_ms = 0;
        self.no_browser = false;
    }

    /// Ends an operation: drops its frontend and listener, and the clock is real again
    pub fn finish(&mut self) {
        self.begin(Box::new(Silent), None);
    }

    /// The secret store (its [`Store::source`] says keyring or file once it has been used)
    pub fn secret_store(&self) -> &Store {
        &self.store
    }

    /// Whether an HTTP client has been built (it is only built for a request)
    pub fn http_client_built(&self) -> bool {
        self.http.is_some() || self.http_direct.is_some()
    }

    /// The client for `raw`: the direct one for loopback hosts, else the one with env proxies
    fn client_for(&mut self, raw: &str) -> Result<reqwest::blocking::Client, TransportError> {
        let direct = url::Url::parse(raw).is_ok_and(|u| is_loopback_url(&u));
        let slot = if direct {
            &mut self.http_direct
        } else {
            &mut self.http
        };
        if let Some(client) = slot {
            return Ok(client.clone());
        }
        let client = build_client(&self.user_agent, direct)?;
        *slot = Some(client.clone());
        Ok(client)
    }
}

/// A client that never follows redirects; `direct` ignores every proxy the environment names
pub fn build_client(
    user_agent: &str,
    direct: bool,
) -> Result<reqwest::blocking::Client, TransportError> {
    let mut builder = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(user_agent);
    if direct {
        builder = builder.no_proxy();
    }
    builder
        .build()
        .map_err(|e| TransportError::Other(format!("cannot set up HTTP: {e}")))
}

/// 127.0.0.0/8, ::1 (also as an IPv4-mapped address) and `localhost`
fn is_loopback_url(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Some(url::Host::Domain(name)) => {
            name.trim_end_matches('.').eq_ignore_ascii_case("localhost")
        }
        None => false,
    }
}

/// The second check of the rule the core already applies: https, or http to a loopback host
fn check_url(raw: &str) -> Result<url::Url, TransportError> {
    let url = url::Url::parse(raw)
        .map_err(|e| TransportError::Other(format!("not a valid URL ({e})")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback_host(url.host_str().unwrap_or_default()) => Ok(url),
        _ => Err(TransportError::Other(format!(
            "refusing to send a request to {}://{} (only https, or http on loopback)",
            url.scheme(),
            url.host_str().unwrap_or("")
        ))),
    }
}

/// Performs one request as the core describes it; the body is read up to the cap only
///
/// `client` must not use a proxy for a loopback URL: see [`build_client`].
pub fn send_with(
    client: &reqwest::blocking::Client,
    request: &HttpRequest,
) -> Result<HttpResponse, TransportError> {
    let url = check_url(&request.url)?;
    let mut builder = match request.method {
        Method::Get => client.get(url),
        Method::Post => client.post(url),
        Method::Delete => client.delete(url),
    };
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.expose());
    }
    if let Some(content_type) = request.body.content_type() {
        builder = builder.header("content-type", content_type);
    }
    match &request.body {
        Body::Empty => {}
        Body::Form(_) => builder = builder.body(request.encoded_form().unwrap_or_default()),
        Body::Json(text) => builder = builder.body(text.clone()),
    }
    let response = builder.send().map_err(map_reqwest_error)?;
    let cap = request.max_response_bytes;
    if response
        .content_length()
        .is_some_and(|len| len > cap as u64)
    {
        return Err(TransportError::TooLarge);
    }
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    let mut body = Vec::new();
    // One byte past the cap tells "too large" from "exactly the cap"; a cap of usize::MAX (a
    // guest may ask for u64::MAX) saturates instead of wrapping to take(0).
    response
        .take(u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| map_read_error(&e))?;
    if body.len() > cap {
        return Err(TransportError::TooLarge);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn map_read_error(e: &std::io::Error) -> TransportError {
    match e.kind() {
        std::io::ErrorKind::TimedOut => TransportError::Timeout,
        _ => TransportError::Other(format!("the response broke off: {e}")),
    }
}

/// Maps a reqwest error to the core's transport kinds; the message carries no URL
fn map_reqwest_error(e: reqwest::Error) -> TransportError {
    let chain = {
        let mut text = String::new();
        let mut source: Option<&dyn std::error::Error> = Some(&e);
        while let Some(s) = source {
            text.push_str(&s.to_string().to_ascii_lowercase());
            text.push(' ');
            source = s.source();
        }
        text
    };
    if e.is_timeout() || chain.contains("timed out") {
        TransportError::Timeout
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
        TransportError::Dns
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake")
    {
        TransportError::Tls
    } else if e.is_connect() {
        TransportError::Connect
    } else {
        TransportError::Other(e.without_url().to_string())
    }
}

/// The current unix time in milliseconds
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Io for NativeIo {
    fn now_ms(&mut self) -> u64 {
        unix_now_ms().max(self.skipped_to_ms)
    }

    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let client = self.client_for(&request.url)?;
        send_with(&client, request)
    }

    fn store(&mut self, op: &StoreOp) -> Result<Option<Secret>, StoreError> {
        self.store.perform(op)
    }

    fn show(&mut self, prompt: &Prompt) {
        self.frontend.show_prompt(prompt);
    }

    fn open_browser(&mut self, url: &str) -> bool {
        let opened = self.frontend.open_browser(url);
        if !opened && self.listener.is_some() {
            self.no_browser = true;
        }
        opened
    }

    fn wait_until(&mut self, until_ms: u64) -> Option<String> {
        if self.no_browser {
            self.skipped_to_ms = self.skipped_to_ms.max(until_ms);
            return None;
        }
        if self.held.is_some() {
            // The verdict never came (a caller driving this `Io` by hand): confirm nothing.
            self.answer_callback(CallbackVerdict::Rejected);
        }
        let result = match &self.listener {
            Some(listener) => {
                listener
                    .next(until_ms, self.frontend.as_mut())
                    .map(|(target, held)| {
                        self.held = Some(held);
                        target
                    })
            }
            None => {
                loop {
                    let now = unix_now_ms();
                    if now >= until_ms {
                        break;
                    }
                    self.frontend.tick(now, until_ms);
                    thread::sleep(TICK.min(Duration::from_millis(until_ms - now)));
                }
                None
            }
        };
        self.frontend.done_waiting();
        result
    }

    fn answer_callback(&mut self, verdict: CallbackVerdict) {
        if let Some(held) = self.held.take() {
            let (status, page) = match verdict {
                CallbackVerdict::Accepted => ("200 OK", ACCEPTED_PAGE),
                CallbackVerdict::Rejected => ("400 Bad Request", REJECTED_PAGE),
                CallbackVerdict::Failed => ("200 OK", FAILED_PAGE),
            };
            respond(&held.stream, status, page);
        }
    }
}

/// The pages the browser shows, by the core's verdict on its request
///
/// Each is written only after the core has checked the request (path, state, issuer), so the
/// accepted page may say the login was received; the terminal still says whether it succeeded.
const ACCEPTED_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Login received</title></head>\
<body style=\"font-family:sans-serif\"><h1>Login received</h1><p>Return to the terminal: it finishes the login and shows the result. You can close this tab.</p></body></html>";
const REJECTED_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Not this login</title></head>\
<body style=\"font-family:sans-serif\"><h1>Not this login</h1><p>This request does not belong to the login in progress, which is still waiting. If you started a login, finish it in the browser tab it opened.</p></body></html>";
const FAILED_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Login failed</title></head>\
<body style=\"font-family:sans-serif\"><h1>Login failed</h1><p>Return to the terminal to see why. You can close this tab.</p></body></html>";

/// The most a callback request's head (request line and headers) may hold
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// How long one connection may take to send its request head
const PER_CONNECTION: Duration = Duration::from_secs(2);
/// Connections open at once (being read or held for a verdict); more are closed unanswered
/// until one finishes
const MAX_CONNECTIONS: usize = 16;

/// A loopback GET request whose head has been read, open until the core's verdict is written
struct HeldRequest {
    stream: TcpStream,
    _slot: ConnectionSlot,
}

/// One of the [`MAX_CONNECTIONS`]; freed when the connection is answered or dropped
struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The browser-login listener: hands over GET requests one at a time, held open for the
/// core's verdict, and keeps those that arrive in the meantime for the next wait
///
/// Each connection is read on its own thread within [`PER_CONNECTION`] and [`MAX_REQUEST_HEAD`],
/// so a slow or junk client never delays the real callback, and each wait ends at its deadline
/// whatever the clients do. Which request is the callback is the core's decision, not this one's.
#[derive(Debug)]
struct CallbackListener {
    listener: TcpListener,
    arrived_tx: mpsc::Sender<(String, HeldRequest)>,
    arrived: mpsc::Receiver<(String, HeldRequest)>,
    active: Arc<AtomicUsize>,
}

impl std::fmt::Debug for HeldRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeldRequest")
    }
}

impl CallbackListener {
    fn new(listener: TcpListener) -> Self {
        let (arrived_tx, arrived) = mpsc::channel();
        Self {
            listener,
            arrived_tx,
            arrived,
            active: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The next GET request's target, held open, or `None` at `until_ms`
    fn next(&self, until_ms: u64, frontend: &mut dyn Frontend) -> Option<(String, HeldRequest)> {
        if self.listener.set_nonblocking(true).is_err() {
            return None;
        }
        loop {
            if let Ok(request) = self.arrived.try_recv() {
                return Some(request);
            }
            let now = unix_now_ms();
            if now >= until_ms {
                return None;
            }
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                        continue; // dropped: closed unanswered
                    }
                    self.active.fetch_add(1, Ordering::SeqCst);
                    let slot = ConnectionSlot(Arc::clone(&self.active));
                    let deadline = Instant::now()
                        + PER_CONNECTION.min(Duration::from_millis(until_ms.saturating_sub(now)));
                    let arrived = self.arrived_tx.clone();
                    thread::spawn(move || match read_get_target(&stream, deadline) {
                        Ok(target) => {
                            let _ = arrived.send((
                                target,
                                HeldRequest {
                                    stream,
                                    _slot: slot,
                                },
                            ));
                        }
                        Err(status) => respond(&stream, status, status),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    frontend.tick(now, until_ms);
                    thread::sleep(
                        Duration::from_millis(20).min(Duration::from_millis(until_ms - now)),
                    );
                }
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

/// Reads the head of `stream`, at most [`MAX_REQUEST_HEAD`] bytes before `deadline`, or the
/// status to answer instead
fn read_request_head(stream: &TcpStream, deadline: Instant) -> Result<Vec<u8>, &'static str> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(head);
        }
        if head.len() > MAX_REQUEST_HEAD {
            return Err("431 Request Header Fields Too Large");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err("408 Request Timeout");
        }
        match (&*stream).read(&mut chunk) {
            Ok(0) => return Err("400 Bad Request"),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(_) => return Err("408 Request Timeout"),
        }
    }
}

/// Reads one request's head and returns its target when it is a GET request, or the status to
/// answer it with at once (it is no browser's redirect)
fn read_get_target(stream: &TcpStream, deadline: Instant) -> Result<String, &'static str> {
    let _ = stream.set_nonblocking(false);
    let head = read_request_head(stream, deadline)?;
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = std::str::from_utf8(line)
        .unwrap_or_default()
        .split_whitespace();
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) => Ok(target.to_owned()),
        _ => Err("404 Not Found"),
    }
}

/// Writes a whole response and closes the connection; the body is the status when no page fits
fn respond(stream: &TcpStream, status: &str, body: &str) {
    let mut out = stream;
    let _ = stream.set_write_timeout(Some(PER_CONNECTION));
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\ncache-control: no-store\r\n\r\n{body}",
        body.len()
    );
    let _ = out.flush();
}

/// Opens `url` in the user's browser: `$BROWSER` if set, else `wslview` on WSL, else the
/// platform opener; `false` when nothing could be started or the opener failed at once
pub fn open_url(url: &str) -> bool {
    let mut candidates: Vec<(String, Vec<String>)> = Vec::new();
    if let Ok(browser) = std::env::var("BROWSER") {
        // `$BROWSER` may list several commands separated by `:`; `%s` marks where the URL goes.
        for cmd in browser.split(':').filter(|c| !c.trim().is_empty()) {
            let mut words: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
            if words.iter().any(|w| w.contains("%s")) {
                words = words.into_iter().map(|w| w.replace("%s", url)).collect();
            } else {
                words.push(url.to_owned());
            }
            let program = words.remove(0);
            candidates.push((program, words));
        }
    } else {
        let wsl = std::env::var_os("WSL_DISTRO_NAME").is_some()
            || std::path::Path::new("/proc/sys/fs/binfmt_misc/WSLInterop").exists();
        if wsl {
            candidates.push(("wslview".into(), vec![url.into()]));
        }
        if cfg!(target_os = "macos") {
            candidates.push(("open".into(), vec![url.into()]));
        } else if cfg!(windows) {
            candidates.push(("explorer".into(), vec![url.into()]));
        } else {
            candidates.push(("xdg-open".into(), vec![url.into()]));
        }
    }
    candidates
        .into_iter()
        .any(|(program, args)| launch(&program, &args))
}

/// Starts a browser command; it counts as opened unless it exits with failure within a second
fn launch(program: &str, args: &[String]) -> bool {
    let Ok(mut child) = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(_) => return false,
        }
    }
    // Still running: a browser that stays open. Reap it in the background.
    thread::spawn(move || {
        let _ = child.wait();
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Serves one canned answer per connection on 127.0.0.1 and returns its base URL
    fn serve(answers: Vec<String>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for answer in answers {
                let (mut stream, _) = listener.accept().unwrap();
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        format!("http://127.0.0.1:{port}")
    }

    fn client() -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    #[test]
    fn native_io_can_live_in_a_wasmtime_store() {
        // wasmtime's `Store<T>` needs `T: 'static` (and `Send` for async use).
        fn check<T: Send + 'static>() {}
        check::<NativeIo>();
    }

    #[test]
    fn does_not_follow_redirects() {
        let base = serve(vec![
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/elsewhere\r\ncontent-length: 0\r\n\r\n".into(),
        ]);
        let r = send_with(&client(), &HttpRequest::get_json(format!("{base}/x"))).unwrap();
        assert_eq!(r.status, 302);
        assert_eq!(r.header("location"), Some("http://127.0.0.1:1/elsewhere"));
    }

    #[test]
    fn enforces_the_size_cap_with_and_without_content_length() {
        let big = "x".repeat(2000);
        let base = serve(vec![
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{big}",
                big.len()
            ),
            format!("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{big}"),
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nsmall".into(),
        ]);
        let mut req = HttpRequest::get_json(format!("{base}/"));
        req.max_response_bytes = 1000;
        assert_eq!(send_with(&client(), &req), Err(TransportError::TooLarge));
        assert_eq!(send_with(&client(), &req), Err(TransportError::TooLarge));
        let ok = send_with(&client(), &req).unwrap();
        assert_eq!(ok.body, b"small");
    }

    #[test]
    fn the_largest_cap_does_not_wrap() {
        let base = serve(vec![
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nsmall".into(),
            "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nsmall".into(),
        ]);
        let mut req = HttpRequest::get_json(format!("{base}/"));
        req.max_response_bytes = usize::MAX;
        assert_eq!(send_with(&client(), &req).unwrap().body, b"small");
        assert_eq!(send_with(&client(), &req).unwrap().body, b"small");
    }

    #[test]
    fn sends_form_and_headers() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 8192];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).contains("grant_type=x") {
                let n = stream.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                .unwrap();
            String::from_utf8(got).unwrap()
        });
        let req = HttpRequest::post_form(
            format!("http://localhost:{port}/token"),
            vec![("grant_type".into(), "x".into())],
        );
        let io_store = Store::open(
            "t",
            tempfile::tempdir().unwrap().path(),
            crate::store::Backend::File,
        );
        let mut io = NativeIo::new("keyhole-test/1", io_store);
        assert!(!io.http_client_built());
        assert_eq!(io.send(&req).unwrap().status, 200);
        assert!(io.http_client_built());
        let text = seen.join().unwrap().to_ascii_lowercase();
        assert!(text.starts_with("post /token http/1.1"), "{text}");
        assert!(text.contains("user-agent: keyhole-test/1"));
        assert!(text.contains("content-type: application/x-www-form-urlencoded"));
        assert!(text.contains("accept: application/json"));
    }

    /// Serves one request and returns its text once `until` appears in it
    fn serve_one(listener: TcpListener, until: &'static str) -> thread::JoinHandle<String> {
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 8192];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).contains(until) {
                let n = stream.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .unwrap();
            String::from_utf8(got).unwrap()
        })
    }

    #[test]
    fn sends_json_bodies_and_deletes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = serve_one(listener, r#""ci"}"#);
        let req = HttpRequest {
            method: Method::Post,
            url: format!("http://127.0.0.1:{port}/api-keys"),
            headers: vec![],
            body: Body::Json(r#"{"name":"ci"}"#.into()),
            max_response_bytes: 1024,
        };
        assert_eq!(send_with(&client(), &req).unwrap().status, 204);
        let text = seen.join().unwrap().to_ascii_lowercase();
        assert!(text.starts_with("post /api-keys http/1.1"), "{text}");
        assert!(text.contains("content-type: application/json"), "{text}");
        assert!(text.ends_with(r#"{"name":"ci"}"#), "{text}");

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = serve_one(listener, "\r\n\r\n");
        let req = HttpRequest {
            method: Method::Delete,
            body: Body::Empty,
            url: format!("http://127.0.0.1:{port}/api-keys/7"),
            ..req
        };
        assert_eq!(send_with(&client(), &req).unwrap().status, 204);
        let text = seen.join().unwrap().to_ascii_lowercase();
        assert!(text.starts_with("delete /api-keys/7 http/1.1"), "{text}");
        assert!(!text.contains("content-type"), "{text}");
    }

    #[test]
    fn an_account_call_runs_through_native_io_and_the_file_store() {
        use keyhole_core::client::{self, CredentialOptions, RemoteSpec};
        use keyhole_core::credential::AuthType;
        use keyhole_core::{AccountOperation, AccountValue, Secret};

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 8192];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).contains(r#""ci"}"#) {
                let n = stream.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            let body = r#"{"id":3,"key":"k-created-native","name":"ci"}"#;
            let answer = format!(
                "HTTP/1.1 201 Created\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).unwrap();
            String::from_utf8(got).unwrap()
        });
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open("t", dir.path(), crate::store::Backend::File);
        let mut io = NativeIo::new("keyhole-test/1", store);
        let remote = RemoteSpec {
            name: "vast".into(),
            api_url: Some(format!("http://127.0.0.1:{port}/api/v0")),
            ..RemoteSpec::default()
        };
        client::login_api_key(
            &mut io,
            &remote,
            Some("dev"),
            Secret::new("k-stored-native"),
        )
        .unwrap();
        let options = CredentialOptions {
            prefer: AuthType::ApiKey,
            env_api_key: None,
        };
        let create: AccountOperation =
            serde_json::from_str(r#"{"create_key":{"name":"ci"}}"#).unwrap();
        let value = client::account_call(&mut io, &remote, "dev", &options, &create).unwrap();
        let AccountValue::CreatedKey(created) = value else {
            panic!("not a created key: {value:?}");
        };
        assert_eq!(created.key, Secret::new("k-created-native"));
        assert_eq!(created.body, serde_json::json!({"id": 3, "name": "ci"}));
        let text = seen.join().unwrap().to_ascii_lowercase();
        assert!(text.starts_with("post /api/v0/api-keys http/1.1"), "{text}");
        assert!(
            text.contains("authorization: bearer k-stored-native"),
            "{text}"
        );
        assert!(text.contains("content-type: application/json"), "{text}");
    }

    #[test]
    fn refuses_plain_http_off_loopback_and_maps_connect_errors() {
        let e = send_with(&client(), &HttpRequest::get_json("http://example.com/")).unwrap_err();
        assert!(
            matches!(e, TransportError::Other(ref m) if m.contains("only https")),
            "{e:?}"
        );
        let e = send_with(&client(), &HttpRequest::get_json("ftp://127.0.0.1/")).unwrap_err();
        assert_eq!(e.kind(), "other");
        // A port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = send_with(
            &client(),
            &HttpRequest::get_json(format!("http://127.0.0.1:{port}/")),
        )
        .unwrap_err();
        assert_eq!(e, TransportError::Connect);
    }

    fn test_io() -> NativeIo {
        let store = Store::open(
            "t",
            tempfile::tempdir().unwrap().path(),
            crate::store::Backend::File,
        );
        NativeIo::new("ua", store)
    }

    /// Sends a GET for `path` to the listener on `port` and reads the whole answer
    fn get(port: u16, path: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn callback_listener_holds_each_request_until_the_core_answers_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let browser = thread::spawn(move || {
            (
                get(port, "/favicon.ico"),
                get(port, "/callback?code=x&state=wrong"),
                get(port, "/callback?code=c&state=s"),
            )
        });
        let mut io = test_io();
        io.begin(Box::new(Silent), Some(listener));
        let until = unix_now_ms() + 10_000;
        // The listener decides nothing: every GET goes to the core, which answers each one.
        assert_eq!(io.wait_until(until).as_deref(), Some("/favicon.ico"));
        io.answer_callback(CallbackVerdict::Rejected);
        let wrong = io.wait_until(until);
        assert_eq!(wrong.as_deref(), Some("/callback?code=x&state=wrong"));
        // Still held: the client has no answer until the verdict.
        thread::sleep(Duration::from_millis(200));
        assert!(!browser.is_finished());
        io.answer_callback(CallbackVerdict::Rejected);
        assert_eq!(
            io.wait_until(until).as_deref(),
            Some("/callback?code=c&state=s")
        );
        io.answer_callback(CallbackVerdict::Accepted);
        let (favicon, wrong, page) = browser.join().unwrap();
        assert!(favicon.starts_with("HTTP/1.1 400"), "{favicon}");
        assert!(wrong.starts_with("HTTP/1.1 400"), "{wrong}");
        let lower = wrong.to_ascii_lowercase();
        for claim in ["received", "success", "logged in", "complete"] {
            assert!(
                !lower.contains(claim),
                "a rejected page claims {claim:?}: {wrong}"
            );
        }
        assert!(wrong.contains("still waiting"), "{wrong}");
        assert!(page.starts_with("HTTP/1.1 200") && page.contains("Login received"));
    }

    #[test]
    fn a_failed_verdict_says_the_login_failed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let browser = thread::spawn(move || get(port, "/callback?error=access_denied&state=s"));
        let mut io = test_io();
        io.begin(Box::new(Silent), Some(listener));
        assert!(io.wait_until(unix_now_ms() + 10_000).is_some());
        io.answer_callback(CallbackVerdict::Failed);
        let page = browser.join().unwrap();
        assert!(
            page.contains("Login failed") && !page.contains("received"),
            "{page}"
        );
    }

    #[test]
    fn requests_arriving_while_one_is_held_wait_for_the_next_wait() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut io = test_io();
        io.begin(Box::new(Silent), Some(listener));
        let first = thread::spawn(move || get(port, "/callback?code=x&state=wrong"));
        let until = unix_now_ms() + 10_000;
        assert!(io.wait_until(until).is_some());
        // The real callback comes while the core is deciding on the first: it is kept.
        let second = thread::spawn(move || get(port, "/callback?code=c&state=s"));
        thread::sleep(Duration::from_millis(300));
        io.answer_callback(CallbackVerdict::Rejected);
        assert_eq!(
            io.wait_until(until).as_deref(),
            Some("/callback?code=c&state=s")
        );
        io.answer_callback(CallbackVerdict::Accepted);
        assert!(first.join().unwrap().starts_with("HTTP/1.1 400"));
        assert!(second.join().unwrap().starts_with("HTTP/1.1 200"));
    }

    /// A client that sends one byte every 1.5 s until the server closes the connection
    fn slow_client(port: u16) {
        thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            for b in b"GET /callback?code=slow&state=slow HTTP/1.1\r\n\r\n"
                .iter()
                .cycle()
            {
                if s.write_all(&[*b]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(1500));
            }
        });
    }

    /// Waits for the listener's next request on a thread; its target (answered `Accepted`), or
    /// `Err` if it is still waiting at `within`
    fn wait_for_callback(
        listener: TcpListener,
        wait_ms: u64,
        within: Duration,
    ) -> Result<Option<String>, std::sync::mpsc::RecvTimeoutError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let until = unix_now_ms() + wait_ms;
        thread::spawn(move || {
            let listener = CallbackListener::new(listener);
            let next = listener.next(until, &mut Silent).map(|(target, held)| {
                respond(&held.stream, "200 OK", ACCEPTED_PAGE);
                target
            });
            let _ = tx.send(next);
        });
        rx.recv_timeout(within)
    }

    #[test]
    fn slow_clients_cannot_stretch_the_login_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        for _ in 0..3 {
            slow_client(port);
        }
        // A 3 s wait ends by its deadline (checked with 2 s to spare for a loaded machine).
        let started = Instant::now();
        let outcome = wait_for_callback(listener, 3000, Duration::from_secs(5));
        assert_eq!(outcome, Ok(None), "the wait outlived its deadline");
        assert!(started.elapsed() >= Duration::from_millis(2900));
    }

    #[test]
    fn slow_junk_and_oversized_clients_do_not_block_the_real_callback() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        slow_client(port);
        slow_client(port);
        let oversized = thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let _ = write!(s, "GET /callback?code={} HTTP/1.1\r\n", "x".repeat(9000));
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        });
        let junk = thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"\x16\x03\x01 not http at all\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        });
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            write!(
                s,
                "GET /callback?code=c&state=s HTTP/1.1\r\nhost: x\r\n\r\n"
            )
            .unwrap();
            let _ = s.read_to_string(&mut String::new());
        });
        // Served long before the 20 s deadline, although slow clients connected first.
        let outcome = wait_for_callback(listener, 20_000, Duration::from_secs(3));
        assert_eq!(outcome, Ok(Some("/callback?code=c&state=s".to_owned())));
        let oversized = oversized.join().unwrap();
        assert!(oversized.starts_with("HTTP/1.1 431"), "{oversized}");
        let junk = junk.join().unwrap();
        assert!(junk.starts_with("HTTP/1.1 404"), "{junk}");
    }

    #[test]
    fn waits_until_the_deadline_without_a_listener() {
        let mut io = test_io();
        let start = unix_now_ms();
        assert_eq!(io.wait_until(start + 150), None);
        assert!(unix_now_ms() >= start + 150);
    }

    #[test]
    fn browser_env_command_gets_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("opened");
        let script = dir.path().join("browser.sh");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$1\" > {}\n", out.display()),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        assert!(launch(
            script.to_str().unwrap(),
            &["https://x.test/?a=1".into()]
        ));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            "https://x.test/?a=1"
        );
        assert!(!launch("/nonexistent/browser", &[]));
        assert!(!launch("false", &[]));
    }
}
