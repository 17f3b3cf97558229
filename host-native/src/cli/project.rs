//! `project [ID]`: show or set the active project of the active account

use super::*;

impl Ctx<'_> {
    pub(super) fn project(&mut self, id: Option<String>) -> CliResult {
        let config = self.config()?;
        let (name, remote) = self.remote_of(&config)?;
        let account = current_account(&remote);
        match id {
            Some(id) => {
                if !remote.accounts.contains_key(&account) {
                    return Err(AuthError::NotLoggedIn.into());
                }
                self.update_remote(&name, |r| {
                    r.accounts.entry(account.clone()).or_default().project = Some(id.clone());
                })?;
                self.out.report(
                    &json!({"remote": name, "account": account, "project": id}),
                    &format!(
                        "Active project of {} on {}: {}",
                        safe(&account),
                        safe(&name),
                        safe(&id)
                    ),
                );
                Ok(EXIT_OK)
            }
            None => {
                let project = remote
                    .accounts
                    .get(&account)
                    .and_then(|a| a.project.clone());
                if self.out.json {
                    self.out.json_line(
                        &json!({"remote": name, "account": account, "project": project}),
                    );
                    return Ok(EXIT_OK);
                }
                match project {
                    Some(p) => {
                        self.out.result(&safe(&p));
                        Ok(EXIT_OK)
                    }
                    None => Err(CliError::Other(format!(
                        "no active project for {account} on {name}; set one with `project ID`"
                    ))),
                }
            }
        }
    }
}
