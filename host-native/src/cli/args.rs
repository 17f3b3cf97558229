//! The command line, as clap parses it

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use keyhole_core::Secret;
use keyhole_core::client::TestMethod;

use crate::config::EnvKeyPrecedence;

/// The `auth` command group with its global options: a vendor mounts it as
/// `Auth(keyhole_native::AuthArgs)` in its own `#[derive(Subcommand)]` enum (the derive gives
/// both `Args` and `Parser`), and `keyhole` parses it as its whole command line
// The doc comment is for Rust readers; users see the about below (or the vendor's).
#[derive(Debug, Parser)]
#[command(
    arg_required_else_help = true,
    about = "Log in, check and hand out credentials",
    long_about = None
)]
pub struct AuthArgs {
    /// The remote to use (default: the current one, or the only one)
    #[arg(long, global = true, value_name = "NAME")]
    pub remote: Option<String>,
    /// Machine-readable output: one JSON object per line on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// Never prompt (implied when stdin is not a terminal)
    #[arg(long, global = true)]
    pub non_interactive: bool,
    /// What to do
    #[command(subcommand)]
    pub command: AuthCommand,
}

/// A key given on the command line, kept as a [`Secret`] from the start; empty is refused
fn secret_arg(value: &str) -> Result<Secret, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("the key is empty".into());
    }
    Ok(Secret::new(value.to_owned()))
}

/// The commands of the `auth` group
#[allow(clippy::large_enum_variant)] // parsed once per process
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Log in with a device code, the browser, or an API key
    Login(LoginArgs),
    /// Replace the API key of the active account (OAuth tokens stay)
    SetKey(SetKeyArgs),
    /// Show who is logged in where
    Status {
        /// Every account of every remote; with --remote (or `KEYHOLE_REMOTE`), of that remote only
        #[arg(long)]
        all: bool,
    },
    /// Print a usable credential (refreshed if needed), for `Authorization: Bearer $(… token)`
    Token,
    /// Revoke the tokens at the provider and remove the local credentials
    Logout {
        /// Every account of every remote; with --remote (or `KEYHOLE_REMOTE`), of that remote only
        #[arg(long, conflicts_with = "account")]
        all: bool,
        /// The account to log out (default: the active one)
        account: Option<String>,
    },
    /// Check that the credentials work against the remote's API
    Test(TestArgs),
    /// Manage remotes (providers and APIs)
    #[command(subcommand)]
    Remote(RemoteCommand),
    /// Make another logged-in account the active one
    Switch {
        /// The account (asked for, or the other one of two, when not given)
        account: Option<String>,
    },
    /// Show or set the active project of the active account
    Project {
        /// The project to make active
        id: Option<String>,
        /// Use the server's projects: check ID against them, or pick one (asked on a terminal)
        #[arg(long)]
        server: bool,
    },
    /// Show who the credential belongs to, as the remote's API answers (JSON, numbers kept)
    Whoami,
    /// List the projects the credential may use; the active one is marked with *
    Projects,
    /// Create, list, show and delete the account's API keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Credential helpers for git, docker, kubectl and Terraform, and `exec`
    #[command(flatten)]
    Helper(super::helpers::HelperCommand),
}

impl AuthCommand {
    /// The command's name as typed (`set-key`), as [`crate::Product::commands`] lists it
    pub fn name(&self) -> &'static str {
        match self {
            AuthCommand::Login(_) => "login",
            AuthCommand::SetKey(_) => "set-key",
            AuthCommand::Status { .. } => "status",
            AuthCommand::Token => "token",
            AuthCommand::Logout { .. } => "logout",
            AuthCommand::Test(_) => "test",
            AuthCommand::Remote(_) => "remote",
            AuthCommand::Switch { .. } => "switch",
            AuthCommand::Project { .. } => "project",
            AuthCommand::Whoami => "whoami",
            AuthCommand::Projects => "projects",
            AuthCommand::Keys(_) => "keys",
            AuthCommand::Helper(h) => h.name(),
        }
    }
}

