//! The core as a wasm component of `keyhole:auth@0.2.0` (`wit/v0.2.0/`)
//!
//! Two worlds, two builds (`scripts/build-component`; rustc's component linker wraps the module,
//! so no cargo-component is needed):
//! - `--features component`: the world `client`, the `machine` export and the `operations`
//!   export ([`operations`]) over the `http`, `secrets` and `host` imports;
//! - `--features component-machines`: the world `machines`, the `machine` export alone, which
//!   imports nothing from the host.
//!
//! The `machine.machine` resource holds one concrete core machine, built from its typed
//! `machine-config` ([`FromWit`]: the WIT leaves a defaulted field `none`, and the core's
//! defaults fill it here, as serde fills an absent JSON field natively). Outputs, `done` values
//! included, are typed in the WIT.
//!
//! Size matters here (the budget is 512 KiB): the machines are held by type, not as
//! `Box<dyn WireMachine>`, whose vtables would keep every machine's `Debug` and JSON-output code
//! alive in the component; and everything after a machine's `poll_output` is non-generic.
use core::cell::RefCell;
use std::collections::BTreeMap;

use url::Url;

use crate::account::{AccountCallConfig, AccountOperation, AccountValue};
use crate::browser::BrowserLoginConfig;
use crate::credential::{
    AuthType, CredentialConfig, CredentialSource, EnvPrecedence, ResolvedCredential,
};
use crate::device::DeviceLoginConfig;
use crate::discovery::DiscoveryConfig;
use crate::error::{AuthError, StoreError};
use crate::http::{Body, HttpRequest, HttpResponse, Method, TransportError};
use crate::key_check::{KeyCheckConfig, KeyCheckMethod, KeyCheckReport, KeyCheckSpec};
use crate::machine::{CallbackVerdict, FromConfig, Input, Machine as _, Output, Prompt, StoreOp};
use crate::oauth::{Client, Endpoints, TokenSet};
use crate::refresh::{RefreshConfig, RefreshOutcome};
use crate::revocation::{RevocationConfig, RevocationReport};
use crate::secret::Secret;

#[allow(missing_docs, unreachable_pub, clippy::all)]
mod bindings {
    // Feature `component`: the `client` world (the machines and the operations, over the
    // imports). Feature `component-machines` alone: the `machines` world, which imports nothing.
    #[cfg(feature = "component")]
    wit_bindgen::generate!({
        path: "../wit/v0.2.0",
        world: "client",
    });
    #[cfg(not(feature = "component"))]
    wit_bindgen::generate!({
        path: "../wit/v0.2.0",
        world: "machines",
    });
}

#[cfg(feature = "component")]
mod operations;

use bindings::exports::keyhole::auth::machine as wit;
use bindings::keyhole::auth::types as t;

struct Component;

bindings::export!(Component with_types_in bindings);

impl wit::Guest for Component {
    type Machine = MachineResource;
}

/// The machines of [`crate::for_each_machine`], held by type; `on_machine!` runs the same
/// expression on whichever one a value holds, `build` makes one from its WIT kind
macro_rules! any_machine {
    ($($variant:ident => $kind:literal, $ty:ty, $doc:literal;)*) => {
        enum AnyMachine {
            $($variant($ty),)*
        }

        macro_rules! on_machine {
            ($any:expr, $m:ident => $e:expr) => {
                match $any {
                    $(AnyMachine::$variant($m) => $e,)*
                }
            };
        }

        fn build(
            config: wit::MachineConfig,
            now: u64,
            random: &[u8],
        ) -> Result<AnyMachine, AuthError> {
            Ok(match config {
                $(wit::MachineConfig::$variant(c) => AnyMachine::$variant(<$ty>::from_config(
                    <<$ty as FromConfig>::Config as FromWit>::from_wit(c)?,
                    now,
                    random,
                )),)*
            })
        }
    };
}
crate::for_each_machine!(any_machine);

/// One machine behind the WIT resource; WIT methods take `&self`, so the state sits in a `RefCell`
struct MachineResource(RefCell<State>);

// wit-bindgen already keeps each resource in its own heap allocation; a second box would only add
// an indirection.
#[allow(clippy::large_enum_variant)]
enum State {
    Running(AnyMachine),
    /// The config could not be used (permissions that are not JSON): `done(err(config))` once
    /// started, as the WIT promises
    Broken {
        error: AuthError,
        started: bool,
    },
}

