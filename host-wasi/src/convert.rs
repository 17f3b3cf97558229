//! Between the WIT values and the core's types and wire form
//!
//! Imports arrive as WIT values and go to a core [`keyhole_core::Io`]; machine outputs arrive as
//! WIT values and leave as the wire JSON the transcripts pin. Every conversion lives here once.

use keyhole_core::AccountOperation;
use keyhole_core::credential::{AuthType, CredentialSource, ResolvedCredential};
use keyhole_core::http::{Body, Method, Param};
use keyhole_core::key_check::KeyCheckReport;
use keyhole_core::refresh::RefreshOutcome;
use keyhole_core::revocation::RevocationReport;
use keyhole_core::wire::{self, WireValue};
use keyhole_core::{AccountValue, CreatedKey, JsonText, Project};
use keyhole_core::{AuthError, CallbackVerdict, Endpoints, Output, StoreError, TokenSet};
use keyhole_core::{HttpRequest, HttpResponse, Input, Prompt, Secret, StoreOp, TransportError};
use serde_json::{Value, json};
use url::Url;

use crate::generated::exports::keyhole::auth::machine as m;
use crate::generated::keyhole::auth::types as t;

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

/// A URL the component wrote, parsed with the parser the core uses
///
/// The core writes `Url::as_str()`, which parses back to the same URL; text that does not parse
/// comes from a broken or hostile component.
pub(crate) fn url_from_wit(field: &str, raw: &str) -> Result<Url, String> {
    Url::parse(raw).map_err(|e| format!("the component's `{field}` is not a URL ({e})"))
}

/// A WIT request as the core's request, so that host-native's `Io::send` performs it; a URL or
/// JSON body that does not parse is refused as the transport error the guest gets
///
/// Header and form values become secrets: an `authorization` header or a refresh token in a form
/// must never reach a `Debug` print on the host side either.
pub(crate) fn request_from_wit(r: t::HttpRequest) -> Result<HttpRequest, TransportError> {
    let url =
        Url::parse(&r.url).map_err(|e| TransportError::Other(format!("not a valid URL ({e})")))?;
    let content_type = |wanted: &str| {
        r.headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v == wanted)
    };
    // A JSON body must be a JSON document to be the core's `Body::Json`; the core only ever
    // sends one, so anything else is refused rather than sent as something it is not.
    let json = if content_type(JSON) {
        Some(
            serde_json::from_slice::<Value>(&r.body)
                .map_err(|_| TransportError::Other("the request's JSON body is not JSON".into()))?,
        )
    } else {
        None
    };
    let implied = match (&json, content_type(FORM)) {
        (Some(_), _) => Some(JSON),
        (None, true) => Some(FORM),
        (None, false) => None,
    };
    let headers = r
        .headers
        .into_iter()
        // The core's body implies its content-type; the host adapter adds it again.
        .filter(|(n, v)| !(n.eq_ignore_ascii_case("content-type") && Some(v.as_str()) == implied))
        .map(|(mut n, v)| {
            n.make_ascii_lowercase();
            (n, Param::Secret(Secret::new(v)))
        })
        .collect();
    let body = if let Some(value) = json {
        Body::Json(value)
    } else if implied.is_some() || !r.body.is_empty() {
        Body::Form(
            form_urlencoded::parse(&r.body)
                .map(|(k, v)| (k.into_owned(), Param::Secret(Secret::new(v.into_owned()))))
                .collect(),
        )
    } else {
        Body::Empty
    };
    Ok(HttpRequest {
        method: match r.method {
            t::Method::Get => Method::Get,
            t::Method::Post => Method::Post,
            t::Method::Delete => Method::Delete,
        },
        url,
        headers,
        body,
        max_response_bytes: usize::try_from(r.max_response_bytes).unwrap_or(usize::MAX),
    })
}

pub(crate) fn response_to_wit(r: HttpResponse) -> t::HttpResponse {
    t::HttpResponse {
        status: r.status,
        headers: r.headers,
        body: r.body,
    }
}

pub(crate) fn transport_error_to_wit(e: TransportError) -> t::TransportError {
    match e {
        TransportError::Dns => t::TransportError::Dns,
        TransportError::Connect => t::TransportError::Connect,
        TransportError::Timeout => t::TransportError::Timeout,
        TransportError::Tls => t::TransportError::Tls,
        TransportError::TooLarge => t::TransportError::TooLarge,
        TransportError::Other(message) => t::TransportError::Other(message),
    }
}

