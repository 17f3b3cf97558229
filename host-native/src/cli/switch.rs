//! `switch [ACCOUNT]`: make another logged-in account the active one

use super::*;

impl Ctx<'_> {
    pub(super) fn switch(&mut self, account: Option<String>) -> CliResult {
        let config = self.config()?;
        let (name, remote) = self.remote_of(&config)?;
        let accounts: Vec<String> = remote.accounts.keys().cloned().collect();
        if accounts.is_empty() {
            return Err(AuthError::NotLoggedIn.into());
        }
        let current = current_account(&remote);
        let target = match account {
            Some(a) if remote.accounts.contains_key(&a) => a,
            Some(a) => {
                return Err(CliError::Other(format!(
                    "no account `{a}` on {name}; logged-in accounts: {}",
                    accounts.join(", ")
                )));
            }
            None if accounts.len() == 2 => accounts
                .into_iter()
                .find(|a| *a != current)
                .expect("two distinct accounts, one is not the current one"),
            None if accounts.len() == 1 => current.clone(),
            None if self.interactive && !self.out.json => {
                for (i, a) in accounts.iter().enumerate() {
                    eprintln!(
                        "  {}) {}{}",
                        i + 1,
                        safe(a),
                        if *a == current { " (active)" } else { "" }
                    );
                }
                loop {
                    let answer = self.ask_line("Switch to which account? ")?;
                    if let Some(a) = answer
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| accounts.get(i.wrapping_sub(1)))
                    {
                        break a.clone();
                    }
                }
            }
            None => {
                return Err(CliError::Usage(format!(
                    "several accounts are logged in on {name} ({}); name one: `switch ACCOUNT`",
                    accounts.join(", ")
                )));
            }
        };
        self.update_remote(&name, |r| r.active_account = Some(target.clone()))?;
        self.out.report(
            &json!({"event": "switch", "remote": name, "account": target}),
            &format!("Switched to {} on {}", safe(&target), safe(&name)),
        );
        Ok(EXIT_OK)
    }
}
