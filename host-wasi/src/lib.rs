//! keyhole-wasi: the keyhole core as a wasm component, hosted in wasmtime
//!
//! A plugin host embeds this crate to run the component other hosts (JS, editors) load, from the
//! same source and WIT:
//!
//! 1. [`Runtime::embedded`] (the component built with this crate, optimised for speed),
//!    [`Runtime::from_path`] or [`Runtime::from_bytes`] (any build, e.g. the size-optimised one
//!    `scripts/build-component` makes) compiles the component once and keeps the precompiled
//!    artefact in the user's cache directory ([`default_cache_dir`]); the next process loads it in
//!    about a millisecond after checking it.
//! 2. [`Runtime::instantiate`] makes an [`Instance`] from the cached `InstancePre`, attaching the
//!    host's [`Io`] (host-native's reqwest client and keyring/file store for the CLI) behind the
//!    WIT imports.
//! 3. [`Instance::machine`] builds one of the core's machines inside the component; it is fed and
//!    drained exactly like a native machine ([`Instance::step`] does both in one call), in the
//!    wire JSON form of `tests/transcripts/README.md`.
//!
//! 4. [`Instance::remote_client`] hands a remote to the `operations` export once; [`Instance::token`],
//!    [`Instance::login_device`] and the rest run the core's high-level operations on it inside the
//!    component with the attached `Io`;
//!    [`WasiEngine`] puts them behind host-native's `Engine` trait, which is all the
//!    `keyhole-wasi` binary is: `keyhole`'s command line with the core in wasmtime.
//!
//! Every failure is an [`Error`] naming the operation: a missing, malformed or incompatible
//! component, a trap inside the guest, or a failing import. Credentials are written only by the
//! guest's compare-and-swap operations, whole records at a time, so a failure in the middle of an
//! operation leaves the last completed write.
//!
//! The `keyhole-wasi` binary embeds the component its build script built (`build.rs`: a nested
//! `cargo build -p keyhole-core --target wasm32-wasip2 --profile wasm --features
//! component`, the same build `scripts/build-component` ships), so it is one self-contained file;
//! `KEYHOLE_COMPONENT=/path/to/component.wasm` runs another component instead (a newer build, a
//! test of a broken one).
#![deny(missing_docs)]

mod cache;
mod client;
mod convert;
mod engine;
mod imports;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use keyhole_core::{Input, Io};
use serde_json::Value;
use wasmtime::component::{Linker, ResourceAny};
use wasmtime::{CallHook, Engine, Store, StoreLimits, StoreLimitsBuilder};

pub use cache::{CacheOutcome, default_cache_dir};
pub use client::{ClientResult, RemoteClient};
pub use engine::{ComponentSource, WasiEngine};

/// The `bindgen!` output, kept out of the public API
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2.0",
        world: "client",
        imports: { default: trappable },
    });
}

use generated::{Client, ClientPre};

/// The machine kinds the component exports, by wire name (the transcripts' `machine`): the core's
/// one list, `keyhole_core::for_each_machine`
pub use keyhole_core::wire::MACHINE_KINDS;

/// Why the component could not be loaded or called
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The component file could not be read
    #[error(
        "cannot read the keyhole component at {path}: {source}; build it with `scripts/build-component` or set KEYHOLE_COMPONENT to its path"
    )]
    Missing {
        /// Where it was looked for
        path: PathBuf,
        /// Why it could not be read
        source: std::io::Error,
    },
    /// The bytes are not a valid wasm component
    #[error(
        "the keyhole component is not a valid wasm component ({0}); rebuild it with `scripts/build-component`"
    )]
    Malformed(String),
    /// The component does not have this host's world (`keyhole:auth/client@0.2.0`)
    #[error(
        "the keyhole component does not match this keyhole-wasi ({0}); use the component built from the same keyhole version"
    )]
    Incompatible(String),
    /// A machine's JSON config cannot be read (what is wrong, as the core says it natively)
    #[error("{0}")]
    Config(String),
    /// A call into the guest trapped or an import failed
    #[error(
        "the keyhole component failed during {operation}: {detail}; stored credentials are only ever replaced whole, so they are as the last completed write left them"
    )]
    Call {
        /// What was being done, e.g. `device_login.handle-input`
        operation: String,
        /// The trap or import error, with its cause chain
        detail: String,
    },
}

