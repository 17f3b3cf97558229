//! Property tests for the discovery, device-login, browser-login and revocation machines
//!
//! Each case builds a machine from the config of one of its transcripts and feeds it a random
//! sequence of inputs (the transcript's own responses, hostile bodies and statuses, stray timers,
//! callbacks and store answers) at random times, some of them running backwards. Whatever comes
//! in: no panic, every drain ends in a `wait` or `done` within 64 outputs, every timed `wait` lies
//! after the latest time seen, and once `done` every drain repeats the same `done`.
//!
//! The machines come from the wire registry, so other kinds can join by adding them to `KINDS`.

use std::path::{Path, PathBuf};

use keyhole_core::wire::{WireMachine, input_from_wire, new_machine};
use keyhole_core::{HttpResponse, Input, StoreError, TransportError};
use proptest::prelude::*;
use serde_json::Value;

const KINDS: &[&str] = &["discovery", "device_login", "browser_login", "revocation"];

struct Case {
    kind: String,
    config: Value,
    now_ms: u64,
    random: Vec<u8>,
    inputs: Vec<Input>,
}

fn cases() -> &'static [Case] {
    static CASES: std::sync::OnceLock<Vec<Case>> = std::sync::OnceLock::new();
    CASES.get_or_init(read_cases)
}

fn read_cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/transcripts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("tests/transcripts exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|path| {
            let doc: Value =
                serde_json::from_str(&std::fs::read_to_string(path).expect("readable")).ok()?;
            let kind = doc["machine"].as_str()?.to_owned();
            if !KINDS.contains(&kind.as_str()) {
                return None;
            }
            let hex = doc["random_hex"].as_str().unwrap_or("");
            let random = (0..hex.len() / 2)
                .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
                .collect();
            let inputs = doc["steps"]
                .as_array()?
                .iter()
                .filter_map(|s| input_from_wire(&s["input"]).ok())
                .collect();
            Some(Case {
                kind,
                config: doc["config"].clone(),
                now_ms: doc["now_ms"].as_u64()?,
                random,
                inputs,
            })
        })
        .collect()
}

const BODIES: &[&str] = &[
    "",
    "null",
    "[]",
    "<html>",
    "{}",
    r#"{"error":"slow_down","interval":-1}"#,
    r#"{"error":"slow_down","interval":1e308}"#,
    r#"{"error":"authorization_pending"}"#,
    r#"{"error":"access_denied"}"#,
    r#"{"error":"expired_token"}"#,
    r#"{"error":"unsupported_token_type"}"#,
    r#"{"error":7}"#,
    r#"{"access_token":"at_x","expires_in":-1}"#,
    r#"{"access_token":"at_x","expires_in":18446744073709551615,"refresh_in":1e300}"#,
    r#"{"device_code":"dc_x","user_code":"U","verification_uri":"https://i.example/d","expires_in":0,"interval":0}"#,
    r#"{"device_code":"dc_x","user_code":"U","verification_url":"https://i.example/d","expires_in":"99999999999999999999"}"#,
    r#"{"issuer":"https://idp.example.com","token_endpoint":"https://idp.example.com/t"}"#,
    r#"{"issuer":"https://idp.example.com","token_endpoint":"javascript:alert(1)"}"#,
];

const TARGETS: &[&str] = &[
    "/callback",
    "/callback?code=c&state=s",
    "/callback?error=access_denied",
    "/favicon.ico",
    "",
    "*",
    "//evil.example/callback?code=c",
    "http://[::1",
    "/callback?%ff%fe=%00",
];

fn input(pool: &[Input]) -> impl Strategy<Value = Input> + use<> {
    let own = pool.to_vec();
    let n = own.len().max(1);
    prop_oneof![
        Just(Input::Start),
        Just(Input::Timer),
        (0..n).prop_map(move |i| own.get(i).cloned().unwrap_or(Input::Timer)),
        (0..TARGETS.len()).prop_map(|i| Input::Callback(TARGETS[i].to_owned())),
        (
            prop_oneof![
                Just(200u16),
                Just(400),
                Just(404),
                Just(429),
                Just(503),
                any::<u16>()
            ],
            0..BODIES.len(),
            proptest::option::of("[0-9]{1,25}|Sun, 06 Nov 1994 08:49:37 GMT|.{0,12}"),
        )
            .prop_map(|(status, body, retry_after)| {
                let mut response = HttpResponse::new(status, BODIES[body]);
                if let Some(value) = retry_after {
                    response.headers.push(("retry-after".into(), value));
                }
                Input::Response(response)
            }),
        proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(|body| Input::Response(HttpResponse::new(200, body))),
        Just(Input::TransportFailed(TransportError::Timeout)),
        Just(Input::TransportFailed(TransportError::TooLarge)),
        Just(Input::Stored(Ok(None))),
        Just(Input::Stored(Err(StoreError::Other("disk".into())))),
    ]
}

fn check(case: &Case, steps: &[(i64, Input)]) -> Result<(), TestCaseError> {
    let mut machine: Box<dyn WireMachine> =
        new_machine(&case.kind, &case.config, case.now_ms, &case.random)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut now = case.now_ms;
    let mut latest = now;
    let mut done: Option<Value> = None;
    let all = std::iter::once((0, Input::Start)).chain(steps.iter().cloned());
    for (delta, input) in all {
        now = now.saturating_add_signed(delta).max(1);
        latest = latest.max(now);
        machine.handle_input(now, input);
        let mut drained = Vec::new();
        loop {
            let output = machine.poll_output_wire();
            let last = matches!(output["type"].as_str(), Some("wait" | "done"));
            drained.push(output);
            if last {
                break;
            }
            prop_assert!(drained.len() < 64, "{}: a drain never ended", case.kind);
        }
        if let Some(done) = &done {
            prop_assert_eq!(
                &drained,
                &vec![done.clone()],
                "{}: output after done",
                &case.kind
            );
        }
        let last = drained.last().expect("a drain has at least one output");
        if last["type"] == "done" {
            done = Some(last.clone());
        }
        if let Some(until) = last["until_ms"].as_u64() {
            prop_assert!(
                until > latest,
                "{}: wait until {until} is not after {latest}",
                case.kind
            );
        }
    }
    Ok(())
}

fn scenario() -> impl Strategy<Value = (usize, Vec<(i64, Input)>)> {
    let cases = cases();
    let pools: Vec<Vec<Input>> = cases.iter().map(|c| c.inputs.clone()).collect();
    (0..pools.len().max(1)).prop_flat_map(move |i| {
        let pool = pools.get(i).cloned().unwrap_or_default();
        (
            Just(i),
            proptest::collection::vec((-120_000i64..400_000, input(&pool)), 1..40),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_inputs_never_break_the_machine_rules((pick, steps) in scenario()) {
        let cases = cases();
        prop_assume!(!cases.is_empty());
        check(&cases[pick], &steps)?;
    }
}
