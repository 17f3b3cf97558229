//! `llamactl`: LlamaCloud's `auth` group on keyhole: environments (keyhole remotes) holding login
//! profiles (keyhole accounts), each profile with an active project
//!
//! Server origin: `llamactl auth env add NAME URL` adds an environment at URL (the vendor's own
//! way); the built-in `llamacloud` environment is at `LLAMACTL_API_URL` when set.
//!
//! Projects come from the server (`GET /api/v1/projects`, keyhole's `project --server`): `auth
//! token` asks for the key (masked), validates it by listing projects and lets you choose one;
//! `auth login` chooses after the device flow; `auth project` without an id chooses from the list.
//! Without a terminal (or with `--no-interactive`) `auth token` needs `--api-key` and
//! `--project-id`, and the id must be one of the key's projects. Each key is an auto-named
//! profile (`profile-1`, …). An environment added with `--no-auth` (a self-hosted server that
//! needs no login) takes `auth project ID` as typed.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use keyhole_core::Secret;
use keyhole_core::http::Method;
use keyhole_native::cli::LoginArgs;
use keyhole_native::product::{
    AccountApi, EnvNames, KeyCheckTemplate, LoginMethod, Messages, Product, ProjectsCall,
    RemoteTemplate,
};
use keyhole_native::{App, AuthArgs, AuthCommand};

static LLAMACLOUD: RemoteTemplate = RemoteTemplate {
    name: "llamacloud",
    issuer: Some("https://api.cloud.llamaindex.ai"),
    client_id: "llamactl-cli",
    scopes: &["openid", "email", "offline_access"],
    api_url: Some("https://api.cloud.llamaindex.ai"),
    // A key is valid when it may list the projects.
    key_check: Some(KeyCheckTemplate {
        method: "GET",
        url: "https://api.cloud.llamaindex.ai/api/v1/projects",
        header: "authorization",
        scheme: "Bearer",
        identity: &[],
    }),
    origin_env: Some("LLAMACTL_API_URL"),
    ..RemoteTemplate::EMPTY
};

static LLAMACTL: Product = Product {
    name: "llamactl auth",
    keyring_service: "llamactl",
    config_dir_name: "llamactl",
    env: EnvNames {
        api_key: "LLAMA_CLOUD_API_KEY",
        no_keyring: "LLAMACTL_NO_KEYRING",
        config_dir: "LLAMACTL_CONFIG_DIR",
        remote: "LLAMACTL_ENV",
        token: "LLAMACTL_TOKEN",
    },
    remotes: &[LLAMACLOUD],
    default_remote: Some("llamacloud"),
    default_login: Some(LoginMethod::Device),
    logout_clears_selection: true,
    // `auth token` "creates an auto-named profile": the key check (listing projects) names nobody.
    unnamed_account: Some("profile-{n}"),
    // `auth token` and `auth login` end with a project choice from the server.
    login_chooses_project: true,
    // What the commands below map to (`auth token` is an API-key login).
    commands: Some(&["login", "logout", "switch", "project"]),
    account_api: AccountApi {
        list_projects: Some(ProjectsCall {
            method: Method::Get,
            path: "/api/v1/projects",
            list: "",
            id_field: "id",
            name_field: "name",
        }),
        ..AccountApi::NONE
    },
    messages: Messages {
        logged_in: "Logged in as {account}; profile {account} is now current",
        key_saved: "Saved the API key of profile {account}",
        logged_out: "Deleted profile {account}{revoked}",
        not_logged_in: "No profile is logged in; run `llamactl auth login`",
        ..Messages::KEYHOLE
    },
    ..Product::KEYHOLE
};

/// llamactl: manage LlamaCloud deployments
#[derive(Parser)]
#[command(name = "llamactl", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Authenticate and manage profiles for the current environment
    #[command(subcommand)]
    Auth(Auth),
}

#[derive(Args, Clone, Copy)]
struct Interactive {
    /// Prompt when something is missing (default on a terminal)
    #[arg(long, overrides_with = "no_interactive")]
    interactive: bool,
    /// Never prompt
    #[arg(long)]
    no_interactive: bool,
}

#[derive(Subcommand)]
enum Auth {
    /// Create profile from API key; validates token and selects a project
    Token {
        #[arg(long, value_name = "ID")]
        project_id: Option<String>,
        #[arg(long, value_name = "KEY")]
        api_key: Option<String>,
        #[command(flatten)]
        mode: Interactive,
    },
    /// Login via web browser (OIDC device flow) and create a profile
    Login,
    /// List login profiles in the current environment
    List,
    /// Set currently logged in user/token
    Switch {
        name: Option<String>,
        #[command(flatten)]
        mode: Interactive,
    },
    /// Delete a login and its local data
    Logout {
        name: Option<String>,
        #[command(flatten)]
        mode: Interactive,
    },
    /// Change the active project for the current profile
    Project {
        project_id: Option<String>,
        #[command(flatten)]
        mode: Interactive,
    },
    /// Environments: list, add, switch
    #[command(subcommand)]
    Env(Env),
}

#[derive(Subcommand)]
enum Env {
    /// List environments; the current one is marked with *
    List,
    /// Add an environment at a control-plane URL
    Add {
        name: String,
        url: String,
        /// The server needs no login (self-hosted): projects are typed, not listed
        #[arg(long)]
        no_auth: bool,
    },
    /// Make an environment the current one
    Switch { name: String },
}