impl wit::GuestMachine for MachineResource {
    fn new(config: wit::MachineConfig, now_ms: u64, random: Vec<u8>) -> Self {
        Self(RefCell::new(match build(config, now_ms, &random) {
            Ok(machine) => State::Running(machine),
            Err(error) => State::Broken {
                error,
                started: false,
            },
        }))
    }

    fn handle_input(&self, now_ms: u64, input: wit::Input) {
        match &mut *self.0.borrow_mut() {
            State::Running(any) => {
                let input = input_from_wit(input);
                on_machine!(any, m => m.handle_input(now_ms, input))
            }
            State::Broken { started, .. } => *started |= matches!(input, wit::Input::Start),
        }
    }

    fn poll_output(&self) -> wit::Output {
        match &mut *self.0.borrow_mut() {
            State::Running(any) => {
                output_to_wit(on_machine!(any, m => with_done_value(m.poll_output())))
            }
            State::Broken { started: false, .. } => wit::Output::Wait(None),
            State::Broken { error, .. } => wit::Output::Done(Err(auth_error_to_wit(error))),
        }
    }

    fn step(&self, now_ms: u64, input: wit::Input) -> Vec<wit::Output> {
        self.handle_input(now_ms, input);
        let mut outputs = Vec::new();
        loop {
            let output = self.poll_output();
            // Every machine's poll ends in `wait` once nothing is queued (the `Machine` contract).
            let last = matches!(output, wit::Output::Wait(_) | wit::Output::Done(_));
            outputs.push(output);
            if last {
                return outputs;
            }
        }
    }
}

/// A machine's result as its `done-value` case
trait IntoDoneValue {
    fn into_done_value(self) -> wit::DoneValue;
}

impl IntoDoneValue for Endpoints {
    fn into_done_value(self) -> wit::DoneValue {
        wit::DoneValue::Endpoints(endpoints_to_wit(self))
    }
}

impl IntoDoneValue for TokenSet {
    fn into_done_value(self) -> wit::DoneValue {
        wit::DoneValue::Tokens(token_set_to_wit(self))
    }
}

impl IntoDoneValue for RefreshOutcome {
    fn into_done_value(self) -> wit::DoneValue {
        wit::DoneValue::Refresh(wit::RefreshOutcome {
            tokens: token_set_to_wit(self.tokens),
            refreshed: self.refreshed,
            warning: self.warning,
        })
    }
}

impl IntoDoneValue for ResolvedCredential {
    fn into_done_value(self) -> wit::DoneValue {
        wit::DoneValue::Credential(resolved_credential_to_wit(self))
    }
}

impl IntoDoneValue for KeyCheckReport {
    fn into_done_value(self) -> wit::DoneValue {
        wit::DoneValue::KeyCheck(wit::KeyCheckReport {
            status: self.status,
            elapsed_ms: self.elapsed_ms,
            identity: self.identity.into_iter().collect(),
        })
    }
}

impl IntoDoneValue for RevocationReport {
    fn into_done_value(self) -> wit::DoneValue {
        wit::DoneValue::Revocation(wit::RevocationReport {
            revoked: self.revoked,
            unsupported: self.unsupported,
            skipped: self.skipped,
        })
    }
}

impl IntoDoneValue for AccountValue {
    fn into_done_value(self) -> wit::DoneValue {
        wit::DoneValue::Account(account_value_to_wit(self))
    }
}

/// JSON from the server as the text it sent: WIT has no recursive types to carry it as a value
fn account_value_to_wit(value: AccountValue) -> t::AccountValue {
    match value {
        AccountValue::Whoami { body, label } => t::AccountValue::Whoami(t::WhoamiReport {
            body_json: body.as_str().into(),
            label,
        }),
        AccountValue::Projects(projects) => t::AccountValue::Projects(
            projects
                .into_iter()
                .map(|p| t::Project {
                    id: p.id,
                    name: p.name,
                })
                .collect(),
        ),
        AccountValue::CreatedKey(created) => t::AccountValue::CreatedKey(t::CreatedKey {
            key: created.key.into_exposed(),
            body_json: created.body.as_str().into(),
        }),
        AccountValue::Keys(keys) => {
            t::AccountValue::Keys(keys.iter().map(|k| k.as_str().into()).collect())
        }
        AccountValue::Key(body) => t::AccountValue::Key(body.as_str().into()),
        AccountValue::Deleted { id } => t::AccountValue::Deleted(id),
    }
}

