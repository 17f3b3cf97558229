//! The WIT imports, performed by the host's [`keyhole_core::Io`]
//!
//! There is no second HTTP client or secret store here: every import goes to the `Io` the
//! embedder attached (for the CLI, host-native's reqwest client and keyring/file store). An import
//! called without one traps with an error naming it, which the caller sees as [`crate::Error::Call`].

use keyhole_core::{Io, StoreOp};
use wasmtime::Result;

use crate::HostState;
use crate::convert;
use crate::generated::keyhole::auth::{host, http, secrets, types as t};

impl HostState {
    fn io(&mut self, import: &str) -> Result<&mut (dyn Io + Send + 'static)> {
        match self.io.as_deref_mut() {
            Some(io) => Ok(io),
            None => Err(wasmtime::format_err!(
                "the `{import}` import was called but this instance has no host I/O attached (pass one to Runtime::instantiate)"
            )),
        }
    }

    fn store_op(
        &mut self,
        import: &str,
        op: StoreOp,
    ) -> Result<Result<Option<String>, t::SecretError>> {
        // A client operation runs for one remote: its secrets are the guest's to reach, no others.
        if let Some(prefix) = &self.namespace
            && !store_key(&op).starts_with(prefix.as_str())
        {
            return Ok(Err(t::SecretError::Denied(format!(
                "`{import}` asked for a key outside this operation's remote (`{prefix}…`); refused"
            ))));
        }
        Ok(self
            .io(import)?
            .store(&op)
            .map(|value| value.map(keyhole_core::Secret::into_exposed))
            .map_err(convert::store_error_to_wit))
    }
}

/// The storage key an operation touches
fn store_key(op: &StoreOp) -> &str {
    match op {
        StoreOp::Load { key }
        | StoreOp::CompareAndSwap { key, .. }
        | StoreOp::Delete { key }
        | StoreOp::Lock { key }
        | StoreOp::Unlock { key } => key,
    }
}

/// The most random bytes one `host.random-bytes` call returns; the core asks for 32 at a time,
/// so a larger request is a guest bug or an attempt to exhaust the host's memory
pub(crate) const MAX_RANDOM_BYTES: u32 = 4096;

/// The largest response body the host reads for a guest, whatever `max-response-bytes` asks:
/// the guest chooses that number, the host's memory is not its to spend
pub(crate) const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

impl t::Host for HostState {}

impl http::Host for HostState {
    fn send(
        &mut self,
        request: t::HttpRequest,
    ) -> Result<Result<t::HttpResponse, t::TransportError>> {
        if !matches!(request.redirect_policy, t::RedirectPolicy::NoFollow) {
            return Ok(Err(t::TransportError::Other(
                "this host never follows redirects".into(),
            )));
        }
        let request = match convert::request_from_wit(t::HttpRequest {
            max_response_bytes: request.max_response_bytes.min(MAX_RESPONSE_BYTES),
            ..request
        }) {
            Ok(request) => request,
            Err(error) => return Ok(Err(convert::transport_error_to_wit(error))),
        };
        Ok(self
            .io("http.send")?
            .send(&request)
            .map(convert::response_to_wit)
            .map_err(convert::transport_error_to_wit))
    }
}

impl secrets::Host for HostState {
    fn get(&mut self, key: String) -> Result<Result<Option<String>, t::SecretError>> {
        self.store_op("secrets.get", StoreOp::Load { key })
    }

    fn delete(&mut self, key: String) -> Result<Result<(), t::SecretError>> {
        self.store_op("secrets.delete", StoreOp::Delete { key })
            .map(|r| r.map(drop))
    }

    fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<String>,
        new: String,
    ) -> Result<Result<Option<String>, t::SecretError>> {
        self.store_op(
            "secrets.compare-and-swap",
            convert::cas_op(key, expected, new),
        )
    }

    fn lock(&mut self, key: String) -> Result<Result<(), t::SecretError>> {
        self.store_op("secrets.lock", StoreOp::Lock { key })
            .map(|r| r.map(drop))
    }

    fn unlock(&mut self, key: String) -> Result<Result<(), t::SecretError>> {
        self.store_op("secrets.unlock", StoreOp::Unlock { key })
            .map(|r| r.map(drop))
    }
}

impl host::Host for HostState {
    fn now_ms(&mut self) -> Result<u64> {
        Ok(self.io("host.now-ms")?.now_ms())
    }

    fn sleep(&mut self, ms: u64) -> Result<()> {
        let io = self.io("host.sleep")?;
        let until = io.now_ms().saturating_add(ms);
        // No callback listener is open outside a browser login, so this only waits.
        let _callback = io.wait_until(until);
        Ok(())
    }

    fn random_bytes(&mut self, len: u32) -> Result<Vec<u8>> {
        if len > MAX_RANDOM_BYTES {
            return Err(wasmtime::format_err!(
                "host.random-bytes: the component asked for {len} bytes; at most {MAX_RANDOM_BYTES} per call"
            ));
        }
        let mut bytes = vec![0; len as usize];
        getrandom::fill(&mut bytes)
            .map_err(|e| wasmtime::format_err!("host.random-bytes: the OS gave no entropy: {e}"))?;
        Ok(bytes)
    }

    /// A prompt whose URL does not parse is a contract violation (the core writes parsed URLs):
    /// the call traps rather than show the user something that is not a web page
    fn show_prompt(&mut self, prompt: t::Prompt) -> Result<()> {
        let prompt = convert::prompt_from_wit(prompt)
            .map_err(|e| wasmtime::format_err!("host.show-prompt: {e}"))?;
        self.io("host.show-prompt")?.show(&prompt);
        Ok(())
    }

