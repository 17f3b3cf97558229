//! `projects`: the projects the credential may use, from the remote's API; the active one marked

use super::*;

impl Ctx<'_> {
    pub(super) fn projects(&mut self, engine: &mut dyn Engine) -> CliResult {
        let (called, projects) = self.server_projects(engine)?;
        let config = self.config()?;
        let active = config
            .remotes
            .get(&called.remote)
            .and_then(|r| r.accounts.get(&called.account))
            .and_then(|a| a.project.clone());
        if self.out.json {
            let rows: Vec<Value> = projects
                .iter()
                .map(|p| {
                    json!({
                        "id": p.id,
                        "name": p.name,
                        "active": active.as_deref() == Some(p.id.as_str()),
                    })
                })
                .collect();
            self.out.json_line(&Value::Array(rows));
            return Ok(EXIT_OK);
        }
        if projects.is_empty() {
            self.out.info(&format!(
                "{} has no projects for {} on {}",
                self.app.name(),
                called.account,
                called.remote
            ));
            return Ok(EXIT_OK);
        }
        let width = projects
            .iter()
            .map(|p| p.id.chars().count())
            .max()
            .unwrap_or(0)
            .max(2);
        self.out.result(&format!("  {:<width$}  NAME", "ID"));
        for p in &projects {
            let mark = if active.as_deref() == Some(p.id.as_str()) {
                '*'
            } else {
                ' '
            };
            self.out.result(&format!(
                "{mark} {:<width$}  {}",
                crate::helpers::printable(&p.id),
                crate::helpers::printable(p.name.as_deref().unwrap_or("-"))
            ));
        }
        Ok(EXIT_OK)
    }
}
