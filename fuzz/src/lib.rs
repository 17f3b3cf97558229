//! Shared code of the keyhole fuzz targets (see docs/fuzzing.md)
//!
//! The machine targets read the fuzzer's bytes with [`Reader`] as a small binary script: which
//! transcript's config to build the machine from, then a list of inputs (time step, kind, fields).
//! A hand-rolled length-prefixed format rather than `arbitrary`: the committed seeds are the
//! transcripts of tests/transcripts encoded with [`Writer`] (`cargo run --example make_seeds`),
//! so every run starts from the suite's real conversations and mutates from there.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::sync::OnceLock;

use keyhole_core::wire::{DebugWireMachine, input_from_wire, new_debug_machine};
use keyhole_core::{HttpResponse, Input, Secret, StoreError, TransportError};
use serde_json::Value;

pub mod files;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/transcripts.rs"));
}

/// One transcript of tests/transcripts, parsed
pub struct Transcript {
    /// The file's stem
    pub name: &'static str,
    /// The whole document
    pub doc: Value,
    /// Its `random_hex`, decoded
    pub random: Vec<u8>,
    /// Its `secrets`
    pub secrets: Vec<String>,
}

/// Every transcript, parsed once per process
pub fn transcripts() -> &'static [Transcript] {
    static ALL: OnceLock<Vec<Transcript>> = OnceLock::new();
    ALL.get_or_init(|| {
        embedded::TRANSCRIPTS
            .iter()
            .map(|(name, text)| {
                let doc: Value = serde_json::from_str(text).expect("transcripts are JSON");
                let hex = doc["random_hex"].as_str().unwrap_or("");
                let random = (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                    .collect();
                let secrets = doc["secrets"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                Transcript {
                    name,
                    doc,
                    random,
                    secrets,
                }
            })
            .collect()
    })
}

/// The transcripts of one machine kind, in file-name order
pub fn transcripts_of(kind: &str) -> Vec<&'static Transcript> {
    transcripts()
        .iter()
        .filter(|t| t.doc["machine"] == kind)
        .collect()
}

/// Reads the fuzzer's bytes; every read succeeds, running short yields zeros and empty strings
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `data` from its start
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }
    /// Whether everything was read
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Up to `n` bytes
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(n.min(self.data.len()));
        self.data = tail;
        head
    }
    /// One byte
    pub fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }
    /// A little-endian u16
    pub fn u16(&mut self) -> u16 {
        let b = self.take(2);
        u16::from_le_bytes([
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ])
    }
    /// A little-endian u32
    pub fn u32(&mut self) -> u32 {
        let mut a = [0; 4];
        let b = self.take(4);
        a[..b.len()].copy_from_slice(b);
        u32::from_le_bytes(a)
    }
    /// A u16-length-prefixed byte string
    pub fn bytes(&mut self) -> &'a [u8] {
        let n = self.u16() as usize;
        self.take(n)
    }
    /// A u16-length-prefixed string (invalid UTF-8 replaced)
    pub fn string(&mut self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }
    /// What is left
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(usize::MAX)
    }
}

/// Writes what [`Reader`] reads: for the seed corpus
#[derive(Default)]
pub struct Writer {
    /// The bytes so far
    pub out: Vec<u8>,
}

impl Writer {
    /// One byte
    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    /// A little-endian u16
    pub fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    /// A little-endian u32
    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    /// A u16-length-prefixed byte string
    pub fn bytes(&mut self, v: &[u8]) {
        let n = v.len().min(u16::MAX as usize);
        self.u16(n as u16);
        self.out.extend_from_slice(&v[..n]);
    }
}

// Step tags. The high bit of the tag turns the time step into a step backwards.
const START: u8 = 0;
const TIMER: u8 = 1;
const RESPONSE: u8 = 2;
const TRANSPORT: u8 = 3;
const STORED: u8 = 4;
const CALLBACK: u8 = 5;
const TAGS: u8 = 6;
const BACKWARDS: u8 = 0x80;

