//! Loading and running the component: cold (compile), warm (verified cache), and transcript replay
//! through the component against the native machines
//!
//! `cargo bench -p keyhole-wasi --bench component`; figures go to docs/performance.md.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Polling, Prepared};
use criterion::{Criterion, criterion_group, criterion_main};
use keyhole_core::Input;
use keyhole_wasi::{CacheOutcome, Runtime};
use serde_json::Value;

/// Instantiate, build a discovery machine, start it and read its first request
fn first_call(runtime: &Runtime) -> Value {
    let mut instance = runtime.instantiate(None).expect("instantiate");
    let m = instance
        .machine("discovery", r#"{"issuer": "https://idp.example"}"#, 1, &[])
        .expect("machine");
    instance.handle_input(&m, 1, &Input::Start).expect("start");
    instance.poll_output(&m).expect("poll")
}

fn load(c: &mut Criterion) {
    let wasm = common::component_bytes();
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("cold: compile + instantiate + first call", |b| {
        b.iter(|| first_call(&Runtime::from_bytes(&wasm, None).expect("compile")))
    });
    let dir = tempfile::tempdir().expect("tempdir");
    Runtime::from_bytes(&wasm, Some(dir.path())).expect("fill the cache");
    group.sample_size(100);
    group.bench_function("warm: verified cache + instantiate + first call", |b| {
        b.iter(|| {
            let runtime = Runtime::from_bytes(&wasm, Some(dir.path())).expect("load");
            assert_eq!(runtime.cache_outcome(), &CacheOutcome::Hit);
            first_call(&runtime)
        })
    });
    group.bench_function(
        "warm, embedded: verified cache (key from build time) + instantiate + first call",
        |b| {
            b.iter(|| {
                let runtime = Runtime::embedded(Some(dir.path())).expect("load");
                assert_eq!(runtime.cache_outcome(), &CacheOutcome::Hit);
                first_call(&runtime)
            })
        },
    );
    let runtime = Runtime::from_bytes(&wasm, None).expect("compile");
    group.bench_function("instantiate + first call", |b| {
        b.iter(|| first_call(&runtime))
    });
    group.finish();
}

/// The transcripts are read and converted before timing: each replay builds the machine from its
/// config (natively from the parsed JSON value `wire::new_machine` takes, in the component from
/// the JSON text its constructor takes, which it parses), feeds every input and collects every
/// output in the wire JSON form, natively or through the component
fn replay(c: &mut Criterion) {
    let transcripts: Vec<Prepared> = common::transcript_files()
        .iter()
        .map(|p| Prepared::new(&common::read_transcript(p)))
        .collect();
    let mut instance = common::runtime().instantiate(None).expect("instantiate");
    let mut group = c.benchmark_group("replay all transcripts");
    group.bench_function("component, step per input", |b| {
        b.iter(|| {
            for t in &transcripts {
                common::replay_in_component(&mut instance, t, Polling::Step);
            }
        })
    });
    group.bench_function("component, poll-output per output", |b| {
        b.iter(|| {
            for t in &transcripts {
                common::replay_in_component(&mut instance, t, Polling::EachOutput);
            }
        })
    });
    group.bench_function("native", |b| {
        b.iter(|| {
            for t in &transcripts {
                common::replay_native(t);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, load, replay);
criterion_main!(benches);