impl Error {
    fn call(operation: impl Into<String>, error: wasmtime::Error) -> Self {
        Error::Call {
            operation: operation.into(),
            detail: format!("{error:#}"),
        }
    }
}

/// The per-instance data wasmtime hands to the imports
///
/// No WASI context: the WASI functions std links into the component trap
/// (`link_wasi_as_traps`), so the guest reaches the host only through keyhole's interfaces.
pub struct HostState {
    io: Option<Box<dyn Io + Send>>,
    /// Memory, table and instance limits: the guest's memory is the host's to give
    limits: StoreLimits,
    /// The storage-key prefix (`remote/`) the secrets imports may reach during a client
    /// operation; `None` outside one
    namespace: Option<String>,
    /// When the guest last got control back (a call into it, or an import returning)
    guest_since: Instant,
    /// How long the guest may compute before it is stopped
    run_limit: Duration,
}

impl HostState {
    fn new(io: Option<Box<dyn Io + Send>>, limits: GuestLimits) -> Self {
        Self {
            io,
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(GUEST_INSTANCE_LIMIT)
                .tables(GUEST_TABLE_LIMIT)
                .trap_on_grow_failure(true)
                .build(),
            namespace: None,
            guest_since: Instant::now(),
            run_limit: limits.run,
        }
    }
}

/// What one instance may take from the host
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestLimits {
    /// The most linear memory (default 128 MiB: the core needs a few MiB, and a response body
    /// is at most 16 MiB, the host's cap, plus its parse)
    pub memory_bytes: usize,
    /// The longest the guest may compute without returning to the host (default 10 s: the
    /// machines answer in microseconds, so this stops only a runaway loop). Time spent in
    /// imports, such as a slow HTTP answer, does not count.
    pub run: Duration,
}

impl Default for GuestLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 128 << 20,
            run: Duration::from_secs(10),
        }
    }
}

/// Core instances and tables per store: the component has a handful
const GUEST_INSTANCE_LIMIT: usize = 64;
const GUEST_TABLE_LIMIT: usize = 64;
/// How often the epoch advances; the guest checks its deadline at each tick
const EPOCH_TICK: Duration = Duration::from_millis(100);

/// Advances the epoch one tick now, as the ticker thread does every 100 ms (for tests of the
/// run limit)
#[doc(hidden)]
pub fn advance_epoch() {
    engine().increment_epoch();
}

/// One engine per process: the `Linker` and every compiled component belong to it
///
/// Epoch interruption lets a store stop a guest that runs too long; a background thread
/// advances the epoch.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        // Winch, wasmtime's baseline compiler, compiles the component about five times faster
        // than Cranelift (≈ 0.1 s against ≈ 0.5 s): that is the wait on the first run of every
        // new build, while the guest's code runs microseconds per step and Winch's is about 1.4
        // times slower there (docs/performance.md). Winch is a tier-1 compiler on x86_64 only;
        // elsewhere Cranelift compiles.
        #[cfg(target_arch = "x86_64")]
        config.strategy(wasmtime::Strategy::Winch);
        let engine = Engine::new(&config).expect("keyhole-wasi's engine configuration is valid");
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("keyhole-wasi-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                    match ticker.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .expect("a thread can be started for the epoch ticker");
        engine
    })
}

/// The linker with keyhole's imports, built once
fn linker() -> Result<&'static Linker<HostState>, Error> {
    static LINKER: OnceLock<Result<Linker<HostState>, String>> = OnceLock::new();
    LINKER
        .get_or_init(|| {
            let mut linker = Linker::new(engine());
            Client::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
                &mut linker,
                |state| state,
            )
            .map_err(|e| format!("{e:#}"))?;
            Ok(linker)
        })
        .as_ref()
        .map_err(|e| Error::Incompatible(format!("the host's imports could not be linked: {e}")))
}

