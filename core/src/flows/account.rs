//! Account call: one request to the vendor's account API with the account's credential, read
//! into a typed result (who am I, projects, API-key management)
//!
//! The flow:
//! 1. The operation's URL is built first (`api_base` joined with the operation's path, an `{id}`
//!    placeholder percent-encoded), so a bad config ends before anything is read or sent.
//! 2. A [`Credential`] sub-machine resolves the credential exactly as `token` does; its store
//!    operations and refresh requests are forwarded as they come, so refresh with rotation, the
//!    lock and the compare-and-swap work the same here.
//! 3. One request with `{header}: {token_type} {secret}` (OAuth tokens always go in
//!    `authorization`), a JSON body for `create_key`.
//! 4. The answer: 2xx is read per operation; 401 means a login is needed (`relogin_required` for
//!    OAuth tokens, `invalid_key` for API keys); 403 `insufficient_permission` naming the
//!    operation; 404 on an id `not_found` naming it; 429 and 5xx as everywhere; any other status
//!    `provider` (an error object) or `malformed`. A 2xx body that is too large, not JSON or of
//!    the wrong shape is `malformed`, saying what was expected where.
//!
//! Paths are relative to `api_base`, which is treated as a directory: `https://h/api/v0` with
//! `users/me` (or `/users/me`) is `https://h/api/v0/users/me`. A path that would leave the base
//! (another host, `..`) is refused: the credential goes to the account API only.
//!
//! JSON bodies pass through as the server sent them ([`JsonText`]): key order, nesting and the
//! spelling of numbers are kept; fields are looked up in a `Value` read from the same text, which
//! also decides what is well-formed (a number beyond `f64` is `malformed`).
use core::fmt;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::credential::{AuthType, Credential, CredentialConfig, ResolvedCredential};
use crate::endpoint::{check_endpoint, url_field};
use crate::error::AuthError;
use crate::http::{Body, DEFAULT_MAX_RESPONSE_BYTES, HttpRequest, HttpResponse, Method, Param};
use crate::json_text::JsonText;
use crate::key_check::{credential_header, default_header};
use crate::machine::{Input, Machine, Output, WireValue};
use crate::oauth::server_trouble;
use crate::outbox::Outbox;
use crate::secret::Secret;
use url::Url;

/// The placeholder an id replaces in a path
pub const ID_PLACEHOLDER: &str = "{id}";

/// The longest server text (an error description) put into an error message
const MAX_SERVER_TEXT_CHARS: usize = 200;

pub(crate) fn get() -> Method {
    Method::Get
}
pub(crate) fn post() -> Method {
    Method::Post
}
pub(crate) fn delete() -> Method {
    Method::Delete
}
pub(crate) fn whoami_path() -> String {
    "me".into()
}
pub(crate) fn projects_path() -> String {
    "projects".into()
}
pub(crate) fn keys_path() -> String {
    "api-keys".into()
}
pub(crate) fn key_path() -> String {
    "api-keys/{id}".into()
}
pub(crate) fn default_label() -> Vec<String> {
    ["/email", "/username", "/login", "/name", "/id"]
        .map(String::from)
        .to_vec()
}
pub(crate) fn id_field() -> String {
    "id".into()
}
pub(crate) fn name_field() -> String {
    "name".into()
}
pub(crate) fn permissions_field() -> String {
    "permissions".into()
}
pub(crate) fn key_pointer() -> String {
    "/key".into()
}
pub(crate) fn default_max_response_bytes() -> usize {
    DEFAULT_MAX_RESPONSE_BYTES
}

