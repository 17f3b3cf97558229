//! The `keyhole` command line, shared by every binary that runs keyhole: the native `keyhole`
//! and `keyhole-wasi` differ only in the [`Engine`] they pass to [`run`]
//!
//! Human text goes to stderr (the results of `status`, `token`, `remote list` and `project` to
//! stdout); with `--json` every event and result is one JSON object per line on stdout and
//! warnings stay on stderr. Exit codes: 0 ok, 1 error, 2 usage, 4 authentication required.
//!
//! | command | `--json` output |
//! | --- | --- |
//! | `login` | `{"event":"prompt","user_code","verification_uri","verification_uri_complete","expires_in"}` (device), `{"event":"open_browser","url"}` (browser with `--no-open`, or a browser that failed), last `{"event":"login","remote","account","auth_type"}` |
//! | `set-key` | `{"event":"set_key","remote","account","auth_type":"api_key"}` |
//! | `status [--all]` | `{"logged_in":true,"remote","remote_url","account","active","auth_type","source","expires_at_ms","expires_at","project"}` or `{"logged_in":false,"remote","account"}` (`account` null unless the remote has it configured; exit 4); an array with `--all` (every account of the `--remote` given, else of every remote) |
//! | `token` | (no JSON) the credential and a newline on stdout |
//! | `logout [--all]` | `{"remote","account","revoked":[…],"cleared":true}` (+ `revocation_error`); an array with `--all` (every account of the `--remote` given, else of every remote) |
//! | `test` | `{"ok":true,"status","elapsed_ms","identity":{…},"auth_type"}`; a failure is the error line plus `status` (null without a response) and `elapsed_ms` (null without a request) |
//! | `remote add/list/use/remove` | `{"event":"remote_added","remote","current"}`, an array of remotes, `{"event":"remote_used"…}`, `{"event":"remote_removed"…}` |
//! | `switch`, `project` | `{"event":"switch","remote","account"}`, `{"remote","account","project"}` |
//! | any failure | `{"event":"error","ok":false,"code","message"}` with `code` an `AuthError` code or `usage`/`error` |
//!
//! Environment (the prefix follows the app name): `KEYHOLE_CONFIG_DIR`, `KEYHOLE_NO_KEYRING`,
//! `KEYHOLE_API_KEY`, `KEYHOLE_REMOTE`; and `BROWSER`, `NO_COLOR`.

mod args;
mod helpers;
mod ui;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

use clap::{CommandFactory, FromArgMatches};
use keyhole_core::client::{
    AuthType, CredentialOptions, DEFAULT_ACCOUNT, LoginOutcome, StatusReport, TestFailure,
    TestOptions,
};
use keyhole_core::{AuthError, Endpoints, Secret};
use serde_json::{Value, json};

use self::args::RemoteAddArgs;
/// The old names of [`AuthArgs`] and [`AuthCommand`]
pub use self::args::{AuthArgs as Cli, AuthCommand as Command};
pub use self::args::{
    AuthArgs, AuthCommand, LoginArgs, RemoteCommand, SetKeyArgs, TestArgs, TestMethodArg,
};
pub use self::ui::{CliFrontend, Out};
use crate::app::App;
use crate::config::{AccountConfig, Config, KeyCheckSettings, RemoteConfig};
use crate::engine::Engine;
use crate::io::unix_now_ms;
use crate::product::{LoginMethod, Product, fill};
use crate::store::Source;

/// Exit code: success
pub const EXIT_OK: u8 = 0;
/// Exit code: an error
pub const EXIT_ERROR: u8 = 1;
/// Exit code: the command line was wrong
pub const EXIT_USAGE: u8 = 2;
/// Exit code: a (new) login is required
pub const EXIT_AUTH: u8 = 4;

