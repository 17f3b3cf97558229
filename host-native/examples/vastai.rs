//! `vastai`: the Vast.ai CLI's API-key handling on keyhole
//!
//! Server origin: `VAST_URL=http://127.0.0.1:PORT` replaces `https://console.vast.ai` (the
//! vendor's own `--url` default) when the built-in remote is used.
//!
//! ```text
//! vastai set api-key KEY
//! vastai show user
//! vastai create api-key --name NAME [--permission_file perms.json]
//! vastai show api-keys
//! vastai show api-key ID
//! vastai delete api-key ID
//! ```
//!
//! `VAST_API_KEY` wins over the key file `~/.config/vastai/vast_api_key` (the legacy
//! `~/.vast_api_key` moves there on the next run). `show user` prints the account JSON as the
//! server sent it; the key commands are keyhole's `keys` commands on vast's paths
//! (`/api/v0/users/current/`, `/api/v0/auth/apikeys/[ID/]`). A created key is printed once and
//! not stored: `vastai set api-key` stores one.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use keyhole_core::Secret;
use keyhole_core::http::Method;
use keyhole_native::cli::{KeyCreateArgs, KeysCommand, SetKeyArgs};
use keyhole_native::product::{
    AccountApi, ApiCall, CreateKeyCall, EnvNames, ListCall, Messages, Product, RemoteTemplate,
    Storage, WhoamiCall,
};
use keyhole_native::{AuthArgs, AuthCommand};

const API_KEY: &str = "/api/v0/auth/apikeys/{id}/";
const API_KEYS: &str = "/api/v0/auth/apikeys/";

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
    account_api: AccountApi {
        whoami: Some(WhoamiCall {
            method: Method::Get,
            path: "/api/v0/users/current/",
            label: &["/email", "/username", "/id"],
        }),
        list_projects: None,
        create_key: Some(CreateKeyCall {
            method: Method::Post,
            path: API_KEYS,
            name_field: "name",
            permissions_field: "permissions",
            key_pointer: "/key",
        }),
        list_keys: Some(ListCall {
            method: Method::Get,
            path: API_KEYS,
            list: "/apikeys",
        }),
        show_key: Some(ApiCall {
            method: Method::Get,
            path: API_KEY,
        }),
        delete_key: Some(ApiCall {
            method: Method::Delete,
            path: API_KEY,
        }),
    },
    // What the commands below map to.
    commands: Some(&["set-key", "whoami", "keys"]),
    messages: Messages {
        mark: "",
        key_saved: "Your api key has been saved.",
        login_required: "no API key; run `vastai set api-key KEY` with a key from https://cloud.vast.ai/manage-keys/, or set VAST_API_KEY",
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
    /// Show something
    #[command(subcommand)]
    Show(Show),
    /// Create something
    #[command(subcommand)]
    Create(Create),
    /// Delete something
    #[command(subcommand)]
    Delete(Delete),
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

#[derive(Subcommand)]
enum Show {
    /// Your account: user ID, email, balance (the JSON as the server sends it)
    User,
    /// All API keys on your account
    #[command(name = "api-keys")]
    ApiKeys,
    /// One API key's details
    #[command(name = "api-key")]
    ApiKey {
        /// The key's ID (from `show api-keys`)
        id: String,
    },
}

#[derive(Subcommand)]
enum Create {
    /// Create an API key; the output holds the key, which cannot be retrieved again
    #[command(name = "api-key")]
    ApiKey {
        /// A name for the key
        #[arg(long)]
        name: String,
        /// A JSON permissions file restricting the key
        #[arg(long = "permission_file", value_name = "FILE")]
        permission_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum Delete {
    /// Delete an API key
    #[command(name = "api-key")]
    ApiKey {
        /// The key's ID
        id: String,
    },
}

fn keyhole(command: AuthCommand) -> ExitCode {
    let args = AuthArgs {
        remote: None,
        json: false,
        non_interactive: true,
        command,
    };
    keyhole_native::run(args, &VASTAI)
}

fn main() -> ExitCode {
    let command = match keyhole_native::parse_redacted::<Cli>().command {
        Cmd::Set(Set::ApiKey { key }) => {
            let key = key.trim();
            if key.is_empty() {
                eprintln!(
                    "error: the API key is empty; copy it from https://cloud.vast.ai/manage-keys/"
                );
                return ExitCode::from(2);
            }
            AuthCommand::SetKey(SetKeyArgs {
                key: Some(Secret::new(key.to_owned())),
                stdin: false,
            })
        }
        Cmd::Show(Show::User) => AuthCommand::Whoami,
        Cmd::Show(Show::ApiKeys) => AuthCommand::Keys(KeysCommand::List),
        Cmd::Show(Show::ApiKey { id }) => AuthCommand::Keys(KeysCommand::Show { id }),
        Cmd::Create(Create::ApiKey {
            name,
            permission_file,
        }) => AuthCommand::Keys(KeysCommand::Create(KeyCreateArgs {
            name,
            permission_file,
            save: false,
        })),
        Cmd::Delete(Delete::ApiKey { id }) => AuthCommand::Keys(KeysCommand::Delete { id }),
    };
    keyhole(command)
}