/// One account operation, with its method and path (relative to `api_base`); wire form
/// `{"create_key": {"name": "ci", …}}`, `{"whoami": {}}` for all defaults
///
/// Externally tagged, serde's default: an internally tagged `{"op": …}` form measured 24 KB more
/// code in the wasm artefacts (serde's buffered `Content` path), which the component cannot afford.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountOperation {
    /// Who the credential belongs to: the body as sent, plus a label
    Whoami {
        /// Default `GET`
        #[serde(default = "get")]
        method: Method,
        /// Default `me`
        #[serde(default = "whoami_path")]
        path: String,
        /// JSON pointers tried in order for the label; the first string or number wins
        /// (default `/email`, `/username`, `/login`, `/name`, `/id`)
        #[serde(default = "default_label")]
        label: Vec<String>,
    },
    /// The account's projects, as id and name
    ListProjects {
        /// Default `GET`
        #[serde(default = "get")]
        method: Method,
        /// Default `projects`
        #[serde(default = "projects_path")]
        path: String,
        /// JSON pointer to the array, such as `/projects`; `""` (the default): the body is it
        #[serde(default)]
        list: String,
        /// Each project's id: a key, or a JSON pointer when it starts with `/` (default `id`)
        #[serde(default = "id_field")]
        id_field: String,
        /// Each project's name, the same way (default `name`); a project without one has none
        #[serde(default = "name_field")]
        name_field: String,
    },
    /// Creates an API key; the answer holds the new key, shown once
    CreateKey {
        /// Default `POST`
        #[serde(default = "post")]
        method: Method,
        /// Default `api-keys`
        #[serde(default = "keys_path")]
        path: String,
        /// The new key's name
        name: String,
        /// The new key's permissions, sent as they are (the host validates a permissions file)
        #[serde(default)]
        permissions: Option<Value>,
        /// The request field for the name (default `name`)
        #[serde(default = "name_field")]
        name_field: String,
        /// The request field for the permissions (default `permissions`)
        #[serde(default = "permissions_field")]
        permissions_field: String,
        /// JSON pointer to the new key in the answer (default `/key`)
        #[serde(default = "key_pointer")]
        key_pointer: String,
    },
    /// The account's API keys, as the server describes them
    ListKeys {
        /// Default `GET`
        #[serde(default = "get")]
        method: Method,
        /// Default `api-keys`
        #[serde(default = "keys_path")]
        path: String,
        /// JSON pointer to the array; `""` (the default): the body is it
        #[serde(default)]
        list: String,
    },
    /// One API key, by id
    ShowKey {
        /// Default `GET`
        #[serde(default = "get")]
        method: Method,
        /// Default `api-keys/{id}`
        #[serde(default = "key_path")]
        path: String,
        /// The key's id
        id: String,
    },
    /// Deletes one API key, by id
    DeleteKey {
        /// Default `DELETE`
        #[serde(default = "delete")]
        method: Method,
        /// Default `api-keys/{id}`
        #[serde(default = "key_path")]
        path: String,
        /// The key's id
        id: String,
    },
}

impl AccountOperation {
    /// The wire name: `whoami`, `list_projects`, `create_key`, `list_keys`, `show_key`,
    /// `delete_key`
    pub fn name(&self) -> &'static str {
        match self {
            AccountOperation::Whoami { .. } => "whoami",
            AccountOperation::ListProjects { .. } => "list_projects",
            AccountOperation::CreateKey { .. } => "create_key",
            AccountOperation::ListKeys { .. } => "list_keys",
            AccountOperation::ShowKey { .. } => "show_key",
            AccountOperation::DeleteKey { .. } => "delete_key",
        }
    }

    /// What was asked, as a phrase: after "may not" (403) and "refused to" (another 4xx)
    fn permission(&self) -> &'static str {
        match self {
            AccountOperation::Whoami { .. } => "read the account's identity",
            AccountOperation::ListProjects { .. } => "list projects",
            AccountOperation::CreateKey { .. } => "create API keys",
            AccountOperation::ListKeys { .. } => "list API keys",
            AccountOperation::ShowKey { .. } => "read API keys",
            AccountOperation::DeleteKey { .. } => "delete API keys",
        }
    }

    fn method(&self) -> Method {
        match self {
            AccountOperation::Whoami { method, .. }
            | AccountOperation::ListProjects { method, .. }
            | AccountOperation::CreateKey { method, .. }
            | AccountOperation::ListKeys { method, .. }
            | AccountOperation::ShowKey { method, .. }
            | AccountOperation::DeleteKey { method, .. } => *method,
        }
    }

    fn path(&self) -> &str {
        match self {
            AccountOperation::Whoami { path, .. }
            | AccountOperation::ListProjects { path, .. }
            | AccountOperation::CreateKey { path, .. }
            | AccountOperation::ListKeys { path, .. }
            | AccountOperation::ShowKey { path, .. }
            | AccountOperation::DeleteKey { path, .. } => path,
        }
    }

    /// The id the operation is about, for those that take one
    pub fn id(&self) -> Option<&str> {
        match self {
            AccountOperation::ShowKey { id, .. } | AccountOperation::DeleteKey { id, .. } => {
                Some(id)
            }
            _ => None,
        }
    }
}

/// What an [`AccountCall`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountCallConfig {
    /// The account's credential, resolved (and refreshed) as `token` does
    pub credential: CredentialConfig,
    /// The account API's base URL (https, or http on loopback), such as `https://api.example.com/v1`
    #[serde(deserialize_with = "url_field::required")]
    pub api_base: Url,
    /// The header that carries an API key (default `authorization`); OAuth tokens always go in
    /// `authorization`. The scheme is the credential's `token_type` (`api_key_scheme` for keys).
    #[serde(default = "default_header")]
    pub header: String,
    /// The cap on the answer's body (default 64 KiB)
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// What to do
    pub operation: AccountOperation,
}

