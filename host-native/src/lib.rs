//! keyhole-native: the native host of keyhole and the `keyhole` CLI
//!
//! - [`io::NativeIo`]: the core's `Io` over reqwest (rustls, no redirects, capped bodies), the
//!   system clock, a browser launcher and the loopback callback listener.
//! - [`store`]: the OS keyring with a file fallback, and the cross-process locks;
//!   [`store::format`]: the vendor file layouts (keyhole TOML, `~/.trussrc`, vtrix YAML, vast's key file).
//! - [`config`]: remotes, accounts and projects in a versioned TOML file.
//! - [`App`]: the embedding API; [`cli`]: the command line, shared with `keyhole-wasi` through the
//!   [`Engine`] trait, which [`NativeEngine`] implements with `keyhole_core::client`.
#![deny(missing_docs)]

pub mod app;
pub mod config;
pub mod helpers;
pub mod io;
pub mod store;

pub use app::App;
pub mod cli;
pub mod engine;

pub use engine::{Engine, NativeEngine};
