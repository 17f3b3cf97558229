//! `vastai`: the Vast.ai CLI's API-key handling on keyhole
//!
//! Server origin: `VAST_URL=http://127.0.0.1:PORT` replaces `https://console.vast.ai` (the
//! vendor's own `--url` default) when the built-in remote is used.
//!
//! ```text
//! vastai set api-key KEY
//! ```
//!
//! `VAST_API_KEY` wins over the stored key. The key file `~/.config/vastai/vast_api_key` (and the
//! legacy `~/.vast_api_key` migration) is `Storage::VastKeyFile`; until it is wired in, the key
//! goes to the keyring or keyhole's file store in `~/.config/vastai`. `show user` and the key
//! commands (`create|show|delete api-key`) need account calls, which keyhole does not have yet.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keyhole_core::Secret;
use keyhole_native::cli::SetKeyArgs;
use keyhole_native::product::{EnvNames, Messages, Product, RemoteTemplate, Storage};
use keyhole_native::{AuthArgs, AuthCommand};

static VASTAI: Product = Product {
    name: "vastai",
    keyring_service: "vastai",
    config_dir_name: "vastai",
    env: EnvNames {
        api_key: "VAST_API_KEY",
        no_keyring: "VAST_NO_KEYRING",
        config_dir: "VAST_CONFIG_DIR",
        remote: "VAST_REMOTE",
        token: "VAST_TOKEN",
    },
    storage: Storage::VastKeyFile,
    remotes: &[RemoteTemplate {
        name: "vast",
        api_url: Some("https://console.vast.ai"),
        origin_env: Some("VAST_URL"),
        ..RemoteTemplate::EMPTY
    }],
    default_remote: Some("vast"),
    messages: Messages {
        mark: "",
        key_saved: "Your api key has been saved.",
        ..Messages::KEYHOLE
    },
    ..Product::KEYHOLE
};

/// Vast.ai: rent GPUs
#[derive(Parser)]
#[command(name = "vastai", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Set a setting
    #[command(subcommand)]
    Set(Set),
}

#[derive(Subcommand)]
enum Set {
    /// Store your API key; all subsequent commands use it
    #[command(name = "api-key")]
    ApiKey {
        /// The key from https://cloud.vast.ai/manage-keys/
        key: String,
    },
}

fn main() -> ExitCode {
    let Cmd::Set(Set::ApiKey { key }) = Cli::parse().command;
    let key = key.trim();
    if key.is_empty() {
        eprintln!("error: the API key is empty; copy it from https://cloud.vast.ai/manage-keys/");
        return ExitCode::from(2);
    }
    let set_key = SetKeyArgs {
        key: Some(Secret::new(key.to_owned())),
        stdin: false,
    };
    let args = AuthArgs {
        remote: None,
        json: false,
        non_interactive: true,
        command: AuthCommand::SetKey(set_key),
    };
    keyhole_native::run(args, &VASTAI)
}
