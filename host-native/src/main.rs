//! `keyhole`: the native command line

use std::process::ExitCode;

use keyhole_native::{App, NativeEngine, Product, cli};

static KEYHOLE: Product = Product::KEYHOLE;

fn main() -> ExitCode {
    let app = App::new(&KEYHOLE);
    let mut engine = NativeEngine::new(&app);
    cli::run_from_env(&mut engine, &app)
}
