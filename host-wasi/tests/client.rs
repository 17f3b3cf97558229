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
