//! keyhole-native: the native host of keyhole and the `keyhole` CLI
//!
//! - [`io::NativeIo`]: the core's `Io` over reqwest (rustls, no redirects, capped bodies), the
//!   system clock, a browser launcher and the loopback callback listener.
//! - [`store`]: the OS keyring with a file fallback, and the cross-process locks;
//!   [`store::format`]: the vendor file layouts (keyhole TOML, `~/.trussrc`, vtrix YAML, vast's key file).
//! - [`config`]: remotes, accounts and projects in a versioned TOML file.
//! - [`Product`]: what differs between the CLIs built on keyhole; [`App`]: a product's config
//!   dir and store; [`run`]: the `auth` group a vendor mounts ([`AuthArgs`]); [`cli`]: the command line, shared with `keyhole-wasi` through the
//!   [`Engine`] trait, which [`NativeEngine`] implements with `keyhole_core::client`.
#![deny(missing_docs)]

pub mod app;
pub mod config;
pub mod helpers;
pub mod io;
pub mod store;
pub mod text;

pub use app::App;
pub mod product;
pub use product::Product;
pub mod cli;
pub mod engine;

pub use cli::{AuthArgs, AuthCommand};
pub use engine::{Engine, NativeEngine};

/// Parses the process's command line for a vendor's CLI `C` that mounts [`AuthArgs`] as its
/// subcommand `group` (`"auth"`), with the group's help in the product's words
/// ([`cli::customize`]): its variables, aliases and commands
///
/// `let cli: Cli = keyhole_native::parse("auth", &VTRIX);`
pub fn parse<C: clap::Parser>(group: &str, product: &Product) -> C {
    parse_command(C::command().mut_subcommand(group, |c| cli::customize(c, product)))
}

/// Parses the process's command line for a vendor's own CLI `C` (one that maps its commands
/// to [`AuthCommand`]s itself, like truss's) so that a parse error never echoes a secret:
/// `truss auth login --api-key --sk-…` would print the key as an unexpected argument
pub fn parse_redacted<C: clap::Parser>() -> C {
    parse_command(C::command())
}

fn parse_command<C: clap::FromArgMatches>(command: clap::Command) -> C {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match command
        .try_get_matches_from(&argv)
        .and_then(|m| C::from_arg_matches(&m))
    {
        Ok(parsed) => parsed,
        Err(e) => std::process::exit(i32::from(cli::print_parse_error(&e, &argv))),
    }
}

/// Runs an `auth` group a vendor's CLI has parsed, as `product`, natively:
/// `Cmd::Auth(a) => keyhole_native::run(a, &VTRIX)`
pub fn run(args: AuthArgs, product: &'static Product) -> std::process::ExitCode {
    let app = App::new(product);
    let mut engine = NativeEngine::new(&app);
    cli::run_parsed(&mut engine, &app, args)
}

/// Entries into private parsers for the fuzz targets of fuzz/ (docs/fuzzing.md; feature
/// `fuzzing`); not an API
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// Reads and checks a permissions file (`keys create --permission-file`) as the CLI does;
    /// the error is the message the user reads
    pub fn read_permissions(path: &std::path::Path) -> Result<serde_json::Value, String> {
        crate::cli::fuzzing_read_permissions(path)
    }
}