/// `keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key; it is printed once and cannot be shown again
    Create(KeyCreateArgs),
    /// List the account's API keys (without their secrets)
    List,
    /// Show one API key
    Show {
        /// The key's id
        id: String,
    },
    /// Delete an API key; it stops working at once
    Delete {
        /// The key's id
        id: String,
    },
}

/// `keys create`
#[derive(Debug, Args)]
pub struct KeyCreateArgs {
    /// A name for the key
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// A JSON file with the key's permissions (checked before anything is sent)
    #[arg(long, value_name = "FILE", visible_alias = "permission_file")]
    pub permission_file: Option<std::path::PathBuf>,
    /// Also store the new key as the active account's API key
    #[arg(long)]
    pub save: bool,
}

/// `login` (`Default`: no flag given, so a vendor's own flags can build one)
#[derive(Debug, Default, Args)]
#[command(group(ArgGroup::new("method").args(["device", "browser", "api_key", "api_key_stdin"])))]
pub struct LoginArgs {
    /// Log in with a one-time code entered in a browser anywhere (RFC 8628)
    #[arg(long)]
    pub device: bool,
    /// Log in through this machine's browser (authorization code + PKCE)
    #[arg(long)]
    pub browser: bool,
    /// Log in with an API key (prefer --api-key-stdin: arguments are visible to other users)
    #[arg(long, value_name = "KEY", value_parser = secret_arg)]
    pub api_key: Option<Secret>,
    /// Read the API key from standard input
    #[arg(long)]
    pub api_key_stdin: bool,
    /// Browser login: the loopback port to listen on (default: the remote's, else the product's)
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// Browser login: seconds to wait for the callback (default: the remote's, else the
    /// product's: 300 for keyhole)
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Do not open a browser; print the URL instead
    #[arg(long)]
    pub no_open: bool,
    /// Device login: also print a QR code of the verification URL
    #[arg(long)]
    pub qr: bool,
    /// Ask for this scope too (repeatable)
    #[arg(long = "scope", value_name = "S")]
    pub scopes: Vec<String>,
    /// The project to make active, checked against the server's list where the product
    /// chooses one at login
    #[arg(long = "project", value_name = "ID")]
    pub project: Option<String>,
}

/// `set-key`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").args(["key", "stdin"]).required(true)))]
pub struct SetKeyArgs {
    /// The new API key (prefer --stdin: arguments are visible to other users)
    #[arg(value_parser = secret_arg)]
    pub key: Option<Secret>,
    /// Read the key from standard input
    #[arg(long)]
    pub stdin: bool,
}

/// Which credential `test` checks
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TestMethodArg {
    /// The one `token` would print
    Auto,
    /// The API key
    ApiKey,
    /// The OAuth access token
    Oauth,
}

impl From<TestMethodArg> for TestMethod {
    fn from(m: TestMethodArg) -> Self {
        match m {
            TestMethodArg::Auto => TestMethod::Auto,
            TestMethodArg::ApiKey => TestMethod::ApiKey,
            TestMethodArg::Oauth => TestMethod::Oauth,
        }
    }
}

/// `test`
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Which credential to check
    #[arg(long, value_enum, default_value = "auto")]
    pub method: TestMethodArg,
    /// Call this URL instead of the remote's key-check URL
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Check this key instead of the stored credential (prefer --key-stdin: arguments are
    /// visible to other users and kept in shell history)
    #[arg(long, value_name = "KEY", value_parser = secret_arg, conflicts_with = "key_stdin")]
    pub key: Option<Secret>,
    /// Read the key to check from standard input
    #[arg(long)]
    pub key_stdin: bool,
    /// Print the request URL and the response time to stderr
    #[arg(long)]
    pub verbose: bool,
}