impl Interactive {
    /// Whether prompts may be shown: not `--no-interactive`, and a terminal to ask on
    fn on(mode: Option<Interactive>) -> bool {
        let off = mode.is_some_and(|m| m.no_interactive && !m.interactive);
        !off && std::io::stdin().is_terminal()
    }
}

fn keyhole(command: AuthCommand, mode: Option<Interactive>) -> ExitCode {
    let non_interactive = mode.is_some_and(|m| m.no_interactive && !m.interactive);
    let args = AuthArgs {
        remote: None,
        json: false,
        non_interactive,
        command,
    };
    keyhole_native::run(args, &LLAMACTL)
}

fn main() -> ExitCode {
    let Cmd::Auth(auth) = keyhole_native::parse_redacted::<Cli>().command;
    match auth {
        Auth::Token {
            project_id,
            api_key,
            mode,
        } => {
            let interactive = Interactive::on(Some(mode));
            if !interactive && (api_key.is_none() || project_id.is_none()) {
                eprintln!(
                    "error: non-interactive `auth token` needs both --api-key and --project-id"
                );
                return ExitCode::from(2);
            }
            let key = match api_key {
                Some(key) => key,
                None => match rpassword::prompt_password("Enter your API key: ") {
                    Ok(key) => key,
                    Err(e) => {
                        eprintln!("error: cannot read the API key: {e}");
                        return ExitCode::from(1);
                    }
                },
            };
            if key.trim().is_empty() {
                eprintln!("error: the API key is empty");
                return ExitCode::from(2);
            }
            // The key check lists the projects: a login that succeeds has a valid key. The
            // project is chosen (or checked) as part of the login (`login_chooses_project`).
            let login = LoginArgs {
                api_key: Some(Secret::new(key.trim().to_owned())),
                project: project_id,
                ..LoginArgs::default()
            };
            keyhole(AuthCommand::Login(login), Some(mode))
        }
        Auth::Login => keyhole(
            AuthCommand::Login(LoginArgs {
                device: true,
                ..LoginArgs::default()
            }),
            None,
        ),
        Auth::List => list(),
        Auth::Switch { name, mode } => keyhole(AuthCommand::Switch { account: name }, Some(mode)),
        Auth::Logout { name, mode } => keyhole(
            AuthCommand::Logout {
                all: false,
                account: name,
            },
            Some(mode),
        ),
        Auth::Project { project_id, mode } => {
            // Chosen from, or checked against, the server's projects.
            keyhole(
                AuthCommand::Project {
                    id: project_id,
                    server: true,
                },
                Some(mode),
            )
        }
        Auth::Env(env) => environments(env),
    }
}

/// The profiles of the current environment: name and active project, the current one marked
fn list() -> ExitCode {
    let app = App::new(&LLAMACTL);
    let config = match app.load_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let current = config.current_remote.as_deref().unwrap_or(LLAMACLOUD.name);
    let Some(env) = config.remotes.get(current) else {
        println!("No profiles in environment {current}; run `llamactl auth login`");
        return ExitCode::SUCCESS;
    };
    println!("  {:<32} PROJECT", "NAME");
    for (name, profile) in &env.accounts {
        let mark = if env.active_account.as_deref() == Some(name) {
            '*'
        } else {
            ' '
        };
        println!(
            "{mark} {name:<32} {}",
            profile.project.as_deref().unwrap_or("-")
        );
    }
    ExitCode::SUCCESS
}

fn environments(command: Env) -> ExitCode {
    let app = App::new(&LLAMACTL);
    let result = (|| {
        let _lock = app.lock_config()?;
        let mut config = app.load_config()?;
        let current = config
            .current_remote
            .clone()
            .unwrap_or_else(|| LLAMACLOUD.name.to_owned());
        match command {
            Env::List => {
                config
                    .remotes
                    .entry(LLAMACLOUD.name.to_owned())
                    .or_insert_with(|| LLAMACLOUD.to_config(&LLAMACTL));
                for (name, env) in &config.remotes {
                    let mark = if *name == current { '*' } else { ' ' };
                    println!("{mark} {name:<16} {}", env.api_url.as_deref().unwrap_or(""));
                }
                return Ok(());
            }
            Env::Add { name, url, no_auth } => {
                let mut env = LLAMACLOUD.to_config_at(&LLAMACTL, Some(url));
                env.requires_auth = !no_auth;
                config.remotes.insert(name.clone(), env);
                eprintln!("Added environment {name}");
            }
            Env::Switch { name } => {
                if name != LLAMACLOUD.name && !config.remotes.contains_key(&name) {
                    eprintln!(
                        "error: no environment `{name}`; `llamactl auth env list` shows them"
                    );
                    return Err(None);
                }
                config
                    .remotes
                    .entry(name.clone())
                    .or_insert_with(|| LLAMACLOUD.to_config(&LLAMACTL));
                config.current_remote = Some(name.clone());
                eprintln!("Switched to environment {name}");
            }
        }
        app.save_config(&config).map_err(Some)
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Some(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Err(None) => ExitCode::from(1),
    }
}
