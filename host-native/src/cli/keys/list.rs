//! `keys list`: the account's API keys as the server describes them (never their secrets)

use keyhole_core::{AccountOperation, AccountValue, JsonText};

use super::super::account::{one_line, pretty, unexpected, unsupported};
use super::*;

impl Ctx<'_> {
    pub(super) fn key_list(&mut self, engine: &mut dyn Engine) -> CliResult {
        let call = self
            .key_api()
            .list_keys
            .ok_or_else(|| unsupported(self.app.product(), "list API keys"))?;
        let operation = AccountOperation::ListKeys {
            method: call.method,
            path: call.path.to_owned(),
            list: call.list.to_owned(),
        };
        let called = self.account_call(engine, operation)?;
        let AccountValue::Keys(keys) = called.value else {
            return Err(unexpected("list_keys"));
        };
        let keys = JsonText::array(&keys);
        if self.out.json {
            self.out.json_line(&one_line(&keys));
        } else {
            self.out.result(&pretty(&keys));
        }
        Ok(EXIT_OK)
    }
}
