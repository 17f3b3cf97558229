//! `truss`: Baseten's Truss CLI `auth` group on keyhole (API key or browser OAuth, per remote)
//!
//! Server origin: a remote's `remote_url` in `~/.trussrc` (`Storage::TrussRc`), the way Truss
//! users point at another workspace; `BASETEN_REMOTE_URL=http://127.0.0.1:PORT` replaces
//! `https://app.baseten.co` when a remote is created (`truss auth login --remote NAME`).
//!
//! ```text
//! truss auth login [--browser | --api-key TEXT] [--remote NAME]   (alias: truss login)
//! truss auth logout [--remote NAME]
//! truss auth status [--remote NAME]
//! ```

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use keyhole_core::Secret;
use keyhole_native::config::EnvKeyPrecedence;
use keyhole_native::product::{
    EnvNames, KeyCheckTemplate, LoginMenu, LoginMethod, Messages, Product, RemoteTemplate, Storage,
};
use keyhole_native::{AuthArgs, AuthCommand, cli::LoginArgs};

static TRUSS: Product = Product {
    name: "truss",
    keyring_service: "baseten-truss",
    config_dir_name: "truss",
    env: EnvNames {
        api_key: "BASETEN_API_KEY",
        no_keyring: "BASETEN_TRUSS_AUTH_KEYRING_DISABLED",
        config_dir: "TRUSS_CONFIG_DIR",
        remote: "TRUSS_REMOTE",
        token: "TRUSS_TOKEN",
    },
    env_key_precedence: EnvKeyPrecedence::Fallback,
    storage: Storage::TrussRc,
    remotes: &[RemoteTemplate {
        name: "baseten",
        issuer: Some("https://app.baseten.co"),
        client_id: "truss-cli",
        scopes: &["openid", "email", "offline_access"],
        api_url: Some("https://app.baseten.co"),
        key_check: Some(KeyCheckTemplate {
            method: "GET",
            url: "https://app.baseten.co/api/me",
            header: "authorization",
            scheme: "Api-Key",
            identity: &[("email", "/email")],
        }),
        origin_env: Some("BASETEN_REMOTE_URL"),
        ..RemoteTemplate::EMPTY
    }],
    default_remote: Some("baseten"),
    // The page's three (`truss login` is the vendor's own alias of `truss auth login`).
    commands: Some(&["login", "logout", "status"]),
    logout_removes_remote: true,
    login_menu: LoginMenu {
        intro: "💻 Let's add a Baseten remote!",
        question: "? How would you like to authenticate?",
        choices: &[
            (LoginMethod::ApiKey, "Paste an API key"),
            (LoginMethod::Device, "Log in via browser (OAuth)"),
        ],
        default: 1,
        key_prompt: "? Paste your API key: ",
    },
    messages: Messages {
        mark: "",
        device_prompt: Some(
            "Opening {url_complete} with your code {code} pre-filled; approve the request there.",
        ),
        logged_in: "🔓 Logged in to remote `{remote}`.",
        logged_out: "👋 Logged out of remote `{remote}`.",
        sources: ["keyring", "trussrc-inline", "env"],
        status: Some(
            "remote: {remote}\nremote_url: {remote_url}\nauth_type: {auth_type}\nsource: {source}",
        ),
        no_login_method: "no terminal to ask on; pass --browser or --api-key explicitly",
        not_logged_in: "remote `{remote}` has no credentials; run `truss auth login --remote {remote}`",
        keyring_fallback: "⚠️  No usable keyring ({why}); the credential is written inline to ~/.trussrc. Set BASETEN_TRUSS_AUTH_KEYRING_DISABLED=1 to do this without a warning.",
        several_remotes: "several remotes are configured in ~/.trussrc ({remotes}); pass --remote NAME",
        unknown_remote: "no remote named `{remote}` in ~/.trussrc; add it with `truss auth login --remote {remote}`",
        ..Messages::KEYHOLE
    },
    ..Product::KEYHOLE
};

/// Truss: package and deploy models on Baseten
#[derive(Parser)]
#[command(name = "truss", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Manage authentication with Baseten remotes
    #[command(subcommand)]
    Auth(Auth),
    /// Log in to a Baseten remote (same as `truss auth login`)
    Login(Login),
}

#[derive(Subcommand)]
enum Auth {
    /// Log in to a Baseten remote
    Login(Login),
    /// Log out of a Baseten remote and remove it from ~/.trussrc
    Logout(Remote),
    /// Show the active authentication for a remote
    Status(Remote),
}

#[derive(Args)]
struct Login {
    /// Log in via browser using the OAuth device flow
    #[arg(long, conflicts_with = "api_key")]
    browser: bool,
    /// Authenticate with a Baseten API key
    #[arg(long, value_name = "TEXT")]
    api_key: Option<String>,
    /// Name of the remote to create or update in ~/.trussrc
    #[arg(long, value_name = "TEXT", default_value = "baseten")]
    remote: String,
}

#[derive(Args)]
struct Remote {
    /// Remote name; inferred when only one remote is configured
    #[arg(long, value_name = "TEXT")]
    remote: Option<String>,
}

fn main() -> ExitCode {
    let (remote, command) = match keyhole_native::parse_redacted::<Cli>().command {
        Cmd::Login(l) | Cmd::Auth(Auth::Login(l)) => (
            Some(l.remote),
            AuthCommand::Login(LoginArgs {
                device: l.browser,
                api_key: l.api_key.map(Secret::new),
                ..LoginArgs::default()
            }),
        ),
        Cmd::Auth(Auth::Logout(r)) => (
            r.remote,
            AuthCommand::Logout {
                all: false,
                account: None,
            },
        ),
        Cmd::Auth(Auth::Status(r)) => (r.remote, AuthCommand::Status { all: false }),
    };
    let args = AuthArgs {
        remote,
        json: false,
        non_interactive: false,
        command,
    };
    keyhole_native::run(args, &TRUSS)
}
