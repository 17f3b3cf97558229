//! `remote add|list|use|remove`

use super::*;

impl Ctx<'_> {
    pub(super) fn remote(&mut self, engine: &mut dyn Engine, c: RemoteCommand) -> CliResult {
        let _lock = self.app.lock_config()?;
        let mut config = self.config()?;
        match c {
            RemoteCommand::Add(a) => {
                let name = a.name.clone();
                if config.remotes.contains_key(&name) {
                    return Err(CliError::Other(format!(
                        "a remote named `{name}` exists; remove it first with `remote remove {name}`"
                    )));
                }
                let remote = RemoteConfig {
                    api_key_fallback: self.app.product().api_key_fallback,
                    account_label: self.app.product().account_label_config(),
                    ..remote_from_args(a)?
                };
                config.remotes.insert(name.clone(), remote);
                let current = config.current_remote.is_none();
                if current {
                    config.current_remote = Some(name.clone());
                }
                self.app.save_config(&config)?;
                if self.out.json {
                    self.out.json_line(
                        &json!({"event": "remote_added", "remote": name, "current": current}),
                    );
                } else {
                    self.out.success(&format!(
                        "Added remote {}{}",
                        safe(&name),
                        if current { " (current)" } else { "" }
                    ));
                }
            }
            RemoteCommand::List => {
                let current = config.current_remote.clone();
                let list: Vec<Value> = config
                    .remotes
                    .iter()
                    .map(|(name, r)| {
                        json!({
                            "name": name,
                            "current": current.as_deref() == Some(name.as_str()),
                            "issuer": r.issuer,
                            "api_url": r.api_url,
                            "client_id": r.client_id,
                            "accounts": r.accounts.keys().collect::<Vec<_>>(),
                            "active_account": r.active_account,
                        })
                    })
                    .collect();
                if self.out.json {
                    self.out.json_line(&Value::Array(list));
                } else if list.is_empty() {
                    self.out.info(
                        "No remotes; add one with `remote add NAME --issuer URL --client-id ID`.",
                    );
                } else {
                    for (name, r) in &config.remotes {
                        let mark = if current.as_deref() == Some(name.as_str()) {
                            "*"
                        } else {
                            " "
                        };
                        self.out.result(&format!(
                            "{mark} {}\t{}",
                            safe(name),
                            safe(&r.url().unwrap_or_default())
                        ));
                    }
                }
            }
            RemoteCommand::Use { name } => {
                if !config.remotes.contains_key(&name) {
                    return Err(CliError::Other(format!(
                        "no remote named `{name}`; `remote list` shows them"
                    )));
                }
                config.current_remote = Some(name.clone());
                self.app.save_config(&config)?;
                self.out.report(
                    &json!({"event": "remote_used", "remote": name}),
                    &format!("Now using remote {}", safe(&name)),
                );
            }
            RemoteCommand::Remove { name } => {
                let Some(removed) = config.remotes.remove(&name) else {
                    return Err(CliError::Other(format!(
                        "no remote named `{name}`; `remote list` shows them"
                    )));
                };
                // Local credentials go with the remote (no revocation: use `logout` for that).
                for account in removed.accounts.keys() {
                    let _ = engine.forget(&removed.spec(&name, &[]), account);
                }
                if config.current_remote.as_deref() == Some(name.as_str()) {
                    config.current_remote = config.remotes.keys().next().cloned();
                }
                self.app.save_config(&config)?;
                self.out.report(
                    &json!({"event": "remote_removed", "remote": name}),
                    &format!("Removed remote {}", safe(&name)),
                );
            }
        }
        Ok(EXIT_OK)
    }
}

pub(super) fn remote_from_args(a: RemoteAddArgs) -> Result<RemoteConfig, CliError> {
    let mut identity = BTreeMap::new();
    for pair in &a.key_check_identity {
        let Some((name, pointer)) = pair.split_once('=') else {
            return Err(CliError::Usage(format!(
                "--key-check-identity expects NAME=/json/pointer, got `{pair}`"
            )));
        };
        if name.is_empty() || !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(CliError::Usage(format!(
                "--key-check-identity expects NAME=/json/pointer, got `{pair}`"
            )));
        }
        identity.insert(name.to_owned(), pointer.to_owned());
    }
    // Checked here, not at first login: an endpoint keyhole will refuse to call must not be
    // stored as if it worked.
    for (flag, url) in [
        ("--token-endpoint", &a.token_endpoint),
        (
            "--device-authorization-endpoint",
            &a.device_authorization_endpoint,
        ),
        ("--authorization-endpoint", &a.authorization_endpoint),
        ("--revocation-endpoint", &a.revocation_endpoint),
    ] {
        if let Some(url) = url
            && let Err(e) = keyhole_core::endpoint::check_endpoint(url)
        {
            return Err(CliError::Usage(format!("{flag}: {e}")));
        }
    }
    let explicit = crate::config::explicit_endpoints(
        a.token_endpoint,
        a.device_authorization_endpoint,
        a.authorization_endpoint,
        a.revocation_endpoint,
    );
    for url in [
        a.issuer.as_ref(),
        a.api_url.as_ref(),
        a.key_check_url.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        if url::Url::parse(url).is_err() {
            return Err(CliError::Usage(format!(
                "`{url}` is not a valid URL; give a full URL such as https://id.example.com"
            )));
        }
    }
    Ok(RemoteConfig {
        issuer: a.issuer,
        endpoints: explicit,
        client_id: a.client_id,
        scopes: a.scopes,
        api_url: a.api_url,
        key_check: a.key_check_url.map(|url| KeyCheckSettings {
            method: a.key_check_method.to_ascii_uppercase(),
            url,
            header: a.key_check_header.to_ascii_lowercase(),
            scheme: a.key_check_scheme,
            identity,
        }),
        env_key_precedence: a.env_key_precedence,
        callback_port: a.port,
        callback_timeout_s: a.timeout,
        ..RemoteConfig::default()
    })
}