/// A project of the account
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Its id (a number in the answer comes out in JSON form)
    pub id: String,
    /// Its name, when the answer has one, without control characters
    pub name: Option<String>,
}

/// A newly created API key: shown once, then gone
#[derive(Clone, PartialEq, Eq)]
pub struct CreatedKey {
    /// The new key
    pub key: Secret,
    /// The rest of the answer as sent, with the key removed
    pub body: JsonText,
}

impl fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &self.key)
            .field("body", &self.body)
            .finish()
    }
}

/// What an account call produced, one variant per operation
#[derive(Clone, PartialEq, Eq)]
pub enum AccountValue {
    /// `whoami`: the answer as sent and the label picked from it
    Whoami {
        /// The answer
        body: JsonText,
        /// The first string or number the label pointers found, without control characters
        label: Option<String>,
    },
    /// `list_projects`
    Projects(Vec<Project>),
    /// `create_key`
    CreatedKey(CreatedKey),
    /// `list_keys`: the array's items as sent
    Keys(Vec<JsonText>),
    /// `show_key`: the answer as sent
    Key(JsonText),
    /// `delete_key`: the id that was deleted
    Deleted {
        /// The id
        id: String,
    },
}

impl fmt::Debug for AccountValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountValue::Whoami { body, label } => f
                .debug_struct("Whoami")
                .field("body", body)
                .field("label", &label.as_ref().map(|_| "[redacted]"))
                .finish(),
            AccountValue::Projects(projects) => write!(f, "Projects([{} items])", projects.len()),
            AccountValue::CreatedKey(created) => {
                f.debug_tuple("CreatedKey").field(created).finish()
            }
            AccountValue::Keys(keys) => write!(f, "Keys([{} items])", keys.len()),
            AccountValue::Key(body) => f.debug_tuple("Key").field(body).finish(),
            AccountValue::Deleted { id } => f.debug_struct("Deleted").field("id", id).finish(),
        }
    }
}

impl WireValue for AccountValue {
    fn to_wire(&self) -> Value {
        match self {
            AccountValue::Whoami { body, label } => {
                json!({ "operation": "whoami", "body": body.to_value(), "label": label })
            }
            AccountValue::Projects(projects) => {
                let projects: Vec<Value> = projects
                    .iter()
                    .map(|p| json!({ "id": p.id, "name": p.name }))
                    .collect();
                json!({ "operation": "list_projects", "projects": projects })
            }
            AccountValue::CreatedKey(created) => json!({
                "operation": "create_key",
                "key": created.key.expose(),
                "body": created.body.to_value(),
            }),
            AccountValue::Keys(keys) => {
                let keys: Vec<Value> = keys.iter().map(JsonText::to_value).collect();
                json!({ "operation": "list_keys", "keys": keys })
            }
            AccountValue::Key(body) => json!({ "operation": "show_key", "body": body.to_value() }),
            AccountValue::Deleted { id } => json!({ "operation": "delete_key", "id": id }),
        }
    }

