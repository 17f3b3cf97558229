//! Property tests: random input sequences against every machine
//!
//! Each machine is built from the configs of its transcripts, then fed random sequences drawn
//! from every input the transcripts use (so deep states are reachable) plus hostile ones:
//! garbage bodies, odd statuses, store errors, time running backwards. Invariants: no panic,
//! every drain ends in `wait` or `done`, every timed `wait` lies after the latest input time, and
//! once `done` a machine answers every later input with exactly the same `done` and nothing else.

// The harness, not the core, reads the transcript files (core/clippy.toml bans I/O in the core).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::Path;

use keyhole_core::wire::{input_from_wire, new_machine, new_operation};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A value read or built with serde_json as the core's own JSON, through its text
struct Seed {
    kind: String,
    /// An operation transcript (`tests/transcripts/operations/`) rather than a flow's
    operation: bool,
    config: Value,
    now_ms: u64,
    random: Vec<u8>,
    inputs: Vec<Value>,
}

fn seeds() -> Vec<Seed> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/transcripts");
    let mut seeds = Vec::new();
    let mut paths: Vec<_> = [dir.clone(), dir.join("operations")]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
    {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let random = doc["random_hex"]
            .as_str()
            .map(|h| {
                (0..h.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let operation = doc["operation"].as_str();
        seeds.push(Seed {
            kind: operation.or(doc["machine"].as_str()).unwrap().to_owned(),
            operation: operation.is_some(),
            config: doc["config"].clone(),
            now_ms: doc["now_ms"].as_u64().unwrap(),
            random,
            inputs: doc["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["input"].clone())
                .collect(),
        });
    }
    seeds
}

/// Inputs no transcript sends but a hostile or broken peer might
fn hostile_inputs() -> Vec<Value> {
    let big = "x".repeat(200_000);
    vec![
        json!({"type": "start"}),
        json!({"type": "timer"}),
        json!({"type": "response", "status": 200, "body": ""}),
        json!({"type": "response", "status": 200, "body": "not json"}),
        json!({"type": "response", "status": 200, "body": "[1,2,3]"}),
        json!({"type": "response", "status": 200, "body": big}),
        json!({"type": "response", "status": 200, "body": "{\"access_token\": 5, \"expires_in\": -1}"}),
        json!({"type": "response", "status": 200, "body": "{\"access_token\": \"a\", \"expires_in\": 1e300, \"interval\": -7}"}),
        json!({"type": "response", "status": 400, "body": "{\"error\": \"slow_down\", \"interval\": 99999999999}"}),
        json!({"type": "response", "status": 400, "body": "{\"error\": {\"nested\": true}}"}),
        json!({"type": "response", "status": 302, "headers": {"location": "https://evil.example/"}, "body": ""}),
        json!({"type": "response", "status": 429, "headers": {"retry-after": "99999999999999999999"}, "body": ""}),
        json!({"type": "response", "status": 503, "headers": {"retry-after": "Sun, 06 Nov 1994 08:49:37 GMT"}, "body": ""}),
        json!({"type": "response", "status": 999, "body": "{}"}),
        json!({"type": "transport_failed", "error": "timeout"}),
        json!({"type": "transport_failed", "error": "too_large"}),
        json!({"type": "transport_failed", "error": "other", "message": "boom"}),
        json!({"type": "stored", "value": null}),
        json!({"type": "stored", "value": "{not json"}),
        json!({"type": "stored", "value": "{\"version\": 99}"}),
        json!({"type": "stored", "error": "unavailable", "message": "no bus"}),
        json!({"type": "stored", "error": "other", "message": "disk full"}),
        json!({"type": "callback", "target": "/callback?code=c&state=wrong"}),
        json!({"type": "callback", "target": "%%%"}),
        json!({"type": "callback", "target": "/favicon.ico"}),
    ]
}

fn drain(machine: &mut dyn keyhole_core::wire::WireMachine) -> Vec<Value> {
    let mut outputs = Vec::new();
    loop {
        let out = machine.poll_output_wire();
        let last = matches!(out["type"].as_str(), Some("wait" | "done"));
        outputs.push(out);
        if last {
            return outputs;
        }
        assert!(
            outputs.len() < 64,
            "more than 64 outputs without a wait or done: {outputs:?}"
        );
    }
}

fn check(seed: &Seed, steps: &[(usize, i64)]) {
    let pool: Vec<Value> = seed
        .inputs
        .iter()
        .cloned()
        .chain(hostile_inputs())
        .collect();
    let config = seed.config.clone();
    let build = if seed.operation {
        new_operation
    } else {
        new_machine
    };
    let mut machine = build(&seed.kind, &config, seed.now_ms, &seed.random).unwrap();
    let mut now = seed.now_ms;
    let mut latest = now;
    let mut done: Option<Value> = None;
    for &(pick, dt) in steps {
        now = now.saturating_add_signed(dt);
        latest = latest.max(now);
        let input = input_from_wire(&pool[pick % pool.len()]).unwrap();
        machine.handle_input(now, input);
        let outputs = drain(machine.as_mut());
        let last = outputs.last().unwrap();
        if let Some(done) = &done {
            assert_eq!(
                &outputs,
                &vec![done.clone()],
                "{}: outputs after done",
                seed.kind
            );
            continue;
        }
        match last["type"].as_str() {
            Some("done") => done = Some(last.clone()),
            _ => {
                if let Some(until) = last["until_ms"].as_u64() {
                    assert!(
                        until > latest,
                        "{}: wait until {until} is not after now {latest}",
                        seed.kind
                    );
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn random_inputs_never_break_a_machine(
        steps in prop::collection::vec((any::<usize>(), -5_000i64..900_000), 1..40),
        which in any::<usize>(),
    ) {
        let seeds = seeds();
        assert!(!seeds.is_empty(), "no transcripts in tests/transcripts to seed the machines from");
        check(&seeds[which % seeds.len()], &steps);
    }
}

/// Every seed gets a deterministic pass too, so no machine depends on proptest's luck
#[test]
fn every_transcript_config_survives_hostile_input() {
    for seed in seeds() {
        let n = seed.inputs.len() + hostile_inputs().len();
        let steps: Vec<(usize, i64)> = (0..n)
            .map(|i| (i, if i % 5 == 4 { -3_000 } else { 7_000 }))
            .collect();
        check(&seed, &steps);
        // Start first, then every hostile input once, in order.
        let mut steps = vec![(0usize, 0i64)];
        steps.extend((seed.inputs.len()..n).map(|i| (i, 61_000)));
        check(&seed, &steps);
    }
}
