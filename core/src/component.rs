//! The core as a wasm component of `keyhole:auth@0.2.0` (`wit/v0.2.0/`)
//!
//! Two worlds, two builds (`scripts/build-component`; rustc's component linker wraps the module,
//! so no cargo-component is needed):
//! - `--features component`: the world `client`, the `machine` export and the `operations`
//!   export ([`operations`]) over the `http`, `secrets` and `host` imports;
//! - `--features component-machines`: the world `machines`, the `machine` export alone, which
//!   imports nothing from the host.
//!
//! The `machine.machine` resource holds one concrete core machine, built from the same JSON
//! config the transcripts use ([`crate::wire::config_from_wire`]). Outputs, `done` values
//! included, are typed in the WIT.
//!
//! Size matters here (the budget is 512 KiB): the machines are held by type, not as
//! `Box<dyn WireMachine>`, whose vtables would keep every machine's `Debug` and JSON-output code
//! alive in the component; and everything after a machine's `poll_output` is non-generic.
use core::cell::RefCell;

use crate::account::AccountValue;
use crate::credential::{AuthType, CredentialSource, ResolvedCredential};
use crate::error::{AuthError, StoreError};
use crate::http::{Body, HttpRequest, HttpResponse, Method, TransportError};
use crate::key_check::KeyCheckReport;
use crate::machine::{FromConfig as _, Input, Machine as _, Output, Prompt, StoreOp};
use crate::oauth::{Endpoints, TokenSet};
use crate::refresh::RefreshOutcome;
use crate::revocation::RevocationReport;
use crate::secret::Secret;
use crate::wire::config_from_wire;

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
            kind: wit::MachineKind,
            json: &str,
            now: u64,
            random: &[u8],
        ) -> Result<AnyMachine, String> {
            Ok(match kind {
                $(wit::MachineKind::$variant => {
                    AnyMachine::$variant(<$ty>::from_config(config($kind, json)?, now, random))
                })*
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
    /// The config could not be read: `done(err(config))` once started, as the WIT promises
    Broken {
        error: AuthError,
        started: bool,
    },
}

/// Reads a machine's JSON config with the name the transcripts use for its kind
fn config<C: serde::de::DeserializeOwned>(kind: &str, config_json: &str) -> Result<C, String> {
    let json = crate::body::parse_json(config_json.as_bytes())
        .map_err(|e| format!("the `{kind}` config is not JSON: {e}"))?;
    config_from_wire::<C>(kind, &json).map_err(|e| e.0)
}

impl wit::GuestMachine for MachineResource {
    fn new(kind: wit::MachineKind, config_json: String, now_ms: u64, random: Vec<u8>) -> Self {
        Self(RefCell::new(
            match build(kind, &config_json, now_ms, &random) {
                Ok(machine) => State::Running(machine),
                Err(detail) => State::Broken {
                    error: AuthError::Config { detail },
                    started: false,
                },
            },
        ))
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

/// JSON from the server as JSON text: WIT has no recursive types to carry it as a value
fn account_value_to_wit(value: AccountValue) -> t::AccountValue {
    match value {
        AccountValue::Whoami { body, label } => t::AccountValue::Whoami(t::WhoamiReport {
            body_json: body.to_string(),
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
            body_json: created.body.to_string(),
        }),
        AccountValue::Keys(keys) => {
            t::AccountValue::Keys(keys.iter().map(ToString::to_string).collect())
        }
        AccountValue::Key(body) => t::AccountValue::Key(body.to_string()),
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
    }
}

/// The only generic step after a poll: the done value becomes its WIT case
fn with_done_value<T: IntoDoneValue>(output: Output<T>) -> Output<wit::DoneValue> {
    match output {
        Output::Send(request) => Output::Send(request),
        Output::Store(op) => Output::Store(op),
        Output::Show(prompt) => Output::Show(prompt),
        Output::OpenBrowser(url) => Output::OpenBrowser(url),
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
        Body::Json(text) => {
            headers.push(("content-type".into(), "application/json".into()));
            text.clone().into_bytes()
        }
    };
    t::HttpRequest {
        method: match request.method {
            Method::Get => t::Method::Get,
            Method::Post => t::Method::Post,
            Method::Delete => t::Method::Delete,
        },
        url: request.url.clone(),
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
        verification_uri: p.verification_uri.clone(),
        verification_uri_complete: p.verification_uri_complete.clone(),
        expires_in_s: p.expires_in_s,
        expires_at_ms: p.expires_at_ms,
    }
}

fn output_to_wit(output: Output<wit::DoneValue>) -> wit::Output {
    match output {
        Output::Send(request) => wit::Output::Send(request_to_wit(&request)),
        Output::Store(op) => wit::Output::Store(store_op_to_wit(&op)),
        Output::Show(prompt) => wit::Output::Show(prompt_to_wit(&prompt)),
        Output::OpenBrowser(url) => wit::Output::OpenBrowser(url),
        Output::Wait { until_ms } => wit::Output::Wait(until_ms),
        Output::Done(result) => {
            wit::Output::Done(result.map_err(|error| auth_error_to_wit(&error)))
        }
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
        authorization_endpoint: e.authorization_endpoint,
        token_endpoint: e.token_endpoint,
        device_authorization_endpoint: e.device_authorization_endpoint,
        revocation_endpoint: e.revocation_endpoint,
        userinfo_endpoint: e.userinfo_endpoint,
        introspection_endpoint: e.introspection_endpoint,
        authorization_response_iss_parameter_supported: e
            .authorization_response_iss_parameter_supported,
    }
}
