//! The `client` export against an in-memory host: the record format is the core's, so native and
//! component read each other's credentials; an import with nothing behind it is a clear error

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

mod common;

use keyhole_core::client::{self, AuthType, CredentialOptions, RemoteSpec};
use keyhole_core::{
    HttpRequest, HttpResponse, Io, Prompt, Secret, StoreError, StoreOp, TransportError,
};
use keyhole_wasi::Error;

/// A secret store in memory (shared, so the test can look inside) and no network
#[derive(Clone, Default)]
struct MemoryIo(Arc<Mutex<HashMap<String, String>>>);

impl Io for MemoryIo {
    fn now_ms(&mut self) -> u64 {
        1_700_000_000_000
    }
    fn send(&mut self, _request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        Err(TransportError::Connect)
    }
    fn store(&mut self, op: &StoreOp) -> Result<Option<Secret>, StoreError> {
        let mut map = self.0.lock().unwrap();
        Ok(match op {
            StoreOp::Load { key } => map.get(key).cloned().map(Secret::new),
            StoreOp::CompareAndSwap { key, expected, new } => {
                if map.get(key).map(String::as_str) == expected.as_ref().map(Secret::expose) {
                    map.insert(key.clone(), new.expose().to_owned());
                }
                map.get(key).cloned().map(Secret::new)
            }
            StoreOp::Delete { key } => {
                map.remove(key);
                None
            }
            StoreOp::Lock { .. } | StoreOp::Unlock { .. } => None,
        })
    }
    fn show(&mut self, _prompt: &Prompt) {}
    fn open_browser(&mut self, _url: &str) -> bool {
        false
    }
    fn wait_until(&mut self, _until_ms: u64) -> Option<String> {
        None
    }
    fn answer_callback(&mut self, verdict: keyhole_core::CallbackVerdict) {
        panic!("answered {verdict:?}, but no callback was returned");
    }
}

fn remote() -> RemoteSpec {
    RemoteSpec {
        name: "dev".into(),
        ..RemoteSpec::default()
    }
}

fn prefer_key() -> CredentialOptions {
    CredentialOptions {
        prefer: AuthType::ApiKey,
        env_api_key: None,
    }
}

#[test]
fn native_and_component_read_each_others_credentials() {
    let runtime = common::runtime();
    let io = MemoryIo::default();

    // Written natively, read through the component.
    client::set_key(&mut io.clone(), &remote(), "ana", Secret::new("sk-native")).unwrap();
    let mut instance = runtime.instantiate(Some(Box::new(io.clone()))).unwrap();
    // One remote client serves every operation below.
    let dev = instance.remote_client(&remote()).unwrap();
    let token = instance.token(&dev, "ana", &prefer_key()).unwrap().unwrap();
    assert_eq!(token.secret.expose(), "sk-native");

    // Written through the component, read natively.
    let outcome = instance
        .set_key(&dev, "bo", &Secret::new("sk-wasm"))
        .unwrap()
        .unwrap();
    assert_eq!(outcome.account, "bo");
    let token = client::token(&mut io.clone(), &remote(), "bo", &prefer_key()).unwrap();
    assert_eq!(token.secret.expose(), "sk-wasm");

    // Status and forget agree too.
    let status = instance.status(&dev, "bo", &prefer_key()).unwrap().unwrap();
    assert!(status.logged_in && status.has_api_key && !status.has_oauth);
    instance.forget(&dev, "bo").unwrap().unwrap();
    assert!(!io.0.lock().unwrap().contains_key("dev/bo"));

    // A flow error comes back as the core's own error, field for field.
    let err = instance
        .token(&dev, "nobody", &prefer_key())
        .unwrap()
        .unwrap_err();
    let native = client::token(&mut io.clone(), &remote(), "nobody", &prefer_key()).unwrap_err();
    assert_eq!(err, native);
    instance.drop_remote_client(dev).unwrap();
}

#[test]
fn an_import_without_a_host_is_an_error_naming_the_call_and_the_import() {
    let runtime = common::runtime();
    let mut instance = runtime.instantiate(None).unwrap();
    // Handing over the remote needs no import; the operation does.
    let dev = instance.remote_client(&remote()).unwrap();
    let err = instance.token(&dev, "ana", &prefer_key()).unwrap_err();
    let Error::Call { operation, detail } = &err else {
        panic!("not a call error: {err}");
    };
    assert_eq!(operation, "client.token");
    assert!(
        detail.contains("import was called but this instance has no host I/O"),
        "{detail}"
    );
    assert!(err.to_string().contains("client.token"), "{err}");
}

