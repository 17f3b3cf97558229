//! The `operations` export of the `client` world: `core::client` over the WIT imports, one
//! `remote-client` per remote
use super::*;

use super::bindings::exports::keyhole::auth::operations as c;
use super::bindings::keyhole::auth::{host, http, secrets};

use crate::client::{
    self as ops, CredentialOptions, LoginOutcome, RemoteSpec, TestMethod, TestOptions,
};
use crate::drive::Io;

/// The core's [`Io`] over the WIT imports: what the `client` operations run on in the component
struct ImportIo {
    /// Browser login: the loopback port whose callback a wait may return
    callback_port: Option<u16>,
}

impl Io for ImportIo {
    fn now_ms(&mut self) -> u64 {
        host::now_ms()
    }

    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        http::send(&request_to_wit(request))
            .map(response_from_wit)
            .map_err(transport_error_from_wit)
    }

    fn store(&mut self, op: &StoreOp) -> Result<Option<Secret>, StoreError> {
        let unit = |r: Result<(), t::SecretError>| r.map(|()| None);
        let answer = match op {
            StoreOp::Load { key } => secrets::get(key),
            StoreOp::CompareAndSwap { key, expected, new } => {
                secrets::compare_and_swap(key, expected.as_ref().map(Secret::expose), new.expose())
            }
            StoreOp::Delete { key } => unit(secrets::delete(key)),
            StoreOp::Lock { key } => unit(secrets::lock(key)),
            StoreOp::Unlock { key } => unit(secrets::unlock(key)),
        };
        answer
            .map(|value| value.map(Secret::new))
            .map_err(store_error_from_wit)
    }

    fn show(&mut self, prompt: &Prompt) {
        host::show_prompt(&prompt_to_wit(prompt));
    }

    fn open_browser(&mut self, url: &Url) -> bool {
        host::open_browser(url.as_str())
    }

    fn wait_until(&mut self, until_ms: u64) -> Option<String> {
        let ms = until_ms.saturating_sub(host::now_ms());
        match self.callback_port {
            Some(port) => host::wait_callback(port, ms),
            None => {
                host::sleep(ms);
                None
            }
        }
    }

    fn answer_callback(&mut self, verdict: CallbackVerdict) {
        // Only a browser login listens, so only it gets callbacks to answer.
        if let Some(port) = self.callback_port {
            host::answer_callback(port, verdict_to_wit(verdict));
        }
    }
}

fn io() -> ImportIo {
    ImportIo {
        callback_port: None,
    }
}

impl c::Guest for Component {
    type RemoteClient = RemoteClient;
}

/// The `operations.remote-client` resource: one remote, converted to the core's form once; each
/// method is the core's operation of that name. A remote whose URLs do not parse gives its
/// `config` error from every call (the constructor cannot fail).
pub(super) struct RemoteClient(Result<RemoteSpec, AuthError>);

impl RemoteClient {
    fn remote(&self) -> Result<&RemoteSpec, t::AuthError> {
        self.0.as_ref().map_err(auth_error_to_wit)
    }
}

impl c::GuestRemoteClient for RemoteClient {
    fn new(remote: c::Remote) -> Self {
        Self(remote_from_wit(remote))
    }

    fn login_device(&self, account_hint: Option<String>) -> Result<c::LoginOutcome, t::AuthError> {
        login(ops::login_device(
            &mut io(),
            self.remote()?,
            account_hint.as_deref(),
        ))
    }

    fn login_browser(&self, b: c::BrowserLogin) -> Result<c::LoginOutcome, t::AuthError> {
        let remote = self.remote()?;
        let random = host::random_bytes(crate::browser::RANDOM_BYTES as u32);
        let mut io = ImportIo {
            callback_port: Some(b.port),
        };
        let hint = b.account_hint.as_deref();
        login(ops::login_browser(
            &mut io,
            remote,
            hint,
            b.port,
            b.timeout_s,
            &random,
        ))
    }

    fn login_api_key(&self, key: String) -> Result<c::LoginOutcome, t::AuthError> {
        login(ops::login_api_key(
            &mut io(),
            self.remote()?,
            None,
            Secret::new(key),
        ))
    }

    fn set_key(&self, account: String, key: String) -> Result<c::LoginOutcome, t::AuthError> {
        login(ops::set_key(
            &mut io(),
            self.remote()?,
            &account,
            Secret::new(key),
        ))
    }

    fn token(
        &self,
        account: String,
        options: c::CredentialOptions,
    ) -> Result<t::ResolvedCredential, t::AuthError> {
        let remote = self.remote()?;
        let options = credential_options_from_wit(options);
        finish(ops::token(&mut io(), remote, &account, &options).map(resolved_credential_to_wit))
    }

