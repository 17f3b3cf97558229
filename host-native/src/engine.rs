//! The operations behind the CLI, as a trait: [`NativeEngine`] runs `keyhole_core::client` in this
//! process; `keyhole-wasi` implements the same trait by calling the wasm component's `client`
//! export, so both binaries share the whole front end in [`crate::cli`]

use std::net::TcpListener;

use keyhole_core::client::{
    self, CredentialOptions, LoginOutcome, LogoutOutcome, RemoteSpec, StatusReport, TestOptions,
    TestReport, TokenOutcome,
};
use keyhole_core::{AuthError, Secret, StoreError};

use crate::app::App;
use crate::io::{Frontend, NativeIo, Silent};
use crate::store::{Source, Store};

/// The operations the CLI runs; every method maps to one `keyhole_core::client` function
pub trait Engine {
    /// Device login (RFC 8628); the prompt goes to `ui`
    fn login_device(
        &mut self,
        remote: &RemoteSpec,
        account_hint: Option<&str>,
        ui: &mut dyn Frontend,
    ) -> Result<LoginOutcome, AuthError>;
    /// Browser login; `listener` is already bound on 127.0.0.1
    fn login_browser(
        &mut self,
        remote: &RemoteSpec,
        account_hint: Option<&str>,
        listener: TcpListener,
        timeout_s: u64,
        ui: &mut dyn Frontend,
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
    ) -> Result<TokenOutcome, AuthError>;
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
    /// Checks a credential against the key-check endpoint
    fn test(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &TestOptions,
    ) -> Result<TestReport, AuthError>;
    /// Where stored credentials live (`keyring` or `file`), once the store has been used
    fn store_source(&self) -> Option<Source>;
}

/// The engine that runs the core in this process with [`NativeIo`]
pub struct NativeEngine {
    app: App,
    store: Store,
}

impl std::fmt::Debug for NativeEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeEngine")
            .field("app", &self.app)
            .field("store", &self.store)
            .finish()
    }
}

impl NativeEngine {
    /// An engine for `app` (its keyring service and config directory)
    pub fn new(app: App) -> Self {
        let store = app.store();
        Self { app, store }
    }

    fn io<'a>(&'a mut self, ui: &'a mut dyn Frontend) -> NativeIo<'a> {
        NativeIo::new(self.app.user_agent(), &mut self.store, ui)
    }
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
        ui: &mut dyn Frontend,
    ) -> Result<LoginOutcome, AuthError> {
        client::login_device(&mut self.io(ui), remote, account_hint)
    }

    fn login_browser(
        &mut self,
        remote: &RemoteSpec,
        account_hint: Option<&str>,
        listener: TcpListener,
        timeout_s: u64,
        ui: &mut dyn Frontend,
    ) -> Result<LoginOutcome, AuthError> {
        let port = listener
            .local_addr()
            .map_err(|e| {
                AuthError::Storage(StoreError::Other(format!(
                    "the loopback listener has no address ({e})"
                )))
            })?
            .port();
        let random = os_random(keyhole_core::browser::RANDOM_BYTES)?;
        let mut io = self.io(ui);
        io.set_listener(Some(listener));
        client::login_browser(&mut io, remote, account_hint, port, timeout_s, &random)
    }

    fn login_api_key(
        &mut self,
        remote: &RemoteSpec,
        key: Secret,
    ) -> Result<LoginOutcome, AuthError> {
        client::login_api_key(&mut self.io(&mut Silent), remote, None, key)
    }

    fn set_key(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        key: Secret,
    ) -> Result<LoginOutcome, AuthError> {
        client::set_key(&mut self.io(&mut Silent), remote, account, key)
    }

    fn token(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &CredentialOptions,
    ) -> Result<TokenOutcome, AuthError> {
        client::token(&mut self.io(&mut Silent), remote, account, options)
    }

    fn status(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &CredentialOptions,
    ) -> Result<StatusReport, AuthError> {
        client::status(&mut self.io(&mut Silent), remote, account, options)
    }

    fn logout(&mut self, remote: &RemoteSpec, account: &str) -> Result<LogoutOutcome, AuthError> {
        client::logout(&mut self.io(&mut Silent), remote, account)
    }

    fn forget(&mut self, remote: &RemoteSpec, account: &str) -> Result<(), AuthError> {
        client::forget(&mut self.io(&mut Silent), remote, account)
    }

    fn test(
        &mut self,
        remote: &RemoteSpec,
        account: &str,
        options: &TestOptions,
    ) -> Result<TestReport, AuthError> {
        client::test(&mut self.io(&mut Silent), remote, account, options)
    }

    fn store_source(&self) -> Option<Source> {
        self.store.source()
    }
}
