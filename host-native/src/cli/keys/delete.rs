//! `keys delete ID`: delete an API key; it stops working at once

use keyhole_core::{AccountOperation, AccountValue};

use super::super::account::{unexpected, unsupported};
use super::*;

impl Ctx<'_> {
    pub(super) fn key_delete(&mut self, engine: &mut dyn Engine, id: String) -> CliResult {
        let call = self
            .key_api()
            .delete_key
            .ok_or_else(|| unsupported(self.app.product(), "delete API keys"))?;
        let operation = AccountOperation::DeleteKey {
            method: call.method,
            path: call.path.to_owned(),
            id,
        };
        let called = self.account_call(engine, operation)?;
        let AccountValue::Deleted { id } = called.value else {
            return Err(unexpected("delete_key"));
        };
        self.report(
            &json!({"event": "key_deleted", "remote": called.remote, "id": id}),
            &format!(
                "Deleted API key {} on {}",
                crate::helpers::printable(&id),
                called.remote
            ),
        );
        Ok(EXIT_OK)
    }
}
