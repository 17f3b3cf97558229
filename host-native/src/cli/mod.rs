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
//! | `whoami` | `{"remote","account","label","whoami":{…the server's JSON…}}`; human: the server's JSON, indented |
//! | `projects` | an array of `{"id","name","active"}`; human: a table, `*` on the active project |
//! | `keys create` | `{"event":"key_created","remote","name","id","key","saved","answer"}` (the key is shown this once) |
//! | `keys list`, `keys show ID` | the server's array / object as sent |
//! | `keys delete ID` | `{"event":"key_deleted","remote","id"}` |
//! | any failure | `{"event":"error","ok":false,"code","message"}` with `code` an `AuthError` code or `usage`/`error` |
//!
//! Environment (names from the [`Product`]; keyhole's shown): `KEYHOLE_CONFIG_DIR`,
//! `KEYHOLE_NO_KEYRING`, `KEYHOLE_API_KEY`, `KEYHOLE_REMOTE`; and `BROWSER`, `NO_COLOR`.
//!
//! One file per command (gh's `pkg/cmd/auth/<command>`), each an `impl Ctx` with its options
//! struct from `args.rs`; this file holds what they share.

mod account;
mod args;
mod helpers;
mod keys;
mod login;
mod logout;
mod project;
mod projects;
mod remote;
mod set_key;
mod status;
mod switch;
mod test;
mod token;
mod ui;
mod whoami;

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
use keyhole_core::credential::ResolvedCredential;
use keyhole_core::{AuthError, Secret};
use serde_json::{Value, json};

use self::args::RemoteAddArgs;
/// The old names of [`AuthArgs`] and [`AuthCommand`]
pub use self::args::{AuthArgs as Cli, AuthCommand as Command};
pub use self::args::{
    AuthArgs, AuthCommand, KeyCreateArgs, KeysCommand, LoginArgs, RemoteCommand, SetKeyArgs,
    TestArgs, TestMethodArg,
};
pub use self::ui::{CliFrontend, Out};
use crate::app::App;
use crate::config::{AccountConfig, Config, KeyCheckSettings, NoRemote, RemoteConfig};
use crate::engine::Engine;
use crate::io::unix_now_ms;
use crate::product::{LoginMethod, Product, fill};
use crate::store::Source;
use crate::text::terminal_safe as safe;

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

    fn message(&self, product: &Product) -> String {
        match self {
            CliError::Usage(m) | CliError::Other(m) => m.clone(),
            // The core names no commands; the CLI phrases what to run next, in the product's
            // words.
            CliError::Auth(e @ AuthError::NotLoggedIn)
            | CliError::Test(TestFailure {
                error: e @ AuthError::NotLoggedIn,
                ..
            }) => fill(
                product.messages.login_required,
                &[
                    ("error", &e.to_string()),
                    ("name", product.name),
                    ("api_key_env", product.env.api_key),
                ],
            ),
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
        .mut_subcommand("logout", |c| c.mut_arg("all", |a| a.help(all_help)))
        .mut_subcommand("exec", |c| {
            c.about(format!(
                "Run a command with the credential in `{}`; exits with the command's code",
                product.env.token
            ))
        });
    for (name, alias) in product.aliases {
        command = command.mut_subcommand(*name, |c| c.visible_alias(*alias));
    }
    // clap cannot drop a subcommand: one the product lacks is hidden here and refused by
    // `run_parsed`.
    let absent: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .filter(|name| !product.has_command(name))
        .collect();
    for name in absent {
        command = command.mut_subcommand(name, |c| c.hide(true));
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
    let parsed = command
        .try_get_matches_from(&args)
        .and_then(|m| AuthArgs::from_arg_matches(&m));
    match parsed {
        Ok(parsed) => run_parsed(engine, app, parsed),
        Err(e) => ExitCode::from(print_parse_error(&e, &args)),
    }
}

/// Prints a command-line error as clap would, but with every value that may be a secret
/// replaced by `[redacted]`; returns the exit code (0 for `--help` and `--version`)
///
/// clap echoes what it could not parse: `login --api-key --sk-…` reports the key as an
/// unexpected argument. A value is suspect when it follows a flag or word naming a key, token,
/// secret or password (`--api-key V`, `--key=V`, `set-key V`, vast's `set api-key V`).
pub fn print_parse_error(e: &clap::Error, argv: &[OsString]) -> u8 {
    if !e.use_stderr() {
        let _ = e.print();
        return EXIT_OK;
    }
    let mut text = e.render().to_string();
    for value in secret_values(argv) {
        for (from, to) in [
            (format!("'{value}'"), "'[redacted]'".to_owned()),
            (format!("'-- {value}'"), "'-- [redacted]'".to_owned()),
        ] {
            text = text.replace(&from, &to);
        }
    }
    eprint!("{text}");
    EXIT_USAGE
}

/// The command-line values that may be secrets (see [`print_parse_error`])
fn secret_values(argv: &[OsString]) -> Vec<String> {
    let names_a_secret = |word: &str| {
        let word = word.trim_start_matches('-').to_ascii_lowercase();
        ["key", "token", "secret", "password"]
            .iter()
            .any(|s| word.contains(s))
    };
    let words: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut values = Vec::new();
    // argv[0] is the program (`keyhole` names a key too).
    for (i, word) in words.iter().enumerate().skip(1) {
        match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") && names_a_secret(flag) => {
                values.push(value.to_owned());
            }
            _ if names_a_secret(word) => values.extend(words.get(i + 1).cloned()),
            _ => {}
        }
    }
    values.retain(|v| !v.is_empty());
    values
}

