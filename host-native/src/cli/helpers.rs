//! The credential-helper commands: thin glue from the command line to [`crate::helpers`], which
//! holds the protocols. Every credential comes from `Engine::token` (the single-flight refresh);
//! errors are one line on stderr (docker also wants it on stdout), never a prompt, never a secret.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::{Ctx, EXIT_AUTH, EXIT_ERROR, EXIT_OK, EXIT_USAGE, current_account};
use crate::config::RemoteConfig;
use crate::engine::Engine;
use crate::helpers::{
    self, Credential, DEFAULT_USERNAME, HelperError, Hosts, docker, exec, git, kube, terraform,
};
use crate::text::terminal_safe as safe;

/// The helper commands (flattened into the top-level commands)
#[derive(Debug, Subcommand)]
pub enum HelperCommand {
    /// git credential helper (`git help credential`); `setup-git` installs it
    GitCredential {
        /// Answer for this host too (repeatable; `setup-git --host` writes it)
        #[arg(long = "host", value_name = "H")]
        hosts: Vec<String>,
        /// What git asks
        #[arg(value_enum)]
        action: git::Action,
    },
    /// Make git use this CLI for the remote's hosts (`credential.https://HOST.helper`)
    SetupGit {
        /// Configure this host instead of the remote's API and issuer hosts (repeatable)
        #[arg(long = "host", value_name = "H")]
        hosts: Vec<String>,
    },
    /// docker credential helper; docker runs it as `docker-credential-<name>` (a symlink to this CLI)
    DockerCredential {
        /// What docker asks
        #[arg(value_enum)]
        action: docker::Action,
    },
    /// Map REGISTRY to this CLI in docker's `config.json` `credHelpers`
    ConfigureDocker {
        /// The registry host (`registry.example.com`, `localhost:5000`)
        registry: String,
    },
    /// kubectl exec credential plugin: prints an ExecCredential
    KubeCredential,
    /// Terraform credentials helper; Terraform runs it as `terraform-credentials-<name>`
    TerraformCredential {
        /// Answer for this host too (repeatable)
        #[arg(long = "host", value_name = "H")]
        hosts: Vec<String>,
        /// What Terraform asks
        #[arg(value_enum)]
        action: terraform::Action,
        /// The Terraform host
        host: String,
    },
    /// Run a command with the credential in the product's token variable (`KEYHOLE_TOKEN`); exits with the command's code
    Exec {
        /// The command and its arguments, after `--`
        #[arg(last = true, required = true, value_name = "CMD", value_parser = clap::value_parser!(OsString))]
        command: Vec<OsString>,
    },
}

impl HelperCommand {
    /// The command's name as typed (`git-credential`)
    pub fn name(&self) -> &'static str {
        match self {
            HelperCommand::GitCredential { .. } => "git-credential",
            HelperCommand::SetupGit { .. } => "setup-git",
            HelperCommand::DockerCredential { .. } => "docker-credential",
            HelperCommand::ConfigureDocker { .. } => "configure-docker",
            HelperCommand::KubeCredential => "kube-credential",
            HelperCommand::TerraformCredential { .. } => "terraform-credential",
            HelperCommand::Exec { .. } => "exec",
        }
    }
}

fn exit_code(e: &HelperError) -> u8 {
    match e {
        HelperError::LoginRequired(_) => EXIT_AUTH,
        HelperError::BadRequest(_) => EXIT_USAGE,
        HelperError::Failed(_) => EXIT_ERROR,
    }
}

/// The hosts a remote's credential is for: its API, key-check and issuer URLs, plus `extra`
pub fn remote_hosts(remote: &RemoteConfig, extra: &[String]) -> Hosts {
    let urls = [
        remote.api_url.as_deref(),
        remote.key_check.as_ref().map(|k| k.url.as_str()),
        remote.issuer.as_deref(),
    ];
    Hosts::new(urls.into_iter().flatten(), extra.iter().map(String::as_str))
}

fn stdin_request() -> Result<String, HelperError> {
    helpers::read_request(std::io::stdin().lock())
}

