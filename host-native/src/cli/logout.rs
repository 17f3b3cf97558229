//! `logout [--all] [ACCOUNT]`: revoke at the provider, clear locally

use super::*;

impl Ctx<'_> {
    /// Says what stays valid at the provider, and why: a logout that revoked nothing must not
    /// read as if it had
    fn warn_unrevoked(&self, outcome: &keyhole_core::client::LogoutOutcome) {
        let tokens: Vec<&str> = outcome
            .unrevoked
            .iter()
            .map(String::as_str)
            .filter(|u| *u != "api_key")
            .map(|u| u.strip_suffix("_token").unwrap_or(u))
            .collect();
        if !tokens.is_empty() {
            let why = match &outcome.revocation_error {
                Some(e) => format!("revocation failed: {e}"),
                None => "the provider has no revocation endpoint".to_owned(),
            };
            let (what, verb, rest) = if tokens.len() > 1 {
                ("tokens were", "they stay", "they expire")
            } else {
                ("token was", "it stays", "it expires")
            };
            self.out.warn(&format!(
                "the {} {what} not revoked at the provider ({why}): {verb} valid there until {rest}; the local credentials are cleared",
                tokens.join(" and ")
            ));
        }
        let api_key_kept = self.app.product().messages.api_key_kept;
        if outcome.unrevoked.iter().any(|u| u == "api_key") && !api_key_kept.is_empty() {
            self.out.warn(api_key_kept);
        }
    }

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
            let outcome = engine.logout(&remote.spec(name, &[])?, account)?;
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
            self.warn_unrevoked(&outcome);
            let mut v = json!({
                "remote": outcome.remote,
                "account": outcome.account,
                "revoked": outcome.revoked,
                "unrevoked": outcome.unrevoked,
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