pub(crate) fn store_error_to_wit(e: StoreError) -> t::SecretError {
    match e {
        StoreError::Unavailable(m) => t::SecretError::Unavailable(m),
        StoreError::Denied(m) => t::SecretError::Denied(m),
        StoreError::Other(m) => t::SecretError::Other(m),
    }
}

pub(crate) fn prompt_from_wit(p: t::Prompt) -> Result<Prompt, String> {
    Ok(Prompt {
        user_code: p.user_code,
        verification_uri: url_from_wit("verification_uri", &p.verification_uri)?,
        verification_uri_complete: p
            .verification_uri_complete
            .map(|uri| url_from_wit("verification_uri_complete", &uri))
            .transpose()?,
        expires_in_s: p.expires_in_s,
        expires_at_ms: p.expires_at_ms,
    })
}

/// A core input as the WIT input a `machine` resource takes
pub(crate) fn input_to_wit(input: &Input) -> m::Input {
    match input {
        Input::Start => m::Input::Start,
        Input::Response(r) => m::Input::Response(response_to_wit(r.clone())),
        Input::TransportFailed(e) => m::Input::TransportFailed(transport_error_to_wit(e.clone())),
        Input::Stored(result) => m::Input::Stored(
            result
                .clone()
                .map(|value| value.map(Secret::into_exposed))
                .map_err(store_error_to_wit),
        ),
        Input::Callback(target) => m::Input::Callback(target.clone()),
        Input::Timer => m::Input::Timer,
    }
}

/// The guest's callback verdict as the core's
pub(crate) fn verdict_from_wit(verdict: t::CallbackVerdict) -> CallbackVerdict {
    match verdict {
        t::CallbackVerdict::Accepted => CallbackVerdict::Accepted,
        t::CallbackVerdict::Rejected => CallbackVerdict::Rejected,
        t::CallbackVerdict::Failed => CallbackVerdict::Failed,
    }
}

/// A WIT output in the wire JSON form, written by the core's own `wire` functions
///
/// The output is first turned back into the core's `Output` (the request with its form, the
/// result or error with every field), so what the transcripts compare is exactly what the native
/// runner writes, and a field lost at the WIT boundary shows up as a difference. An output the
/// core's types cannot hold (a URL or JSON body that does not parse) comes out as an
/// `unreadable` output, which no transcript expects.
pub(crate) fn output_to_wire(output: m::Output) -> Value {
    let output: Output<()> = match output {
        m::Output::Send(r) => match request_from_wit(r) {
            Ok(request) => Output::Send(request),
            Err(e) => return unreadable("send", e.to_string()),
        },
        m::Output::Store(op) => Output::Store(store_op_from_wit(op)),
        m::Output::Show(p) => match prompt_from_wit(p) {
            Ok(prompt) => Output::Show(prompt),
            Err(e) => return unreadable("show", e),
        },
        m::Output::OpenBrowser(url) => match url_from_wit("url", &url) {
            Ok(url) => Output::OpenBrowser(url),
            Err(e) => return unreadable("open_browser", e),
        },
        m::Output::AnswerCallback(verdict) => Output::AnswerCallback(verdict_from_wit(verdict)),
        m::Output::Wait(until_ms) => Output::Wait { until_ms },
        m::Output::Done(Ok(value)) => {
            return match done_value_to_wire(value) {
                Ok(value) => wire::done_to_wire(Ok(value)),
                Err(e) => unreadable("done", e),
            };
        }
        m::Output::Done(Err(error)) => Output::Done(Err(auth_error_to_core(error.kind))),
    };
    wire::output_to_wire(&output)
}

fn unreadable(output: &str, error: String) -> Value {
    json!({ "type": "unreadable", "output": output, "error": error })
}

/// A `done-value` as the core's result of that machine, in its wire form
fn done_value_to_wire(value: m::DoneValue) -> Result<Value, String> {
    Ok(match value {
        m::DoneValue::Endpoints(e) => endpoints_from_wit(e)?.to_wire(),
        m::DoneValue::Tokens(t) => token_set_from_wit(t).to_wire(),
        m::DoneValue::Refresh(r) => RefreshOutcome {
            tokens: token_set_from_wit(r.tokens),
            refreshed: r.refreshed,
            warning: r.warning,
        }
        .to_wire(),
        m::DoneValue::Credential(c) => resolved_credential_from_wit(c).to_wire(),
        m::DoneValue::KeyCheck(k) => KeyCheckReport {
            status: k.status,
            elapsed_ms: k.elapsed_ms,
            identity: k.identity.into_iter().collect(),
        }
        .to_wire(),
        m::DoneValue::Revocation(r) => RevocationReport {
            revoked: r.revoked,
            unsupported: r.unsupported,
            skipped: r.skipped,
        }
        .to_wire(),
        m::DoneValue::Account(a) => account_value_from_wit(a).to_wire(),
    })
}

