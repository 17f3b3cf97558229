//! [`WasiEngine`]: host-native's [`Engine`] run through the component, so `keyhole-wasi` is the
//! `keyhole` command line with the core inside wasmtime
//!
//! Every import is performed by host-native's own `NativeIo` (reqwest, keyring/file store, the
//! loopback listener, the terminal front end): the only difference from `keyhole` is where the
//! protocol code runs.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use keyhole_core::client::{
    CredentialOptions, LoginOutcome, LogoutOutcome, RemoteSpec, StatusReport, TestFailure,
    TestOptions, TestReport,
};
use keyhole_core::credential::ResolvedCredential;
use keyhole_core::{
    AccountOperation, AccountValue, AuthError, CallbackVerdict, HttpRequest, HttpResponse, Io,
    Prompt, Secret, StoreError, StoreOp, TransportError,
};
use keyhole_native::io::{Frontend, NativeIo, Silent};
use keyhole_native::store::Source;
use keyhole_native::{App, Engine};

use crate::client::{ClientResult, RemoteClient};
use crate::{CacheOutcome, Error, Instance, Runtime};

/// Where the engine gets the component from
#[derive(Debug, Clone)]
pub enum ComponentSource {
    /// The component compiled into this crate ([`Runtime::embedded`])
    Embedded,
    /// A file, read on first use
    Path(PathBuf),
}

/// The [`Engine`] that runs `keyhole_core::client` inside the component
pub struct WasiEngine {
    io: Arc<Mutex<NativeIo>>,
    source: ComponentSource,
    cache_dir: Option<PathBuf>,
    runtime: Option<Runtime>,
}

impl std::fmt::Debug for WasiEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiEngine")
            .field("source", &self.source)
            .field("cache_dir", &self.cache_dir)
            .field("loaded", &self.runtime.is_some())
            .finish()
    }
}

/// host-native's `Io`, shared between the engine (which starts and finishes each operation on
/// it) and the instance whose imports perform it
struct SharedIo(Arc<Mutex<NativeIo>>);

impl SharedIo {
    fn lock(&self) -> MutexGuard<'_, NativeIo> {
        // A panic while holding it ends the process (the CLI does not catch panics); a poisoned
        // lock still holds a usable `Io`.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Io for SharedIo {
    fn now_ms(&mut self) -> u64 {
        self.lock().now_ms()
    }
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        self.lock().send(request)
    }
    fn store(&mut self, op: &StoreOp) -> Result<Option<Secret>, StoreError> {
        self.lock().store(op)
    }
    fn show(&mut self, prompt: &Prompt) {
        self.lock().show(prompt)
    }
    fn open_browser(&mut self, url: &str) -> bool {
        self.lock().open_browser(url)
    }
    fn wait_until(&mut self, until_ms: u64) -> Option<String> {
        self.lock().wait_until(until_ms)
    }
    fn answer_callback(&mut self, verdict: CallbackVerdict) {
        self.lock().answer_callback(verdict)
    }
}

impl WasiEngine {
    /// An engine for `app` (keyring service, config directory, user agent) running the
    /// component from `source`, with precompiled artefacts cached in `cache_dir`
    ///
    /// The component is loaded at the first operation, so `--help` and config commands never
    /// pay for it.
    pub fn new(app: &App, source: ComponentSource, cache_dir: Option<PathBuf>) -> Self {
        Self {
            io: Arc::new(Mutex::new(NativeIo::new(app.user_agent(), app.store()))),
            source,
            cache_dir,
            runtime: None,
        }
    }

