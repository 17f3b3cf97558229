//! Terraform's credentials helper protocol (developer.hashicorp.com/terraform/internals/
//! credentials-helpers): Terraform runs `terraform-credentials-<name> [args…] ACTION HOST`.
//! `get` prints a JSON object with `token`, or `{}` when the helper has nothing for the host (and
//! exits 0: Terraform then goes on without credentials); `store` reads the object on stdin and
//! `forget` removes it, both with no output. A failure is a message on stderr and a non-zero
//! exit. keyhole's login is not Terraform's to replace or delete, so `store` and `forget` are
//! acknowledged and change nothing.

use std::io::Write;

use serde_json::{Value, json};

use super::{HelperError, Hosts, TokenSource, printable};

/// What Terraform asks
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// The credentials for HOST
    Get,
    /// `terraform login` obtained a token for HOST (acknowledged)
    Store,
    /// `terraform logout` (acknowledged; keyhole's login is kept)
    Forget,
}

/// Runs one helper invocation for `host`; `input` is stdin (read only for `store`)
pub fn run(
    action: Action,
    host: &str,
    input: &str,
    hosts: &Hosts,
    source: &mut dyn TokenSource,
    out: &mut dyn Write,
) -> Result<(), HelperError> {
    if host.trim().is_empty() {
        return Err(HelperError::BadRequest(
            "Terraform passed no host name".into(),
        ));
    }
    match action {
        Action::Get => {
            let answer = if hosts.contains_host("https", host) {
                let credential = source.credential()?;
                json!({ "token": credential.secret.expose() })
            } else {
                json!({})
            };
            out.write_all(format!("{answer}\n").as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| HelperError::Failed(format!("cannot answer Terraform: {e}")))
        }
        Action::Store => match serde_json::from_str::<Value>(input) {
            Ok(Value::Object(_)) => Ok(()),
            _ => Err(HelperError::BadRequest(format!(
                "Terraform sent credentials for {} that are not a JSON object",
                printable(host)
            ))),
        },
        Action::Forget => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use keyhole_core::Secret;

    use super::super::Credential;
    use super::*;

    fn call(action: Action, host: &str, input: &str) -> (Result<(), HelperError>, String, u32) {
        let mut asked = 0;
        let mut source = || {
            asked += 1;
            Ok(Credential {
                secret: Secret::new("tok"),
                expires_at_ms: None,
                oauth: false,
            })
        };
        let hosts = Hosts::new(["https://app.example.com/api/v2"], []);
        let mut out = Vec::new();
        let r = run(action, host, input, &hosts, &mut source, &mut out);
        (r, String::from_utf8(out).unwrap(), asked)
    }

    #[test]
    fn get_prints_the_token_for_our_hosts_and_an_empty_object_for_others() {
        assert_eq!(
            call(Action::Get, "app.example.com", ""),
            (Ok(()), "{\"token\":\"tok\"}\n".into(), 1)
        );
        assert_eq!(
            call(Action::Get, "app.terraform.io", ""),
            (Ok(()), "{}\n".into(), 0)
        );
        assert!(call(Action::Get, "", "").0.is_err());
    }

    #[test]
    fn store_and_forget_are_acknowledged_silently() {
        assert_eq!(
            call(Action::Store, "app.example.com", r#"{"token":"new"}"#),
            (Ok(()), String::new(), 0)
        );
        assert!(matches!(
            call(Action::Store, "app.example.com", "token").0,
            Err(HelperError::BadRequest(_))
        ));
        assert_eq!(
            call(Action::Forget, "app.example.com", ""),
            (Ok(()), String::new(), 0)
        );
    }
}
