//! Resolve endpoints: discovery from the remote's issuer with the configured endpoints laid over
//! it field by field, or the configured ones alone without an issuer
//!
//! Configured endpoints that name the remote's issuer are a (cached) discovery result and are used
//! as they are; without the issuer they are explicit overrides, so discovery still runs. The first
//! step of the OAuth logins and of `logout`.
use crate::discovery::{Discovery, DiscoveryConfig};
use crate::error::AuthError;
use crate::machine::{Input, Machine, Output};
use crate::oauth::Endpoints;
use crate::outbox::Outbox;

use super::remote::RemoteSpec;

#[derive(Debug)]
enum Phase {
    Idle,
    Discovering(Box<Discovery>),
    Done,
}

/// The resolve-endpoints machine; see the module documentation
#[derive(Debug)]
pub(crate) struct ResolveEndpoints {
    remote: RemoteSpec,
    phase: Phase,
    outbox: Outbox<Endpoints>,
}

impl ResolveEndpoints {
    pub(crate) fn new(remote: RemoteSpec, now_ms: u64) -> Self {
        Self {
            remote,
            phase: Phase::Idle,
            outbox: Outbox::new(now_ms),
        }
    }

    fn finish(&mut self, result: Result<Endpoints, AuthError>) {
        self.phase = Phase::Done;
        self.outbox.finish(result);
    }

    fn start(&mut self, now_ms: u64) {
        let configured = self.remote.endpoints.clone().unwrap_or_default();
        let Some(issuer) = self.remote.issuer.clone() else {
            if configured.token_endpoint.is_some() {
                return self.finish(Ok(configured));
            }
            return self.finish(Err(AuthError::Config {
                detail: format!(
                    "remote `{}` has neither an issuer nor a token endpoint; configure one for it",
                    self.remote.name
                ),
            }));
        };
        if configured.issuer.as_ref() == Some(&issuer) && configured.token_endpoint.is_some() {
            return self.finish(Ok(configured));
        }
        let config = DiscoveryConfig {
            issuer,
            max_response_bytes: crate::http::DEFAULT_MAX_RESPONSE_BYTES,
        };
        self.phase = Phase::Discovering(Box::new(Discovery::new(config, now_ms)));
        self.pump(now_ms, Input::Start);
    }

    fn pump(&mut self, now_ms: u64, input: Input) {
        let Phase::Discovering(discovery) = &mut self.phase else {
            return;
        };
        if let Some(result) = self.outbox.forward(discovery.as_mut(), now_ms, input) {
            let configured = self.remote.endpoints.clone().unwrap_or_default();
            self.finish(result.map(|discovered| {
                Endpoints {
                    issuer: None,
                    ..configured
                }
                .or(discovered)
            }));
        }
    }
}

impl Machine for ResolveEndpoints {
    type Value = Endpoints;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now_ms = self.outbox.observe(now_ms);
        match (&self.phase, input) {
            (Phase::Idle, Input::Start) => self.start(now_ms),
            (Phase::Discovering(_), input) => self.pump(now_ms, input),
            _ => self.outbox.rearm(),
        }
    }

    fn poll_output(&mut self) -> Output<Endpoints> {
        self.outbox.poll()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    machine_guard_tests!(ResolveEndpoints, 1792);
}
