//! The operations behind the CLI, as a trait: [`NativeEngine`] runs `keyhole_core::client` in this
//! process; `keyhole-wasi` implements the same trait by calling the wasm component's `client`
//! export, so both binaries share the whole front end in [`crate::cli`]

use std::net::TcpListener;

use keyhole_core::client::{
    self, CredentialOptions, LoginOutcome, LogoutOutcome, RemoteSpec, StatusReport, TestFailure,
    TestOptions, TestReport,
};
use keyhole_core::credential::ResolvedCredential;
use keyhole_core::{AccountOperation, AccountValue, AuthError, Secret};

use crate::app::App;
use crate::io::{Frontend, NativeIo, Silent};
use crate::store::Source;

/// The operations the CLI runs; every method maps to one `keyhole_core::client` function
pub trait Engine {
    /// Device login (RFC 8628); the prompt goes to `ui`
    fn login_device(
        &mut self,
        remote: &RemoteSpec,
        account_hint: Option<&str>,
        ui: Box<dyn Frontend + Send>,
    ) -> Result<LoginOutcome, AuthError>;
    /// Browser login; `listener` is already bound on 127.0.0.1
    fn login_browser(
        &mut self,
        remote: &RemoteSpec,
        account_hint: Option<&str>,
        listener: TcpListener,
        timeout_s: u64,
        ui: Box<dyn Frontend + Send>,
    ) -> Result<LoginOutcome, AuthError>;
    /// API-key login: key check (when configured), then store
    fn login_api_key(
        &mut self,
        remote: &RemoteSpec,
        key: Secret,
    ) -> Result<LoginOutcome, AuthError>;
    /// Replaces only the API key of `account`
    fn set_key(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        key: Secret,
    ) -> Result<LoginOutcome, AuthError>;
    /// A usable credential, refreshed first when needed
    fn token(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &CredentialOptions,
    ) -> Result<ResolvedCredential, AuthError>;
    /// Login state from the store alone
    fn status(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &CredentialOptions,
    ) -> Result<StatusReport, AuthError>;
    /// Revocation, then local deletion
    fn logout(&mut self, remote: &RemoteSpec, account: &str) -> Result<LogoutOutcome, AuthError>;
    /// Deletes the local credentials of `account` without contacting the provider
    fn forget(&mut self, remote: &RemoteSpec, account: &str) -> Result<(), AuthError>;
    /// Checks a credential against the key-check endpoint; a failure keeps the URL, status and
    /// time of the check request when one was made (`TestFailure::from(AuthError)` otherwise)
    // As the core's `client::test`: the failure's `Url` makes it large, once per command.
    #[allow(clippy::result_large_err)]
    fn test(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &TestOptions,
    ) -> Result<TestReport, TestFailure>;
    /// One call to the remote's account API with the account's credential (refreshed first
    /// when needed): who am I, projects, API keys
    fn account_call(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &CredentialOptions,
        operation: &AccountOperation,
    ) -> Result<AccountValue, AuthError>;
    /// Where stored credentials live (`keyring` or `file`), once the store has been used
    fn store_source(&self) -> Option<Source>;
}

/// The engine that runs the core in this process with [`NativeIo`]
pub struct NativeEngine {
    io: NativeIo,
}

impl std::fmt::Debug for NativeEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeEngine")
            .field("io", &self.io)
            .finish()
    }
}

impl NativeEngine {
    /// An engine for `app` (its keyring service, config directory and user agent)
    pub fn new(app: &App) -> Self {
        Self {
            io: NativeIo::new(app.user_agent(), app.store()),
        }
    }

    /// Runs one operation with `ui` (and a browser login's listener) installed
    fn with<T, E>(
        &mut self,
        ui: Box<dyn Frontend + Send>,
        listener: Option<TcpListener>,
        op: impl FnOnce(&mut NativeIo) -> Result<T, E>,
    ) -> Result<T, E> {
        self.io.begin(ui, listener);
        let result = op(&mut self.io);
        self.io.finish();
        result
    }

    fn quiet<T, E>(&mut self, op: impl FnOnce(&mut NativeIo) -> Result<T, E>) -> Result<T, E> {
        self.with(Box::new(Silent), None, op)
    }
}

/// The port a browser login's loopback listener is bound to (for its `redirect_uri`)
pub fn listener_port(listener: &TcpListener) -> Result<u16, AuthError> {
    listener.local_addr().map(|a| a.port()).map_err(|e| AuthError::Config {
        detail: format!("the loopback listener for the browser login has no address ({e}); try --port with a free port"),
    })
}

/// Random bytes from the OS for PKCE and `state`
pub fn os_random(len: usize) -> Result<Vec<u8>, AuthError> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Config {
        detail: format!("the operating system gave no random bytes ({e})"),
    })?;
    Ok(bytes)
}

impl Engine for NativeEngine {
    fn login_device(
        &mut self,
        remote: &RemoteSpec,
        account_hint: Option<&str>,
        ui: Box<dyn Frontend + Send>,
    ) -> Result<LoginOutcome, AuthError> {
        self.with(ui, None, |io| {
            client::login_device(io, remote, account_hint)
        })
    }

    fn login_browser(
        &mut self,
        remote: &RemoteSpec,
        account_hint: Option<&str>,
        listener: TcpListener,
        timeout_s: u64,
        ui: Box<dyn Frontend + Send>,
    ) -> Result<LoginOutcome, AuthError> {
        let port = listener_port(&listener)?;
        let random = os_random(keyhole_core::browser::RANDOM_BYTES)?;
        self.with(ui, Some(listener), |io| {
            client::login_browser(io, remote, account_hint, port, timeout_s, &random)
        })
    }

    fn login_api_key(
        &mut self,
        remote: &RemoteSpec,
        key: Secret,
    ) -> Result<LoginOutcome, AuthError> {
        self.quiet(|io| client::login_api_key(io, remote, None, key))
    }

    fn set_key(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        key: Secret,
    ) -> Result<LoginOutcome, AuthError> {
        self.quiet(|io| client::set_key(io, remote, account, key))
    }

    fn token(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &CredentialOptions,
    ) -> Result<ResolvedCredential, AuthError> {
        self.quiet(|io| client::token(io, remote, account, options))
    }

    fn status(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &CredentialOptions,
    ) -> Result<StatusReport, AuthError> {
        self.quiet(|io| client::status(io, remote, account, options))
    }

    fn logout(&mut self, remote: &RemoteSpec, account: &str) -> Result<LogoutOutcome, AuthError> {
        self.quiet(|io| client::logout(io, remote, account))
    }

    fn forget(&mut self, remote: &RemoteSpec, account: &str) -> Result<(), AuthError> {
        self.quiet(|io| client::forget(io, remote, account))
    }

    #[allow(clippy::result_large_err)]
    fn test(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &TestOptions,
    ) -> Result<TestReport, TestFailure> {
        self.quiet(|io| client::test(io, remote, account, options))
    }

    fn account_call(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &CredentialOptions,
        operation: &AccountOperation,
    ) -> Result<AccountValue, AuthError> {
        self.quiet(|io| client::account_call(io, remote, account, options, operation))
    }

    fn store_source(&self) -> Option<Source> {
        self.io.secret_store().source()
    }
}
