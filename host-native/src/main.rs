//! `keyhole`: the native command line

use std::process::ExitCode;

use keyhole_native::{App, NativeEngine, cli};

fn main() -> ExitCode {
    let app = App::new("keyhole");
    let mut engine = NativeEngine::new(&app);
    cli::run_from_env(&mut engine, &app)
}
