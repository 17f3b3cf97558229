//! `logout [--all] [ACCOUNT]`: revoke at the provider, clear locally

use super::*;

impl Ctx<'_> {
    pub(super) fn logout(
        &mut self,
        engine: &mut dyn Engine,
        all: bool,
        account: Option<String>,
    ) -> CliResult {
        let config = self.config()?;
        if !all && self.remote_of(&config)?.1.accounts.is_empty() {
            return Err(AuthError::NotLoggedIn.into());
        }
        let mut targets = self.targets(&config, all, false)?;
        if let Some(wanted) = account {
            let (name, remote) = self.remote_of(&config)?;
            if !remote.accounts.contains_key(&wanted) {
                return Err(CliError::Other(format!(
                    "no account `{wanted}` on {name}; logged-in accounts: {}",
                    remote
                        .accounts
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            targets = vec![(name, remote, wanted)];
        }
        let clears = self.app.product().logout_clears_selection;
        let mut results = Vec::new();
        for (name, remote, account) in &targets {
            let outcome = engine.logout(&remote.spec(name, &[]), account)?;
            self.update_remote(name, |r| {
                r.accounts.remove(account);
                if r.active_account.as_deref() == Some(account.as_str()) {
                    r.active_account = if clears {
                        None
                    } else {
                        r.accounts.keys().next().cloned()
                    };
                }
            })?;
            if self.app.product().logout_removes_remote {
                self.remove_if_empty(name)?;
            }
            if let Some(e) = &outcome.revocation_error {
                self.out.warn(&format!(
                    "could not revoke the tokens at the provider ({e}); the local credentials are cleared"
                ));
            }
            let mut v = json!({
                "remote": outcome.remote,
                "account": outcome.account,
                "revoked": outcome.revoked,
                "cleared": outcome.cleared,
            });
            if let Some(e) = &outcome.revocation_error {
                v["revocation_error"] = keyhole_core::wire::error_to_wire(e);
            }
            if !self.out.json {
                let revoked = if outcome.revoked.is_empty() {
                    String::new()
                } else {
                    format!(" (revoked {})", safe(&outcome.revoked.join(", ")))
                };
                let line = self.message(
                    self.app.product().messages.logged_out,
                    &[
                        ("remote", &safe(&outcome.remote)),
                        ("account", &safe(&outcome.account)),
                        ("revoked", &revoked),
                    ],
                );
                self.success(&line);
            }
            results.push(v);
        }
        if self.out.json {
            self.json_results(all, results);
        } else if all && results.is_empty() {
            self.out.info("No accounts were logged in.");
        }
        Ok(EXIT_OK)
    }

    /// Removes the remote once no account is left on it (products whose logout removes it)
    pub(super) fn remove_if_empty(&self, name: &str) -> Result<(), CliError> {
        let _lock = self.app.lock_config()?;
        let mut config = self.app.load_config()?;
        if config
            .remotes
            .get(name)
            .is_some_and(|r| r.accounts.is_empty())
        {
            config.remotes.remove(name);
            if config.current_remote.as_deref() == Some(name) {
                config.current_remote = config.remotes.keys().next().cloned();
            }
            self.app.save_config(&config)?;
        }
        Ok(())
    }
}
