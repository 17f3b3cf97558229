//! Machine speed: a full device login replayed from its transcript, through the typed API and
//! through the JSON wire form the JS and component hosts use
//!
//! Figures and the machine they were measured on are in docs/performance.md.

// The harness, not the core, reads the transcript files (core/clippy.toml bans I/O in the core).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use keyhole_core::wire::{config_from_wire, input_from_wire, new_machine};
use keyhole_core::{
    AccountCall, AccountCallConfig, DeviceLogin, DeviceLoginConfig, Input, Machine, Output, Secret,
    TokenSet, needs_refresh,
};
use serde_json::Value;

struct Transcript {
    config: Value,
    now_ms: u64,
    steps: Vec<(u64, Input, Value)>,
}

fn load(name: &str) -> Transcript {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/transcripts")
        .join(name);
    let doc = serde_json::from_slice::<Value>(&std::fs::read(path).unwrap()).unwrap();
    let mut now = doc["now_ms"].as_u64().unwrap();
    let steps = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            now = s["now_ms"].as_u64().unwrap_or(now);
            (
                now,
                input_from_wire(&s["input"]).unwrap(),
                s["input"].clone(),
            )
        })
        .collect();
    Transcript {
        config: doc["config"].clone(),
        now_ms: doc["now_ms"].as_u64().unwrap(),
        steps,
    }
}

fn device_login(c: &mut Criterion) {
    let t = load("device_slow_down.json");
    let config: DeviceLoginConfig = config_from_wire("device_login", &t.config).unwrap();
    c.bench_function("device_login/replay_typed", |b| {
        b.iter(|| {
            let mut m = DeviceLogin::new(config.clone(), t.now_ms);
            let mut outputs = 0usize;
            for (now, input, _) in &t.steps {
                m.handle_input(*now, input.clone());
                loop {
                    outputs += 1;
                    match m.poll_output() {
                        Output::Wait { .. } | Output::Done(_) => break,
                        other => drop(black_box(other)),
                    }
                }
            }
            black_box(outputs)
        })
    });
    c.bench_function("device_login/replay_wire_json", |b| {
        b.iter(|| {
            let mut m = new_machine("device_login", &t.config, t.now_ms, &[]).unwrap();
            for (now, _, json) in &t.steps {
                m.handle_input(*now, input_from_wire(json).unwrap());
                while !matches!(m.poll_output_wire()["type"].as_str(), Some("wait" | "done")) {}
            }
        })
    });
}

/// The decision the `token` command makes on every run
fn refresh_decision(c: &mut Criterion) {
    let tokens = TokenSet {
        access_token: Secret::new("at_bench"),
        token_type: "Bearer".into(),
        refresh_token: Some(Secret::new("rt_bench")),
        id_token: None,
        scope: None,
        expires_at_ms: Some(1_700_000_600_000),
        refresh_at_ms: None,
        issued_at_ms: None,
    };
    c.bench_function("refresh/needs_refresh", |b| {
        b.iter(|| {
            needs_refresh(
                black_box(&tokens),
                black_box(1_700_000_000_000),
                black_box(60),
            )
        })
    });
}

/// One account call's core overhead: resolve a stored API key, build the request, read a
/// created key out of the answer (the create_key transcript, typed)
fn account_call(c: &mut Criterion) {
    let t = load("account_create_key_ok.json");
    let config: AccountCallConfig = config_from_wire("account_call", &t.config).unwrap();
    c.bench_function("account_call/create_key_typed", |b| {
        b.iter(|| {
            let mut m = AccountCall::new(config.clone(), t.now_ms);
            let mut outputs = 0usize;
            for (now, input, _) in &t.steps {
                m.handle_input(*now, input.clone());
                loop {
                    outputs += 1;
                    match m.poll_output() {
                        Output::Wait { .. } | Output::Done(_) => break,
                        other => drop(black_box(other)),
                    }
                }
            }
            black_box(outputs)
        })
    });
}

criterion_group!(benches, device_login, refresh_decision, account_call);
criterion_main!(benches);
