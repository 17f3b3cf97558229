//! Forget: delete an account's local record without contacting the provider
use serde::Deserialize;

use crate::machine::{FromConfig, Input, Machine, Output, StoreOp};
use crate::outbox::Outbox;
use crate::record::storage_key;

use super::remote::RemoteSpec;

/// What a [`Forget`] needs
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ForgetConfig {
    /// The remote
    pub remote: RemoteSpec,
    /// The account
    pub account: String,
}

/// The forget operation; see the module documentation
#[derive(Debug)]
pub struct Forget {
    config: ForgetConfig,
    deleting: bool,
    outbox: Outbox<()>,
}

impl Forget {
    /// Builds the operation
    pub fn new(config: ForgetConfig, now_ms: u64) -> Self {
        Self {
            config,
            deleting: false,
            outbox: Outbox::new(now_ms),
        }
    }
}

impl Machine for Forget {
    type Value = ();

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        self.outbox.observe(now_ms);
        match input {
            Input::Start if !self.deleting && !self.outbox.is_done() => {
                self.deleting = true;
                self.outbox.store(StoreOp::Delete {
                    key: storage_key(&self.config.remote.name, &self.config.account),
                });
            }
            Input::Stored(answer) if self.deleting => {
                self.deleting = false;
                self.outbox.finish(answer.map(drop).map_err(Into::into));
            }
            _ => self.outbox.rearm(),
        }
    }

    fn poll_output(&mut self) -> Output<()> {
        self.outbox.poll()
    }
}

impl FromConfig for Forget {
    type Config = ForgetConfig;

    fn from_config(config: ForgetConfig, now_ms: u64, _random: &[u8]) -> Self {
        Self::new(config, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    machine_guard_tests!(Forget, 1280);
}
