//! The component's `operations` export (world `client`) as methods on [`Instance`], in the core's own types
//!
//! [`Instance::remote_client`] hands a remote to the component once (an `operations.remote-client`);
//! each operation takes that [`RemoteClient`] and calls its method of the same name. Each
//! returns `Ok(Err(AuthError))` when the flow itself failed (the same error the native host would
//! give, field for field) and `Err(Error)` when the component could not run it.

use keyhole_core::client::{
    AuthType, CredentialOptions, LoginOutcome, LogoutOutcome, RemoteSpec, StatusReport,
    TestFailure, TestMethod, TestOptions, TestReport,
};
use keyhole_core::credential::ResolvedCredential;
use keyhole_core::{AccountOperation, AccountValue, AuthError, Secret};
use wasmtime::component::ResourceAny;

use crate::convert::{
    account_operation_to_wit, account_value_from_wit, auth_error_to_core, client_to_wit,
    endpoints_from_wit, endpoints_to_wit, env_precedence_to_wit, key_check_spec_to_wit,
    resolved_credential_from_wit, url_from_wit,
};
use crate::generated::exports::keyhole::auth::operations as c;
use crate::generated::keyhole::auth::types as t;
use crate::{Error, Instance};

/// What a `client` call gives: the flow's own result, or why the component could not run it
pub type ClientResult<T> = Result<Result<T, AuthError>, Error>;

/// A remote living inside an [`Instance`] (`operations.remote-client`), made by
/// [`Instance::remote_client`]; drop it with [`Instance::drop_remote_client`]
#[derive(Debug)]
pub struct RemoteClient {
    handle: ResourceAny,
    /// The storage keys of this remote's accounts start with it (`remote/`): the secrets
    /// imports reach nothing else while its operations run
    namespace: String,
}

impl Instance {
    /// Hands `remote` to the component once; the operations below run on it
    ///
    /// Nothing is checked here: a remote that cannot work fails the operation that needs the
    /// missing or refused part, as with the native host.
    pub fn remote_client(&mut self, remote: &RemoteSpec) -> Result<RemoteClient, Error> {
        let handle = self
            .bindings
            .keyhole_auth_operations()
            .remote_client()
            .call_constructor(&mut self.store, &remote_to_wit(remote))
            .map_err(|e| Error::call("client.remote-client", e))?;
        Ok(RemoteClient {
            handle,
            namespace: keyhole_core::record::storage_key(&remote.name, ""),
        })
    }

    /// Frees a remote client's state inside the guest
    pub fn drop_remote_client(&mut self, client: RemoteClient) -> Result<(), Error> {
        client
            .handle
            .resource_drop(&mut self.store)
            .map_err(|e| Error::call("client.remote-client.drop", e))
    }

    /// Calls one `remote-client` method with the secrets imports limited to this remote's keys;
    /// `Ok(Err)` is the flow's own error, `Err` a trap
    fn call<W, T>(
        &mut self,
        client: &RemoteClient,
        name: &str,
        call: impl FnOnce(
            c::GuestRemoteClient<'_>,
            &mut wasmtime::Store<crate::HostState>,
            ResourceAny,
        ) -> wasmtime::Result<Result<W, t::AuthError>>,
        convert: impl FnOnce(W) -> Result<T, String>,
    ) -> ClientResult<T> {
        self.store.data_mut().namespace = Some(client.namespace.clone());
        let result = call(
            self.bindings.keyhole_auth_operations().remote_client(),
            &mut self.store,
            client.handle,
        );
        self.store.data_mut().namespace = None;
        match result {
            Ok(Ok(value)) => convert(value).map(Ok).map_err(|e| {
                Error::Incompatible(format!("the component's answer to `{name}`: {e}"))
            }),
            Ok(Err(error)) => Ok(Err(auth_error_to_core(error.kind))),
            Err(trap) => Err(Error::call(format!("client.{name}"), trap)),
        }
    }

    /// `login-device`: device login; the prompt goes to the attached `Io::show`
    pub fn login_device(
        &mut self,
        client: &RemoteClient,
        account_hint: Option<&str>,
    ) -> ClientResult<LoginOutcome> {
        self.call(
            client,
            "login-device",
            |r, store, h| r.call_login_device(store, h, account_hint),
            login_from_wit,
        )
    }

    /// `login-browser`: browser login with the callback on `port` (the attached `Io` listens
    /// there: `Io::wait_until` returns the callback)
    pub fn login_browser(
        &mut self,
        client: &RemoteClient,
        account_hint: Option<&str>,
        port: u16,
        timeout_s: u64,
    ) -> ClientResult<LoginOutcome> {
        let options = c::BrowserLogin {
            account_hint: account_hint.map(str::to_owned),
            port,
            timeout_s,
        };
        self.call(
            client,
            "login-browser",
            |r, store, h| r.call_login_browser(store, h, &options),
            login_from_wit,
        )
    }

    /// `login-api-key`
    pub fn login_api_key(
        &mut self,
        client: &RemoteClient,
        key: &Secret,
    ) -> ClientResult<LoginOutcome> {
        self.call(
            client,
            "login-api-key",
            |r, store, h| r.call_login_api_key(store, h, key.expose()),
            login_from_wit,
        )
    }

    /// `set-key`
    pub fn set_key(
        &mut self,
        client: &RemoteClient,
        account: &str,
        key: &Secret,
    ) -> ClientResult<LoginOutcome> {
        self.call(
            client,
            "set-key",
            |r, store, h| r.call_set_key(store, h, account, key.expose()),
            login_from_wit,
        )
    }

