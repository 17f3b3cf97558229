//! What the account commands (`whoami`, `projects`, `project --server`, `keys …`) share: one
//! call to the remote's account API through `Engine::account_call`, the operations built from
//! the product's [`AccountApi`](crate::product::AccountApi), a permissions file read and checked
//! before anything is sent, and a numbered chooser

use std::path::Path;

use keyhole_core::{AccountOperation, AccountValue, JsonText, Project};

use super::*;

/// The largest permissions file read (a permissions document is a few hundred bytes)
const MAX_PERMISSIONS_BYTES: u64 = 64 * 1024;

/// The active account's call: its remote's name, the account and the answer
pub(super) struct Called {
    pub remote: String,
    pub account: String,
    pub value: AccountValue,
}

/// `what` is not described by the product: the command says so and sends nothing
pub(super) fn unsupported(product: &Product, what: &str) -> CliError {
    CliError::Other(format!("{} has no API to {what}", product.name))
}

impl Ctx<'_> {
    /// Runs `operation` for the active account of the selected remote
    pub(super) fn account_call(
        &self,
        engine: &mut dyn Engine,
        operation: AccountOperation,
    ) -> Result<Called, CliError> {
        let config = self.config()?;
        let (name, remote) = self.remote_of(&config)?;
        let account = current_account(&remote);
        let options = self.credential_options(&remote, &account);
        let value =
            engine.account_call(&remote.spec(&name, &[])?, &account, &options, &operation)?;
        Ok(Called {
            remote: name,
            account,
            value,
        })
    }

    /// `whoami` as the product describes it
    pub(super) fn whoami_operation(&self) -> Result<AccountOperation, CliError> {
        let product = self.app.product();
        let call = product
            .account_api
            .whoami
            .ok_or_else(|| unsupported(product, "show the account"))?;
        Ok(AccountOperation::Whoami {
            method: call.method,
            path: call.path.to_owned(),
            label: call.label.iter().map(|p| (*p).to_owned()).collect(),
        })
    }

    /// Listing projects as the product describes it
    pub(super) fn projects_operation(&self) -> Result<AccountOperation, CliError> {
        let product = self.app.product();
        let call = product
            .account_api
            .list_projects
            .ok_or_else(|| unsupported(product, "list projects"))?;
        Ok(AccountOperation::ListProjects {
            method: call.method,
            path: call.path.to_owned(),
            list: call.list.to_owned(),
            id_field: call.id_field.to_owned(),
            name_field: call.name_field.to_owned(),
        })
    }

    /// The server's projects for the active account
    pub(super) fn server_projects(
        &self,
        engine: &mut dyn Engine,
    ) -> Result<(Called, Vec<Project>), CliError> {
        let mut called = self.account_call(engine, self.projects_operation()?)?;
        match std::mem::replace(&mut called.value, AccountValue::Projects(Vec::new())) {
            AccountValue::Projects(projects) => Ok((called, projects)),
            _ => Err(unexpected("list_projects")),
        }
    }

    /// Asks for one of `items` by number; `None` when there is nobody to ask (no terminal, or
    /// `--json`), and an error when the input ends before an answer
    pub(super) fn choose(
        &self,
        question: &str,
        items: &[String],
    ) -> Result<Option<usize>, CliError> {
        if !self.interactive || self.out.json || items.is_empty() {
            return Ok(None);
        }
        let items: Vec<&str> = items.iter().map(String::as_str).collect();
        match ui::select(question, &items, 0) {
            Ok(Some(i)) => Ok(Some(i)),
            Ok(None) => Err(CliError::Usage("no choice was made".into())),
            Err(e) => Err(CliError::Other(format!("cannot ask: {e}"))),
        }
    }
}

/// The engine answered with another operation's value: a defect, said plainly
pub(super) fn unexpected(operation: &str) -> CliError {
    CliError::Other(format!(
        "the account call `{operation}` returned another operation's result; this is a bug in keyhole"
    ))
}

/// A permissions file, read and checked: a JSON object. A bad file names its line and column,
/// and nothing is sent.
pub(super) fn read_permissions(path: &Path) -> Result<Value, CliError> {
    use std::io::Read as _;
    let shown = crate::helpers::printable(&path.display().to_string());
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::Usage(format!("cannot read the permissions file {shown}: {e}")))?;
    let mut text = String::new();
    file.take(MAX_PERMISSIONS_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| CliError::Usage(format!("cannot read the permissions file {shown}: {e}")))?;
    if text.len() as u64 > MAX_PERMISSIONS_BYTES {
        return Err(CliError::Usage(format!(
            "the permissions file {shown} is larger than {} KiB; nothing was sent",
            MAX_PERMISSIONS_BYTES / 1024
        )));
    }
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        // serde_json's message ends with its own " at line L column C"; say it once, first.
        let message = e.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m);
        CliError::Usage(format!(
            "{shown}: not valid JSON at line {}, column {}: {}; fix the file and run the command again (nothing was sent)",
            e.line(),
            e.column(),
            crate::helpers::printable(message)
        ))
    })?;
    if !value.is_object() {
        return Err(CliError::Usage(format!(
            "{shown}: the permissions must be a JSON object (such as {{\"api\": {{…}}}}); nothing was sent"
        )));
    }
    Ok(value)
}

