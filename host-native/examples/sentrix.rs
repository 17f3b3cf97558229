//! `sentrix`: the Sentrix CLI's `auth` group on keyhole (browser OAuth login, `auth test`)
//!
//! Server origin: `SENTRIX_URL=http://127.0.0.1:PORT` replaces `https://api.sentrix.ai` in the
//! built-in remote when it is first created (`auth login`); after that the remote's entry in
//! `~/.config/sentrix/config.toml` is the config, and `auth test --url` overrides it per run.
//!
//! ```text
//! sentrix auth login [--port <port>] [--timeout <seconds>]
//! sentrix auth test [--method <auto|api-key|oauth>] [--url <url>] [--key <key>] [--verbose]
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keyhole_native::product::{
    EnvNames, KeyCheckTemplate, LoginMethod, Messages, Product, RemoteTemplate,
};
use keyhole_native::{AuthArgs, AuthCommand};

static SENTRIX: Product = Product {
    name: "sentrix auth",
    keyring_service: "sentrix",
    config_dir_name: "sentrix",
    env: EnvNames {
        api_key: "SENTRIX_API_KEY",
        no_keyring: "SENTRIX_NO_KEYRING",
        config_dir: "SENTRIX_CONFIG_DIR",
        remote: "SENTRIX_REMOTE",
        token: "SENTRIX_TOKEN",
    },
    remotes: &[RemoteTemplate {
        name: "sentrix",
        issuer: Some("https://api.sentrix.ai"),
        client_id: "sentrix-cli",
        scopes: &["openid", "email", "offline_access"],
        api_url: Some("https://api.sentrix.ai"),
        key_check: Some(KeyCheckTemplate {
            method: "GET",
            url: "https://api.sentrix.ai/api/me",
            header: "authorization",
            scheme: "Bearer",
            identity: &[("email", "/email")],
        }),
        origin_env: Some("SENTRIX_URL"),
        ..RemoteTemplate::EMPTY
    }],
    default_remote: Some("sentrix"),
    default_login: Some(LoginMethod::Browser),
    callback_port: 17483,
    callback_timeout_secs: 120,
    // The page's two, and what its users expect beside them.
    commands: Some(&["login", "test", "status", "logout"]),
    test_url_is_base: true,
    messages: Messages {
        browser_callback: "Waiting for the login callback on {url}; do not open that callback URL directly. Complete the login in the browser window opened by the CLI.",
        ..Messages::KEYHOLE
    },
    ..Product::KEYHOLE
};

/// Sentrix: sign in and verify API authentication and connectivity
#[derive(Parser)]
#[command(name = "sentrix", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Sign in to Sentrix, test authentication, and verify connectivity to the Sentrix API
    Auth(AuthArgs),
}

/// WSL opens a Windows browser through `wslview` (keyhole uses it when present)
fn warn_without_wslview() {
    let wsl = std::env::var_os("WSL_DISTRO_NAME").is_some()
        || std::path::Path::new("/proc/sys/fs/binfmt_misc/WSLInterop").exists();
    let wslview = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("wslview").is_file()));
    if wsl && !wslview {
        eprintln!(
            "On WSL, install wslu and xdg-utils so the CLI can open your Windows browser:\n  sudo apt update\n  sudo apt install -y wslu xdg-utils"
        );
    }
}

fn main() -> ExitCode {
    let Cmd::Auth(auth) = keyhole_native::parse::<Cli>("auth", &SENTRIX).command;
    if let AuthCommand::Login(_) = auth.command {
        warn_without_wslview();
    }
    keyhole_native::run(auth, &SENTRIX)
}