    /// The server's JSON spliced in as it came, so a JS host sees its key order
    fn to_wire_text(&self) -> String {
        let quoted = |text: &str| Value::String(text.into()).to_string();
        match self {
            AccountValue::Whoami { body, label } => format!(
                r#"{{"operation":"whoami","body":{},"label":{}}}"#,
                body.as_str(),
                label.as_deref().map_or_else(|| "null".into(), quoted)
            ),
            AccountValue::CreatedKey(created) => format!(
                r#"{{"operation":"create_key","key":{},"body":{}}}"#,
                quoted(created.key.expose()),
                created.body.as_str()
            ),
            AccountValue::Keys(keys) => format!(
                r#"{{"operation":"list_keys","keys":{}}}"#,
                JsonText::array(keys).as_str()
            ),
            AccountValue::Key(body) => {
                format!(r#"{{"operation":"show_key","body":{}}}"#, body.as_str())
            }
            AccountValue::Projects(_) | AccountValue::Deleted { .. } => self.to_wire().to_string(),
        }
    }
}

/// Server (or user) text made safe for a terminal: no control or bidi-override characters (line
/// breaks and tabs become one space), and not longer than a line or two
pub(crate) fn clean_text(text: &str) -> String {
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    let mut clean = String::with_capacity(text.len().min(MAX_SERVER_TEXT_CHARS));
    for c in text.chars().take(MAX_SERVER_TEXT_CHARS) {
        if c.is_whitespace() && (c.is_control() || c == ' ') {
            if !clean.is_empty() && !clean.ends_with(' ') {
                clean.push(' ');
            }
        } else if !c.is_control() && !bidi(c) {
            clean.push(c);
        }
    }
    clean.truncate(clean.trim_end().len());
    clean
}

/// RFC 3986 unreserved characters stay; everything else in an id is percent-encoded, so an id
/// can neither add path segments nor a query
const ID_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The operation's URL: `api_base` as a directory, the path relative to it, `{id}` filled in
pub(crate) fn account_url(api_base: &Url, operation: &AccountOperation) -> Result<Url, AuthError> {
    let config = |detail: String| AuthError::Config { detail };
    let name = operation.name();
    check_endpoint(api_base)?;
    let mut base = api_base.clone();
    if base.query().is_some() || base.fragment().is_some() {
        return Err(config(
            "the account API base URL must not have a `?query` or `#fragment`; give the path only"
                .into(),
        ));
    }
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    let path = operation.path().trim_start_matches('/');
    let relative = match operation.id() {
        Some(id) => {
            if id.is_empty() || id == "." || id == ".." {
                return Err(config(format!(
                    "`{name}` needs the id of a key; `{}` is not one",
                    clean_text(id)
                )));
            }
            if !path.contains(ID_PLACEHOLDER) {
                return Err(config(format!(
                    "the path of `{name}` needs an `{ID_PLACEHOLDER}` where the id goes, such as `api-keys/{ID_PLACEHOLDER}`"
                )));
            }
            let id = percent_encoding::utf8_percent_encode(id, ID_ENCODE).to_string();
            path.replace(ID_PLACEHOLDER, &id)
        }
        None if path.contains(ID_PLACEHOLDER) => {
            return Err(config(format!(
                "the path of `{name}` has an `{ID_PLACEHOLDER}`, but `{name}` takes no id"
            )));
        }
        None => path.to_owned(),
    };
    let url = base.join(&relative).map_err(|e| {
        config(format!(
            "the path of `{name}` does not make a URL with the account API base ({e})"
        ))
    })?;
    if url.origin() != base.origin() || !url.path().starts_with(base.path()) {
        return Err(config(format!(
            "the path of `{name}` leads outside the account API base {base}; give a path below it"
        )));
    }
    Ok(url)
}

/// The JSON body of `create_key`
fn create_key_body(operation: &AccountOperation) -> Result<Body, AuthError> {
    let AccountOperation::CreateKey {
        name,
        permissions,
        name_field,
        permissions_field,
        key_pointer,
        ..
    } = operation
    else {
        return Ok(Body::Empty);
    };
    if name.trim().is_empty() {
        return Err(AuthError::Config {
            detail: "a new API key needs a name; pass one with --name".into(),
        });
    }
    if !key_pointer.starts_with('/') {
        return Err(AuthError::Config {
            detail: "`key_pointer` needs a JSON pointer such as `/key`".into(),
        });
    }
    let mut body = Map::new();
    body.insert(name_field.clone(), Value::String(name.clone()));
    if let Some(permissions) = permissions {
        body.insert(permissions_field.clone(), permissions.clone());
    }
    Ok(Body::Json(Value::Object(body)))
}

/// A field of an item: a key, or a JSON pointer when it starts with `/`
fn field<'a>(item: &'a Value, name: &str) -> Option<&'a Value> {
    if name.starts_with('/') {
        item.pointer(name)
    } else {
        item.get(name)
    }
}

/// A string as it is, a number in JSON form; anything else is no text
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[derive(Debug)]
enum Phase {
    /// Built, waiting for `Start`
    Idle,
    /// The credential sub-machine runs
    Resolving(Box<Credential>),
    /// The account request is out
    Calling {
        /// The kind of credential sent, which decides what a 401 means
        kind: AuthType,
    },
    /// Finished
    Done,
}

/// The account-call machine; see the module documentation
#[derive(Debug)]
pub struct AccountCall {
    config: AccountCallConfig,
    outbox: Outbox<AccountValue>,
    phase: Phase,
    /// The request built at `Start`, before the credential header
    request: Option<HttpRequest>,
}

impl AccountCall {
    /// Builds the machine; problems with the config come out as `Done(Err(..))` after `Start`
    pub fn new(config: AccountCallConfig, now_ms: u64) -> Self {
        Self {
            config,
            outbox: Outbox::new(now_ms),
            phase: Phase::Idle,
            request: None,
        }
    }

    fn finish(&mut self, result: Result<AccountValue, AuthError>) {
        self.phase = Phase::Done;
        self.outbox.finish(result);
    }

