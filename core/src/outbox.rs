//! The mechanics every machine shares: a monotonic clock, queued outputs, the current wait, and
//! the terminal result that every poll repeats once reached

use std::collections::VecDeque;

use crate::error::AuthError;
use crate::http::HttpRequest;
use crate::machine::{Output, StoreOp};

/// Queued outputs plus the wait or result that ends each drain
#[derive(Debug)]
pub(crate) struct Outbox<T> {
    queue: VecDeque<Output<T>>,
    until_ms: Option<u64>,
    done: Option<Result<T, AuthError>>,
    now_ms: u64,
}

impl<T: Clone> Outbox<T> {
    pub(crate) fn new(now_ms: u64) -> Self {
        Self {
            queue: VecDeque::new(),
            until_ms: None,
            done: None,
            now_ms,
        }
    }

    /// Records the time of an input and returns the effective now: time never runs backwards
    pub(crate) fn observe(&mut self, now_ms: u64) -> u64 {
        self.now_ms = self.now_ms.max(now_ms);
        self.now_ms
    }

    /// The latest time seen
    pub(crate) fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Whether the machine has finished; inputs after that are ignored
    pub(crate) fn is_done(&self) -> bool {
        self.done.is_some()
    }

    /// Queues a request and waits for its answer
    pub(crate) fn send(&mut self, request: HttpRequest) {
        self.queue.push_back(Output::Send(request));
        self.until_ms = None;
    }

    /// Queues a store operation and waits for its answer
    pub(crate) fn store(&mut self, op: StoreOp) {
        self.queue.push_back(Output::Store(op));
        self.until_ms = None;
    }

    /// Queues an output that needs no answer (`Show`, `OpenBrowser`, `AnswerCallback`)
    pub(crate) fn notify(&mut self, output: Output<T>) {
        debug_assert!(matches!(
            output,
            Output::Show(_) | Output::OpenBrowser(_) | Output::AnswerCallback(_)
        ));
        self.queue.push_back(output);
    }

    /// Waits for a timer; a deadline not after now is moved to now + 1 ms so that every `Wait`
    /// lies in the future
    pub(crate) fn wait_until(&mut self, until_ms: u64) {
        self.until_ms = Some(until_ms.max(self.now_ms.saturating_add(1)));
    }

    /// The deadline of the current wait, if any
    pub(crate) fn deadline(&self) -> Option<u64> {
        self.until_ms
    }

    /// Keeps the current wait after an ignored input; a deadline that the input's time has
    /// passed moves to now + 1 ms, so the repeated `Wait` still lies in the future
    pub(crate) fn rearm(&mut self) {
        if let Some(until_ms) = self.until_ms {
            self.wait_until(until_ms);
        }
    }

    /// Ends the flow; later calls keep the first result
    pub(crate) fn finish(&mut self, result: Result<T, AuthError>) {
        if self.done.is_none() {
            self.done = Some(result);
        }
    }

    /// The next output: queued ones first, then the result or the wait
    pub(crate) fn poll(&mut self) -> Output<T> {
        if let Some(output) = self.queue.pop_front() {
            return output;
        }
        match &self.done {
            Some(result) => Output::Done(result.clone()),
            None => Output::Wait {
                until_ms: self.until_ms,
            },
        }
    }
}