/// Links the component's WASI imports as traps
///
/// The core is built on std (docs/architecture.md), and std for wasm32-wasip2 imports WASI's cli
/// and io interfaces for its stdio, environment and exit paths. The core never reaches them (it
/// does no I/O); only a panic would, on its way to aborting. So keyhole-wasi grants no WASI at
/// all: each WASI function traps with a message saying so, and the guest gets no access to the
/// host. Imports outside `wasi:` are left alone, so a component built against other keyhole
/// interfaces is still refused as incompatible.
fn link_wasi_as_traps(
    linker: &mut Linker<HostState>,
    component: &wasmtime::component::Component,
) -> Result<(), Error> {
    use wasmtime::component::types::ComponentItem;
    let incompatible = |e: wasmtime::Error| Error::Incompatible(format!("{e:#}"));
    let engine = engine();
    for (name, item) in component.component_type().imports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        if !name.starts_with("wasi:") {
            continue;
        }
        let mut linked = linker.instance(name).map_err(incompatible)?;
        for (export, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let called = format!("{name}#{export}");
                    linked
                        .func_new(export, move |_, _, _, _| {
                            wasmtime::bail!(
                                "the keyhole component called `{called}`, which keyhole-wasi does \
                                 not provide (the core does no I/O; this is a keyhole bug, please \
                                 report it)"
                            )
                        })
                        .map_err(incompatible)?;
                }
                ComponentItem::Resource(_) => linked
                    .resource(
                        export,
                        wasmtime::component::ResourceType::host::<()>(),
                        |_, _| Ok(()),
                    )
                    .map_err(incompatible)?,
                _ => {}
            }
        }
    }
    Ok(())
}

/// The component built by this crate's build script (profile `wasm`); the linker drops it
/// from binaries that never call [`Runtime::embedded`]
static EMBEDDED_COMPONENT: &[u8] = include_bytes!(env!("KEYHOLE_COMPONENT_BUILT"));

/// [`EMBEDDED_COMPONENT`]'s SHA-256, from the build script
const EMBEDDED_COMPONENT_SHA256: [u8; 32] = sha256_from_hex(env!("KEYHOLE_COMPONENT_SHA256"));

const fn sha256_from_hex(hex: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("KEYHOLE_COMPONENT_SHA256 is not lower-case hex"),
        }
    }
    let hex = hex.as_bytes();
    assert!(
        hex.len() == 64,
        "KEYHOLE_COMPONENT_SHA256 is not 64 hex digits"
    );
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]);
        i += 1;
    }
    out
}

/// A compiled keyhole component, ready to instantiate many times
pub struct Runtime {
    pre: ClientPre<HostState>,
    cache: CacheOutcome,
    limits: GuestLimits,
}

impl Runtime {
    /// Loads the component at `path`, through the cache in `cache_dir` when given
    pub fn from_path(path: &Path, cache_dir: Option<&Path>) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Missing {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(&bytes, cache_dir)
    }

    /// Loads a component from its bytes, through the cache in `cache_dir` when given
    pub fn from_bytes(wasm: &[u8], cache_dir: Option<&Path>) -> Result<Self, Error> {
        Self::load(wasm, None, cache_dir)
    }

    /// Loads the component this crate was built with (see `build.rs`), through the cache in
    /// `cache_dir` when given
    ///
    /// Its cache key was computed at build time, so a warm start does not hash it again.
    pub fn embedded(cache_dir: Option<&Path>) -> Result<Self, Error> {
        Self::load(
            EMBEDDED_COMPONENT,
            Some(EMBEDDED_COMPONENT_SHA256),
            cache_dir,
        )
    }

    fn load(
        wasm: &[u8],
        known_sha: Option<[u8; 32]>,
        cache_dir: Option<&Path>,
    ) -> Result<Self, Error> {
        if !wasm.starts_with(b"\0asm") {
            return Err(Error::Malformed(
                "the file does not start with the wasm magic number".into(),
            ));
        }
        let (component, cache) = cache::load(engine(), wasm, known_sha, cache_dir)?;
        let mut linker = linker()?.clone();
        link_wasi_as_traps(&mut linker, &component)?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| Error::Incompatible(format!("{e:#}")))?;
        let pre =
            ClientPre::new(instance_pre).map_err(|e| Error::Incompatible(format!("{e:#}")))?;
        Ok(Self {
            pre,
            cache,
            limits: GuestLimits::default(),
        })
    }

    /// What loading did with the cache
    pub fn cache_outcome(&self) -> &CacheOutcome {
        &self.cache
    }

    /// The limits every later instance gets (memory, compute time)
    pub fn with_limits(mut self, limits: GuestLimits) -> Self {
        self.limits = limits;
        self
    }

    /// A fresh instance; `io` performs the imports (HTTP, secrets, clock, prompts)
    ///
    /// Without `io`, only the `machine` export is usable: the host drives every request itself,
    /// and a call that reaches an import fails with an error naming it.
    pub fn instantiate(&self, io: Option<Box<dyn Io + Send>>) -> Result<Instance, Error> {
        let mut store = Store::new(engine(), HostState::new(io, self.limits));
        store.limiter(|state| &mut state.limits);
        // The run deadline counts only the guest's own time: entering the guest or coming back
        // from an import restarts it.
        store.call_hook(|mut cx, hook| {
            if matches!(hook, CallHook::CallingWasm | CallHook::ReturningFromHost) {
                cx.data_mut().guest_since = Instant::now();
            }
            Ok(())
        });
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|cx| {
            let limit = cx.data().run_limit;
            if cx.data().guest_since.elapsed() > limit {
                wasmtime::bail!(
                    "the keyhole component computed for more than {} ms without returning; it was stopped (a keyhole bug, please report it)",
                    limit.as_millis()
                );
            }
            Ok(wasmtime::UpdateDeadline::Continue(1))
        });
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| Error::call("instantiate", e))?;
        Ok(Instance { store, bindings })
    }
}