/// Reads one input; `None` at the end of the data
pub fn read_input(r: &mut Reader<'_>, now_ms: &mut u64) -> Option<Input> {
    if r.is_empty() {
        return None;
    }
    let tag = r.u8();
    let step = u64::from(r.u32());
    *now_ms = if tag & BACKWARDS != 0 {
        now_ms.saturating_sub(step)
    } else {
        now_ms.saturating_add(step)
    };
    Some(match (tag & !BACKWARDS) % TAGS {
        START => Input::Start,
        TIMER => Input::Timer,
        RESPONSE => {
            let status = 100 + r.u16() % 900;
            let headers = (0..r.u8() % 8)
                .map(|_| (r.string().to_ascii_lowercase(), r.string()))
                .collect();
            let body = r.bytes().to_vec();
            Input::Response(HttpResponse {
                status,
                headers,
                body,
            })
        }
        TRANSPORT => Input::TransportFailed(match r.u8() % 6 {
            0 => TransportError::Dns,
            1 => TransportError::Connect,
            2 => TransportError::Timeout,
            3 => TransportError::Tls,
            4 => TransportError::TooLarge,
            _ => TransportError::Other(r.string()),
        }),
        STORED => Input::Stored(match r.u8() % 5 {
            0 => Ok(None),
            1 => Ok(Some(Secret::new(r.string()))),
            2 => Err(StoreError::Unavailable(r.string())),
            3 => Err(StoreError::Denied(r.string())),
            _ => Err(StoreError::Other(r.string())),
        }),
        _ => Input::Callback(r.string()),
    })
}

/// Writes one wire-form input (a transcript step's `input`) as [`read_input`] reads it
pub fn write_input(w: &mut Writer, step_ms: i64, input: &Value) {
    let input = input_from_wire(input).expect("transcript inputs are valid");
    let back = if step_ms < 0 { BACKWARDS } else { 0 };
    let tag = match &input {
        Input::Start => START,
        Input::Timer => TIMER,
        Input::Response(_) => RESPONSE,
        Input::TransportFailed(_) => TRANSPORT,
        Input::Stored(_) => STORED,
        Input::Callback(_) => CALLBACK,
    };
    w.u8(tag | back);
    w.u32(u32::try_from(step_ms.unsigned_abs()).unwrap_or(u32::MAX));
    match input {
        Input::Start | Input::Timer => {}
        Input::Response(r) => {
            w.u16(r.status - 100);
            w.u8(r.headers.len().min(7) as u8);
            for (name, value) in r.headers.iter().take(7) {
                w.bytes(name.as_bytes());
                w.bytes(value.as_bytes());
            }
            w.bytes(&r.body);
        }
        Input::TransportFailed(e) => {
            w.u8(match &e {
                TransportError::Dns => 0,
                TransportError::Connect => 1,
                TransportError::Timeout => 2,
                TransportError::Tls => 3,
                TransportError::TooLarge => 4,
                TransportError::Other(_) => 5,
            });
            if let TransportError::Other(m) = e {
                w.bytes(m.as_bytes());
            }
        }
        Input::Stored(s) => match s {
            Ok(None) => w.u8(0),
            Ok(Some(v)) => {
                w.u8(1);
                w.bytes(v.expose().as_bytes());
            }
            Err(StoreError::Unavailable(m)) => {
                w.u8(2);
                w.bytes(m.as_bytes());
            }
            Err(StoreError::Denied(m)) => {
                w.u8(3);
                w.bytes(m.as_bytes());
            }
            Err(StoreError::Other(m)) => {
                w.u8(4);
                w.bytes(m.as_bytes());
            }
        },
        Input::Callback(t) => w.bytes(t.as_bytes()),
    }
}

/// The seed of one transcript for its machine target: its index among its kind, then its steps
pub fn transcript_seed(index: u8, t: &Transcript) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(index);
    let mut now = t.doc["now_ms"].as_i64().unwrap();
    for step in t.doc["steps"].as_array().unwrap() {
        let at = step.get("now_ms").and_then(Value::as_i64).unwrap_or(now);
        write_input(&mut w, at - now, &step["input"]);
        now = at;
    }
    w.out
}

/// Panics when text that reaches a terminal or a log holds a control character
pub fn assert_printable(what: &str, text: &str) {
    assert!(
        !text.chars().any(char::is_control),
        "{what} holds a control character: {text:?}"
    );
}