/// Why a command failed
#[derive(Debug)]
pub enum CliError {
    /// The command line was wrong (exit 2)
    Usage(String),
    /// An authentication flow failed (exit 4 when a login is needed, else 1)
    Auth(AuthError),
    /// `test` failed; the JSON error also carries the check's HTTP status and time
    Test(TestFailure),
    /// Anything else (exit 1)
    Other(String),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Auth(e) | CliError::Test(TestFailure { error: e, .. }) if e.needs_login() => {
                EXIT_AUTH
            }
            _ => EXIT_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::Auth(e) | CliError::Test(TestFailure { error: e, .. }) => e.code(),
            CliError::Other(_) => "error",
        }
    }

    fn message(&self) -> String {
        match self {
            CliError::Usage(m) | CliError::Other(m) => m.clone(),
            // The core names no commands; the CLI phrases what to run next.
            CliError::Auth(e @ AuthError::NotLoggedIn)
            | CliError::Test(TestFailure {
                error: e @ AuthError::NotLoggedIn,
                ..
            }) => format!("{e}; run `login` or set an API key"),
            CliError::Auth(e) | CliError::Test(TestFailure { error: e, .. }) => e.to_string(),
        }
    }

    /// Fields the JSON error carries besides `code` and `message`
    fn details(&self) -> serde_json::Map<String, Value> {
        let mut details = serde_json::Map::new();
        if let CliError::Test(f) = self {
            details.insert("status".into(), json!(f.status));
            details.insert("elapsed_ms".into(), json!(f.elapsed_ms));
        }
        details
    }
}

impl From<AuthError> for CliError {
    fn from(e: AuthError) -> Self {
        CliError::Auth(e)
    }
}

impl From<crate::config::ConfigError> for CliError {
    fn from(e: crate::config::ConfigError) -> Self {
        CliError::Other(e.to_string())
    }
}

type CliResult = Result<u8, CliError>;

/// Fills in the product's names where the `auth` group's help mentions them (the env variable
/// of `--remote`) and adds its aliases: apply it to the group's `clap::Command` where it is
/// mounted, e.g. `Cli::command().mut_subcommand("auth", |c| customize(c, &PRODUCT))`
pub fn customize(command: clap::Command, product: &Product) -> clap::Command {
    let remote_help = format!(
        "The remote to use (default: the current one, or the only one; env `{}`)",
        product.env.remote
    );
    let all_help = format!(
        "Every account of every remote; with --remote (or `{}`), of that remote only",
        product.env.remote
    );
    let mut command = command
        .mut_arg("remote", |a| a.help(remote_help))
        .mut_subcommand("status", |c| c.mut_arg("all", |a| a.help(all_help.clone())))
        .mut_subcommand("logout", |c| c.mut_arg("all", |a| a.help(all_help)));
    for (name, alias) in product.aliases {
        command = command.mut_subcommand(*name, |c| c.visible_alias(*alias));
    }
    command
}

/// Runs the command line in `args` (program name first) with `engine`: the `auth` group as a
/// whole CLI named after the product (`keyhole login`)
pub fn run<I, T>(engine: &mut dyn Engine, app: &App, args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let product = app.product();
    let command = customize(AuthArgs::command(), product)
        .name(product.name)
        .bin_name(product.name)
        .about("Log in to OAuth/OpenID providers and APIs, and hand out tokens to scripts")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true);
    let args = crate::helpers::args_for_program_name(args.into_iter().map(Into::into).collect());
    let args = match command
        .try_get_matches_from(args)
        .and_then(|m| AuthArgs::from_arg_matches(&m))
    {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    run_parsed(engine, app, args)
}

