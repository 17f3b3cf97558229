//! `project [ID] [--server]`: show or set the active project of the active account; with
//! `--server`, chosen from (or checked against) the projects the remote's API lists

use super::*;

impl Ctx<'_> {
    pub(super) fn project(
        &mut self,
        engine: &mut dyn Engine,
        id: Option<String>,
        server: bool,
    ) -> CliResult {
        let config = self.config()?;
        let (name, remote) = self.remote_of(&config)?;
        let account = current_account(&remote);
        // A server that needs no credential has no one to list projects for: the id is taken
        // as typed (asked for on a terminal).
        let open = !remote.requires_auth;
        let id = if server && open {
            match id {
                Some(id) => Some(id),
                None if self.interactive && !self.out.json => {
                    let typed = self.ask_line("Project ID: ")?;
                    Some(typed).filter(|t| !t.is_empty())
                }
                None => {
                    return Err(CliError::Usage(format!(
                        "{name} needs no login, so there is no project list to choose from; name the project: `project ID`"
                    )));
                }
            }
        } else if server {
            if !remote.accounts.contains_key(&account) {
                return Err(AuthError::NotLoggedIn.into());
            }
            Some(self.server_project(engine, &name, &account, id)?)
        } else {
            id
        };
        match id {
            Some(id) => {
                if !open && !remote.accounts.contains_key(&account) {
                    return Err(AuthError::NotLoggedIn.into());
                }
                self.update_remote(&name, |r| {
                    r.accounts.entry(account.clone()).or_default().project = Some(id.clone());
                    if open {
                        r.active_account.get_or_insert_with(|| account.clone());
                    }
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

impl Ctx<'_> {
    /// `wanted` checked against the server's projects, or one of them picked: the only one, or
    /// the one chosen on a terminal
    pub(super) fn server_project(
        &self,
        engine: &mut dyn Engine,
        remote: &str,
        account: &str,
        wanted: Option<String>,
    ) -> Result<String, CliError> {
        let (_, projects) = self.server_projects(engine)?;
        let ids = || {
            projects
                .iter()
                .map(|p| crate::helpers::printable(&p.id))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if projects.is_empty() {
            return Err(CliError::Other(format!(
                "{account} has no projects on {remote}; create one with the vendor first"
            )));
        }
        if let Some(wanted) = wanted {
            return if projects.iter().any(|p| p.id == wanted) {
                Ok(wanted)
            } else {
                Err(CliError::Other(format!(
                    "{account} has no project `{}` on {remote}; the projects are: {}",
                    crate::helpers::printable(&wanted),
                    ids()
                )))
            };
        }
        if let [only] = projects.as_slice() {
            return Ok(only.id.clone());
        }
        let items: Vec<String> = projects
            .iter()
            .map(|p| match &p.name {
                Some(n) => format!(
                    "{} ({})",
                    crate::helpers::printable(n),
                    crate::helpers::printable(&p.id)
                ),
                None => crate::helpers::printable(&p.id),
            })
            .collect();
        match self.choose("Choose a project", &items)? {
            Some(i) => Ok(projects[i].id.clone()),
            None => Err(CliError::Usage(format!(
                "{account} has several projects on {remote}; name one: {}",
                ids()
            ))),
        }
    }
}