fn token_set_to_wit(t: TokenSet) -> t::TokenSet {
    t::TokenSet {
        access_token: t.access_token.into_exposed(),
        token_type: t.token_type,
        refresh_token: t.refresh_token.map(Secret::into_exposed),
        id_token: t.id_token.map(Secret::into_exposed),
        scope: t.scope,
        expires_at_ms: t.expires_at_ms,
        refresh_at_ms: t.refresh_at_ms,
        issued_at_ms: t.issued_at_ms,
    }
}

fn resolved_credential_to_wit(r: ResolvedCredential) -> t::ResolvedCredential {
    t::ResolvedCredential {
        kind: match r.kind {
            AuthType::ApiKey => t::AuthType::ApiKey,
            AuthType::Oauth => t::AuthType::Oauth,
        },
        source: match r.source {
            CredentialSource::Env => t::CredentialSource::Env,
            CredentialSource::Store => t::CredentialSource::Store,
        },
        secret: r.secret.into_exposed(),
        token_type: r.token_type,
        expires_at_ms: r.expires_at_ms,
        refreshed: r.refreshed,
        warning: r.warning,
        fallback_reason: r.fallback_reason,
    }
}

/// The only generic step after a poll: the done value becomes its WIT case
fn with_done_value<T: IntoDoneValue>(output: Output<T>) -> Output<wit::DoneValue> {
    match output {
        Output::Send(request) => Output::Send(request),
        Output::Store(op) => Output::Store(op),
        Output::Show(prompt) => Output::Show(prompt),
        Output::OpenBrowser(url) => Output::OpenBrowser(url),
        Output::AnswerCallback(verdict) => Output::AnswerCallback(verdict),
        Output::Wait { until_ms } => Output::Wait { until_ms },
        Output::Done(result) => Output::Done(result.map(T::into_done_value)),
    }
}

fn input_from_wit(input: wit::Input) -> Input {
    match input {
        wit::Input::Start => Input::Start,
        wit::Input::Response(r) => Input::Response(response_from_wit(r)),
        wit::Input::TransportFailed(e) => Input::TransportFailed(transport_error_from_wit(e)),
        wit::Input::Stored(result) => Input::Stored(
            result
                .map(|value| value.map(Secret::new))
                .map_err(store_error_from_wit),
        ),
        wit::Input::Callback(target) => Input::Callback(target),
        wit::Input::Timer => Input::Timer,
    }
}

fn response_from_wit(r: t::HttpResponse) -> HttpResponse {
    HttpResponse {
        status: r.status,
        headers: r
            .headers
            .into_iter()
            .map(|(mut name, value)| {
                name.make_ascii_lowercase();
                (name, value)
            })
            .collect(),
        body: r.body,
    }
}

fn transport_error_from_wit(e: t::TransportError) -> TransportError {
    match e {
        t::TransportError::Dns => TransportError::Dns,
        t::TransportError::Connect => TransportError::Connect,
        t::TransportError::Timeout => TransportError::Timeout,
        t::TransportError::Tls => TransportError::Tls,
        t::TransportError::TooLarge => TransportError::TooLarge,
        t::TransportError::Other(message) => TransportError::Other(message),
    }
}

fn store_error_from_wit(e: t::SecretError) -> StoreError {
    match e {
        t::SecretError::Unavailable(m) => StoreError::Unavailable(m),
        t::SecretError::Denied(m) => StoreError::Denied(m),
        t::SecretError::Other(m) => StoreError::Other(m),
    }
}

