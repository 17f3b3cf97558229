//! `exec -- CMD ARGS…`: runs a command with the fresh credential in an environment variable, and
//! ends as the command does
//!
//! On unix the CLI process becomes the command (`execvp`, as `env VAR=… CMD` does): its exit
//! status, death by a signal included (a shell reports 128+N), reaches the caller unchanged, and
//! Ctrl-C reaches only the command, so no parent dies first and leaves it running unwatched.
//! Elsewhere the command runs as a child and its exit code is passed on.

use std::ffi::OsString;
use std::process::{Command, ExitStatus};

use keyhole_core::Secret;

use super::{HelperError, TokenSource, printable};

/// Runs `program` with `args` and `var=<credential>` added to this process's environment. On unix
/// this returns only when the command cannot be started; the result is then the exit code to
/// leave with (127 not found, 126 not runnable), else the command's exit code
pub fn run(
    program: &OsString,
    args: &[OsString],
    var: &str,
    source: &mut dyn TokenSource,
) -> Result<u8, HelperError> {
    check_var(var)?;
    let credential = source.credential()?;
    let mut cmd = command(program, args, var, &credential.secret);
    #[cfg(unix)]
    let error = std::os::unix::process::CommandExt::exec(&mut cmd);
    #[cfg(not(unix))]
    let error = match cmd.status() {
        Ok(status) => return Ok(exit_code(status)),
        Err(e) => e,
    };
    eprintln!(
        "error: cannot run `{}`: {error}",
        printable(&program.to_string_lossy())
    );
    Ok(start_failure_code(&error))
}

/// Refuses names the environment cannot hold
pub fn check_var(var: &str) -> Result<(), HelperError> {
    if var.is_empty() || var.contains(['=', '\0']) {
        return Err(HelperError::BadRequest(format!(
            "`{}` cannot be an environment variable name",
            printable(var)
        )));
    }
    Ok(())
}

/// The command, with the credential in `var`
pub fn command(program: &OsString, args: &[OsString], var: &str, secret: &Secret) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args).env(var, secret.expose());
    cmd
}

/// The exit code shells use when a command cannot be started: 127 not found, else 126
pub fn start_failure_code(error: &std::io::Error) -> u8 {
    if error.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}

/// The exit code a shell would report for `status`: its code, or 128+N for signal N
pub fn exit_code(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code & 0xff).unwrap_or(1);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return u8::try_from((128 + signal) & 0xff).unwrap_or(1);
        }
    }
    1
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str) -> u8 {
        let secret = Secret::new("tok");
        let status = command(
            &"sh".into(),
            &["-c".into(), script.into()],
            "MY_TOKEN",
            &secret,
        )
        .status()
        .unwrap();
        exit_code(status)
    }

    #[test]
    fn the_command_gets_the_token_and_its_exit_code_is_kept() {
        assert_eq!(sh(r#"test "$MY_TOKEN" = tok"#), 0);
        assert_eq!(sh("exit 42"), 42);
        assert_eq!(sh("kill -TERM $$"), 128 + 15);
        let missing = command(&"/nonexistent/cmd".into(), &[], "T", &Secret::new("x"))
            .status()
            .unwrap_err();
        assert_eq!(start_failure_code(&missing), 127);
        assert!(check_var("A=B").is_err());
        assert!(check_var("").is_err());
        assert!(check_var("VTRIX_TOKEN").is_ok());
    }

    #[test]
    fn a_login_error_runs_nothing() {
        let mut src = || Err(HelperError::LoginRequired("log in".into()));
        assert_eq!(
            run(&"false".into(), &[], "T", &mut src),
            Err(HelperError::LoginRequired("log in".into()))
        );
    }
}
