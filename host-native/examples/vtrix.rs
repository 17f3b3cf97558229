//! `vtrix`: the vtrix.ai CLI with keyhole's `auth` group mounted as `vtrix auth`
//!
//! Server origin: `VTRIX_BASE_URL=http://127.0.0.1:PORT` replaces `https://vtrix.ai` in the
//! built-in remote (an `issuer` or `api_url` key in `~/.config/vtrix/config.yml` does the same).
//! Credentials go to the keychain, or with `VTRIX_NO_KEYCHAIN=1` (or no D-Bus) to
//! `~/.config/vtrix/config.yml` (`Storage::VtrixYaml`).
//!
//! ```text
//! vtrix auth login | set-key <api-key> | status | logout   (and token, exec, git-credential, setup-git)
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keyhole_native::product::{EnvNames, LoginMethod, Messages, Product, RemoteTemplate, Storage};

static VTRIX: Product = Product {
    name: "vtrix auth",
    keyring_service: "vtrix",
    config_dir_name: "vtrix",
    env: EnvNames {
        api_key: "VTRIX_API_KEY",
        no_keyring: "VTRIX_NO_KEYCHAIN",
        config_dir: "VTRIX_CONFIG_DIR",
        remote: "VTRIX_REMOTE",
        token: "VTRIX_TOKEN",
    },
    storage: Storage::VtrixYaml,
    remotes: &[RemoteTemplate {
        name: "vtrix",
        issuer: Some("https://vtrix.ai"),
        client_id: "vtrix-cli",
        scopes: &["openid", "email", "offline_access"],
        api_url: Some("https://vtrix.ai"),
        origin_env: Some("VTRIX_BASE_URL"),
        ..RemoteTemplate::EMPTY
    }],
    default_remote: Some("vtrix"),
    default_login: Some(LoginMethod::Device),
    // The page's four commands, plus the token and its helpers for git and scripts.
    commands: Some(&[
        "login",
        "set-key",
        "status",
        "logout",
        "token",
        "exec",
        "git-credential",
        "setup-git",
    ]),
    messages: Messages {
        device_prompt: Some(
            "┌─────────────────────────────────────────────┐
│                                             │
│   Visit: {url:35}│
│   Code:  {code:35}│
│                                             │
└─────────────────────────────────────────────┘

Waiting for authorization... (opens browser automatically)",
        ),
        logged_in: "Authenticated as {account}\n✓ Credentials saved to {saved}",
        saved_to_keyring: "keychain",
        saved_to_file: "~/.config/vtrix/config.yml",
        key_saved: "API Key updated",
        logged_out: "Credentials cleared",
        // The page: logout "Clear[s] local credentials"; its users know the key stays.
        api_key_kept: "",
        status: Some("● Logged in\n  User:    {account}\n  Expires: {expires_date}"),
        not_logged_in: "○ Not logged in; run `vtrix auth login`",
        ..Messages::KEYHOLE
    },
    ..Product::KEYHOLE
};

/// vtrix: run models on vtrix.ai
#[derive(Parser)]
#[command(name = "vtrix", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Manage authentication with your vtrix.ai account
    Auth(keyhole_native::AuthArgs),
}

fn main() -> ExitCode {
    // The group's help names vtrix's own variables (VTRIX_REMOTE, VTRIX_TOKEN) and commands.
    let cli: Cli = keyhole_native::parse("auth", &VTRIX);
    match cli.command {
        Cmd::Auth(auth) => keyhole_native::run(auth, &VTRIX),
    }
}
