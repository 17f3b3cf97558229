//! Update record: load an account's record, change it, and write it back with compare-and-swap,
//! retrying within the [`SwapBudget`] when another process wrote in between
//!
//! The step every login and `set-key` ends with. A record this build cannot read is replaced (the
//! user asked for new credentials), unless it is from a newer keyhole, which must not be
//! downgraded.
use crate::error::{AuthError, StoreError};
use crate::machine::{Input, Machine, Output, StoreOp};
use crate::oauth::TokenSet;
use crate::outbox::Outbox;
use crate::record::StoredRecord;
use crate::retry::SwapBudget;
use crate::secret::Secret;

/// What a login puts into the record; everything else in it stays
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// New OAuth tokens (a device or browser login); a stored API key stays
    Tokens(TokenSet),
    /// A new API key (`login --api-key`, `set-key`); stored OAuth tokens stay
    ApiKey(Secret),
}

impl Change {
    fn apply(&self, record: &mut StoredRecord) {
        match self {
            Change::Tokens(tokens) => record.oauth = Some(tokens.clone()),
            Change::ApiKey(key) => record.api_key = Some(key.clone()),
        }
    }
}

#[derive(Debug)]
enum Phase {
    Idle,
    /// A `Load` is out
    Loading,
    /// A `CompareAndSwap` of `new` (holding `record`) is out
    Swapping {
        new: Secret,
        record: Box<StoredRecord>,
    },
    Done,
}

/// The update-record machine; see the module documentation
#[derive(Debug)]
pub(crate) struct UpdateRecord {
    key: String,
    change: Change,
    budget: SwapBudget,
    phase: Phase,
    outbox: Outbox<StoredRecord>,
}

impl UpdateRecord {
    pub(crate) fn new(key: String, change: Change, now_ms: u64) -> Self {
        Self {
            key,
            change,
            budget: SwapBudget::new(),
            phase: Phase::Idle,
            outbox: Outbox::new(now_ms),
        }
    }

    fn fail(&mut self, error: AuthError) {
        self.phase = Phase::Done;
        self.outbox.finish(Err(error));
    }

    /// Reads the record for the next attempt, if the budget allows one
    fn load(&mut self) {
        if !self.budget.take() {
            return self.fail(AuthError::Storage(StoreError::Other(
                "the credential kept changing while saving it (another keyhole process is writing); try again".into(),
            )));
        }
        self.phase = Phase::Loading;
        self.outbox.store(StoreOp::Load {
            key: self.key.clone(),
        });
    }

    fn on_loaded(&mut self, now_ms: u64, current: Option<Secret>) {
        let mut record = match &current {
            Some(stored) => match StoredRecord::from_json(stored) {
                Ok(record) => record,
                Err(e @ AuthError::Config { .. }) => return self.fail(e),
                Err(_) => StoredRecord::default(),
            },
            None => StoredRecord::default(),
        };
        self.change.apply(&mut record);
        record.updated_at_ms = now_ms;
        let new = record.to_json();
        self.outbox.store(StoreOp::CompareAndSwap {
            key: self.key.clone(),
            expected: current,
            new: new.clone(),
        });
        self.phase = Phase::Swapping {
            new,
            record: Box::new(record),
        };
    }

    fn on_stored(&mut self, now_ms: u64, answer: Result<Option<Secret>, StoreError>) {
        match (core::mem::replace(&mut self.phase, Phase::Done), answer) {
            (Phase::Loading | Phase::Swapping { .. }, Err(e)) => self.fail(AuthError::Storage(e)),
            (Phase::Loading, Ok(current)) => self.on_loaded(now_ms, current),
            (Phase::Swapping { new, record }, Ok(held)) => {
                if held.as_ref() == Some(&new) {
                    self.outbox.finish(Ok(*record));
                } else {
                    // Another process wrote in between: read its record and apply ours onto it.
                    self.load();
                }
            }
            (other, _) => self.phase = other,
        }
    }
}

impl Machine for UpdateRecord {
    type Value = StoredRecord;