impl Ctx<'_> {
    /// Runs a helper command; its errors are printed here, not by `run`, so that `--json` never
    /// puts an error object where a protocol answer belongs
    pub(super) fn helper(
        &mut self,
        engine: &mut dyn Engine,
        command: HelperCommand,
    ) -> super::CliResult {
        let docker = matches!(command, HelperCommand::DockerCredential { .. });
        Ok(match self.run_helper(engine, command) {
            Ok(code) => code,
            Err(e) => {
                if docker {
                    // docker shows the helper's stdout, and only that, in its error message
                    println!("{}", safe(&e.to_string()));
                }
                eprintln!("error: {}", safe(&e.to_string()));
                exit_code(&e)
            }
        })
    }

    fn selected_remote(&self) -> Result<(String, RemoteConfig), HelperError> {
        let config = self
            .config()
            .map_err(|e| HelperError::Failed(e.message(self.app.product())))?;
        self.remote_of(&config)
            .map_err(|e| HelperError::Failed(e.message(self.app.product())))
    }

    /// The credential through `Engine::token`, the path every helper shares
    fn credential(
        &self,
        engine: &mut dyn Engine,
        name: &str,
        remote: &RemoteConfig,
    ) -> Result<Credential, HelperError> {
        let account = current_account(remote);
        let options = self.credential_options(remote, &account);
        let resolved = engine
            .token(&remote.spec(name, &[]), &account, &options)
            .map_err(|e| {
                let text = format!("{e} (remote `{name}`; run `{} login`)", self.app.name());
                if e.needs_login() {
                    HelperError::LoginRequired(text)
                } else {
                    HelperError::Failed(format!("{e} (remote `{name}`)"))
                }
            })?;
        self.warn_credential(&resolved, name, &account);
        Ok(Credential {
            oauth: resolved.kind == keyhole_core::credential::AuthType::Oauth,
            secret: resolved.secret,
            expires_at_ms: resolved.expires_at_ms,
        })
    }

    fn run_helper(
        &mut self,
        engine: &mut dyn Engine,
        command: HelperCommand,
    ) -> Result<u8, HelperError> {
        let mut stdout = std::io::stdout().lock();
        match command {
            HelperCommand::GitCredential { hosts, action } => {
                let input = stdin_request()?;
                if action != git::Action::Get {
                    // acknowledged without the config: a remote removed since must not fail git
                    git::parse_request(&input)?;
                    return Ok(EXIT_OK);
                }
                let (name, remote) = self.selected_remote()?;
                let hosts = remote_hosts(&remote, &hosts);
                let mut source = || self.credential(engine, &name, &remote);
                git::run(
                    action,
                    &input,
                    &hosts,
                    DEFAULT_USERNAME,
                    &mut source,
                    &mut stdout,
                )?;
            }
            HelperCommand::SetupGit { hosts } => {
                let (name, remote) = self.selected_remote()?;
                let targets = if hosts.is_empty() {
                    remote_hosts(&remote, &[])
                } else {
                    Hosts::new([], hosts.iter().map(String::as_str))
                };
                if targets.is_empty() {
                    return Err(HelperError::BadRequest(format!(
                        "remote `{name}` has no API or issuer URL; name the git host with --host"
                    )));
                }
                let program = std::env::current_exe().map_err(|e| {
                    HelperError::Failed(format!("cannot tell where this program is: {e}"))
                })?;
                // A vendor mounts the group under its own command (`vtrix auth`): git must run
                // the same path, so the words after the program name come first.
                let mut args: Vec<String> = self
                    .app
                    .name()
                    .split_whitespace()
                    .skip(1)
                    .map(str::to_owned)
                    .collect();
                args.extend(["--remote".to_owned(), name]);
                let helper = git::helper_value(&program, &args, &hosts);
                git::run_git(Path::new("git"), &git::setup_commands(&targets, &helper))?;
                for host in targets.iter() {
                    self.out.info(&format!(
                        "git now asks {} for https://{}",
                        self.app.name(),
                        safe(host)
                    ));
                }
            }
            HelperCommand::DockerCredential { action } => {
                let input = match action {
                    docker::Action::Get | docker::Action::Store | docker::Action::Erase => {
                        stdin_request()?
                    }
                    docker::Action::List | docker::Action::Version => String::new(),
                };
                if !matches!(action, docker::Action::Get | docker::Action::List) {
                    let mut none = || Err(HelperError::Failed("no credential is needed".into()));
                    let version = format!(
                        "docker-credential-{} {}",
                        self.app.name(),
                        env!("CARGO_PKG_VERSION")
                    );
                    docker::run(
                        action,
                        &input,
                        &Hosts::default(),
                        DEFAULT_USERNAME,
                        &version,
                        &mut none,
                        &mut stdout,
                    )?;
                    return Ok(EXIT_OK);
                }
                let (name, remote) = self.selected_remote()?;
                let mapped = docker_config_path()
                    .and_then(|p| std::fs::read_to_string(p).ok())
                    .map(|text| docker::registries_for(&text, self.app.name()))
                    .unwrap_or_default();
                let hosts = remote_hosts(&remote, &mapped);
                let mut source = || self.credential(engine, &name, &remote);
                let answer = docker::run(
                    action,
                    &input,
                    &hosts,
                    DEFAULT_USERNAME,
                    "",
                    &mut source,
                    &mut stdout,
                )?;
                if answer == docker::Answer::NotFound {
                    let _ = writeln!(stdout, "{}", docker::NOT_FOUND);
                    return Ok(EXIT_ERROR);
                }
            }
            HelperCommand::ConfigureDocker { registry } => {
                let key = docker::registry_key(&registry)?;
                let path = docker_config_path().ok_or_else(|| {
                    HelperError::Failed("neither DOCKER_CONFIG nor HOME is set".into())
                })?;
                let written = docker::configure(&path, &key, self.app.name())?;
                self.out.info(&format!(
                    "docker now asks docker-credential-{} for {} ({})",
                    self.app.name(),
                    safe(&key),
                    safe(&written.display().to_string())
                ));
                let program = format!("docker-credential-{}", self.app.name());
                if !on_path(&program) {
                    self.out.warn(&format!(
                        "`{program}` is not on PATH; docker needs it: \
                         ln -s \"$(command -v {app})\" ~/.local/bin/{program}",
                        app = self.app.name()
                    ));
                }
            }
            HelperCommand::KubeCredential => {
                let info = std::env::var("KUBERNETES_EXEC_INFO").ok();
                let (name, remote) = self.selected_remote()?;
                kube::api_version(info.as_deref())?;
                let mut source = || self.credential(engine, &name, &remote);
                let answer = kube::exec_credential(info.as_deref(), &mut source)?;
                stdout
                    .write_all(answer.as_bytes())
                    .and_then(|()| stdout.flush())
                    .map_err(|e| HelperError::Failed(format!("cannot answer kubectl: {e}")))?;
            }
            HelperCommand::TerraformCredential {
                hosts,
                action,
                host,
            } => {
                if action != terraform::Action::Get {
                    let input = match action {
                        terraform::Action::Store => stdin_request()?,
                        _ => String::new(),
                    };
                    let mut none = || Err(HelperError::Failed("no credential is needed".into()));
                    terraform::run(
                        action,
                        &host,
                        &input,
                        &Hosts::default(),
                        &mut none,
                        &mut stdout,
                    )?;
                    return Ok(EXIT_OK);
                }
                let (name, remote) = self.selected_remote()?;
                let hosts = remote_hosts(&remote, &hosts);
                let mut source = || self.credential(engine, &name, &remote);
                terraform::run(action, &host, "", &hosts, &mut source, &mut stdout)?;
            }
            HelperCommand::Exec { command } => {
                let (name, remote) = self.selected_remote()?;
                drop(stdout);
                let var = self.app.product().env.token;
                let mut source = || self.credential(engine, &name, &remote);
                return exec::run(&command[0], &command[1..], var, &mut source);
            }
        }
        Ok(EXIT_OK)
    }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`
fn docker_config_path() -> Option<PathBuf> {
    docker::config_path(
        std::env::var_os("DOCKER_CONFIG").map(PathBuf::from),
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(std::env::home_dir),
    )
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