    /// Runs one operation on `remote` in a fresh instance with host-native's `Io` behind the
    /// imports
    fn run<T>(
        &mut self,
        remote: &RemoteSpec,
        ui: Box<dyn Frontend + Send>,
        listener: Option<TcpListener>,
        call: impl FnOnce(&mut Instance, &RemoteClient) -> ClientResult<T>,
    ) -> Result<T, AuthError> {
        let runtime = match &mut self.runtime {
            Some(runtime) => runtime,
            slot => {
                let loaded = match &self.source {
                    ComponentSource::Embedded => Runtime::embedded(self.cache_dir.as_deref()),
                    ComponentSource::Path(path) => {
                        Runtime::from_path(path, self.cache_dir.as_deref())
                    }
                };
                let loaded = loaded.map_err(host_failure)?;
                if let CacheOutcome::Refused(why) = loaded.cache_outcome() {
                    eprintln!("warning: not using the compiled-code cache: {why}");
                }
                slot.insert(loaded)
            }
        };
        let shared = SharedIo(Arc::clone(&self.io));
        shared.lock().begin(ui, listener);
        let result = runtime
            .instantiate(Some(Box::new(SharedIo(Arc::clone(&self.io)))))
            .and_then(|mut instance| {
                let client = instance.remote_client(remote)?;
                let result = call(&mut instance, &client)?;
                instance.drop_remote_client(client)?;
                Ok(result)
            });
        shared.lock().finish();
        result.map_err(host_failure)?
    }
}

/// The component could not run the operation: a config error naming it, with the fix
fn host_failure(error: Error) -> AuthError {
    AuthError::Config {
        detail: error.to_string(),
    }
}

impl Engine for WasiEngine {
    fn login_device(
        &mut self,
        remote: &RemoteSpec,
        account_hint: Option<&str>,
        ui: Box<dyn Frontend + Send>,
    ) -> Result<LoginOutcome, AuthError> {
        self.run(remote, ui, None, |i, c| i.login_device(c, account_hint))
    }

    fn login_browser(
        &mut self,
        remote: &RemoteSpec,
        account_hint: Option<&str>,
        listener: TcpListener,
        timeout_s: u64,
        ui: Box<dyn Frontend + Send>,
    ) -> Result<LoginOutcome, AuthError> {
        let port = keyhole_native::engine::listener_port(&listener)?;
        self.run(remote, ui, Some(listener), |i, c| {
            i.login_browser(c, account_hint, port, timeout_s)
        })
    }

    fn login_api_key(
        &mut self,
        remote: &RemoteSpec,
        key: Secret,
    ) -> Result<LoginOutcome, AuthError> {
        self.run(remote, Box::new(Silent), None, |i, c| {
            i.login_api_key(c, &key)
        })
    }

    fn set_key(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        key: Secret,
    ) -> Result<LoginOutcome, AuthError> {
        self.run(remote, Box::new(Silent), None, |i, c| {
            i.set_key(c, account, &key)
        })
    }

    fn token(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &CredentialOptions,
    ) -> Result<ResolvedCredential, AuthError> {
        self.run(remote, Box::new(Silent), None, |i, c| {
            i.token(c, account, options)
        })
    }

    fn status(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &CredentialOptions,
    ) -> Result<StatusReport, AuthError> {
        self.run(remote, Box::new(Silent), None, |i, c| {
            i.status(c, account, options)
        })
    }

    fn logout(&mut self, remote: &RemoteSpec, account: &str) -> Result<LogoutOutcome, AuthError> {
        self.run(remote, Box::new(Silent), None, |i, c| i.logout(c, account))
    }

    fn forget(&mut self, remote: &RemoteSpec, account: &str) -> Result<(), AuthError> {
        self.run(remote, Box::new(Silent), None, |i, c| i.forget(c, account))
    }

    fn test(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &TestOptions,
    ) -> Result<TestReport, TestFailure> {
        let mut failure = None;
        let report = self.run(remote, Box::new(Silent), None, |i, c| {
            i.test(c, account, options).map(|result| {
                result.map_err(|f| {
                    // Keep what is known of the request; `run` carries only the error itself.
                    let error = f.error.clone();
                    failure = Some(f);
                    error
                })
            })
        });
        report.map_err(|error| failure.unwrap_or_else(|| error.into()))
    }

    fn account_call(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &CredentialOptions,
        operation: &AccountOperation,
    ) -> Result<AccountValue, AuthError> {
        self.run(remote, Box::new(Silent), None, |i, c| {
            i.account_call(c, account, options, operation)
        })
    }

    fn store_source(&self) -> Option<Source> {
        SharedIo(Arc::clone(&self.io))
            .lock()
            .secret_store()
            .source()
    }
}