    fn start(&mut self, now_ms: u64) {
        let operation = &self.config.operation;
        let request = account_url(&self.config.api_base, operation).and_then(|url| {
            Ok(HttpRequest {
                method: operation.method(),
                url,
                headers: vec![("accept".into(), Param::from("application/json"))],
                body: create_key_body(operation)?,
                max_response_bytes: self.config.max_response_bytes,
            })
        });
        match request {
            Ok(request) => {
                self.request = Some(request);
                let credential = Credential::new(self.config.credential.clone(), now_ms);
                self.phase = Phase::Resolving(Box::new(credential));
                self.pump(now_ms, Input::Start);
            }
            Err(error) => self.finish(Err(error)),
        }
    }

    /// Feeds the credential sub-machine and forwards what it asks for
    fn pump(&mut self, now_ms: u64, input: Input) {
        let Phase::Resolving(sub) = &mut self.phase else {
            return;
        };
        sub.handle_input(now_ms, input);
        let result = loop {
            match sub.poll_output() {
                Output::Send(request) => self.outbox.send(request),
                Output::Store(op) => self.outbox.store(op),
                Output::Wait {
                    until_ms: Some(until_ms),
                } => return self.outbox.wait_until(until_ms),
                Output::Wait { until_ms: None } => return,
                Output::Done(result) => break result,
                // Resolving a credential never shows, opens or answers anything.
                Output::Show(_) | Output::OpenBrowser(_) | Output::AnswerCallback(_) => {}
            }
        };
        match result {
            Ok(credential) => self.call(credential),
            Err(error) => self.finish(Err(error)),
        }
    }

    /// Sends the account request with the resolved credential
    fn call(&mut self, credential: ResolvedCredential) {
        let Some(mut request) = self.request.take() else {
            return self.finish(Err(AuthError::Config {
                detail: "internal: the account request was not built (a keyhole bug)".into(),
            }));
        };
        let header = match credential.kind {
            AuthType::Oauth => "authorization",
            AuthType::ApiKey => self.config.header.as_str(),
        };
        match credential_header(
            header,
            &credential.token_type,
            &credential.secret,
            "account API",
        ) {
            Ok(authorization) => {
                request.headers.push(authorization);
                self.phase = Phase::Calling {
                    kind: credential.kind,
                };
                self.outbox.send(request);
            }
            Err(error) => self.finish(Err(error)),
        }
    }

    fn on_response(&mut self, now_ms: u64, kind: AuthType, response: &HttpResponse) {
        let result = if response.is_success() {
            self.read_answer(response)
        } else {
            Err(self.refusal(now_ms, kind, response))
        };
        self.finish(result);
    }

    /// What a non-2xx answer means
    fn refusal(&self, now_ms: u64, kind: AuthType, response: &HttpResponse) -> AuthError {
        let operation = &self.config.operation;
        let body = crate::body::parse_json_object(&response.body);
        let text = |k: &str| {
            body.as_ref()
                .and_then(|b| b.get(k))
                .and_then(Value::as_str)
                .map(clean_text)
                .filter(|t| !t.trim().is_empty())
        };
        // What vendors put next to an error code: OAuth, most JSON APIs, vast, Django REST.
        let description = || {
            ["error_description", "message", "msg", "detail"]
                .iter()
                .find_map(|k| text(k))
        };
        match (response.status, operation.id()) {
            (401, _) => {
                return match kind {
                    AuthType::Oauth => AuthError::ReloginRequired {
                        reason: "the account API refused the access token with HTTP 401".into(),
                    },
                    AuthType::ApiKey => AuthError::InvalidKey,
                };
            }
            (403, _) => {
                return AuthError::NotPermitted {
                    operation: operation.permission().into(),
                    detail: description(),
                };
            }
            (404, Some(id)) => return AuthError::NotFound { id: clean_text(id) },
            _ => {}
        }
        if let Some(error) = server_trouble(response, now_ms) {
            return error;
        }
        match text("error") {
            Some(code) if (400..500).contains(&response.status) => {
                AuthError::Refused(Box::new(crate::error::Refusal {
                    operation: operation.permission().into(),
                    status: response.status,
                    code,
                    description: description(),
                }))
            }
            _ => AuthError::Malformed {
                status: response.status,
                reason: match response.status {
                    300..=399 => "a redirect, which is not followed".into(),
                    404 => "nothing found at the account API URL; check the remote's API base \
                            and the operation's path"
                        .into(),
                    _ => format!("an unexpected status for `{}`", operation.name()),
                },
            },
        }
    }