/// One instance of the component with its own memory and host I/O
pub struct Instance {
    store: Store<HostState>,
    bindings: Client,
}

/// A machine living inside an [`Instance`]; drop it with [`Instance::drop_machine`]
#[derive(Debug)]
pub struct Machine {
    kind: &'static str,
    handle: ResourceAny,
}

impl Machine {
    /// The machine's wire name, e.g. `device_login`
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

impl Instance {
    /// Builds a machine by wire name from its JSON config text (see `docs/architecture.md`)
    ///
    /// The text is read as the core reads it natively (`keyhole_core::wire::new_machine`: the
    /// same field names and defaults) and handed to the component as its typed `machine-config`.
    /// Text that is not such a config is an [`Error::Config`], as natively; a config that reads
    /// but cannot work (a missing endpoint) is the machine's own `done` with a `config` error
    /// after `start`. `random` is read by `browser_login` only.
    pub fn machine(
        &mut self,
        kind: &str,
        config_json: &str,
        now_ms: u64,
        random: &[u8],
    ) -> Result<Machine, Error> {
        let (kind, config) = convert::config_to_wit(kind, config_json)?;
        let handle = self
            .bindings
            .keyhole_auth_machine()
            .machine()
            .call_constructor(&mut self.store, &config, now_ms, random)
            .map_err(|e| Error::call(format!("{kind}.constructor"), e))?;
        Ok(Machine { kind, handle })
    }

    /// Feeds one input (see `keyhole_core::Machine::handle_input`)
    pub fn handle_input(
        &mut self,
        machine: &Machine,
        now_ms: u64,
        input: &Input,
    ) -> Result<(), Error> {
        self.bindings
            .keyhole_auth_machine()
            .machine()
            .call_handle_input(
                &mut self.store,
                machine.handle,
                now_ms,
                &convert::input_to_wit(input),
            )
            .map_err(|e| Error::call(format!("{}.handle-input", machine.kind), e))
    }

    /// The next output, in the wire JSON form (`keyhole_core::wire::output_to_wire`'s shape)
    pub fn poll_output(&mut self, machine: &Machine) -> Result<Value, Error> {
        self.bindings
            .keyhole_auth_machine()
            .machine()
            .call_poll_output(&mut self.store, machine.handle)
            .map(convert::output_to_wire)
            .map_err(|e| Error::call(format!("{}.poll-output", machine.kind), e))
    }

    /// Feeds one input and returns every output up to and including the next `wait` or `done`,
    /// in one call into the component: [`Instance::handle_input`], then what
    /// [`Instance::poll_output`] returns until then
    pub fn step(
        &mut self,
        machine: &Machine,
        now_ms: u64,
        input: &Input,
    ) -> Result<Vec<Value>, Error> {
        self.bindings
            .keyhole_auth_machine()
            .machine()
            .call_step(
                &mut self.store,
                machine.handle,
                now_ms,
                &convert::input_to_wit(input),
            )
            .map(|outputs| outputs.into_iter().map(convert::output_to_wire).collect())
            .map_err(|e| Error::call(format!("{}.step", machine.kind), e))
    }

    /// Frees a machine's state inside the guest
    pub fn drop_machine(&mut self, machine: Machine) -> Result<(), Error> {
        machine
            .handle
            .resource_drop(&mut self.store)
            .map_err(|e| Error::call(format!("{}.drop", machine.kind), e))
    }
}