    /// `token`
    pub fn token(
        &mut self,
        client: &RemoteClient,
        account: &str,
        options: &CredentialOptions,
    ) -> ClientResult<ResolvedCredential> {
        let options = credential_options_to_wit(options);
        self.call(
            client,
            "token",
            |r, store, h| r.call_token(store, h, account, &options),
            |r| Ok(resolved_credential_from_wit(r)),
        )
    }

    /// `status`
    pub fn status(
        &mut self,
        client: &RemoteClient,
        account: &str,
        options: &CredentialOptions,
    ) -> ClientResult<StatusReport> {
        let options = credential_options_to_wit(options);
        self.call(
            client,
            "status",
            |r, store, h| r.call_status(store, h, account, &options),
            |s| {
                Ok(StatusReport {
                    logged_in: s.logged_in,
                    remote: s.remote,
                    account: s.account,
                    auth_type: s.auth_type.map(auth_type_from_wit),
                    from_env: s.from_env,
                    expires_at_ms: s.expires_at_ms,
                    has_api_key: s.has_api_key,
                    has_oauth: s.has_oauth,
                })
            },
        )
    }

    /// `logout`
    pub fn logout(&mut self, client: &RemoteClient, account: &str) -> ClientResult<LogoutOutcome> {
        self.call(
            client,
            "logout",
            |r, store, h| r.call_logout(store, h, account),
            |l| {
                Ok(LogoutOutcome {
                    remote: l.remote,
                    account: l.account,
                    revoked: l.revoked,
                    revocation_error: l.revocation_error.map(|e| auth_error_to_core(e.kind)),
                    unrevoked: l.unrevoked,
                    cleared: l.cleared,
                })
            },
        )
    }

    /// `forget`
    pub fn forget(&mut self, client: &RemoteClient, account: &str) -> ClientResult<()> {
        self.call(
            client,
            "forget",
            |r, store, h| r.call_forget(store, h, account),
            |()| Ok(()),
        )
    }

    /// `account-call`: one call to the remote's account API with the account's credential
    pub fn account_call(
        &mut self,
        client: &RemoteClient,
        account: &str,
        options: &CredentialOptions,
        operation: &AccountOperation,
    ) -> ClientResult<AccountValue> {
        let options = credential_options_to_wit(options);
        let operation = account_operation_to_wit(operation);
        self.call(
            client,
            "account-call",
            |r, store, h| r.call_account_call(store, h, account, &options, &operation),
            |v| Ok(account_value_from_wit(v)),
        )
    }

    /// `remote-client.test`: a failure keeps what is known of the check request
    pub fn test(
        &mut self,
        client: &RemoteClient,
        account: &str,
        options: &TestOptions,
    ) -> Result<Result<TestReport, TestFailure>, Error> {
        let options = c::TestOptions {
            method: match options.method {
                TestMethod::Auto => c::TestMethod::Auto,
                TestMethod::ApiKey => c::TestMethod::ApiKey,
                TestMethod::Oauth => c::TestMethod::Oauth,
            },
            url: options.url.as_ref().map(|url| url.as_str().to_owned()),
            key: options.key.as_ref().map(|k| k.expose().to_owned()),
            credential: credential_options_to_wit(&options.credential),
        };
        let r = self
            .bindings
            .keyhole_auth_operations()
            .remote_client()
            .call_test(&mut self.store, client.handle, account, &options);
        match r {
            Ok(Ok(t)) => Ok(Ok(TestReport {
                url: url_from_wit("url", &t.url).map_err(Error::Incompatible)?,
                status: t.status,
                elapsed_ms: t.elapsed_ms,
                identity: t.identity.into_iter().collect(),
                auth_type: auth_type_from_wit(t.auth_type),
            })),
            Ok(Err(f)) => Ok(Err(TestFailure {
                error: auth_error_to_core(f.error.kind),
                url: f
                    .url
                    .map(|url| url_from_wit("url", &url))
                    .transpose()
                    .map_err(Error::Incompatible)?,
                status: f.status,
                elapsed_ms: f.elapsed_ms,
            })),
            Err(trap) => Err(Error::call("client.test", trap)),
        }
    }
}

fn auth_type_from_wit(a: t::AuthType) -> AuthType {
    match a {
        t::AuthType::Oauth => AuthType::Oauth,
        t::AuthType::ApiKey => AuthType::ApiKey,
    }
}

fn credential_options_to_wit(o: &CredentialOptions) -> c::CredentialOptions {
    c::CredentialOptions {
        prefer: match o.prefer {
            AuthType::Oauth => t::AuthType::Oauth,
            AuthType::ApiKey => t::AuthType::ApiKey,
        },
        env_api_key: o.env_api_key.as_ref().map(|k| k.expose().to_owned()),
    }
}

fn remote_to_wit(r: &RemoteSpec) -> c::Remote {
    c::Remote {
        name: r.name.clone(),
        issuer: r.issuer.clone(),
        endpoints: r.endpoints.as_ref().map(endpoints_to_wit),
        client: client_to_wit(&r.client),
        api_url: r.api_url.as_ref().map(|url| url.as_str().to_owned()),
        key_check: r.key_check.as_ref().map(key_check_spec_to_wit),
        env_precedence: env_precedence_to_wit(r.env_precedence),
        api_key_fallback: r.api_key_fallback,
        account_label: Some(r.account_label.clone()),
    }
}

/// A `login-outcome` (every login and `set-key`) in the core's form
fn login_from_wit(l: c::LoginOutcome) -> Result<LoginOutcome, String> {
    Ok(LoginOutcome {
        remote: l.remote,
        account: l.account,
        auth_type: auth_type_from_wit(l.auth_type),
        endpoints: l.endpoints.map(endpoints_from_wit).transpose()?,
        identity: l.identity.into_iter().collect(),
        expires_at_ms: l.expires_at_ms,
    })
}