/// Runs an `auth` group the vendor's own CLI has parsed
pub fn run_parsed(engine: &mut dyn Engine, app: &App, args: AuthArgs) -> ExitCode {
    let out = Out::detect(args.json);
    let product = app.product();
    if !product.has_command(args.command.name()) {
        let e = CliError::Usage(format!(
            "`{} {}` is not a command here; `{} --help` lists them",
            product.name,
            args.command.name(),
            product.name
        ));
        out.error(e.code(), &e.message(product), e.details());
        return ExitCode::from(e.exit_code());
    }
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
            out.error(e.code(), &e.message(product), e.details());
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
            AuthCommand::Project { id, server } => self.project(engine, id, server),
            AuthCommand::Whoami => self.whoami(engine),
            AuthCommand::Projects => self.projects(engine),
            AuthCommand::Keys(c) => self.keys(engine, c),
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
        let product = self.app.product();
        let name = config
            .pick_remote(self.remote_flag.as_deref())
            .map_err(|why| match why {
                NoRemote::Unknown(remote) => CliError::Other(
                    self.message(product.messages.unknown_remote, &[("remote", &remote)]),
                ),
                NoRemote::NoneConfigured => {
                    CliError::Other(self.message(product.messages.no_remote, &[]))
                }
                NoRemote::Several(names) => CliError::Usage(self.message(
                    product.messages.several_remotes,
                    &[("remotes", &names.join(", "))],
                )),
            })?
            .to_owned();
        let remote = config.remotes[&name].clone();
        Ok((name, remote))
    }

    /// The one stderr line about a credential that works with a caveat: the API key standing in
    /// for a refused OAuth session, or the core's other warnings
    fn warn_credential(&self, resolved: &ResolvedCredential, remote: &str, account: &str) {
        match (&resolved.fallback_reason, &resolved.warning) {
            (Some(reason), _) => self.out.warn(&self.message(
                self.app.product().messages.api_key_fallback,
                &[("account", account), ("remote", remote), ("reason", reason)],
            )),
            (None, Some(w)) => self.out.warn(&format!(
                "the credential works but: {w} (run `{} status` for details)",
                self.app.name()
            )),
            (None, None) => {}
        }
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

    fn ask_line(&self, question: &str) -> Result<String, CliError> {
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::Other(format!("cannot read the answer: {e}")))?;
        Ok(line.trim().to_owned())
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
}