/// The component's account value as the core's; server JSON comes back from its text
pub(crate) fn account_value_from_wit(value: t::AccountValue) -> AccountValue {
    match value {
        t::AccountValue::Whoami(w) => AccountValue::Whoami {
            body: json_from_wit(&w.body_json),
            label: w.label,
        },
        t::AccountValue::Projects(projects) => AccountValue::Projects(
            projects
                .into_iter()
                .map(|p| Project {
                    id: p.id,
                    name: p.name,
                })
                .collect(),
        ),
        t::AccountValue::CreatedKey(k) => AccountValue::CreatedKey(CreatedKey {
            key: Secret::new(k.key),
            body: json_from_wit(&k.body_json),
        }),
        t::AccountValue::Keys(keys) => {
            AccountValue::Keys(keys.iter().map(|k| json_from_wit(k)).collect())
        }
        t::AccountValue::Key(body) => AccountValue::Key(json_from_wit(&body)),
        t::AccountValue::Deleted(id) => AccountValue::Deleted { id },
    }
}

/// The server's JSON text as the component passed it on (key order kept); text that is not JSON
/// (a broken component) is shown as a JSON string rather than lost
fn json_from_wit(text: &str) -> JsonText {
    JsonText::parse(text).unwrap_or_else(|_| JsonText::from_value(&Value::String(text.to_owned())))
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

pub(crate) fn endpoints_from_wit(e: t::Endpoints) -> Result<Endpoints, String> {
    let url =
        |field: &str, raw: Option<String>| raw.map(|raw| url_from_wit(field, &raw)).transpose();
    Ok(Endpoints {
        issuer: e.issuer,
        authorization_endpoint: url("authorization_endpoint", e.authorization_endpoint)?,
        token_endpoint: url("token_endpoint", e.token_endpoint)?,
        device_authorization_endpoint: url(
            "device_authorization_endpoint",
            e.device_authorization_endpoint,
        )?,
        revocation_endpoint: url("revocation_endpoint", e.revocation_endpoint)?,
        userinfo_endpoint: url("userinfo_endpoint", e.userinfo_endpoint)?,
        introspection_endpoint: url("introspection_endpoint", e.introspection_endpoint)?,
        authorization_response_iss_parameter_supported: e
            .authorization_response_iss_parameter_supported,
    })
}

pub(crate) fn resolved_credential_from_wit(r: t::ResolvedCredential) -> ResolvedCredential {
    ResolvedCredential {
        kind: match r.kind {
            t::AuthType::ApiKey => AuthType::ApiKey,
            t::AuthType::Oauth => AuthType::Oauth,
        },
        source: match r.source {
            t::CredentialSource::Env => CredentialSource::Env,
            t::CredentialSource::Store => CredentialSource::Store,
        },
        secret: Secret::new(r.secret),
        token_type: r.token_type,
        expires_at_ms: r.expires_at_ms,
        refreshed: r.refreshed,
        warning: r.warning,
        fallback_reason: r.fallback_reason,
    }
}

fn store_op_from_wit(op: t::StoreOp) -> StoreOp {
    match op {
        t::StoreOp::Load(key) => StoreOp::Load { key },
        t::StoreOp::Delete(key) => StoreOp::Delete { key },
        t::StoreOp::Lock(key) => StoreOp::Lock { key },
        t::StoreOp::Unlock(key) => StoreOp::Unlock { key },
        t::StoreOp::CompareAndSwap(c) => cas_op(c.key, c.expected, c.new),
    }
}

/// The core's error for a WIT error: every field comes across, so its message is the same
pub(crate) fn auth_error_to_core(kind: t::ErrorKind) -> AuthError {
    use t::ErrorKind as K;
    match kind {
        K::Denied => AuthError::Denied,
        K::Expired => AuthError::Expired,
        K::ClockDrift(count) => AuthError::ClockDrift { count },
        K::InvalidKey => AuthError::InvalidKey,
        K::Forbidden => AuthError::Forbidden,
        K::InsufficientPermission(None) => AuthError::InsufficientPermission,
        K::InsufficientPermission(Some(r)) => AuthError::NotPermitted {
            operation: r.operation,
            detail: r.detail,
        },
        K::NotFound(id) => AuthError::NotFound { id },
        K::Refused(r) => AuthError::Refused(Box::new(keyhole_core::Refusal {
            operation: r.operation,
            status: r.status,
            code: r.code,
            description: r.description,
        })),
        K::RateLimited(retry_after_s) => AuthError::RateLimited { retry_after_s },
        K::Unavailable(status) => AuthError::Unavailable { status },
        K::ReloginRequired(reason) => AuthError::ReloginRequired { reason },
        K::NotLoggedIn => AuthError::NotLoggedIn,
        K::CorruptCredential(detail) => AuthError::CorruptCredential { detail },
        K::InsecureEndpoint(url) => AuthError::InsecureEndpoint { url },
        K::Protocol(p) => AuthError::Protocol {
            field: p.field,
            detail: p.detail,
        },
        K::Malformed(m) => AuthError::Malformed {
            status: m.status,
            reason: m.reason,
        },
        K::Provider(p) => AuthError::Provider {
            code: p.code,
            description: p.description,
        },
        K::Transport(e) => AuthError::Transport(transport_error_from_wit(e)),
        K::Storage(e) => AuthError::Storage(store_error_from_wit(e)),
        K::StateMismatch => AuthError::StateMismatch,
        K::CallbackTimeout => AuthError::CallbackTimeout,
        K::Config(detail) => AuthError::Config { detail },
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

/// A store operation from the `secrets` import, as the core's operation
pub(crate) fn cas_op(key: String, expected: Option<String>, new: String) -> StoreOp {
    StoreOp::CompareAndSwap {
        key,
        expected: expected.map(Secret::new),
        new: Secret::new(new),
    }
}

// ---- Machine configs: the transcripts' JSON, read as the core reads it, as the WIT records ----

/// A machine's JSON config as its `machine-config` case, by wire name
///
/// The JSON is read by the core's own deserializer (`keyhole_core::wire::config_from_wire`, the
/// one `new_machine` uses natively), so the field names, defaults and error messages are the
/// native ones; every defaulted WIT field then carries the value the core chose.
pub(crate) fn config_to_wit(
    kind: &str,
    config_json: &str,
) -> Result<(&'static str, m::MachineConfig), crate::Error> {
    let json: Value = serde_json::from_str(config_json)
        .map_err(|e| crate::Error::Config(format!("the `{kind}` config is not JSON: {e}")))?;
    macro_rules! by_kind {
        ($($variant:ident => $kind:literal, $ty:ty, $doc:literal;)*) => {
            match kind {
                $($kind => Ok(($kind, m::MachineConfig::$variant(ToWit::to_wit(
                    &wire::config_from_wire::<<$ty as keyhole_core::FromConfig>::Config>(
                        kind, &json,
                    )
                    .map_err(|e| crate::Error::Config(e.0))?,
                )))),)*
                _ => Err(crate::Error::Incompatible(format!(
                    "unknown machine `{kind}`; expected one of {:?}",
                    wire::MACHINE_KINDS
                ))),
            }
        };
    }
    keyhole_core::for_each_machine!(by_kind)
}

/// A core config as its WIT record
trait ToWit {
    type Wit;
    fn to_wit(&self) -> Self::Wit;
}

impl ToWit for keyhole_core::DiscoveryConfig {
    type Wit = m::DiscoveryConfig;
    fn to_wit(&self) -> m::DiscoveryConfig {
        m::DiscoveryConfig {
            issuer: self.issuer.clone(),
            max_response_bytes: Some(self.max_response_bytes as u64),
        }
    }
}

impl ToWit for keyhole_core::DeviceLoginConfig {
    type Wit = m::DeviceLoginConfig;
    fn to_wit(&self) -> m::DeviceLoginConfig {
        m::DeviceLoginConfig {
            endpoints: endpoints_to_wit(&self.endpoints),
            client: client_to_wit(&self.client),
            max_slow_downs: Some(self.max_slow_downs),
        }
    }
}

impl ToWit for keyhole_core::BrowserLoginConfig {
    type Wit = m::BrowserLoginConfig;
    fn to_wit(&self) -> m::BrowserLoginConfig {
        m::BrowserLoginConfig {
            endpoints: endpoints_to_wit(&self.endpoints),
            client: client_to_wit(&self.client),
            redirect_port: self.redirect_port,
            timeout_s: Some(self.timeout_s),
        }
    }
}

impl ToWit for keyhole_core::RefreshConfig {
    type Wit = m::RefreshConfig;
    fn to_wit(&self) -> m::RefreshConfig {
        m::RefreshConfig {
            endpoints: endpoints_to_wit(&self.endpoints),
            client: client_to_wit(&self.client),
            tokens: token_set_to_wit(&self.tokens),
            skew_s: Some(self.skew_s),
            max_retries: Some(self.max_retries),
            force: Some(self.force),
        }
    }
}

impl ToWit for keyhole_core::CredentialConfig {
    type Wit = m::CredentialConfig;
    fn to_wit(&self) -> m::CredentialConfig {
        m::CredentialConfig {
            key: self.key.clone(),
            endpoints: Some(endpoints_to_wit(&self.endpoints)),
            client: Some(client_to_wit(&self.client)),
            env_api_key: self.env_api_key.as_ref().map(|k| k.expose().to_owned()),
            env_precedence: Some(env_precedence_to_wit(self.env_precedence)),
            prefer: Some(auth_type_to_wit(self.prefer)),
            skew_s: Some(self.skew_s),
            api_key_scheme: Some(self.api_key_scheme.clone()),
            api_key_fallback: Some(self.api_key_fallback),
        }
    }
}

impl ToWit for keyhole_core::KeyCheckConfig {
    type Wit = m::KeyCheckConfig;
    fn to_wit(&self) -> m::KeyCheckConfig {
        m::KeyCheckConfig {
            spec: key_check_spec_to_wit(&self.spec),
            key: self.key.expose().to_owned(),
        }
    }
}

impl ToWit for keyhole_core::RevocationConfig {
    type Wit = m::RevocationConfig;
    fn to_wit(&self) -> m::RevocationConfig {
        m::RevocationConfig {
            endpoints: endpoints_to_wit(&self.endpoints),
            client: client_to_wit(&self.client),
            refresh_token: self.refresh_token.as_ref().map(|k| k.expose().to_owned()),
            access_token: self.access_token.as_ref().map(|k| k.expose().to_owned()),
        }
    }
}

impl ToWit for keyhole_core::account::AccountCallConfig {
    type Wit = m::AccountCallConfig;
    fn to_wit(&self) -> m::AccountCallConfig {
        m::AccountCallConfig {
            credential: self.credential.to_wit(),
            api_base: self.api_base.as_str().to_owned(),
            header: Some(self.header.clone()),
            max_response_bytes: Some(self.max_response_bytes as u64),
            operation: account_operation_to_wit(&self.operation),
        }
    }
}

pub(crate) fn endpoints_to_wit(e: &Endpoints) -> t::Endpoints {
    let text = |url: &Option<Url>| url.as_ref().map(|url| url.as_str().to_owned());
    t::Endpoints {
        issuer: e.issuer.clone(),
        authorization_endpoint: text(&e.authorization_endpoint),
        token_endpoint: text(&e.token_endpoint),
        device_authorization_endpoint: text(&e.device_authorization_endpoint),
        revocation_endpoint: text(&e.revocation_endpoint),
        userinfo_endpoint: text(&e.userinfo_endpoint),
        introspection_endpoint: text(&e.introspection_endpoint),
        authorization_response_iss_parameter_supported: e
            .authorization_response_iss_parameter_supported,
    }
}

pub(crate) fn client_to_wit(c: &keyhole_core::oauth::Client) -> t::OauthClient {
    t::OauthClient {
        client_id: c.client_id.clone(),
        client_secret: c.client_secret.as_ref().map(|s| s.expose().to_owned()),
        scopes: c.scopes.clone(),
    }
}

fn token_set_to_wit(t: &TokenSet) -> t::TokenSet {
    t::TokenSet {
        access_token: t.access_token.expose().to_owned(),
        token_type: t.token_type.clone(),
        refresh_token: t.refresh_token.as_ref().map(|s| s.expose().to_owned()),
        id_token: t.id_token.as_ref().map(|s| s.expose().to_owned()),
        scope: t.scope.clone(),
        expires_at_ms: t.expires_at_ms,
        refresh_at_ms: t.refresh_at_ms,
        issued_at_ms: t.issued_at_ms,
    }
}

pub(crate) fn env_precedence_to_wit(
    e: keyhole_core::credential::EnvPrecedence,
) -> t::EnvPrecedence {
    use keyhole_core::credential::EnvPrecedence as E;
    match e {
        E::Override => t::EnvPrecedence::Override,
        E::Fallback => t::EnvPrecedence::Fallback,
    }
}

fn auth_type_to_wit(a: AuthType) -> t::AuthType {
    match a {
        AuthType::Oauth => t::AuthType::Oauth,
        AuthType::ApiKey => t::AuthType::ApiKey,
    }
}

pub(crate) fn key_check_spec_to_wit(k: &keyhole_core::KeyCheckSpec) -> t::KeyCheckSpec {
    use keyhole_core::key_check::KeyCheckMethod;
    t::KeyCheckSpec {
        method: Some(match k.method {
            KeyCheckMethod::Get => t::KeyCheckMethod::Get,
            KeyCheckMethod::Post => t::KeyCheckMethod::Post,
        }),
        url: k.url.as_str().to_owned(),
        header: Some(k.header.clone()),
        scheme: Some(k.scheme.clone()),
        identity: k.identity.clone().into_iter().collect(),
    }
}

fn method_to_wit(m: Method) -> Option<t::Method> {
    Some(match m {
        Method::Get => t::Method::Get,
        Method::Post => t::Method::Post,
        Method::Delete => t::Method::Delete,
    })
}

/// The core's account operation, every default already applied, as the WIT one
pub(crate) fn account_operation_to_wit(op: &AccountOperation) -> t::AccountOperation {
    use t::AccountOperation as Op;
    match op.clone() {
        AccountOperation::Whoami {
            method,
            path,
            label,
        } => Op::Whoami(t::WhoamiCall {
            method: method_to_wit(method),
            path: Some(path),
            label: Some(label),
        }),
        AccountOperation::ListProjects {
            method,
            path,
            list,
            id_field,
            name_field,
        } => Op::ListProjects(t::ListProjectsCall {
            method: method_to_wit(method),
            path: Some(path),
            list: Some(list),
            id_field: Some(id_field),
            name_field: Some(name_field),
        }),
        AccountOperation::CreateKey {
            method,
            path,
            name,
            permissions,
            name_field,
            permissions_field,
            key_pointer,
        } => Op::CreateKey(t::CreateKeyCall {
            method: method_to_wit(method),
            path: Some(path),
            name,
            permissions_json: permissions.map(|p| p.to_string()),
            name_field: Some(name_field),
            permissions_field: Some(permissions_field),
            key_pointer: Some(key_pointer),
        }),
        AccountOperation::ListKeys { method, path, list } => Op::ListKeys(t::ListKeysCall {
            method: method_to_wit(method),
            path: Some(path),
            list: Some(list),
        }),
        AccountOperation::ShowKey { method, path, id } => Op::ShowKey(t::KeyCall {
            method: method_to_wit(method),
            path: Some(path),
            id,
        }),
        AccountOperation::DeleteKey { method, path, id } => Op::DeleteKey(t::KeyCall {
            method: method_to_wit(method),
            path: Some(path),
            id,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, content_type: &str, body: &[u8]) -> t::HttpRequest {
        t::HttpRequest {
            method: t::Method::Post,
            url: url.into(),
            headers: vec![("content-type".into(), content_type.into())],
            body: body.to_vec(),
            max_response_bytes: 10,
            redirect_policy: t::RedirectPolicy::NoFollow,
        }
    }

    #[test]
    fn a_request_is_parsed_once_and_refused_when_it_does_not_parse() {
        let r = request("https://api.example.com/v1/keys", JSON, br#"{"name":"ci"}"#);
        let r = request_from_wit(r).unwrap();
        assert_eq!(r.url.as_str(), "https://api.example.com/v1/keys");
        assert_eq!(r.body, Body::Json(json!({"name": "ci"})));
        let bad_url = request_from_wit(request("not a url", JSON, b"{}")).unwrap_err();
        assert!(
            matches!(bad_url, TransportError::Other(ref m) if m.starts_with("not a valid URL"))
        );
        let bad_json = request_from_wit(request("https://a.example/", JSON, b"{x")).unwrap_err();
        assert_eq!(
            bad_json,
            TransportError::Other("the request's JSON body is not JSON".into())
        );
    }

    #[test]
    fn an_output_the_core_types_cannot_hold_shows_up_in_the_replay() {
        let out = output_to_wire(m::Output::OpenBrowser("no url".into()));
        assert_eq!(out["type"], "unreadable");
        let out = output_to_wire(m::Output::OpenBrowser("https://a.example/x?y".into()));
        assert_eq!(
            out,
            json!({"type": "open_browser", "url": "https://a.example/x?y"})
        );
    }
}