    fn status(
        &self,
        account: String,
        options: c::CredentialOptions,
    ) -> Result<c::StatusReport, t::AuthError> {
        let remote = self.remote()?;
        let options = credential_options_from_wit(options);
        finish(
            ops::status(&mut io(), remote, &account, &options).map(|s| c::StatusReport {
                logged_in: s.logged_in,
                remote: s.remote,
                account: s.account,
                auth_type: s.auth_type.map(auth_type_to_wit),
                from_env: s.from_env,
                expires_at_ms: s.expires_at_ms,
                has_api_key: s.has_api_key,
                has_oauth: s.has_oauth,
            }),
        )
    }

    fn logout(&self, account: String) -> Result<c::LogoutOutcome, t::AuthError> {
        finish(
            ops::logout(&mut io(), self.remote()?, &account).map(|l| c::LogoutOutcome {
                remote: l.remote,
                account: l.account,
                revoked: l.revoked,
                revocation_error: l.revocation_error.as_ref().map(auth_error_to_wit),
                unrevoked: l.unrevoked,
                cleared: l.cleared,
            }),
        )
    }

    fn forget(&self, account: String) -> Result<(), t::AuthError> {
        finish(ops::forget(&mut io(), self.remote()?, &account))
    }

    fn account_call(
        &self,
        account: String,
        options: c::CredentialOptions,
        operation: t::AccountOperation,
    ) -> Result<t::AccountValue, t::AuthError> {
        let remote = self.remote()?;
        finish(account_operation_from_wit(operation).and_then(|operation| {
            let options = credential_options_from_wit(options);
            ops::account_call(&mut io(), remote, &account, &options, &operation)
                .map(account_value_to_wit)
        }))
    }

    fn test(
        &self,
        account: String,
        options: c::TestOptions,
    ) -> Result<c::TestReport, c::TestFailure> {
        let failure = |error: &AuthError| c::TestFailure {
            error: auth_error_to_wit(error),
            url: None,
            status: None,
            elapsed_ms: None,
        };
        let remote = self.0.as_ref().map_err(failure)?;
        let options = TestOptions {
            method: match options.method {
                c::TestMethod::Auto => TestMethod::Auto,
                c::TestMethod::ApiKey => TestMethod::ApiKey,
                c::TestMethod::Oauth => TestMethod::Oauth,
            },
            url: optional_url_from_wit("url", options.url).map_err(|e| failure(&e))?,
            key: options.key.map(Secret::new),
            credential: credential_options_from_wit(options.credential),
        };
        ops::test(&mut io(), remote, &account, &options)
            .map(|r| c::TestReport {
                url: r.url.into(),
                status: r.status,
                elapsed_ms: r.elapsed_ms,
                identity: r.identity.into_iter().collect(),
                auth_type: auth_type_to_wit(r.auth_type),
            })
            .map_err(|f| c::TestFailure {
                error: auth_error_to_wit(&f.error),
                url: f.url.map(String::from),
                status: f.status,
                elapsed_ms: f.elapsed_ms,
            })
    }
}

fn finish<T>(result: Result<T, AuthError>) -> Result<T, t::AuthError> {
    result.map_err(|e| auth_error_to_wit(&e))
}

/// Every login (and `set-key`) answers with a `login-outcome`
fn login(result: Result<LoginOutcome, AuthError>) -> Result<c::LoginOutcome, t::AuthError> {
    finish(result.map(login_to_wit))
}

fn auth_type_to_wit(a: AuthType) -> t::AuthType {
    match a {
        AuthType::Oauth => t::AuthType::Oauth,
        AuthType::ApiKey => t::AuthType::ApiKey,
    }
}

fn credential_options_from_wit(o: c::CredentialOptions) -> CredentialOptions {
    CredentialOptions {
        prefer: auth_type_from_wit(o.prefer),
        env_api_key: o.env_api_key.map(Secret::new),
    }
}

/// The WIT remote as the core's; a URL that does not parse is a `config` error naming its field
fn remote_from_wit(r: c::Remote) -> Result<RemoteSpec, AuthError> {
    Ok(RemoteSpec {
        name: r.name,
        issuer: r.issuer,
        endpoints: r.endpoints.map(endpoints_from_wit).transpose()?,
        client: client_from_wit(r.client),
        api_url: optional_url_from_wit("api_url", r.api_url)?,
        key_check: r
            .key_check
            .map(|k| key_check_spec_from_wit("key_check.url", k))
            .transpose()?,
        env_precedence: env_precedence_from_wit(r.env_precedence),
        api_key_fallback: r.api_key_fallback,
        account_label: r
            .account_label
            .unwrap_or_else(crate::client::default_account_label),
    })
}

fn login_to_wit(l: LoginOutcome) -> c::LoginOutcome {
    c::LoginOutcome {
        remote: l.remote,
        account: l.account,
        auth_type: auth_type_to_wit(l.auth_type),
        endpoints: l.endpoints.map(endpoints_to_wit),
        identity: l.identity.into_iter().collect(),
        expires_at_ms: l.expires_at_ms,
    }
}
