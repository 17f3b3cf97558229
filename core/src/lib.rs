//! keyhole-core: the sans-IO state machines behind a CLI's `auth` command group
//!
//! Every flow (discovery, device login, browser login, refresh, credential lifecycle, key check,
//! revocation) is a [`Machine`]: constructed from its config plus `now_ms` and random bytes where
//! it needs them, fed with [`Machine::handle_input`], and drained with [`Machine::poll_output`].
//! Nothing here reads a clock, draws random numbers, touches the network or the file system: time
//! and entropy come in, HTTP requests and secret-store operations go out.
//!
//! **After every `handle_input`, call `poll_output` until it returns `Wait` or `Done`.**
//!
//! A synchronous host implements [`Io`] and calls [`drive`]; an asynchronous host writes the same
//! loop with `await`. See `docs/architecture.md` for the picture.
#![warn(missing_docs, unreachable_pub)]

mod drive;
mod error;
pub mod http;
#[cfg(feature = "js")]
mod js;
mod machine;
pub mod oauth;
mod outbox;
pub mod record;
mod secret;
pub mod wire;

pub use drive::{Io, drive};
pub use error::{AuthError, StoreError};
pub use http::{HttpRequest, HttpResponse, TransportError};
pub use machine::{Input, Machine, Output, Prompt, StoreOp};
pub use oauth::{Endpoints, TokenSet};
pub use record::StoredRecord;
pub use secret::Secret;