/// A server's JSON for a person: indented, keys in the server's order, numbers as JSON numbers,
/// and no control character on the terminal (JSON escapes C0 controls in strings; DEL, C1
/// controls and bidi overrides it leaves, so each line goes through `terminal_safe` as well)
pub(super) fn pretty(json: &JsonText) -> String {
    let mut out = Vec::new();
    let text = match transcode(json, &mut serde_json::Serializer::pretty(&mut out)) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => json.as_str().to_owned(),
    };
    text.lines().map(safe).collect::<Vec<_>>().join("\n")
}

/// A server's JSON on one line, keys in its order (for `--json` lines; a server may have sent it
/// indented)
pub(super) fn one_line(json: &JsonText) -> JsonText {
    let mut out = Vec::new();
    match transcode(json, &mut serde_json::Serializer::new(&mut out)) {
        Ok(()) => String::from_utf8(out)
            .ok()
            .and_then(|text| JsonText::parse(&text).ok())
            .unwrap_or_else(|| json.clone()),
        Err(_) => json.clone(),
    }
}

/// Re-encodes `json` into `serializer` as it is read, so objects keep their order (a `Value`
/// would sort them)
fn transcode<S>(json: &JsonText, serializer: S) -> Result<(), serde_json::Error>
where
    S: serde::Serializer<Error = serde_json::Error>,
{
    let mut de = serde_json::Deserializer::from_str(json.as_str());
    serde_transcode::transcode(&mut de, serializer)?;
    de.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("keyhole-perms-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn server_json_keeps_its_order_and_reaches_the_terminal_without_controls() {
        let sent = "{\"z\": 1, \"motd\": \"hi\u{9b}2J\u{202e}\u{7f}\\u001b[31m\\n\", \"a\": {\"y\": [2.50, 1e21], \"b\": null}}";
        let json = JsonText::parse(sent).unwrap();
        let shown = pretty(&json);
        assert_eq!(
            shown,
            "{\n  \"z\": 1,\n  \"motd\": \"hi\u{FFFD}2J\u{FFFD}\u{FFFD}\\u001b[31m\\n\",\n  \"a\": {\n    \"y\": [\n      2.5,\n      1e+21\n    ],\n    \"b\": null\n  }\n}"
        );
        assert!(
            !shown
                .chars()
                .any(|c| c != '\n' && crate::text::is_unsafe(c)),
            "{shown:?}"
        );
        assert_eq!(
            one_line(&JsonText::parse("{\"z\":\n 1,\n \"a\": [1, 2]}").unwrap()).as_str(),
            "{\"z\":1,\"a\":[1,2]}"
        );
    }

    #[test]
    fn a_bad_permissions_file_names_line_and_column() {
        let path = write(
            "bad.json",
            "{\n  \"api\": {\n    \"user_read\": {},,\n  }\n}\n",
        );
        let CliError::Usage(message) = read_permissions(&path).unwrap_err() else {
            panic!("a usage error");
        };
        assert!(message.contains("line 3, column 21"), "{message}");
        assert!(message.contains("nothing was sent"), "{message}");
        assert_eq!(message.matches("line").count(), 1, "{message}");
    }

    #[test]
    fn permissions_must_be_an_object_of_bounded_size() {
        let array = write("array.json", "[1, 2]");
        assert!(
            matches!(read_permissions(&array), Err(CliError::Usage(m)) if m.contains("JSON object"))
        );
        let big = write(
            "big.json",
            &format!("{{\"a\": \"{}\"}}", "x".repeat(70 * 1024)),
        );
        assert!(matches!(read_permissions(&big), Err(CliError::Usage(m)) if m.contains("KiB")));
        let missing = read_permissions(Path::new("/nonexistent/perms.json"));
        assert!(
            matches!(missing, Err(CliError::Usage(m)) if m.contains("/nonexistent/perms.json"))
        );
        let good = write("good.json", "{\"api\": {\"user_read\": {}}, \"n\": 12.5}");
        assert_eq!(read_permissions(&good).unwrap()["n"], 12.5);
        // Found by the permissions_file fuzz target: a number is sent as the file spells it.
        let long = write("long.json", "{\"big\": 1234567890123456789012345607890}");
        assert_eq!(
            read_permissions(&long).unwrap().to_string(),
            "{\"big\":1.2345678901234568e+30}"
        );
    }
}
