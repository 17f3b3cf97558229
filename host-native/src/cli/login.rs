//! `login`: a device code, the browser (falling back to the device login), or an API key

use super::*;

impl Ctx<'_> {
    pub(super) fn ask_method(&self) -> Result<Method, CliError> {
        let menu = self.app.product().login_menu;
        if !menu.intro.is_empty() {
            eprintln!("{}", menu.intro);
        }
        eprintln!("{}", menu.question);
        for (i, (_, wording)) in menu.choices.iter().enumerate() {
            eprintln!("  {}) {wording}", i + 1);
        }
        let numbers: Vec<String> = (1..=menu.choices.len()).map(|i| i.to_string()).collect();
        let numbers = match numbers.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => return Err(CliError::Other("the login menu has no choices".into())),
        };
        loop {
            let answer = self.ask_line(&format!("Choose {numbers} [{}]: ", menu.default + 1))?;
            let index = if answer.is_empty() {
                Some(menu.default)
            } else {
                answer.parse::<usize>().ok().and_then(|i| i.checked_sub(1))
            };
            match index.and_then(|i| menu.choices.get(i)) {
                Some((LoginMethod::Device, _)) => return Ok(Method::Device),
                Some((LoginMethod::Browser, _)) => return Ok(Method::Browser),
                Some((LoginMethod::ApiKey, _)) => {
                    let key = rpassword::prompt_password(menu.key_prompt)
                        .map_err(|e| CliError::Other(format!("cannot read the key: {e}")))?;
                    return non_empty_secret(key, "the API key prompt").map(Method::ApiKey);
                }
                None => eprintln!("Please answer {numbers}."),
            }
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
        let spec = remote.spec(&name, &a.scopes);
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
            Method::ApiKey(key) => engine.login_api_key(&spec, key)?,
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
        self.remember_login(&name, &outcome)?;
        let messages = &self.app.product().messages;
        let saved = match (&outcome.auth_type, engine.store_source()) {
            (_, Some(Source::Keyring)) => messages.saved_to_keyring,
            _ => messages.saved_to_file,
        };
        self.report(
            &json!({
                "event": "login",
                "remote": outcome.remote,
                "account": outcome.account,
                "auth_type": outcome.auth_type.as_str(),
            }),
            &self.message(
                self.app.product().messages.logged_in,
                &[
                    ("remote", &safe(&outcome.remote)),
                    ("account", &self.out.bold(&outcome.account)),
                    ("auth_type", outcome.auth_type.as_str()),
                    ("saved", saved),
                ],
            ),
        );
        Ok(EXIT_OK)
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
            if r.endpoints.is_none()
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