    /// Only an absolute http(s) URL reaches the browser launcher: a component must not start
    /// `file:`, `javascript:` or custom-scheme handlers, or pass options to the opener
    fn open_browser(&mut self, url: String) -> Result<bool> {
        let io = self.io("host.open-browser")?;
        match web_url(&url) {
            Some(url) => Ok(io.open_browser(&url)),
            None => Ok(false),
        }
    }

    /// The attached `Io` owns the loopback listener (for the CLI, `WasiEngine` bound it and passed
    /// its port to the guest), so `port` names what it already listens on
    fn wait_callback(&mut self, _port: u16, timeout_ms: u64) -> Result<Option<String>> {
        let io = self.io("host.wait-callback")?;
        let until = io.now_ms().saturating_add(timeout_ms);
        Ok(io.wait_until(until))
    }

    /// The guest's verdict on the request `wait_callback` returned; the attached `Io` holds it
    /// open and writes the page (a verdict with no request pending is ignored there)
    fn answer_callback(&mut self, _port: u16, verdict: t::CallbackVerdict) -> Result<()> {
        self.io("host.answer-callback")?
            .answer_callback(convert::verdict_from_wit(verdict));
        Ok(())
    }
}

/// An absolute `http://` or `https://` URL with a host, and nothing a shell or opener could read
/// as something else (whitespace, control characters, a leading `-`)
fn web_url(raw: &str) -> Option<url::Url> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    url::Url::parse(raw).ok().filter(|url| {
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use keyhole_native::io::{Frontend, NativeIo};
    use keyhole_native::store::{Backend, Store};

    /// A frontend that records what it was asked to open
    struct Opened(Arc<Mutex<Vec<String>>>);

    impl Frontend for Opened {
        fn show_prompt(&mut self, _prompt: &keyhole_core::Prompt) {}
        fn open_browser(&mut self, url: &url::Url) -> bool {
            self.0.lock().unwrap().push(url.to_string());
            true
        }
    }

    fn state(dir: &std::path::Path) -> (HostState, Arc<Mutex<Vec<String>>>) {
        let opened = Arc::new(Mutex::new(Vec::new()));
        let mut io = NativeIo::new("ua", Store::open("t", dir, Backend::File));
        io.begin(Box::new(Opened(opened.clone())), None);
        (
            HostState::new(Some(Box::new(io)), crate::GuestLimits::default()),
            opened,
        )
    }

    #[test]
    fn a_client_operation_reaches_only_its_remotes_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = state(dir.path());
        s.namespace = Some("dev/".into());
        let own = secrets::Host::get(&mut s, "dev/ana".into()).unwrap();
        assert!(matches!(own, Ok(None)), "its own remote: looked up");
        for (op, result) in [
            (
                "get",
                secrets::Host::get(&mut s, "prod/ana".into())
                    .unwrap()
                    .map(drop),
            ),
            (
                "delete",
                secrets::Host::delete(&mut s, "prod/ana".into()).unwrap(),
            ),
            (
                "lock",
                secrets::Host::lock(&mut s, "prod/ana".into()).unwrap(),
            ),
            (
                "compare-and-swap",
                secrets::Host::compare_and_swap(&mut s, "prod/ana".into(), None, "x".into())
                    .unwrap()
                    .map(drop),
            ),
        ] {
            match result {
                Err(t::SecretError::Denied(why)) => {
                    assert!(
                        why.contains("outside this operation's remote"),
                        "{op}: {why}"
                    )
                }
                other => panic!("{op} on another remote's key: {other:?}"),
            }
        }
        assert!(
            std::fs::read_dir(dir.path()).map_or(true, |d| d.count() <= 1),
            "nothing was written"
        );
        // Outside a client operation (the machines export) the host performs store operations
        // itself, so there is no namespace to apply.
        s.namespace = None;
        let outside = secrets::Host::get(&mut s, "prod/ana".into()).unwrap();
        assert!(matches!(outside, Ok(None)));
    }

    #[test]
    fn random_bytes_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = state(dir.path());
        assert_eq!(host::Host::random_bytes(&mut s, 32).unwrap().len(), 32);
        let err = host::Host::random_bytes(&mut s, u32::MAX).unwrap_err();
        assert!(err.to_string().contains("at most 4096"), "{err}");
    }

    #[test]
    fn only_web_urls_reach_the_browser() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, opened) = state(dir.path());
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "vscode://x/y",
            "--new-window",
            "https://x.test/ --incognito",
            "http://",
            "https://x.test/\n",
        ] {
            assert!(
                !host::Host::open_browser(&mut s, bad.into()).unwrap(),
                "{bad}"
            );
        }
        assert!(
            host::Host::open_browser(&mut s, "https://login.example.test/a?b=c".into()).unwrap()
        );
        assert!(host::Host::open_browser(&mut s, "http://127.0.0.1:5/cb".into()).unwrap());
        assert_eq!(
            *opened.lock().unwrap(),
            ["https://login.example.test/a?b=c", "http://127.0.0.1:5/cb"]
        );
    }

    #[test]
    fn a_max_response_bytes_of_u64_max_does_not_wrap() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{\"ok\":true}");
        });
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = state(dir.path());
        let request = t::HttpRequest {
            method: t::Method::Get,
            url: format!("http://127.0.0.1:{port}/"),
            headers: vec![],
            body: vec![],
            max_response_bytes: u64::MAX,
            redirect_policy: t::RedirectPolicy::NoFollow,
        };
        let response = http::Host::send(&mut s, request).unwrap().unwrap();
        assert_eq!(response.body, b"{\"ok\":true}");
    }
}
