//! What the host withholds from the component (issue 16 item 7): memory beyond its limit, and
//! compute time past the run limit; time the guest spends waiting on imports does not count

use std::time::Duration;

mod common;

use keyhole_core::client::{AuthType, CredentialOptions, RemoteSpec};
use keyhole_core::{
    HttpRequest, HttpResponse, Input, Io, Prompt, Secret, StoreError, StoreOp, TransportError,
};
use keyhole_wasi::{Error, GuestLimits, Runtime};

/// A store holding one API key, whose every answer takes `delay` and lets the epoch tick
struct SlowStore {
    delay: Duration,
}

impl Io for SlowStore {
    fn now_ms(&mut self) -> u64 {
        1_700_000_000_000
    }
    fn send(&mut self, _request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        Err(TransportError::Connect)
    }
    fn store(&mut self, op: &StoreOp) -> Result<Option<Secret>, StoreError> {
        std::thread::sleep(self.delay);
        keyhole_wasi::advance_epoch();
        Ok(match op {
            StoreOp::Load { .. } => Some(Secret::new(
                r#"{"version":1,"api_key":"sk-stored","updated_at_ms":1}"#,
            )),
            _ => None,
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

fn runtime(limits: GuestLimits) -> Runtime {
    Runtime::from_bytes(&common::component_bytes(), None)
        .expect("the built component loads")
        .with_limits(limits)
}

fn token(runtime: &Runtime, delay: Duration) -> Result<String, Error> {
    let mut instance = runtime.instantiate(Some(Box::new(SlowStore { delay })))?;
    let remote = RemoteSpec {
        name: "dev".into(),
        ..RemoteSpec::default()
    };
    let dev = instance.remote_client(&remote)?;
    let options = CredentialOptions {
        prefer: AuthType::ApiKey,
        env_api_key: None,
    };
    let token = instance.token(&dev, "ana", &options)?;
    Ok(token.expect("a stored key").secret.expose().to_owned())
}

#[test]
fn waiting_on_an_import_does_not_count_against_the_run_limit() {
    let runtime = runtime(GuestLimits {
        run: Duration::from_millis(50),
        ..GuestLimits::default()
    });
    // Each store answer takes four times the run limit, and the epoch moves meanwhile.
    assert_eq!(
        token(&runtime, Duration::from_millis(200)).unwrap(),
        "sk-stored"
    );
}

#[test]
fn a_guest_computing_past_its_run_limit_is_stopped() {
    let runtime = runtime(GuestLimits {
        run: Duration::ZERO,
        ..GuestLimits::default()
    });
    // With no compute time allowed, the guest is stopped at its first epoch check after the
    // store answers.
    let err = token(&runtime, Duration::from_millis(5)).unwrap_err();
    let Error::Call { operation, detail } = &err else {
        panic!("not a call error: {err}");
    };
    assert_eq!(operation, "client.token");
    assert!(
        detail.contains("computed for more than 0 ms without returning; it was stopped"),
        "{detail}"
    );
}

#[test]
fn a_guest_cannot_take_more_memory_than_its_limit() {
    let limits = GuestLimits {
        memory_bytes: 32 << 20,
        ..GuestLimits::default()
    };
    let feed = |runtime: &Runtime, body_len: usize| -> Result<(), Error> {
        let mut instance = runtime.instantiate(None)?;
        let config = r#"{"issuer": "https://id.example.com"}"#;
        let machine = instance.machine("discovery", config, 1_700_000_000_000, &[])?;
        instance.handle_input(&machine, 1_700_000_000_000, &Input::Start)?;
        // A response body is lowered into guest memory: 64 MiB does not fit in 32.
        let response = HttpResponse::new(200, vec![b' '; body_len]);
        instance.handle_input(&machine, 1_700_000_000_001, &Input::Response(response))
    };
    let limited = runtime(limits);
    feed(&limited, 1024).expect("a small body fits");
    let err = feed(&limited, 64 << 20).unwrap_err();
    assert!(matches!(err, Error::Call { .. }), "{err}");
    // Without the limit the same body is taken (what the limit changes).
    let unlimited = runtime(GuestLimits {
        memory_bytes: usize::MAX,
        ..GuestLimits::default()
    });
    feed(&unlimited, 64 << 20).expect("no limit, no refusal");
}
