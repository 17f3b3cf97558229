//! `test`: check the credential against the remote's API

use super::*;

impl Ctx<'_> {
    pub(super) fn test(&mut self, engine: &mut dyn Engine, a: TestArgs) -> CliResult {
        let config = self.config()?;
        let (name, remote) = self.remote_of(&config)?;
        let account = current_account(&remote);
        let url = match (a.url, &remote.key_check) {
            (Some(base), Some(check)) if self.app.product().test_url_is_base => {
                if url::Url::parse(&base).is_err() {
                    return Err(CliError::Usage(format!(
                        "`{base}` is not a valid URL; give a full URL such as https://api.example.com"
                    )));
                }
                Some(crate::product::with_origin(&check.url, &base))
            }
            (url, _) => url,
        };
        let url = url
            .map(|raw| {
                url::Url::parse(&raw).map_err(|e| {
                    CliError::Usage(format!(
                        "--url: `{}` is not a URL ({e}); give a full URL such as https://api.example.com/me",
                        safe(&raw)
                    ))
                })
            })
            .transpose()?;
        let key = match a.key {
            Some(key) => Some(key),
            None if a.key_stdin => Some(read_stdin_secret("key")?),
            None => None,
        };
        let options = TestOptions {
            method: a.method.into(),
            url,
            key,
            credential: self.credential_options(&remote, &account),
        };
        let spec = remote.spec(&name, &[])?;
        // The core checks with the key check's method, or GET for a bare --url.
        let method = remote
            .key_check
            .as_ref()
            .map_or("GET", |k| k.method.as_str());
        let report = match engine.test(&spec, &account, &options) {
            Ok(report) => report,
            Err(failure) => {
                if a.verbose {
                    eprintln!("{}", verbose_failure(method, &failure));
                }
                return Err(CliError::Test(Box::new(failure)));
            }
        };
        if a.verbose {
            eprintln!(
                "{method} {} -> HTTP {} in {} ms",
                safe(report.url.as_str()),
                report.status,
                report.elapsed_ms
            );
        }
        if self.out.json {
            self.out.json_line(&json!({
                "ok": true,
                "status": report.status,
                "elapsed_ms": report.elapsed_ms,
                "identity": report.identity,
                "auth_type": report.auth_type.as_str(),
            }));
        } else {
            let who = report
                .identity
                .iter()
                .map(|(k, v)| format!("{}: {}", safe(k), safe(v)))
                .collect::<Vec<_>>()
                .join(", ");
            let who = if who.is_empty() {
                String::new()
            } else {
                format!(" ({who})")
            };
            self.out.success(&format!(
                "The {} works: HTTP {} in {} ms{who}",
                match report.auth_type {
                    AuthType::ApiKey => "API key",
                    AuthType::Oauth => "OAuth token",
                },
                report.status,
                report.elapsed_ms
            ));
        }
        Ok(EXIT_OK)
    }
}

/// The `--verbose` line of a failed `test`: the request and what came back, and when
pub(super) fn verbose_failure(method: &str, f: &TestFailure) -> String {
    let Some(url) = f.url.as_ref().map(|url| safe(url.as_str())) else {
        return format!("no request was made ({})", f.error.code());
    };
    match (f.status, f.elapsed_ms) {
        (Some(status), Some(ms)) => format!("{method} {url} -> HTTP {status} in {ms} ms"),
        (None, Some(ms)) => format!(
            "{method} {url} -> no response after {ms} ms ({})",
            f.error.code()
        ),
        (_, None) => format!("{method} {url} -> not sent ({})", f.error.code()),
    }
}
