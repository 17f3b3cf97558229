//! `keyhole-wasi`: the `keyhole` command line with the core running as a wasm component
//!
//! The component is compiled into this binary; `KEYHOLE_COMPONENT=/path/to/keyhole_core.wasm`
//! runs another one instead. Precompiled code is cached in `$XDG_CACHE_HOME/keyhole` (else
//! `~/.cache/keyhole`). Credentials, config and exit codes are `keyhole`'s own.

use std::process::ExitCode;

use keyhole_native::{App, Product, cli};

static KEYHOLE: Product = Product::KEYHOLE;
use keyhole_wasi::{ComponentSource, WasiEngine, default_cache_dir};

fn main() -> ExitCode {
    // The same app as `keyhole`: one keyring service, one config directory, one set of accounts.
    let app = App::new(&KEYHOLE);
    let source = match std::env::var_os("KEYHOLE_COMPONENT").filter(|v| !v.is_empty()) {
        Some(path) => ComponentSource::Path(path.into()),
        None => ComponentSource::Embedded,
    };
    let mut engine = WasiEngine::new(&app, source, default_cache_dir());
    cli::run_from_env(&mut engine, &app)
}
