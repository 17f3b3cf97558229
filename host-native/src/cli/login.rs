//! `login`: a device code, the browser (falling back to the device login), or an API key

use super::*;

impl Ctx<'_> {
    pub(super) fn ask_method(&self) -> Result<Method, CliError> {
        let menu = self.app.product().login_menu;
        if menu.choices.is_empty() {
            return Err(CliError::Other("the login menu has no choices".into()));
        }
        if !menu.intro.is_empty() {
            eprintln!("{}", menu.intro);
        }
        let wordings: Vec<&str> = menu.choices.iter().map(|(_, w)| *w).collect();
        let chosen = ui::select(menu.question, &wordings, menu.default)
            .map_err(|e| CliError::Other(format!("cannot ask how to log in: {e}")))?;
        match chosen.map(|i| menu.choices[i].0) {
            Some(LoginMethod::Device) => Ok(Method::Device),
            Some(LoginMethod::Browser) => Ok(Method::Browser),
            Some(LoginMethod::ApiKey) => {
                let key = rpassword::prompt_password(menu.key_prompt)
                    .map_err(|e| CliError::Other(format!("cannot read the key: {e}")))?;
                non_empty_secret(key, "the API key prompt").map(Method::ApiKey)
            }
            // Esc or q: the user chose nothing.
            None => Err(CliError::Usage(
                "no login method chosen; pass --device, --browser or --api-key-stdin to skip the menu"
                    .into(),
            )),
        }
    }

    pub(super) fn login(&mut self, engine: &mut dyn Engine, a: LoginArgs) -> CliResult {
        let config = self.config()?;
        let (name, remote) = self.remote_of(&config)?;
        let method = if a.device {
            Method::Device
        } else if a.browser {
            Method::Browser
        } else if let Some(key) = a.api_key {
            Method::ApiKey(key)
        } else if a.api_key_stdin {
            Method::ApiKey(read_stdin_secret("API key")?)
        } else if let Some(default) = self.app.product().default_login {
            match default {
                LoginMethod::Device => Method::Device,
                LoginMethod::Browser => Method::Browser,
                LoginMethod::ApiKey => Method::ApiKey(read_stdin_secret("API key")?),
            }
        } else if self.interactive && !self.out.json {
            self.ask_method()?
        } else {
            return Err(CliError::Usage(
                self.app.product().messages.no_login_method.to_owned(),
            ));
        };
        if !matches!(method, Method::ApiKey(_)) && remote.client_id.is_empty() {
            return Err(CliError::Other(format!(
                "remote `{name}` has no OAuth client id; add it again with `remote remove {name}` and `remote add {name} … --client-id ID`, or log in with --api-key"
            )));
        }
        let spec = remote.spec(&name, &a.scopes)?;
        let hint = remote.active_account.clone();
        let device = |engine: &mut dyn Engine| {
            let frontend = ui::CliFrontend::new(
                self.out,
                a.no_open,
                a.qr,
                self.app.product().messages.device_waiting,
            )
            .with_prompt_template(self.app.product().messages.device_prompt);
            engine.login_device(&spec, hint.as_deref(), Box::new(frontend))
        };
        let no_browser = "no browser can be opened here; using the device login instead";
        let outcome = match method {
            // A key whose check names nobody gets the product's next free name, so a second
            // key is a second profile rather than a replacement (llamactl's auto-named
            // profiles); `set_key` checks it the same way.
            Method::ApiKey(key) => match self.unnamed_account(&remote) {
                Some(account) => engine.set_key(&spec, &account, key)?,
                None => engine.login_api_key(&spec, key)?,
            },
            Method::Device => device(engine)?,
            Method::Browser if !a.no_open && !ui::browser_available() => {
                self.out.warn(no_browser);
                device(engine)?
            }
            Method::Browser => {
                let port = a
                    .port
                    .or(remote.callback_port)
                    .unwrap_or(self.app.product().callback_port);
                let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
                    CliError::Other(format!(
                        "cannot listen on 127.0.0.1:{port} for the login callback ({e}); pass another --port"
                    ))
                })?;
                let callback_line = self.app.product().messages.browser_callback;
                if !callback_line.is_empty()
                    && !self.out.json
                    && let Ok(addr) = listener.local_addr()
                {
                    let url = format!("http://127.0.0.1:{}/callback", addr.port());
                    self.out
                        .info(&self.message(callback_line, &[("url", &url)]));
                }
                let frontend = ui::CliFrontend::new(
                    self.out,
                    a.no_open,
                    a.qr,
                    self.app.product().messages.browser_waiting,
                );
                let browser_failed = frontend.browser_failed();
                let ui = Box::new(frontend);
                let timeout = a
                    .timeout
                    .or(remote.callback_timeout_s)
                    .unwrap_or(self.app.product().callback_timeout_secs);
                match engine.login_browser(&spec, hint.as_deref(), listener, timeout, ui) {
                    // The browser command failed: the host gave up waiting at once.
                    Err(AuthError::CallbackTimeout) if browser_failed.load(Ordering::SeqCst) => {
                        self.out.warn(no_browser);
                        device(engine)?
                    }
                    other => other?,
                }
            }
        };
        let new_account = !remote.accounts.contains_key(&outcome.account);
        self.remember_login(&name, &outcome)?;
        // The project is part of the login where the product says so (llamactl): a login
        // whose project choice fails leaves no new profile behind.
        let project = if self.app.product().login_chooses_project {
            let asked = a.project.is_some() || (self.interactive && !self.out.json);
            match self.server_project(engine, &name, &outcome.account, a.project.clone()) {
                Ok(id) => Some(id),
                // Nobody to ask and nothing asked for: the login stands, the choice waits.
                Err(e) if !asked => {
                    self.out.warn(&format!(
                        "{}; choose one with `{} project`",
                        e.message(self.app.product()),
                        self.app.name()
                    ));
                    None
                }
                Err(e) => {
                    if new_account {
                        let spec = remote.spec(&name, &[])?;
                        let _ = engine.forget(&spec, &outcome.account);
                        self.update_remote(&name, |r| {
                            r.accounts.remove(&outcome.account);
                            if r.active_account.as_deref() == Some(outcome.account.as_str()) {
                                r.active_account = remote.active_account.clone();
                            }
                        })?;
                    }
                    return Err(e);
                }
            }
        } else {
            a.project.clone()
        };
        if let Some(id) = &project {
            self.update_remote(&name, |r| {
                r.accounts
                    .entry(outcome.account.clone())
                    .or_default()
                    .project = Some(id.clone());
            })?;
        }
        let messages = &self.app.product().messages;
        let saved = match (&outcome.auth_type, engine.store_source()) {
            (_, Some(Source::Keyring)) => messages.saved_to_keyring,
            _ => messages.saved_to_file,
        };
        let mut event = json!({
            "event": "login",
            "remote": outcome.remote,
            "account": outcome.account,
            "auth_type": outcome.auth_type.as_str(),
        });
        if let Some(id) = &project {
            event["project"] = json!(id);
        }
        self.report(
            &event,
            &self.message(
                self.app.product().messages.logged_in,
                &[
                    ("remote", &safe(&outcome.remote)),
                    ("account", &self.out.bold(&outcome.account)),
                    ("auth_type", outcome.auth_type.as_str()),
                    ("saved", saved),
                    ("project", project.as_deref().unwrap_or("")),
                ],
            ),
        );
        Ok(EXIT_OK)
    }

    /// The name an API-key login gets when its key check reports no identity, from the
    /// product's `unnamed_account` template (`{n}`: the smallest number not yet taken)
    fn unnamed_account(&self, remote: &RemoteConfig) -> Option<String> {
        let template = self.app.product().unnamed_account?;
        let names_someone = remote
            .key_check
            .as_ref()
            .is_some_and(|k| !k.identity.is_empty());
        if names_someone {
            return None;
        }
        (1..)
            .map(|n| fill(template, &[("n", &n.to_string())]))
            .find(|name| !remote.accounts.contains_key(name))
    }

    pub(super) fn remember_login(
        &self,
        name: &str,
        outcome: &LoginOutcome,
    ) -> Result<(), CliError> {
        self.update_remote(name, |r| {
            r.accounts
                .entry(outcome.account.clone())
                .or_insert_with(AccountConfig::default)
                .auth_type = Some(outcome.auth_type);
            r.active_account = Some(outcome.account.clone());
            // With an issuer the endpoints came from discovery (explicit ones laid over them):
            // cached, so that `token` needs no discovery request.
            if r.issuer.is_some()
                && let Some(found) = &outcome.endpoints
            {
                r.discovered = Some(found.clone());
            }
        })
    }
}

pub(super) enum Method {
    Device,
    Browser,
    ApiKey(Secret),
}