/// The secrets to look for: the transcript's, except those the fuzzer's own bytes spell out (a
/// provider may legitimately echo back any text it was sent, e.g. as a user code)
///
/// Control bytes are ignored in that comparison: the core strips them from text it shows, which
/// can join the fuzzer's pieces into a secret; and Debug escapes them as letters, which can too.
///
/// A callback's query is percent-decoded (and `+` read as a space) before the core sees it, so
/// a secret the fuzzer spells in percent-encoded pieces (an `iss` of `%73k-…`) is the fuzzer's
/// own text as well: the decoded bytes are compared too, with and without control bytes.
pub fn watched_secrets<'a>(t: &'a Transcript, data: &[u8]) -> Vec<&'a str> {
    let without_controls = |d: &[u8]| -> Vec<u8> {
        d.iter()
            .copied()
            .filter(|b| !b.is_ascii_control())
            .collect()
    };
    let plus_as_space: Vec<u8> = data
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let decoded: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    // The Debug text of a machine escapes a control byte as letters (`\r`, `\u{c}`), which can
    // join with the fuzzer's next bytes into a secret (`\r` + `t_fake…` reads `rt_fake…`).
    let debug_escaped = |d: &[u8]| format!("{:?}", String::from_utf8_lossy(d)).into_bytes();
    let forms = [
        data.to_vec(),
        without_controls(data),
        debug_escaped(data),
        decoded.clone(),
        without_controls(&decoded),
        debug_escaped(&decoded),
    ];
    let spelled = |d: &[u8], s: &str| d.windows(s.len()).any(|w| w == s.as_bytes());
    t.secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !forms.iter().any(|f| spelled(f, s)))
        .collect()
}

/// Panics when a watched secret appears in `text`
pub fn assert_no_secret(secrets: &[&str], what: &str, text: &str) {
    for s in secrets {
        assert!(!text.contains(s), "a secret appears in {what}: {text}");
    }
}

/// Drains outputs until `wait` or `done` and checks what every machine promises:
/// - at most 64 outputs before a `wait` or `done` (no livelock);
/// - a `wait` deadline is later than the latest time the machine was given;
/// - no secret in the `Debug` text of an output, or in an error message.
///
/// Returns the last output (the `wait` or `done`).
pub fn drain(m: &mut dyn DebugWireMachine, latest_ms: u64, secrets: &[&str]) -> Value {
    for _ in 0..64 {
        let (json, debug) = m.poll_output_with_debug();
        assert_no_secret(secrets, "the Debug text of an output", &debug);
        if let Some(message) = json.pointer("/error/message").and_then(Value::as_str) {
            // Not assert_printable: the core's error text may carry a provider's control
            // characters, which hosts strip when they print (docs/fuzzing.md, findings).
            assert_no_secret(secrets, "an error message", message);
        }
        match json["type"].as_str() {
            Some("wait") => {
                if let Some(until) = json["until_ms"].as_u64() {
                    assert!(
                        until > latest_ms,
                        "a wait until {until} ms is not later than the latest time given, {latest_ms} ms"
                    );
                }
                return json;
            }
            Some("done") => return json,
            _ => {}
        }
    }
    panic!("more than 64 outputs without a wait or done");
}

/// The machine targets: builds `kind` from one of its transcripts' configs (first byte) and feeds
/// it the inputs the rest of the bytes describe, checking [`drain`]'s promises after each, and that
/// a `done` stays the same `done`
pub fn run_machine(kind: &str, data: &[u8]) {
    let all = transcripts_of(kind);
    let mut r = Reader::new(data);
    let t = all[r.u8() as usize % all.len()];
    let secrets = watched_secrets(t, data);
    let start = t.doc["now_ms"].as_u64().unwrap();
    let mut m = new_debug_machine(kind, &t.doc["config"], start, &t.random)
        .expect("transcript configs build");
    let mut now = start;
    let mut latest = start;
    let mut done: Option<Value> = None;
    // Bounded, so one input cannot make a run slow: 64 steps is far more than any flow needs.
    for _ in 0..64 {
        let Some(input) = read_input(&mut r, &mut now) else {
            break;
        };
        latest = latest.max(now);
        m.handle_input(now, input);
        assert_no_secret(&secrets, "the Debug text of the machine", &format!("{m:?}"));
        let last = drain(m.as_mut(), latest, &secrets);
        if let Some(d) = &done {
            assert_eq!(&last, d, "a machine's done changed after it was done");
        } else if last["type"] == "done" {
            done = Some(last);
        }
    }
}
