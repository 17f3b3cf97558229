//! `keys show ID`: one API key as the server describes it

use keyhole_core::{AccountOperation, AccountValue};

use super::super::account::{one_line, pretty, unexpected, unsupported};
use super::*;

impl Ctx<'_> {
    pub(super) fn key_show(&mut self, engine: &mut dyn Engine, id: String) -> CliResult {
        let call = self
            .key_api()
            .show_key
            .ok_or_else(|| unsupported(self.app.product(), "show API keys"))?;
        let operation = AccountOperation::ShowKey {
            method: call.method,
            path: call.path.to_owned(),
            id,
        };
        let called = self.account_call(engine, operation)?;
        let AccountValue::Key(key) = called.value else {
            return Err(unexpected("show_key"));
        };
        if self.out.json {
            self.out.json_line(&one_line(&key));
        } else {
            self.out.result(&pretty(&key));
        }
        Ok(EXIT_OK)
    }
}
