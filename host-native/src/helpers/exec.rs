//! `exec -- CMD ARGS…`: runs a command with the fresh credential in an environment variable, and
//! exits as the command did

use std::ffi::OsString;
use std::process::{Command, ExitStatus};

use super::{HelperError, TokenSource, printable};

/// Runs `program` with `args` and `var=<credential>` added to this process's environment; the
/// result is the exit code to leave with: the command's own, 128+N when signal N ended it (as
/// shells report it), 127 when it cannot be found and 126 when it cannot be run
pub fn run(
    program: &OsString,
    args: &[OsString],
    var: &str,
    source: &mut dyn TokenSource,
) -> Result<u8, HelperError> {
    if var.is_empty() || var.contains(['=', '\0']) {
        return Err(HelperError::BadRequest(format!(
            "`{}` cannot be an environment variable name",
            printable(var)
        )));
    }
    let credential = source.credential()?;
    let status = Command::new(program)
        .args(args)
        .env(var, credential.secret.expose())
        .status();
    match status {
        Ok(status) => Ok(exit_code(status)),
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            eprintln!(
                "error: cannot run `{}`: {e}",
                printable(&program.to_string_lossy())
            );
            Ok(code)
        }
    }
}

/// The exit code a shell would report for `status`
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
    use keyhole_core::Secret;

    use super::super::Credential;
    use super::*;

    fn source() -> impl FnMut() -> Result<Credential, HelperError> {
        || {
            Ok(Credential {
                secret: Secret::new("tok"),
                expires_at_ms: None,
                oauth: true,
            })
        }
    }

    fn sh(script: &str) -> u8 {
        run(
            &"sh".into(),
            &["-c".into(), script.into()],
            "MY_TOKEN",
            &mut source(),
        )
        .unwrap()
    }

    #[test]
    fn passes_the_token_and_the_exit_code() {
        assert_eq!(sh(r#"test "$MY_TOKEN" = tok"#), 0);
        assert_eq!(sh("exit 42"), 42);
        assert_eq!(sh("kill -TERM $$"), 128 + 15);
        let missing = run(&"/nonexistent/cmd".into(), &[], "T", &mut source()).unwrap();
        assert_eq!(missing, 127);
        assert!(run(&"true".into(), &[], "A=B", &mut source()).is_err());
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