    /// Reads a 2xx answer into the operation's value
    fn read_answer(&self, response: &HttpResponse) -> Result<AccountValue, AuthError> {
        let malformed = |reason: String| AuthError::Malformed {
            status: response.status,
            reason,
        };
        let max = self.config.max_response_bytes;
        if response.body.len() > max {
            return Err(malformed(format!("the body is larger than {max} bytes")));
        }
        // The `Value` decides what is JSON (and reads fields); the text is what is handed on.
        let parse = || {
            crate::body::parse_json(&response.body)
                .map_err(|_| malformed("the body is not JSON".into()))
        };
        let parse_both = || {
            let value = parse()?;
            let text = JsonText::from_slice(&response.body)
                .map_err(|_| malformed("the body is not JSON".into()))?;
            Ok::<_, AuthError>((value, text))
        };
        let parse_text = || parse_both().map(|(_, text)| text);
        let no_array = |pointer: &str| {
            if pointer.is_empty() {
                malformed("the body is not a JSON array".into())
            } else {
                malformed(format!(
                    "the body has no array at `{}`",
                    clean_text(pointer)
                ))
            }
        };
        let array_at = |document: &JsonText, pointer: &str| -> Result<Vec<JsonText>, AuthError> {
            document
                .pointer(pointer)
                .and_then(|list| list.items())
                .ok_or_else(|| no_array(pointer))
        };
        match &self.config.operation {
            // Whatever a delete answers (204, `{}`, the deleted key) is not needed.
            AccountOperation::DeleteKey { id, .. } => Ok(AccountValue::Deleted { id: id.clone() }),
            AccountOperation::Whoami { label, .. } => {
                let (document, text) = parse_both()?;
                let label = label
                    .iter()
                    .filter_map(|pointer| document.pointer(pointer).and_then(text_of))
                    .map(|text| clean_text(&text))
                    .find(|text| !text.trim().is_empty());
                Ok(AccountValue::Whoami { body: text, label })
            }
            AccountOperation::ListProjects {
                list,
                id_field,
                name_field,
                ..
            } => {
                let items = match parse()?.pointer(list) {
                    Some(Value::Array(items)) => items.clone(),
                    _ => return Err(no_array(list)),
                };
                let mut projects = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let id = field(item, id_field).and_then(text_of).ok_or_else(|| {
                        malformed(format!(
                            "project {i} has no `{}` (a string or a number)",
                            clean_text(id_field)
                        ))
                    })?;
                    // Names are shown in pickers; ids are sent back as they came.
                    let name = field(item, name_field)
                        .and_then(text_of)
                        .map(|name| clean_text(&name));
                    projects.push(Project { id, name });
                }
                Ok(AccountValue::Projects(projects))
            }
            AccountOperation::CreateKey { key_pointer, .. } => {
                let text = parse_text()?;
                let taken = text
                    .take(key_pointer)
                    .map(|(key, rest)| (key.to_value(), rest));
                let (key, body) = match taken {
                    Some((Value::String(key), rest)) if !key.is_empty() => (Secret::new(key), rest),
                    _ => {
                        return Err(malformed(format!(
                            "the answer has no new key (a string) at `{}`",
                            clean_text(key_pointer)
                        )));
                    }
                };
                Ok(AccountValue::CreatedKey(CreatedKey { key, body }))
            }
            AccountOperation::ListKeys { list, .. } => {
                Ok(AccountValue::Keys(array_at(&parse_text()?, list)?))
            }
            AccountOperation::ShowKey { .. } => Ok(AccountValue::Key(parse_text()?)),
        }
    }
}

impl Machine for AccountCall {
    type Value = AccountValue;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now_ms = self.outbox.observe(now_ms);
        match (&self.phase, input) {
            (Phase::Idle, Input::Start) => self.start(now_ms),
            (
                Phase::Resolving(_),
                input @ (Input::Response(_)
                | Input::TransportFailed(_)
                | Input::Stored(_)
                | Input::Timer),
            ) => self.pump(now_ms, input),
            (Phase::Calling { kind }, Input::Response(response)) => {
                let kind = *kind;
                self.on_response(now_ms, kind, &response)
            }
            (Phase::Calling { .. }, Input::TransportFailed(error)) => {
                self.finish(Err(AuthError::Transport(error)))
            }
            // Anything else is spurious or late: the same wait again (still in the future).
            _ => self.outbox.rearm(),
        }
    }

    fn poll_output(&mut self) -> Output<AccountValue> {
        self.outbox.poll()
    }
}

impl crate::machine::FromConfig for AccountCall {
    type Config = AccountCallConfig;