/// `remote …`
#[allow(clippy::large_enum_variant)] // parsed once per process
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a remote; the first one added becomes the current one
    Add(RemoteAddArgs),
    /// List the remotes
    List,
    /// Make a remote the current one
    Use {
        /// The remote
        name: String,
    },
    /// Remove a remote and its local credentials
    Remove {
        /// The remote
        name: String,
    },
}

/// `remote add`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("provider").args(["issuer", "token_endpoint"]).multiple(true).required(true)))]
pub struct RemoteAddArgs {
    /// A name for the remote
    pub name: String,
    /// The OpenID issuer URL (endpoints are discovered from it)
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// The OAuth client id registered for this CLI
    #[arg(long, value_name = "ID", default_value = "")]
    pub client_id: String,
    /// A scope to ask for at login (repeatable)
    #[arg(long = "scope", value_name = "S")]
    pub scopes: Vec<String>,
    /// The API these credentials are for
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Validate API keys with a request to this URL
    #[arg(long, value_name = "URL")]
    pub key_check_url: Option<String>,
    /// The key check's HTTP method
    #[arg(
        long,
        value_name = "METHOD",
        default_value = "GET",
        requires = "key_check_url"
    )]
    pub key_check_method: String,
    /// The header carrying the key
    #[arg(
        long,
        value_name = "H",
        default_value = "authorization",
        requires = "key_check_url"
    )]
    pub key_check_header: String,
    /// The scheme before the key (`Bearer`, `Api-Key`; empty for the raw key)
    #[arg(
        long,
        value_name = "S",
        default_value = "Bearer",
        requires = "key_check_url"
    )]
    pub key_check_scheme: String,
    /// An identity field of the key check's JSON answer: NAME=/json/pointer (repeatable)
    #[arg(long, value_name = "NAME=/pointer", requires = "key_check_url")]
    pub key_check_identity: Vec<String>,
    /// Whether `KEYHOLE_API_KEY` overrides stored credentials or is a fallback
    #[arg(long, value_enum, default_value = "override")]
    pub env_key_precedence: EnvKeyPrecedence,
    /// The default loopback port of browser login
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// The default seconds browser login waits for the callback
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Explicit token endpoint (instead of, or on top of, discovery)
    #[arg(long, value_name = "URL")]
    pub token_endpoint: Option<String>,
    /// Explicit device authorization endpoint
    #[arg(long, value_name = "URL")]
    pub device_authorization_endpoint: Option<String>,
    /// Explicit authorization endpoint (browser login)
    #[arg(long, value_name = "URL")]
    pub authorization_endpoint: Option<String>,
    /// Explicit revocation endpoint
    #[arg(long, value_name = "URL")]
    pub revocation_endpoint: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::AuthArgs;

    /// One command line per `auth` command; `name()` must give back what was typed
    const SAMPLES: &[&[&str]] = &[
        &["login"],
        &["set-key", "k"],
        &["status"],
        &["token"],
        &["logout"],
        &["test"],
        &["remote", "list"],
        &["switch"],
        &["project"],
        &["whoami"],
        &["projects"],
        &["keys", "list"],
        &["git-credential", "get"],
        &["setup-git"],
        &["docker-credential", "get"],
        &["configure-docker", "r.example"],
        &["kube-credential"],
        &["terraform-credential", "get", "h.example"],
        &["exec", "--", "true"],
    ];

    #[test]
    fn every_command_names_itself_as_typed() {
        for sample in SAMPLES {
            let args =
                AuthArgs::try_parse_from(std::iter::once("keyhole").chain(sample.iter().copied()))
                    .unwrap_or_else(|e| panic!("{sample:?}: {e}"));
            assert_eq!(args.command.name(), sample[0]);
        }
        // A command added to the group without a sample here fails this test.
        let sampled: Vec<&str> = SAMPLES.iter().map(|s| s[0]).collect();
        for command in AuthArgs::command().get_subcommands() {
            assert!(
                sampled.contains(&command.get_name()),
                "no sample for `{}`",
                command.get_name()
            );
        }
    }
}
