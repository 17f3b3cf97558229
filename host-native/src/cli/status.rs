//! `status [--all]`: who is logged in where

use super::*;

impl Ctx<'_> {
    pub(super) fn status_json(
        &self,
        remote: &RemoteConfig,
        report: &StatusReport,
        source: Option<Source>,
    ) -> Value {
        if !report.logged_in {
            // Only an account this remote knows of; `default` is a placeholder, not an account.
            let account = remote
                .accounts
                .contains_key(&report.account)
                .then_some(&report.account);
            return json!({"logged_in": false, "remote": report.remote, "account": account});
        }
        let source = if report.from_env {
            Source::Env
        } else {
            source.unwrap_or(Source::File)
        };
        // A vendor file can say more than the store: truss's legacy plaintext keys, and where
        // in its file a credential sits (`trussrc-inline`).
        let described = (!report.from_env)
            .then(|| {
                self.app
                    .format()
                    .credential_status(&keyhole_core::record::storage_key(
                        &report.remote,
                        &report.account,
                    ))
                    .ok()
                    .flatten()
            })
            .flatten();
        let auth_type = match described {
            Some(d) => Some(d.auth_type.as_str()),
            None => report.auth_type.map(AuthType::as_str),
        };
        json!({
            "logged_in": true,
            "remote": report.remote,
            "remote_url": remote.url(),
            "account": report.account,
            "active": report.account == current_account(remote),
            "auth_type": auth_type,
            "location": described.map(|d| d.source_label),
            "source": source.as_str(),
            "expires_at_ms": report.expires_at_ms,
            "expires_at": report.expires_at_ms.map(rfc3339),
            "project": remote.accounts.get(&report.account).and_then(|a| a.project.clone()),
        })
    }

    /// `name (url)`, the first line of a remote's status
    pub(super) fn remote_heading(&self, name: &str, remote: &RemoteConfig) -> String {
        let url = remote
            .url()
            .map(|u| format!(" ({})", safe(&u)))
            .unwrap_or_default();
        format!("{}{url}", self.out.bold(name))
    }

    /// One account's status; `all` lists accounts under a heading per remote (printed by the
    /// caller) and marks the active one of each remote
    pub(super) fn print_status_human(&self, remote: &RemoteConfig, v: &Value, all: bool) {
        // Every value here came from a provider, the config file or the store: made safe once.
        let text = |k: &str| safe(v.get(k).and_then(Value::as_str).unwrap_or("")).into_owned();
        let name = text("remote");
        if v["logged_in"] != json!(true) {
            if all {
                let who = v["account"]
                    .as_str()
                    .map(|a| format!(" as {}", safe(a)))
                    .unwrap_or_default();
                self.out.result(&format!(
                    "  Not logged in{who}; run `{} --remote {name} login`",
                    self.app.name()
                ));
            } else {
                self.out.result(&self.message(
                    self.app.product().messages.not_logged_in,
                    &[("remote", &name)],
                ));
            }
            return;
        }
        if !all && let Some(template) = self.app.product().messages.status {
            let date = v["expires_at"]
                .as_str()
                .and_then(|t| t.get(..10))
                .unwrap_or("never");
            let line = self.message(
                template,
                &[
                    ("remote", &name),
                    ("remote_url", &safe(&remote.url().unwrap_or_default())),
                    ("account", &text("account")),
                    ("auth_type", &text("auth_type")),
                    (
                        "source",
                        &v["location"]
                            .as_str()
                            .map(|l| safe(l).into_owned())
                            .unwrap_or_else(|| {
                                source_name(&self.app.product().messages, &text("source"))
                                    .to_owned()
                            }),
                    ),
                    ("expires_date", date),
                    ("project", &text("project")),
                ],
            );
            self.out.result(&line);
            return;
        }
        if !all {
            self.out.result(&self.remote_heading(&name, remote));
        }
        let active = if all && v["active"] == json!(true) {
            " (active)"
        } else {
            ""
        };
        self.out.result(&format!(
            "  Logged in as {} ({}, from {}){active}",
            text("account"),
            text("auth_type"),
            text("source")
        ));
        if let Some(ms) = v["expires_at_ms"].as_u64() {
            let now = unix_now_ms();
            let when = if ms > now {
                format!("in {}", ui::human_duration(ms - now))
            } else {
                "expired; `token` refreshes it".into()
            };
            self.out
                .result(&format!("  Token expires {} ({when})", text("expires_at")));
        }
        if let Some(p) = v["project"].as_str() {
            self.out.result(&format!("  Project: {}", safe(p)));
        }
    }

    pub(super) fn status(&mut self, engine: &mut dyn Engine, all: bool) -> CliResult {
        let config = self.config()?;
        let targets = self.targets(&config, all, true)?;
        let mut results = Vec::new();
        for (name, remote, account) in &targets {
            let options = self.credential_options(remote, account);
            let report = engine.status(&remote.spec(name, &[])?, account, &options)?;
            results.push(self.status_json(remote, &report, engine.store_source()));
        }
        let any_logged_in = results.iter().any(|v| v["logged_in"] == json!(true));
        if self.out.json {
            self.json_results(all, results);
        } else {
            if results.is_empty() {
                self.out
                    .result("no remotes configured; add one with `remote add`");
            }
            let mut heading: Option<&str> = None;
            for ((name, remote, _), v) in targets.iter().zip(&results) {
                if all && heading != Some(name.as_str()) {
                    self.out.result(&self.remote_heading(name, remote));
                    heading = Some(name);
                }
                self.print_status_human(remote, v, all);
            }
        }
        Ok(if any_logged_in { EXIT_OK } else { EXIT_AUTH })
    }
}

/// The product's name of a credential source (`keyring`, `file`, `env`)
pub(super) fn source_name<'a>(messages: &'a crate::product::Messages, source: &'a str) -> &'a str {
    match source {
        "keyring" => messages.sources[0],
        "file" => messages.sources[1],
        "env" => messages.sources[2],
        other => other,
    }
}
