//! What the keyhole-wasi tests and benchmarks share: the component and the transcripts

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use keyhole_core::Input;
use keyhole_core::wire::input_from_wire;
use keyhole_wasi::{Instance, Runtime};
use serde_json::Value;

/// The component built by this crate's build script and embedded in it (speed-optimised)
pub fn component_path() -> PathBuf {
    PathBuf::from(env!("KEYHOLE_COMPONENT_BUILT"))
}

/// The component's bytes; a missing build is a failure, never a skip
pub fn component_bytes() -> Vec<u8> {
    read_component(&component_path())
}

fn read_component(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("the built component {path:?}: {e}"))
}

/// A runtime compiled in memory (once per test binary), without touching any cache directory
pub fn runtime() -> &'static Runtime {
    static RUNTIME: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::from_bytes(&component_bytes(), None).expect("the built component loads")
    })
}

pub fn transcript_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/transcripts")
}

/// Every transcript file, sorted
pub fn transcript_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(transcript_dir())
        .expect("tests/transcripts exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

pub fn read_transcript(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: not JSON: {e}"))
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

/// One replayed step: the outputs drained after its input
pub type Drained = Vec<Value>;

/// A transcript read into what a replay feeds, so that replaying (the part benchmarks time)
/// does no reading or converting of the file's JSON
pub struct Prepared {
    pub kind: String,
    pub now_ms: u64,
    pub random: Vec<u8>,
    pub config: Value,
    /// The config as JSON text, the form the component's constructor takes
    pub config_json: String,
    /// Each step's input, and its time when the step sets one
    pub steps: Vec<(Option<u64>, Input)>,
}

impl Prepared {
    pub fn new(doc: &Value) -> Self {
        Self {
            kind: doc["machine"]
                .as_str()
                .expect("a `machine` name")
                .to_owned(),
            now_ms: doc["now_ms"].as_u64().expect("a `now_ms`"),
            random: doc["random_hex"].as_str().map(hex).unwrap_or_default(),
            config: doc["config"].clone(),
            config_json: doc["config"].to_string(),
            steps: doc["steps"]
                .as_array()
                .expect("`steps`")
                .iter()
                .map(|step| {
                    let input = input_from_wire(&step["input"]).expect("a valid input");
                    (step.get("now_ms").and_then(Value::as_u64), input)
                })
                .collect(),
        }
    }
}

fn is_last(output: &Value) -> bool {
    matches!(output["type"].as_str(), Some("wait" | "done"))
}

/// How a component replay reads a step's outputs
#[derive(Clone, Copy)]
pub enum Polling {
    /// `poll-output` until `wait` or `done`: one call into the component per output
    EachOutput,
    /// One `step` call per input: the input and every output it causes
    Step,
}

/// Replays a transcript through the component's `machines` export, returning each step's outputs
pub fn replay_in_component(
    instance: &mut Instance,
    transcript: &Prepared,
    polling: Polling,
) -> Vec<Drained> {
    let kind = &transcript.kind;
    let mut now = transcript.now_ms;
    let machine = instance
        .machine(kind, &transcript.config_json, now, &transcript.random)
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
    let mut steps = Vec::new();
    for (at, input) in &transcript.steps {
        now = at.unwrap_or(now);
        let drained = match polling {
            Polling::Step => instance
                .step(&machine, now, input)
                .unwrap_or_else(|e| panic!("{kind}: {e}")),
            Polling::EachOutput => {
                instance
                    .handle_input(&machine, now, input)
                    .unwrap_or_else(|e| panic!("{kind}: {e}"));
                let mut drained = Vec::new();
                for _ in 0..64 {
                    let out = instance
                        .poll_output(&machine)
                        .unwrap_or_else(|e| panic!("{kind}: {e}"));
                    let last = is_last(&out);
                    drained.push(out);
                    if last {
                        break;
                    }
                }
                drained
            }
        };
        steps.push(drained);
    }
    instance.drop_machine(machine).expect("drop");
    steps
}

/// Replays a transcript through the native machines (`keyhole_core::wire`)
pub fn replay_native(transcript: &Prepared) -> Vec<Drained> {
    let kind = &transcript.kind;
    let mut now = transcript.now_ms;
    let mut machine =
        keyhole_core::wire::new_machine(kind, &transcript.config, now, &transcript.random)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    let mut steps = Vec::new();
    for (at, input) in &transcript.steps {
        now = at.unwrap_or(now);
        machine.handle_input(now, input.clone());
        let mut drained = Vec::new();
        for _ in 0..64 {
            let out = machine.poll_output_wire();
            let last = is_last(&out);
            drained.push(out);
            if last {
                break;
            }
        }
        steps.push(drained);
    }
    steps
}