/// Runs an `auth` group the vendor's own CLI has parsed
pub fn run_parsed(engine: &mut dyn Engine, app: &App, args: AuthArgs) -> ExitCode {
    let out = Out::detect(args.json);
    let interactive = !args.non_interactive && std::io::stdin().is_terminal();
    let mut ctx = Ctx {
        app,
        out,
        interactive,
        creating: matches!(args.command, AuthCommand::Login(_)),
        remote_flag: args
            .remote
            .clone()
            .or_else(|| app.env(app.product().env.remote)),
    };
    match ctx.dispatch(engine, args.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            out.error(e.code(), &e.message(), e.details());
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs the process's own command line
pub fn run_from_env(engine: &mut dyn Engine, app: &App) -> ExitCode {
    run(engine, app, std::env::args_os())
}

struct Ctx<'a> {
    app: &'a App,
    out: Out,
    interactive: bool,
    /// `login` creates a named remote the config lacks from the product's templates
    creating: bool,
    remote_flag: Option<String>,
}

/// The account a command acts on: the active one, else the only one, else `default`
fn current_account(remote: &RemoteConfig) -> String {
    remote
        .active_account
        .clone()
        .filter(|a| remote.accounts.contains_key(a))
        .or_else(|| {
            (remote.accounts.len() == 1)
                .then(|| remote.accounts.keys().next().cloned())
                .flatten()
        })
        .unwrap_or_else(|| DEFAULT_ACCOUNT.to_owned())
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn read_stdin_secret(what: &str) -> Result<Secret, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::Other(format!("cannot read the {what} from stdin: {e}")))?;
    let value = text.trim().to_owned();
    if value.is_empty() {
        return Err(CliError::Usage(format!(
            "standard input held no {what}; pipe it in, e.g. `printf '%s' \"$KEY\" | …`"
        )));
    }
    Ok(Secret::new(value))
}

fn non_empty_secret(value: String, what: &str) -> Result<Secret, CliError> {
    let value = value.trim().to_owned();
    if value.is_empty() {
        return Err(CliError::Usage(format!(
            "{what} got an empty key; run the command again and paste the key"
        )));
    }
    Ok(Secret::new(value))
}

enum Method {
    Device,
    Browser,
    ApiKey(Secret),
}