    fn from_config(config: AccountCallConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An operation from `{"op": name, fields…}`, shorter to write here than the wire form
    fn op(json: Value) -> AccountOperation {
        let Value::Object(mut fields) = json else {
            panic!("an object");
        };
        let Some(Value::String(name)) = fields.remove("op") else {
            panic!("no op");
        };
        serde_json::from_value(json!({ name: fields })).expect("a valid operation")
    }

    fn url(base: &str, operation: Value) -> Result<String, AuthError> {
        account_url(&Url::parse(base).unwrap(), &op(operation)).map(String::from)
    }

    #[test]
    fn operations_read_documented_defaults() {
        assert_eq!(
            op(json!({"op": "whoami"})),
            AccountOperation::Whoami {
                method: Method::Get,
                path: "me".into(),
                label: default_label(),
            }
        );
        let AccountOperation::CreateKey {
            method,
            path,
            permissions,
            name_field,
            permissions_field,
            key_pointer,
            ..
        } = op(json!({"op": "create_key", "name": "ci"}))
        else {
            panic!("not create_key");
        };
        assert_eq!((method, path.as_str()), (Method::Post, "api-keys"));
        assert_eq!(permissions, None);
        assert_eq!(
            (
                name_field.as_str(),
                permissions_field.as_str(),
                key_pointer.as_str()
            ),
            ("name", "permissions", "/key")
        );
        let delete = op(json!({"op": "delete_key", "id": "7"}));
        assert_eq!(delete.method(), Method::Delete);
        assert_eq!(delete.path(), "api-keys/{id}");
        assert!(
            serde_json::from_value::<AccountOperation>(json!({"show_key": {}})).is_err(),
            "show_key needs an id"
        );
    }

    #[test]
    fn paths_are_relative_to_the_base_and_ids_are_encoded() {
        let base = "https://console.example.com/api/v0";
        assert_eq!(
            url(base, json!({"op": "whoami", "path": "/users/current/"})).unwrap(),
            "https://console.example.com/api/v0/users/current/"
        );
        assert_eq!(
            url(&format!("{base}/"), json!({"op": "list_keys"})).unwrap(),
            "https://console.example.com/api/v0/api-keys"
        );
        assert_eq!(
            url(base, json!({"op": "show_key", "id": "a/b?c d#e"})).unwrap(),
            "https://console.example.com/api/v0/api-keys/a%2Fb%3Fc%20d%23e"
        );
        assert_eq!(
            url(
                base,
                json!({"op": "delete_key", "id": "k.1", "path": "auth/apikeys/{id}/"})
            )
            .unwrap(),
            "https://console.example.com/api/v0/auth/apikeys/k.1/"
        );
    }

    #[test]
    fn urls_that_would_carry_the_credential_elsewhere_are_refused() {
        let base = "https://api.example.com/v1";
        let code = |operation: Value| url(base, operation).unwrap_err().code();
        assert_eq!(
            code(json!({"op": "whoami", "path": "https://evil.example/me"})),
            "config"
        );
        assert_eq!(code(json!({"op": "whoami", "path": "../admin"})), "config");
        assert_eq!(
            url(base, json!({"op": "whoami", "path": "//evil.example/me"})).unwrap(),
            "https://api.example.com/v1/evil.example/me",
            "leading slashes never make a host"
        );
        assert_eq!(code(json!({"op": "show_key", "id": ".."})), "config");
        assert_eq!(code(json!({"op": "show_key", "id": ""})), "config");
        assert_eq!(
            code(json!({"op": "show_key", "id": "1", "path": "keys"})),
            "config"
        );
        assert_eq!(
            code(json!({"op": "list_keys", "path": "keys/{id}"})),
            "config"
        );
        assert_eq!(
            url("http://api.example.com/v1", json!({"op": "whoami"}))
                .unwrap_err()
                .code(),
            "insecure_endpoint"
        );
        assert_eq!(
            url("http://127.0.0.1:8080/v1", json!({"op": "whoami"})).unwrap(),
            "http://127.0.0.1:8080/v1/me"
        );
    }

    #[test]
    fn create_key_sends_name_and_permissions_as_json() {
        let body = create_key_body(&op(json!({
            "op": "create_key", "name": "ci", "permissions": {"api": {"read": true}},
            "name_field": "key_name", "permissions_field": "perms",
        })))
        .unwrap();
        let Body::Json(sent) = body else {
            panic!("not JSON");
        };
        assert_eq!(
            sent,
            json!({"key_name": "ci", "perms": {"api": {"read": true}}})
        );
        let e = create_key_body(&op(json!({"op": "create_key", "name": " "}))).unwrap_err();
        assert_eq!(e.code(), "config");
    }

    #[test]
    fn the_new_key_is_taken_out_of_the_answer() {
        let answer =
            JsonText::parse(r#"{"ok": true, "data": {"api~key": "k1", "id": 3}}"#).unwrap();
        let (key, rest) = answer.take("/data/api~0key").unwrap();
        assert_eq!(key.as_str(), r#""k1""#);
        assert_eq!(
            rest.as_str(),
            r#"{"ok":true,"data":{"id":3}}"#,
            "the rest in order"
        );
        assert_eq!(answer.take("/nope/key"), None);
    }

    /// Runs `operation` with a stored API key against one answer; the `done` as the JS module
    /// gets it (text) and the typed value
    fn answered(operation: Value, status: u16, body: &str) -> (String, AccountValue) {
        let config_json = json!({
            "credential": {"key": "vast/dev"},
            "api_base": "https://console.example.com/api/v0",
            "operation": operation,
        });
        let config: AccountCallConfig = serde_json::from_value(config_json.clone()).unwrap();
        let response = || HttpResponse {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        };
        let record = r#"{"api_key":"k-1","updated_at_ms":1,"version":1}"#;
        let stored = || Input::Stored(Ok(Some(Secret::new(record))));
        let mut wire = crate::wire::new_machine("account_call", &config_json, 1, &[]).unwrap();
        let mut typed = AccountCall::new(config, 1);
        let (mut text, mut last) = (String::new(), None);
        for input in [Input::Start, stored(), Input::Response(response())] {
            wire.handle_input(1, input.clone());
            typed.handle_input(1, input);
            loop {
                text = wire.poll_output_wire_text();
                let output = typed.poll_output();
                if matches!(output, Output::Wait { .. } | Output::Done(_)) {
                    last = Some(output);
                    break;
                }
            }
        }
        match last {
            Some(Output::Done(Ok(value))) => (text, value),
            _ => panic!("not done with a value: {text}"),
        }
    }

    #[test]
    fn answers_keep_the_servers_key_order_and_spelling() {
        let user = r#"{"id": 123456, "email": "you@example.com", "credit": 25.00, "ssh_key": "ssh-rsa AAAAB3..."}"#;
        let (text, value) = answered(json!({"whoami": {}}), 200, user);
        let AccountValue::Whoami { body, label } = &value else {
            panic!("not whoami");
        };
        assert_eq!(body.as_str(), user);
        assert_eq!(label.as_deref(), Some("you@example.com"));
        assert_eq!(
            text,
            format!(
                r#"{{"type":"done","ok":{{"operation":"whoami","body":{user},"label":"you@example.com"}}}}"#
            )
        );
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap()["ok"],
            value.to_wire(),
            "the text is the wire form's JSON"
        );

        let created = r#"{"name": "ci", "key": "sk-new", "id": 42}"#;
        let (text, value) = answered(json!({"create_key": {"name": "ci"}}), 200, created);
        let AccountValue::CreatedKey(created) = value else {
            panic!("not created");
        };
        assert_eq!(created.body.as_str(), r#"{"name":"ci","id":42}"#);
        assert!(
            text.ends_with(r#""key":"sk-new","body":{"name":"ci","id":42}}}"#),
            "{text}"
        );

        let keys = r#"{"apikeys": [{"name": "b", "id": 2}, {"name": "a", "id": 1}]}"#;
        let (text, value) = answered(json!({"list_keys": {"list": "/apikeys"}}), 200, keys);
        let AccountValue::Keys(items) = value else {
            panic!("not keys");
        };
        assert_eq!(items[0].as_str(), r#"{"name": "b", "id": 2}"#);
        assert!(
            text.contains(r#""keys":[{"name": "b", "id": 2},{"name": "a", "id": 1}]"#),
            "{text}"
        );
    }

    #[test]
    fn server_text_loses_control_characters() {
        assert_eq!(clean_text("bad\u{1b}[31m\r\nid\u{202e}x\t"), "bad[31m idx");
        assert_eq!(clean_text("  a \n\n b "), "a b");
        assert_eq!(clean_text(&"x".repeat(500)).len(), MAX_SERVER_TEXT_CHARS);
    }

    #[test]
    fn debug_shows_no_answer_values() {
        let created = AccountValue::CreatedKey(CreatedKey {
            key: Secret::new("sk-live-1"),
            body: JsonText::parse(r#"{"hash": "h-private"}"#).unwrap(),
        });
        let whoami = AccountValue::Whoami {
            body: JsonText::parse(r#"{"email": "ada@example.com"}"#).unwrap(),
            label: Some("ada@example.com".into()),
        };
        let text = format!(
            "{created:?} {whoami:?} {:?}",
            AccountValue::Key(JsonText::parse(r#""v-1""#).unwrap())
        );
        for value in ["sk-live-1", "h-private", "ada@example.com", "v-1"] {
            assert!(!text.contains(value), "{value} in {text}");
        }
        assert_eq!(created.to_wire()["key"], "sk-live-1");
    }

    machine_guard_tests!(AccountCall, 1408);
}
