//! Every transcript in `tests/transcripts/`, replayed through the component's `machines` export
//! in wasmtime, gives exactly the outputs the transcript pins (which the native runner,
//! `core/tests/transcripts.rs`, checks against the same files)

mod common;

use std::collections::BTreeSet;

use common::{Polling, Prepared, read_transcript, replay_in_component, runtime, transcript_files};
use keyhole_wasi::Runtime;
use serde_json::Value;

#[test]
fn every_transcript_replays_exactly_through_the_component() {
    replay_every_transcript(runtime(), Polling::EachOutput);
}

#[test]
fn every_transcript_replays_exactly_through_step() {
    replay_every_transcript(runtime(), Polling::Step);
}

fn replay_every_transcript(runtime: &Runtime, polling: Polling) {
    let files = transcript_files();
    let mut steps = 0;
    for path in &files {
        let file = path.file_name().unwrap().to_string_lossy();
        let doc = read_transcript(path);
        // A fresh instance per transcript, as a plugin host would have.
        let mut instance = runtime.instantiate(None).expect("instantiate");
        let actual = replay_in_component(&mut instance, &Prepared::new(&doc), polling);
        let expected = doc["steps"].as_array().unwrap();
        assert_eq!(actual.len(), expected.len(), "{file}: step count");
        for (i, (got, step)) in actual.into_iter().zip(expected).enumerate() {
            let got = Value::Array(got.clone());
            assert_eq!(
                got,
                step["expect"],
                "{file} step {i}: the component's outputs differ from the transcript\nactual:\n{}\nexpected:\n{}",
                serde_json::to_string_pretty(&got).unwrap(),
                serde_json::to_string_pretty(&step["expect"]).unwrap()
            );
            steps += 1;
        }
    }
    assert!(!files.is_empty(), "no transcripts in tests/transcripts");
    eprintln!(
        "replayed {} transcripts, {steps} steps, through the component",
        files.len()
    );
}

/// The `assert_test_exists!` of this suite: every machine the component exports is exercised by
/// transcripts (that the WIT and the core list the same machines is checked at compile time: both
/// sides expand `keyhole_core::for_each_machine`)
#[test]
fn every_machine_kind_has_transcripts() {
    let core: BTreeSet<&str> = keyhole_wasi::MACHINE_KINDS.iter().copied().collect();
    let covered: BTreeSet<String> = transcript_files()
        .iter()
        .map(|p| {
            read_transcript(p)["machine"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    for kind in core {
        assert!(
            covered.contains(kind),
            "no transcript in tests/transcripts exercises the `{kind}` machine"
        );
    }
}

/// A config that cannot be read is refused as natively, with the core's own message, before
/// anything reaches the component (its `machine-config` is typed)
#[test]
fn an_unreadable_config_is_refused_with_the_native_message() {
    let runtime = runtime();
    let mut instance = runtime.instantiate(None).unwrap();
    for kind in keyhole_wasi::MACHINE_KINDS {
        let config = serde_json::json!({"surely": "not a config"});
        let native = match keyhole_core::wire::new_machine(kind, &config, 1, &[]) {
            Err(e) => e.0,
            Ok(_) => panic!("{kind}: the native core read {config}"),
        };
        match instance.machine(kind, &config.to_string(), 1, &[]) {
            Err(keyhole_wasi::Error::Config(message)) => assert_eq!(message, native, "{kind}"),
            Err(other) => panic!("{kind}: {other}"),
            Ok(_) => panic!("{kind}: the component took {config}"),
        }
        match instance.machine(kind, "not JSON", 1, &[]) {
            Err(keyhole_wasi::Error::Config(message)) => {
                assert!(message.contains("is not JSON"), "{kind}: {message}")
            }
            Err(other) => panic!("{kind}: {other}"),
            Ok(_) => panic!("{kind}: the component took text that is not JSON"),
        }
    }
}