fn request_to_wit(request: &HttpRequest) -> t::HttpRequest {
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.expose().to_owned()))
        .collect();
    let body = match &request.body {
        Body::Empty => Vec::new(),
        Body::Form(_) => {
            headers.push((
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
            request.encoded_form().unwrap_or_default().into_bytes()
        }
        Body::Json(value) => {
            headers.push(("content-type".into(), "application/json".into()));
            value.to_string().into_bytes()
        }
    };
    t::HttpRequest {
        method: match request.method {
            Method::Get => t::Method::Get,
            Method::Post => t::Method::Post,
            Method::Delete => t::Method::Delete,
        },
        url: request.url.as_str().to_owned(),
        headers,
        body,
        max_response_bytes: request.max_response_bytes as u64,
        redirect_policy: t::RedirectPolicy::NoFollow,
    }
}

fn store_op_to_wit(op: &StoreOp) -> t::StoreOp {
    match op {
        StoreOp::Load { key } => t::StoreOp::Load(key.clone()),
        StoreOp::CompareAndSwap { key, expected, new } => {
            t::StoreOp::CompareAndSwap(t::CompareAndSwap {
                key: key.clone(),
                expected: expected.as_ref().map(|e| e.expose().to_owned()),
                new: new.expose().to_owned(),
            })
        }
        StoreOp::Delete { key } => t::StoreOp::Delete(key.clone()),
        StoreOp::Lock { key } => t::StoreOp::Lock(key.clone()),
        StoreOp::Unlock { key } => t::StoreOp::Unlock(key.clone()),
    }
}

fn prompt_to_wit(p: &Prompt) -> t::Prompt {
    t::Prompt {
        user_code: p.user_code.clone(),
        verification_uri: p.verification_uri.as_str().to_owned(),
        verification_uri_complete: p
            .verification_uri_complete
            .as_ref()
            .map(|uri| uri.as_str().to_owned()),
        expires_in_s: p.expires_in_s,
        expires_at_ms: p.expires_at_ms,
    }
}

fn output_to_wit(output: Output<wit::DoneValue>) -> wit::Output {
    match output {
        Output::Send(request) => wit::Output::Send(request_to_wit(&request)),
        Output::Store(op) => wit::Output::Store(store_op_to_wit(&op)),
        Output::Show(prompt) => wit::Output::Show(prompt_to_wit(&prompt)),
        Output::OpenBrowser(url) => wit::Output::OpenBrowser(url.into()),
        Output::AnswerCallback(verdict) => wit::Output::AnswerCallback(verdict_to_wit(verdict)),
        Output::Wait { until_ms } => wit::Output::Wait(until_ms),
        Output::Done(result) => {
            wit::Output::Done(result.map_err(|error| auth_error_to_wit(&error)))
        }
    }
}

fn verdict_to_wit(verdict: CallbackVerdict) -> t::CallbackVerdict {
    match verdict {
        CallbackVerdict::Accepted => t::CallbackVerdict::Accepted,
        CallbackVerdict::Rejected => t::CallbackVerdict::Rejected,
        CallbackVerdict::Failed => t::CallbackVerdict::Failed,
    }
}

fn transport_error_to_wit(e: &TransportError) -> t::TransportError {
    match e {
        TransportError::Dns => t::TransportError::Dns,
        TransportError::Connect => t::TransportError::Connect,
        TransportError::Timeout => t::TransportError::Timeout,
        TransportError::Tls => t::TransportError::Tls,
        TransportError::TooLarge => t::TransportError::TooLarge,
        TransportError::Other(message) => t::TransportError::Other(message.clone()),
    }
}

fn store_error_to_wit(e: &StoreError) -> t::SecretError {
    match e {
        StoreError::Unavailable(m) => t::SecretError::Unavailable(m.clone()),
        StoreError::Denied(m) => t::SecretError::Denied(m.clone()),
        StoreError::Other(m) => t::SecretError::Other(m.clone()),
    }
}

/// The WIT form of an error: every field, and the message the core would print
///
/// The match is exhaustive on purpose (this module is inside the crate, so `#[non_exhaustive]`
/// does not apply): a new `AuthError` variant does not compile until the WIT has its case.
fn auth_error_to_wit(error: &AuthError) -> t::AuthError {
    use t::ErrorKind as K;
    let kind = match error {
        AuthError::Denied => K::Denied,
        AuthError::Expired => K::Expired,
        AuthError::ClockDrift { count } => K::ClockDrift(*count),
        AuthError::InvalidKey => K::InvalidKey,
        AuthError::InsufficientPermission => K::InsufficientPermission(None),
        AuthError::NotPermitted { operation, detail } => {
            K::InsufficientPermission(Some(t::PermissionRefusal {
                operation: operation.clone(),
                detail: detail.clone(),
            }))
        }
        AuthError::Forbidden => K::Forbidden,
        AuthError::NotFound { id } => K::NotFound(id.clone()),
        AuthError::Refused(r) => K::Refused(t::ApiRefusal {
            operation: r.operation.clone(),
            status: r.status,
            code: r.code.clone(),
            description: r.description.clone(),
        }),
        AuthError::RateLimited { retry_after_s } => K::RateLimited(*retry_after_s),
        AuthError::Unavailable { status } => K::Unavailable(*status),
        AuthError::ReloginRequired { reason } => K::ReloginRequired(reason.clone()),
        AuthError::NotLoggedIn => K::NotLoggedIn,
        AuthError::CorruptCredential { detail } => K::CorruptCredential(detail.clone()),
        AuthError::InsecureEndpoint { url } => K::InsecureEndpoint(url.clone()),
        AuthError::Protocol { field, detail } => K::Protocol(t::ProtocolViolation {
            field: field.clone(),
            detail: detail.clone(),
        }),
        AuthError::Malformed { status, reason } => K::Malformed(t::UnreadableResponse {
            status: *status,
            reason: reason.clone(),
        }),
        AuthError::Provider { code, description } => K::Provider(t::ProviderRefusal {
            code: code.clone(),
            description: description.clone(),
        }),
        AuthError::Transport(e) => K::Transport(transport_error_to_wit(e)),
        AuthError::Storage(e) => K::Storage(store_error_to_wit(e)),
        AuthError::StateMismatch => K::StateMismatch,
        AuthError::CallbackTimeout => K::CallbackTimeout,
        AuthError::Config { detail } => K::Config(detail.clone()),
    };
    t::AuthError {
        kind,
        message: error.to_string(),
    }
}

fn endpoints_to_wit(e: Endpoints) -> t::Endpoints {
    t::Endpoints {
        issuer: e.issuer,
        authorization_endpoint: e.authorization_endpoint.map(String::from),
        token_endpoint: e.token_endpoint.map(String::from),
        device_authorization_endpoint: e.device_authorization_endpoint.map(String::from),
        revocation_endpoint: e.revocation_endpoint.map(String::from),
        userinfo_endpoint: e.userinfo_endpoint.map(String::from),
        introspection_endpoint: e.introspection_endpoint.map(String::from),
        authorization_response_iss_parameter_supported: e
            .authorization_response_iss_parameter_supported,
    }
}

/// A WIT string as a URL, or a `config` error naming the field it came in (WIT carries URLs as
/// text; the core holds `url::Url`)
fn url_from_wit(field: &str, raw: String) -> Result<Url, AuthError> {
    crate::endpoint::parse_url(&raw).map_err(|detail| AuthError::Config {
        detail: format!("`{field}`: {detail}"),
    })
}

fn optional_url_from_wit(field: &str, raw: Option<String>) -> Result<Option<Url>, AuthError> {
    raw.map(|raw| url_from_wit(field, raw)).transpose()
}

fn endpoints_from_wit(e: t::Endpoints) -> Result<Endpoints, AuthError> {
    let url = |field: &str, raw: Option<String>| optional_url_from_wit(field, raw);
    Ok(Endpoints {
        issuer: e.issuer,
        authorization_endpoint: url("endpoints.authorization_endpoint", e.authorization_endpoint)?,
        token_endpoint: url("endpoints.token_endpoint", e.token_endpoint)?,
        device_authorization_endpoint: url(
            "endpoints.device_authorization_endpoint",
            e.device_authorization_endpoint,
        )?,
        revocation_endpoint: url("endpoints.revocation_endpoint", e.revocation_endpoint)?,
        userinfo_endpoint: url("endpoints.userinfo_endpoint", e.userinfo_endpoint)?,
        introspection_endpoint: url("endpoints.introspection_endpoint", e.introspection_endpoint)?,
        authorization_response_iss_parameter_supported: e
            .authorization_response_iss_parameter_supported,
    })
}

// ---- Machine configs: the WIT records as the core's config types ----

/// A core config from its WIT record: a `none` field takes the core's default (the one serde
/// applies to an absent JSON field), so every host gets the defaults of `docs/architecture.md`
trait FromWit: Sized {
    type Wit;
    fn from_wit(wit: Self::Wit) -> Result<Self, AuthError>;
}

/// A WIT `u64` byte count as the core's `usize` (a 32-bit guest caps it at `usize::MAX`)
fn bytes(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl FromWit for DiscoveryConfig {
    type Wit = wit::DiscoveryConfig;
    fn from_wit(c: wit::DiscoveryConfig) -> Result<Self, AuthError> {
        Ok(Self {
            issuer: c.issuer,
            max_response_bytes: c
                .max_response_bytes
                .map_or_else(crate::discovery::default_max_response_bytes, bytes),
        })
    }
}

impl FromWit for DeviceLoginConfig {
    type Wit = wit::DeviceLoginConfig;
    fn from_wit(c: wit::DeviceLoginConfig) -> Result<Self, AuthError> {
        Ok(Self {
            endpoints: endpoints_from_wit(c.endpoints)?,
            client: client_from_wit(c.client),
            max_slow_downs: c
                .max_slow_downs
                .unwrap_or_else(crate::device::default_max_slow_downs),
        })
    }
}

impl FromWit for BrowserLoginConfig {
    type Wit = wit::BrowserLoginConfig;
    fn from_wit(c: wit::BrowserLoginConfig) -> Result<Self, AuthError> {
        Ok(Self {
            endpoints: endpoints_from_wit(c.endpoints)?,
            client: client_from_wit(c.client),
            redirect_port: c.redirect_port,
            timeout_s: c
                .timeout_s
                .unwrap_or_else(crate::browser::default_timeout_s),
        })
    }
}

impl FromWit for RefreshConfig {
    type Wit = wit::RefreshConfig;
    fn from_wit(c: wit::RefreshConfig) -> Result<Self, AuthError> {
        Ok(Self {
            endpoints: endpoints_from_wit(c.endpoints)?,
            client: client_from_wit(c.client),
            tokens: token_set_from_wit(c.tokens),
            skew_s: c.skew_s.unwrap_or_else(crate::refresh::default_skew_s),
            max_retries: c
                .max_retries
                .unwrap_or_else(crate::refresh::default_max_retries),
            force: c.force.unwrap_or(false),
        })
    }
}

impl FromWit for CredentialConfig {
    type Wit = wit::CredentialConfig;
    fn from_wit(c: wit::CredentialConfig) -> Result<Self, AuthError> {
        Ok(Self {
            key: c.key,
            endpoints: c
                .endpoints
                .map(endpoints_from_wit)
                .transpose()?
                .unwrap_or_default(),
            client: c.client.map(client_from_wit).unwrap_or_default(),
            env_api_key: c.env_api_key.map(Secret::new),
            env_precedence: c
                .env_precedence
                .map(env_precedence_from_wit)
                .unwrap_or_default(),
            prefer: c.prefer.map(auth_type_from_wit).unwrap_or_default(),
            skew_s: c.skew_s.unwrap_or_else(crate::credential::default_skew_s),
            api_key_scheme: c
                .api_key_scheme
                .unwrap_or_else(crate::credential::default_api_key_scheme),
            api_key_fallback: c.api_key_fallback.unwrap_or_else(crate::credential::yes),
        })
    }
}

impl FromWit for KeyCheckConfig {
    type Wit = wit::KeyCheckConfig;
    fn from_wit(c: wit::KeyCheckConfig) -> Result<Self, AuthError> {
        Ok(Self {
            spec: key_check_spec_from_wit("spec.url", c.spec)?,
            key: Secret::new(c.key),
        })
    }
}

impl FromWit for RevocationConfig {
    type Wit = wit::RevocationConfig;
    fn from_wit(c: wit::RevocationConfig) -> Result<Self, AuthError> {
        Ok(Self {
            endpoints: endpoints_from_wit(c.endpoints)?,
            client: client_from_wit(c.client),
            refresh_token: c.refresh_token.map(Secret::new),
            access_token: c.access_token.map(Secret::new),
        })
    }
}

impl FromWit for AccountCallConfig {
    type Wit = wit::AccountCallConfig;
    fn from_wit(c: wit::AccountCallConfig) -> Result<Self, AuthError> {
        Ok(Self {
            credential: CredentialConfig::from_wit(c.credential)?,
            api_base: url_from_wit("api_base", c.api_base)?,
            header: c.header.unwrap_or_else(crate::key_check::default_header),
            max_response_bytes: c
                .max_response_bytes
                .map_or_else(crate::account::default_max_response_bytes, bytes),
            operation: account_operation_from_wit(c.operation)?,
        })
    }
}

fn client_from_wit(c: t::OauthClient) -> Client {
    Client {
        client_id: c.client_id,
        client_secret: c.client_secret.map(Secret::new),
        scopes: c.scopes,
    }
}

fn token_set_from_wit(t: t::TokenSet) -> TokenSet {
    TokenSet {
        access_token: Secret::new(t.access_token),
        token_type: t.token_type,
        refresh_token: t.refresh_token.map(Secret::new),
        id_token: t.id_token.map(Secret::new),
        scope: t.scope,
        expires_at_ms: t.expires_at_ms,
        refresh_at_ms: t.refresh_at_ms,
        issued_at_ms: t.issued_at_ms,
    }
}

fn env_precedence_from_wit(e: t::EnvPrecedence) -> EnvPrecedence {
    match e {
        t::EnvPrecedence::Override => EnvPrecedence::Override,
        t::EnvPrecedence::Fallback => EnvPrecedence::Fallback,
    }
}

fn auth_type_from_wit(a: t::AuthType) -> AuthType {
    match a {
        t::AuthType::Oauth => AuthType::Oauth,
        t::AuthType::ApiKey => AuthType::ApiKey,
    }
}

/// `url_field` names the URL in a `config` error: where the spec sits in the caller's record
fn key_check_spec_from_wit(url_field: &str, k: t::KeyCheckSpec) -> Result<KeyCheckSpec, AuthError> {
    Ok(KeyCheckSpec {
        method: match k.method {
            None | Some(t::KeyCheckMethod::Get) => KeyCheckMethod::Get,
            Some(t::KeyCheckMethod::Post) => KeyCheckMethod::Post,
        },
        url: url_from_wit(url_field, k.url)?,
        header: k.header.unwrap_or_else(crate::key_check::default_header),
        scheme: k.scheme.unwrap_or_else(crate::key_check::default_scheme),
        // Inserted one by one: `collect` into a BTreeMap would add a sort to the artefact.
        identity: k
            .identity
            .into_iter()
            .fold(BTreeMap::new(), |mut map, (k, v)| {
                map.insert(k, v);
                map
            }),
    })
}

fn method_from_wit(m: Option<t::Method>, default: fn() -> Method) -> Method {
    match m {
        None => default(),
        Some(t::Method::Get) => Method::Get,
        Some(t::Method::Post) => Method::Post,
        Some(t::Method::Delete) => Method::Delete,
    }
}

/// The WIT account operation as the core's, defaults filled; permissions that are not JSON are
/// a `config` error
fn account_operation_from_wit(op: t::AccountOperation) -> Result<AccountOperation, AuthError> {
    use crate::account as a;
    use t::AccountOperation as Op;
    Ok(match op {
        Op::Whoami(w) => AccountOperation::Whoami {
            method: method_from_wit(w.method, a::get),
            path: w.path.unwrap_or_else(a::whoami_path),
            label: w.label.unwrap_or_else(a::default_label),
        },
        Op::ListProjects(l) => AccountOperation::ListProjects {
            method: method_from_wit(l.method, a::get),
            path: l.path.unwrap_or_else(a::projects_path),
            list: l.list.unwrap_or_default(),
            id_field: l.id_field.unwrap_or_else(a::id_field),
            name_field: l.name_field.unwrap_or_else(a::name_field),
        },
        Op::CreateKey(k) => AccountOperation::CreateKey {
            method: method_from_wit(k.method, a::post),
            path: k.path.unwrap_or_else(a::keys_path),
            name: k.name,
            permissions: match k.permissions_json {
                None => None,
                Some(text) => Some(crate::body::parse_json(text.as_bytes()).map_err(|e| {
                    AuthError::Config {
                        detail: format!("the new key's permissions are not JSON: {e}"),
                    }
                })?),
            },
            name_field: k.name_field.unwrap_or_else(a::name_field),
            permissions_field: k.permissions_field.unwrap_or_else(a::permissions_field),
            key_pointer: k.key_pointer.unwrap_or_else(a::key_pointer),
        },
        Op::ListKeys(l) => AccountOperation::ListKeys {
            method: method_from_wit(l.method, a::get),
            path: l.path.unwrap_or_else(a::keys_path),
            list: l.list.unwrap_or_default(),
        },
        Op::ShowKey(k) => AccountOperation::ShowKey {
            method: method_from_wit(k.method, a::get),
            path: k.path.unwrap_or_else(a::key_path),
            id: k.id,
        },
        Op::DeleteKey(k) => AccountOperation::DeleteKey {
            method: method_from_wit(k.method, a::delete),
            path: k.path.unwrap_or_else(a::key_path),
            id: k.id,
        },
    })
}
