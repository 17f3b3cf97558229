//! `keys create --name N [--permission-file F] [--save]`: a new API key, printed once

use keyhole_core::{AccountOperation, AccountValue};

use super::super::account::{one_line, read_permissions, unexpected, unsupported};
use super::*;

/// The `--json` line; `answer` is the rest of the server's answer, keys in its order
#[derive(serde::Serialize)]
struct KeyCreatedLine<'a> {
    event: &'a str,
    remote: &'a str,
    name: &'a str,
    id: &'a Value,
    key: &'a str,
    saved: bool,
    answer: keyhole_core::JsonText,
}

impl Ctx<'_> {
    pub(super) fn key_create(&mut self, engine: &mut dyn Engine, a: KeyCreateArgs) -> CliResult {
        let call = self
            .key_api()
            .create_key
            .ok_or_else(|| unsupported(self.app.product(), "create API keys"))?;
        let name = a.name.trim().to_owned();
        if name.is_empty() {
            return Err(CliError::Usage(
                "the key's name is empty; pass --name NAME".into(),
            ));
        }
        // Read and checked before anything is sent: a bad file costs nothing.
        let permissions = a
            .permission_file
            .as_deref()
            .map(read_permissions)
            .transpose()?;
        let operation = AccountOperation::CreateKey {
            method: call.method,
            path: call.path.to_owned(),
            name: name.clone(),
            permissions,
            name_field: call.name_field.to_owned(),
            permissions_field: call.permissions_field.to_owned(),
            key_pointer: call.key_pointer.to_owned(),
        };
        let called = self.account_call(engine, operation)?;
        let AccountValue::CreatedKey(created) = called.value else {
            return Err(unexpected("create_key"));
        };
        let id = created
            .body
            .to_value()
            .get("id")
            .cloned()
            .unwrap_or(Value::Null);
        // A failed save must not lose the key: it exists on the server and is printed anyway.
        let saved = if a.save {
            Some(self.save_created_key(engine, &called.remote, &called.account, &created.key))
        } else {
            None
        };
        if self.out.json {
            self.out.json_line(&KeyCreatedLine {
                event: "key_created",
                remote: &called.remote,
                name: &name,
                id: &id,
                key: created.key.expose(),
                saved: matches!(saved, Some(Ok(()))),
                answer: one_line(&created.body),
            });
        } else {
            let id = match &id {
                Value::Null => String::new(),
                Value::String(s) => format!(" (id {})", crate::helpers::printable(s)),
                other => format!(" (id {other})"),
            };
            self.success(&format!(
                "Created API key {}{id}",
                crate::helpers::printable(&name)
            ));
            // The key alone on stdout, so `KEY=$(… keys create …)` works.
            self.out.result(created.key.expose());
            self.out
                .warn("copy the key now: it is shown only once and cannot be shown again");
            if let Some(Ok(())) = saved {
                self.success(&format!(
                    "Saved it as the API key of {} on {}",
                    called.account, called.remote
                ));
            }
        }
        if let Some(Err(e)) = saved {
            return Err(CliError::Other(format!(
                "the key was created but not saved ({}); save it with `set-key`",
                e.message(self.app.product())
            )));
        }
        Ok(EXIT_OK)
    }

    /// Stores `key` as the API key of `account` on `remote` (`keys create --save`)
    fn save_created_key(
        &self,
        engine: &mut dyn Engine,
        remote: &str,
        account: &str,
        key: &Secret,
    ) -> Result<(), CliError> {
        let config = self.config()?;
        let settings = config
            .remotes
            .get(remote)
            .ok_or_else(|| CliError::Other(format!("remote `{remote}` was removed meanwhile")))?;
        engine.set_key(&settings.spec(remote, &[])?, account, key.clone())?;
        Ok(())
    }
}
