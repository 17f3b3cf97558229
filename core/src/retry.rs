//! The one retry policy for compare-and-swap writes of a credential record

/// How many compare-and-swap writes one operation makes before giving up to another writer
///
/// Every write of a record is read, change, compare-and-swap; losing means another process wrote
/// in between. The losers are a handful of the user's own processes (parallel CLI runs in a build,
/// a plugin host next to a shell) and a store round takes milliseconds, so a few attempts settle
/// any real race; still losing after [`SwapBudget::ATTEMPTS`] means something keeps rewriting the
/// record, and the operation stops with an error that says so rather than spin. Used by the
/// logins and `set-key` (which re-read and re-apply their change), by `token`'s refresh (which
/// adopts the winner's tokens when they are usable, and merges its own onto a stale record
/// otherwise), and by keyhole-wasi's blind `secrets.set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapBudget {
    left: u32,
}

impl SwapBudget {
    /// Compare-and-swap writes per operation: the first, plus four after lost races
    pub const ATTEMPTS: u32 = 5;

    /// A full budget
    pub fn new() -> Self {
        Self {
            left: Self::ATTEMPTS,
        }
    }

    /// Takes one attempt; `false` when none is left
    pub fn take(&mut self) -> bool {
        match self.left.checked_sub(1) {
            Some(left) => {
                self.left = left;
                true
            }
            None => false,
        }
    }
}

impl Default for SwapBudget {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::SwapBudget;

    #[test]
    fn the_budget_allows_exactly_its_attempts() {
        let mut budget = SwapBudget::new();
        let taken = std::iter::from_fn(|| budget.take().then_some(())).count();
        assert_eq!(taken, SwapBudget::ATTEMPTS as usize);
        assert!(!budget.take(), "an empty budget stays empty");
    }
}