/// A request as sent: method, URL and JSON body
type Sent = (String, String, Option<String>);

/// The memory store plus an account API: what each request was, and an answer per path
#[derive(Clone, Default)]
struct AccountApiIo {
    store: MemoryIo,
    sent: Arc<Mutex<Vec<Sent>>>,
}

impl Io for AccountApiIo {
    fn now_ms(&mut self) -> u64 {
        self.store.now_ms()
    }
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let json = match &request.body {
            keyhole_core::http::Body::Json(text) => Some(text.clone()),
            _ => None,
        };
        self.sent.lock().unwrap().push((
            request.method.as_str().to_owned(),
            request.url.clone(),
            json,
        ));
        Ok(match request.url.as_str() {
            "https://api.example.com/v1/api-keys" => HttpResponse::new(
                201,
                r#"{"id": 7, "key": "sk-created", "name": "ci", "scopes": {"read": true}}"#,
            ),
            "https://api.example.com/v1/api-keys/7" => HttpResponse::new(204, ""),
            _ => HttpResponse::new(404, ""),
        })
    }
    fn store(&mut self, op: &StoreOp) -> Result<Option<Secret>, StoreError> {
        self.store.store(op)
    }
    fn show(&mut self, _prompt: &Prompt) {}
    fn open_browser(&mut self, _url: &str) -> bool {
        false
    }
    fn wait_until(&mut self, _until_ms: u64) -> Option<String> {
        None
    }
    fn answer_callback(&mut self, verdict: keyhole_core::CallbackVerdict) {
        panic!("answered {verdict:?}, but no callback was returned");
    }
}

#[test]
fn account_calls_through_the_component_match_the_native_ones() {
    use keyhole_core::{AccountOperation, AccountValue};
    let runtime = common::runtime();
    let io = AccountApiIo::default();
    let api = RemoteSpec {
        api_url: Some("https://api.example.com/v1".into()),
        ..remote()
    };
    client::set_key(&mut io.clone(), &api, "ana", Secret::new("sk-native")).unwrap();
    let mut instance = runtime.instantiate(Some(Box::new(io.clone()))).unwrap();
    let dev = instance.remote_client(&api).unwrap();
    let op = |json: &str| -> AccountOperation { serde_json::from_str(json).unwrap() };
    for operation in [
        op(r#"{"create_key": {"name": "ci", "permissions": {"read": true}}}"#),
        op(r#"{"delete_key": {"id": "7"}}"#),
        op(r#"{"show_key": {"id": "8"}}"#),
    ] {
        let wasm = instance
            .account_call(&dev, "ana", &prefer_key(), &operation)
            .unwrap();
        let wasm_sent = io.sent.lock().unwrap().pop().unwrap();
        let native = client::account_call(&mut io.clone(), &api, "ana", &prefer_key(), &operation);
        let native_sent = io.sent.lock().unwrap().pop().unwrap();
        assert_eq!(wasm, native, "{}", operation.name());
        assert_eq!(wasm_sent, native_sent, "{}", operation.name());
    }
    let create = op(r#"{"create_key": {"name": "ci"}}"#);
    let created = instance
        .account_call(&dev, "ana", &prefer_key(), &create)
        .unwrap()
        .unwrap();
    let AccountValue::CreatedKey(created) = created else {
        panic!("not a created key: {created:?}");
    };
    assert_eq!(created.key.expose(), "sk-created");
    assert_eq!(
        created.body,
        serde_json::json!({"id": 7, "name": "ci", "scopes": {"read": true}})
    );
    let sent = io.sent.lock().unwrap().clone();
    assert_eq!(
        sent.last().unwrap(),
        &(
            "POST".to_owned(),
            "https://api.example.com/v1/api-keys".to_owned(),
            Some(r#"{"name":"ci"}"#.to_owned())
        )
    );
    let delete = op(r#"{"delete_key": {"id": "7"}}"#);
    let deleted = instance.account_call(&dev, "ana", &prefer_key(), &delete);
    assert_eq!(
        deleted.unwrap().unwrap(),
        AccountValue::Deleted { id: "7".into() }
    );
    assert_eq!(io.sent.lock().unwrap().last().unwrap().0, "DELETE");
    let missing = op(r#"{"show_key": {"id": "8"}}"#);
    let err = instance
        .account_call(&dev, "ana", &prefer_key(), &missing)
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code(), "not_found", "{err}");
    assert!(err.to_string().contains("`8`"), "{err}");
    instance.drop_remote_client(dev).unwrap();
}