impl Ctx<'_> {
    fn dispatch(&mut self, engine: &mut dyn Engine, command: AuthCommand) -> CliResult {
        match command {
            AuthCommand::Login(a) => self.login(engine, a),
            AuthCommand::SetKey(a) => self.set_key(engine, a),
            AuthCommand::Status { all } => self.status(engine, all),
            AuthCommand::Token => self.token(engine),
            AuthCommand::Logout { all, account } => self.logout(engine, all, account),
            AuthCommand::Test(a) => self.test(engine, a),
            AuthCommand::Remote(c) => self.remote(engine, c),
            AuthCommand::Switch { account } => self.switch(account),
            AuthCommand::Project { id } => self.project(id),
            AuthCommand::Helper(c) => self.helper(engine, c),
        }
    }

    /// The config, with the product's built-in remotes where it lacks them: the default remote
    /// when none is configured, the named one when it is a template, and (for `login`) any
    /// other named one from the default template
    fn config(&self) -> Result<Config, CliError> {
        let mut config = self.app.load_config()?;
        let product = self.app.product();
        let wanted = match &self.remote_flag {
            Some(name) => Some(name.as_str()),
            None if config.remotes.is_empty() => product.default_remote,
            None => None,
        };
        if let Some(name) = wanted
            && let Some(remote) = self.builtin(name)
        {
            config.remotes.entry(name.to_owned()).or_insert(remote);
            if config.current_remote.is_none() {
                config.current_remote = Some(name.to_owned());
            }
        }
        Ok(config)
    }

    /// The built-in remote `name` would be created as, if any
    fn builtin(&self, name: &str) -> Option<RemoteConfig> {
        let product = self.app.product();
        product
            .template(name)
            .or_else(|| product.default_template().filter(|_| self.creating))
            .map(|t| t.to_config(product))
    }

    /// A success line on stderr, after the product's mark (human mode only)
    fn success(&self, text: &str) {
        let mark = self.app.product().messages.mark;
        if mark.is_empty() {
            self.out.info(text);
        } else {
            self.out.success_with(mark, text);
        }
    }

    /// The outcome of a command: `value` as a JSON line, or the success line
    fn report(&self, value: &Value, human: &str) {
        if self.out.json {
            self.out.json_line(value);
        } else {
            self.success(human);
        }
    }

    /// Fills in a message of the product's catalogue
    fn message(&self, template: &str, values: &[(&str, &str)]) -> String {
        let mut all = vec![("name", self.app.name())];
        all.extend_from_slice(values);
        fill(template, &all)
    }

    /// The selected remote's name and config
    fn remote_of(&self, config: &Config) -> Result<(String, RemoteConfig), CliError> {
        let name = config
            .pick_remote(self.remote_flag.as_deref())
            .map_err(|m| {
                if self.remote_flag.is_none() && config.remotes.len() > 1 {
                    CliError::Usage(m)
                } else {
                    CliError::Other(m)
                }
            })?
            .to_owned();
        let remote = config.remotes[&name].clone();
        Ok((name, remote))
    }

    fn credential_options(&self, remote: &RemoteConfig, account: &str) -> CredentialOptions {
        CredentialOptions {
            prefer: remote
                .accounts
                .get(account)
                .and_then(|a| a.auth_type)
                .unwrap_or(AuthType::Oauth),
            env_api_key: self
                .app
                .env(self.app.product().env.api_key)
                .map(Secret::new),
        }
    }

    /// Reads the config again and applies `change` to the remote, then saves (a login can take
    /// minutes; re-reading keeps what other commands changed meanwhile)
    fn update_remote(
        &self,
        name: &str,
        change: impl FnOnce(&mut RemoteConfig),
    ) -> Result<(), CliError> {
        let _lock = self.app.lock_config()?;
        let mut config = self.app.load_config()?;
        if !config.remotes.contains_key(name)
            && let Some(builtin) = self.builtin(name)
        {
            config.remotes.insert(name.to_owned(), builtin);
            config.current_remote.get_or_insert_with(|| name.to_owned());
        }
        let remote = config.remotes.get_mut(name).ok_or_else(|| {
            CliError::Other(format!(
                "remote `{name}` was removed meanwhile; add it again"
            ))
        })?;
        change(remote);
        Ok(self.app.save_config(&config)?)
    }

    /// Removes the remote once no account is left on it (products whose logout removes it)
    fn remove_if_empty(&self, name: &str) -> Result<(), CliError> {
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

    fn ask_line(&self, question: &str) -> Result<String, CliError> {
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::Other(format!("cannot read the answer: {e}")))?;
        Ok(line.trim().to_owned())
    }

    fn ask_method(&self) -> Result<Method, CliError> {
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

    fn login(&mut self, engine: &mut dyn Engine, a: LoginArgs) -> CliResult {
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
                    ("remote", &outcome.remote),
                    ("account", &self.out.bold(&outcome.account)),
                    ("auth_type", outcome.auth_type.as_str()),
                    ("saved", saved),
                ],
            ),
        );
        Ok(EXIT_OK)
    }

    fn remember_login(&self, name: &str, outcome: &LoginOutcome) -> Result<(), CliError> {
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

    fn set_key(&mut self, engine: &mut dyn Engine, a: SetKeyArgs) -> CliResult {
        let key = match a.key {
            Some(key) => key,
            None => read_stdin_secret("API key")?,
        };
        let config = self.config()?;
        let (name, remote) = self.remote_of(&config)?;
        let account = current_account(&remote);
        let outcome = engine.set_key(&remote.spec(&name, &[]), &account, key)?;
        self.remember_login(&name, &outcome)?;
        self.report(&json!({
                "event": "set_key", "remote": outcome.remote, "account": outcome.account, "auth_type": "api_key",
            }), &self.message(
                self.app.product().messages.key_saved,
                &[("remote", &outcome.remote), ("account", &outcome.account)],
            ));
        Ok(EXIT_OK)
    }

    fn status_json(
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
            "source": source.as_str(),
            "location": described.map(|d| d.source_label),
            "expires_at_ms": report.expires_at_ms,
            "expires_at": report.expires_at_ms.map(rfc3339),
            "project": remote.accounts.get(&report.account).and_then(|a| a.project.clone()),
        })
    }

    /// `name (url)`, the first line of a remote's status
    fn remote_heading(&self, name: &str, remote: &RemoteConfig) -> String {
        let url = remote.url().map(|u| format!(" ({u})")).unwrap_or_default();
        format!("{}{url}", self.out.bold(name))
    }

    /// One account's status; `all` lists accounts under a heading per remote (printed by the
    /// caller) and marks the active one of each remote
    fn print_status_human(&self, remote: &RemoteConfig, v: &Value, all: bool) {
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let name = text("remote");
        if v["logged_in"] != json!(true) {
            if all {
                let who = v["account"]
                    .as_str()
                    .map(|a| format!(" as {a}"))
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
                    ("remote_url", &remote.url().unwrap_or_default()),
                    ("account", &text("account")),
                    ("auth_type", &text("auth_type")),
                    (
                        "source",
                        &v["location"]
                            .as_str()
                            .map(str::to_owned)
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
            self.out.result(&format!("  Project: {p}"));
        }
    }

    fn status(&mut self, engine: &mut dyn Engine, all: bool) -> CliResult {
        let config = self.config()?;
        let targets = self.targets(&config, all, true)?;
        let mut results = Vec::new();
        for (name, remote, account) in &targets {
            let options = self.credential_options(remote, account);
            let report = engine.status(&remote.spec(name, &[]), account, &options)?;
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

    /// The (remote, config, account) triples a command acts on: with `all` every account of the
    /// remote named by `--remote`/the environment, or of every remote when none is named (plus
    /// the current account of a remote without any when `with_empty`); else the selected remote's
    /// current account
    fn targets(
        &self,
        config: &Config,
        all: bool,
        with_empty: bool,
    ) -> Result<Vec<(String, RemoteConfig, String)>, CliError> {
        if !all {
            let (name, r) = self.remote_of(config)?;
            let account = current_account(&r);
            return Ok(vec![(name, r, account)]);
        }
        let remotes = match self.remote_flag {
            Some(_) => vec![self.remote_of(config)?],
            None => config
                .remotes
                .iter()
                .map(|(name, r)| (name.clone(), r.clone()))
                .collect(),
        };
        let mut targets = Vec::new();
        for (name, r) in &remotes {
            let mut accounts: Vec<String> = r.accounts.keys().cloned().collect();
            if accounts.is_empty() && with_empty {
                accounts.push(current_account(r));
            }
            for account in accounts {
                targets.push((name.clone(), r.clone(), account));
            }
        }
        Ok(targets)
    }

    /// `--all` prints one JSON array, otherwise the one object
    fn json_results(&self, all: bool, mut results: Vec<Value>) {
        if all || results.len() != 1 {
            self.out.json_line(&Value::Array(results));
        } else {
            self.out.json_line(&results.remove(0));
        }
    }

    fn token(&mut self, engine: &mut dyn Engine) -> CliResult {
        let config = self.config()?;
        let (name, remote) = self.remote_of(&config)?;
        let account = current_account(&remote);
        let options = self.credential_options(&remote, &account);
        let resolved = engine.token(&remote.spec(&name, &[]), &account, &options)?;
        if let Some(w) = &resolved.warning {
            self.out.warn(&format!(
                "the credential works but: {w} (run `{} status` for details)",
                self.app.name()
            ));
        }
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", resolved.secret.expose())
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::Other(format!("cannot write the token: {e}")))?;
        Ok(EXIT_OK)
    }

    fn logout(&mut self, engine: &mut dyn Engine, all: bool, account: Option<String>) -> CliResult {
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
                    format!(" (revoked {})", outcome.revoked.join(", "))
                };
                let line = self.message(
                    self.app.product().messages.logged_out,
                    &[
                        ("remote", &outcome.remote),
                        ("account", &outcome.account),
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

    fn test(&mut self, engine: &mut dyn Engine, a: TestArgs) -> CliResult {
        let config = self.config()?;
        let (name, remote) = self.remote_of(&config)?;
        let account = current_account(&remote);
        let url = match (a.url, &remote.key_check) {
            (Some(base), Some(check)) if self.app.product().test_url_is_base => {
                if url::Url::parse(&base).is_err() {
                    return Err(CliError::Usage(format!(
                        "`{base}` is not a valid URL; give a full URL such as https://api.example.com"
                    )));
                }
                Some(crate::product::with_origin(&check.url, &base))
            }
            (url, _) => url,
        };
        let options = TestOptions {
            method: a.method.into(),
            url,
            key: a.key,
            credential: self.credential_options(&remote, &account),
        };
        let spec = remote.spec(&name, &[]);
        // The core checks with the key check's method, or GET for a bare --url.
        let method = remote
            .key_check
            .as_ref()
            .map_or("GET", |k| k.method.as_str());
        let report = match engine.test(&spec, &account, &options) {
            Ok(report) => report,
            Err(failure) => {
                if a.verbose {
                    eprintln!("{}", verbose_failure(method, &failure));
                }
                return Err(CliError::Test(failure));
            }
        };
        if a.verbose {
            eprintln!(
                "{method} {} -> HTTP {} in {} ms",
                report.url, report.status, report.elapsed_ms
            );
        }
        if self.out.json {
            self.out.json_line(&json!({
                "ok": true,
                "status": report.status,
                "elapsed_ms": report.elapsed_ms,
                "identity": report.identity,
                "auth_type": report.auth_type.as_str(),
            }));
        } else {
            let who = report
                .identity
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let who = if who.is_empty() {
                String::new()
            } else {
                format!(" ({who})")
            };
            self.out.success(&format!(
                "The {} works: HTTP {} in {} ms{who}",
                match report.auth_type {
                    AuthType::ApiKey => "API key",
                    AuthType::Oauth => "OAuth token",
                },
                report.status,
                report.elapsed_ms
            ));
        }
        Ok(EXIT_OK)
    }

    fn remote(&mut self, engine: &mut dyn Engine, c: RemoteCommand) -> CliResult {
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
                let remote = remote_from_args(a)?;
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
                        "Added remote {name}{}",
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
                        self.out
                            .result(&format!("{mark} {name}\t{}", r.url().unwrap_or_default()));
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
                    &format!("Now using remote {name}"),
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
                    &format!("Removed remote {name}"),
                );
            }
        }
        Ok(EXIT_OK)
    }

    fn switch(&mut self, account: Option<String>) -> CliResult {
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
                        "  {}) {a}{}",
                        i + 1,
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
            &format!("Switched to {target} on {name}"),
        );
        Ok(EXIT_OK)
    }

    fn project(&mut self, id: Option<String>) -> CliResult {
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
                    &format!("Active project of {account} on {name}: {id}"),
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
                        self.out.result(&p);
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

/// The product's name of a credential source (`keyring`, `file`, `env`)
fn source_name<'a>(messages: &'a crate::product::Messages, source: &'a str) -> &'a str {
    match source {
        "keyring" => messages.sources[0],
        "file" => messages.sources[1],
        "env" => messages.sources[2],
        other => other,
    }
}

/// The `--verbose` line of a failed `test`: the request and what came back, and when
fn verbose_failure(method: &str, f: &TestFailure) -> String {
    let Some(url) = &f.url else {
        return format!("no request was made ({})", f.error.code());
    };
    match (f.status, f.elapsed_ms) {
        (Some(status), Some(ms)) => format!("{method} {url} -> HTTP {status} in {ms} ms"),
        (None, Some(ms)) => format!(
            "{method} {url} -> no response after {ms} ms ({})",
            f.error.code()
        ),
        (_, None) => format!("{method} {url} -> not sent ({})", f.error.code()),
    }
}

fn remote_from_args(a: RemoteAddArgs) -> Result<RemoteConfig, CliError> {
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
    let explicit = Endpoints {
        issuer: a.issuer.clone(),
        token_endpoint: a.token_endpoint,
        device_authorization_endpoint: a.device_authorization_endpoint,
        authorization_endpoint: a.authorization_endpoint,
        revocation_endpoint: a.revocation_endpoint,
        ..Endpoints::default()
    };
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
        endpoints: explicit.token_endpoint.is_some().then_some(explicit),
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
        ..RemoteConfig::default()
    })
}