    fn handle_input(&mut self, now_ms: u64, input: Input) {
        let now_ms = self.outbox.observe(now_ms);
        match (&self.phase, input) {
            (Phase::Idle, Input::Start) => self.load(),
            (Phase::Loading | Phase::Swapping { .. }, Input::Stored(answer)) => {
                self.on_stored(now_ms, answer)
            }
            _ => self.outbox.rearm(),
        }
    }

    fn poll_output(&mut self) -> Output<StoredRecord> {
        self.outbox.poll()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn drain(machine: &mut UpdateRecord) -> Vec<Output<StoredRecord>> {
        let mut outputs = Vec::new();
        loop {
            let output = machine.poll_output();
            let last = matches!(output, Output::Wait { .. } | Output::Done(_));
            outputs.push(output);
            if last {
                return outputs;
            }
        }
    }

    /// A store where another writer always gets in between: the budget ends the retries
    #[test]
    fn a_record_that_keeps_changing_ends_after_the_budget() {
        let key = "work/ada".to_owned();
        let mut m = UpdateRecord::new(key, Change::ApiKey(Secret::new("k")), NOW);
        m.handle_input(NOW, Input::Start);
        let mut swaps = 0;
        let mut outputs = drain(&mut m);
        loop {
            match &outputs[0] {
                Output::Store(StoreOp::Load { .. }) => {
                    let theirs = StoredRecord {
                        updated_at_ms: swaps,
                        ..StoredRecord::default()
                    };
                    m.handle_input(NOW, Input::Stored(Ok(Some(theirs.to_json()))));
                }
                Output::Store(StoreOp::CompareAndSwap { .. }) => {
                    swaps += 1;
                    let other = StoredRecord {
                        updated_at_ms: 1000 + swaps,
                        ..StoredRecord::default()
                    };
                    m.handle_input(NOW, Input::Stored(Ok(Some(other.to_json()))));
                }
                Output::Done(Err(e)) => {
                    assert!(e.to_string().contains("kept changing"), "{e}");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
            outputs = drain(&mut m);
        }
        assert_eq!(swaps, u64::from(SwapBudget::ATTEMPTS));
    }

    /// The second attempt applies the change onto the winner's record, keeping what it holds
    #[test]
    fn a_lost_race_reapplies_the_change_onto_the_winners_record() {
        let key = "work/ada".to_owned();
        let mut m = UpdateRecord::new(key, Change::ApiKey(Secret::new("k")), NOW);
        m.handle_input(NOW, Input::Start);
        let _ = drain(&mut m);
        m.handle_input(NOW, Input::Stored(Ok(None)));
        let _ = drain(&mut m);
        let winner = StoredRecord {
            oauth: Some(TokenSet {
                access_token: Secret::new("at"),
                token_type: "Bearer".into(),
                refresh_token: None,
                id_token: None,
                scope: None,
                expires_at_ms: None,
                refresh_at_ms: None,
                issued_at_ms: None,
            }),
            ..StoredRecord::default()
        };
        m.handle_input(NOW + 1, Input::Stored(Ok(Some(winner.to_json()))));
        assert_eq!(
            drain(&mut m)[0],
            Output::Store(StoreOp::Load {
                key: "work/ada".into()
            })
        );
        m.handle_input(NOW + 2, Input::Stored(Ok(Some(winner.to_json()))));
        let Output::Store(StoreOp::CompareAndSwap { expected, new, .. }) = drain(&mut m).remove(0)
        else {
            panic!("no swap");
        };
        assert_eq!(expected, Some(winner.to_json()));
        let merged = StoredRecord::from_json(&new).unwrap();
        assert_eq!(merged.api_key, Some(Secret::new("k")));
        assert_eq!(merged.oauth, winner.oauth);
        m.handle_input(NOW + 3, Input::Stored(Ok(Some(new))));
        assert!(matches!(drain(&mut m)[0], Output::Done(Ok(_))));
    }

    machine_guard_tests!(UpdateRecord, 1280);
}
