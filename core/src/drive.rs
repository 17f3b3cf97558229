//! The one loop every synchronous host runs
//!
//! Hosts implement [`Io`] (native: reqwest and the keyring; the component: the WIT imports; tests:
//! a script) and call [`drive`]. The JavaScript driver is this loop written with `await`.
use std::collections::VecDeque;

use crate::error::{AuthError, StoreError};
use crate::http::{HttpRequest, HttpResponse, TransportError};
use crate::machine::{Input, Machine, Output, Prompt, StoreOp};
use crate::secret::Secret;

/// What a host supplies; it mirrors the WIT imports one to one
pub trait Io {
    /// The current unix time in milliseconds
    fn now_ms(&mut self) -> u64;
    /// Performs the request: no redirects, body capped at `request.max_response_bytes`
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError>;
    /// Performs a store operation; see [`Input::Stored`] for what to answer
    fn store(&mut self, op: &StoreOp) -> Result<Option<Secret>, StoreError>;
    /// Shows the device-login prompt
    fn show(&mut self, prompt: &Prompt);
    /// Opens a URL in the user's browser; `false` when none could be opened
    fn open_browser(&mut self, url: &url::Url) -> bool;
    /// Blocks until `until_ms`, or returns earlier with the request target of a loopback callback
    /// when the host is listening for one (browser login)
    fn wait_until(&mut self, until_ms: u64) -> Option<String>;
}

/// Runs a machine to completion against a host
///
/// Follows the drain rule: after each input, outputs are polled until `Wait` or `Done`; requests
/// and store operations met on the way are performed and their answers fed back in order.
pub fn drive<M: Machine>(mut machine: M, io: &mut impl Io) -> Result<M::Value, AuthError> {
    let mut next = VecDeque::from([Input::Start]);
    loop {
        let input = next
            .pop_front()
            .expect("the loop always queues an input before coming back");
        machine.handle_input(io.now_ms(), input);
        let wait = loop {
            match machine.poll_output() {
                Output::Send(request) => next.push_back(match io.send(&request) {
                    Ok(response) => Input::Response(response),
                    Err(error) => Input::TransportFailed(error),
                }),
                Output::Store(op) => next.push_back(Input::Stored(io.store(&op))),
                Output::Show(prompt) => io.show(&prompt),
                Output::OpenBrowser(url) => {
                    // A host that cannot open a browser has already shown the URL; the machine's
                    // deadline still bounds the wait.
                    let _opened = io.open_browser(&url);
                }
                Output::Wait { until_ms } => break until_ms,
                Output::Done(result) => return result,
            }
        };
        if next.is_empty() {
            match wait {
                Some(until_ms) => next.push_back(match io.wait_until(until_ms) {
                    Some(target) => Input::Callback(target),
                    None => Input::Timer,
                }),
                // A machine waiting for an answer nobody owes it would hang a host forever.
                None => {
                    return Err(AuthError::Config {
                        detail: "internal: the flow waits for an answer to a request it never made (a keyhole bug; please report it)".into(),
                    });
                }
            }
        }
    }
}
