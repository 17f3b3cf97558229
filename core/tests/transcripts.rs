//! Replays every host-neutral transcript in `tests/transcripts/` through the native machines
//!
//! Each step feeds one input and drains outputs until `wait` or `done`; the drained outputs must
//! equal the step's `expect` exactly. The same run checks that no secret listed in a transcript
//! appears in the `Debug` text of any input, output or machine state, or in any error message.
//!
//! `KEYHOLE_BLESS=1 cargo test -p keyhole-core --test transcripts` rewrites each `expect` from what
//! the machines do now, for authoring new transcripts. Read the diff before committing it.

// The harness, not the core, reads the transcript files (core/clippy.toml bans I/O in the core).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::{Path, PathBuf};

use keyhole_core::wire::{
    DebugWireMachine, OPERATION_KINDS, input_from_wire, new_debug_machine, new_debug_operation,
};
use serde_json::Value;

fn transcript_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/transcripts")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// The flow transcripts, then the whole-operation ones (`operations/`)
fn transcript_files() -> Vec<PathBuf> {
    let mut files = json_files(&transcript_dir());
    files.extend(operation_files());
    files
}

fn operation_files() -> Vec<PathBuf> {
    json_files(&transcript_dir().join("operations"))
}

fn hex(s: &str) -> Vec<u8> {
    assert!(
        s.len().is_multiple_of(2),
        "random_hex must have an even length"
    );
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digits"))
        .collect()
}

struct Leak<'a> {
    secrets: &'a [String],
    file: &'a str,
}

impl Leak<'_> {
    fn check(&self, what: &str, text: &str) {
        for secret in self.secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{}: a secret appears in {what}: {text}",
                self.file
            );
        }
    }
}

/// Drains outputs until `wait` or `done`, checking every `Debug` text for secrets
fn drain(machine: &mut dyn DebugWireMachine, leak: &Leak<'_>) -> Vec<Value> {
    let mut outputs = Vec::new();
    for _ in 0..64 {
        let (json, debug) = machine.poll_output_with_debug();
        leak.check("the Debug text of an output", &debug);
        if let Some(message) = json.pointer("/error/message").and_then(Value::as_str) {
            leak.check("an error message", message);
        }
        let last = matches!(json["type"].as_str(), Some("wait" | "done"));
        outputs.push(json);
        if last {
            return outputs;
        }
    }
    panic!("{}: more than 64 outputs without a wait or done", leak.file);
}

fn replay(path: &Path, bless: bool) -> usize {
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path).unwrap();
    let mut doc: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: not JSON: {e}"));
    // A flow transcript names its `machine`, an operation transcript its `operation`.
    let operation = doc["operation"].as_str().map(str::to_owned);
    let kind = match &operation {
        Some(kind) => kind.clone(),
        None => doc["machine"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: no `machine` or `operation`"))
            .to_owned(),
    };
    let mut now = doc["now_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("{file}: no `now_ms`"));
    let random = doc
        .get("random_hex")
        .and_then(Value::as_str)
        .map(hex)
        .unwrap_or_default();
    let secrets: Vec<String> = doc
        .get("secrets")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("secrets are strings").to_owned())
                .collect()
        })
        .unwrap_or_default();
    // Discovery is the one flow that handles no secret; every other transcript must name its own.
    assert!(
        doc["secrets"].is_array() && (kind == "discovery" || !secrets.is_empty()),
        "{file}: list the secrets this transcript handles in `secrets`"
    );
    assert!(
        doc["description"].is_string(),
        "{file}: needs a `description`"
    );
    let leak = Leak {
        secrets: &secrets,
        file: &file,
    };

    let built = match operation {
        Some(_) => new_debug_operation(&kind, &doc["config"], now, &random),
        None => new_debug_machine(&kind, &doc["config"], now, &random),
    };
    let mut machine = built.unwrap_or_else(|e| panic!("{file}: cannot build `{kind}`: {e}"));
    leak.check("the Debug text of the machine", &format!("{machine:?}"));
    let steps = doc["steps"]
        .as_array_mut()
        .unwrap_or_else(|| panic!("{file}: no `steps`"));
    assert!(!steps.is_empty(), "{file}: no steps");
    for (i, step) in steps.iter_mut().enumerate() {
        if let Some(t) = step.get("now_ms").and_then(Value::as_u64) {
            now = t;
        }
        let input =
            input_from_wire(&step["input"]).unwrap_or_else(|e| panic!("{file} step {i}: {e}"));
        leak.check("the Debug text of an input", &format!("{input:?}"));
        machine.handle_input(now, input);
        leak.check("the Debug text of the machine", &format!("{machine:?}"));
        let actual = Value::Array(drain(machine.as_mut(), &leak));
        if bless {
            step["expect"] = actual;
        } else {
            assert_eq!(
                actual,
                step["expect"],
                "{file} step {i} ({}): outputs differ\nactual:\n{}\nexpected:\n{}",
                step["input"]["type"],
                serde_json::to_string_pretty(&actual).unwrap(),
                serde_json::to_string_pretty(&step["expect"]).unwrap()
            );
        }
    }
    if bless {
        std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    }
    steps_len(&doc)
}

fn steps_len(doc: &Value) -> usize {
    doc["steps"].as_array().map_or(0, Vec::len)
}

#[test]
fn every_transcript_replays_exactly() {
    let bless = std::env::var_os("KEYHOLE_BLESS").is_some();
    let files = transcript_files();
    let mut steps = 0;
    for path in &files {
        steps += replay(path, bless);
    }
    eprintln!("replayed {} transcripts, {steps} steps", files.len());
}

/// Every operation in the one list has a whole-operation transcript
#[test]
fn every_operation_has_a_transcript() {
    let covered: Vec<String> = operation_files()
        .iter()
        .map(|p| {
            let doc: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
            doc["operation"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    for kind in OPERATION_KINDS {
        assert!(
            covered.iter().any(|c| c == kind),
            "no transcript in tests/transcripts/operations runs the `{kind}` operation"
        );
    }
}

#[test]
fn there_are_at_least_forty_transcripts() {
    let n = transcript_files().len();
    assert!(
        n >= 40,
        "only {n} transcripts in tests/transcripts; the suite promises at least 40"
    );
}

/// The redaction check above must be able to fail: feed it a leak on purpose
#[test]
#[should_panic(expected = "a secret appears in")]
fn the_leak_check_catches_a_leak() {
    let secrets = vec!["at_leaky".to_owned()];
    let leak = Leak {
        secrets: &secrets,
        file: "self-test",
    };
    leak.check("a deliberately leaky text", "Token { value: \"at_leaky\" }");
}
