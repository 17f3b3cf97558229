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
        Ok(self
            .io(import)?
            .store(&op)
            .map(|value| value.map(keyhole_core::Secret::into_exposed))
            .map_err(convert::store_error_to_wit))
    }
}

/// How many compare-and-swap rounds `secrets.set` tries before giving up to a busy writer
const SET_ATTEMPTS: usize = 16;

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
        let request = convert::request_from_wit(request);
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

    fn set(&mut self, key: String, value: String) -> Result<Result<(), t::SecretError>> {
        // The core's store has no blind write; compare-and-swap against what is there until the
        // swap lands gives one without a second code path in the adapters.
        for _ in 0..SET_ATTEMPTS {
            let current = match self.store_op("secrets.set", StoreOp::Load { key: key.clone() })? {
                Ok(current) => current,
                Err(e) => return Ok(Err(e)),
            };
            let op = convert::cas_op(key.clone(), current, value.clone());
            match self.store_op("secrets.set", op)? {
                Ok(Some(now)) if now == value => return Ok(Ok(())),
                Ok(_) => continue,
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Err(t::SecretError::Other(format!(
            "the record kept changing while writing it ({SET_ATTEMPTS} attempts); another process is writing it, try again"
        ))))
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
        let mut bytes = vec![0; len as usize];
        getrandom::fill(&mut bytes)
            .map_err(|e| wasmtime::format_err!("host.random-bytes: the OS gave no entropy: {e}"))?;
        Ok(bytes)
    }

    fn show_prompt(&mut self, prompt: t::Prompt) -> Result<()> {
        self.io("host.show-prompt")?
            .show(&convert::prompt_from_wit(prompt));
        Ok(())
    }

    fn open_browser(&mut self, url: String) -> Result<bool> {
        Ok(self.io("host.open-browser")?.open_browser(&url))
    }

    /// The attached `Io` owns the loopback listener (for the CLI, `WasiEngine` bound it and passed
    /// its port to the guest), so `port` names what it already listens on
    fn wait_callback(&mut self, _port: u16, timeout_ms: u64) -> Result<Option<String>> {
        let io = self.io("host.wait-callback")?;
        let until = io.now_ms().saturating_add(timeout_ms);
        Ok(io.wait_until(until))
    }
}
