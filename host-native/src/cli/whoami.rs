//! `whoami`: the account the credential belongs to, as the remote's API answers it

use keyhole_core::AccountValue;

use super::account::{pretty, unexpected};
use super::*;

impl Ctx<'_> {
    pub(super) fn whoami(&mut self, engine: &mut dyn Engine) -> CliResult {
        let operation = self.whoami_operation()?;
        let called = self.account_call(engine, operation)?;
        let AccountValue::Whoami { body, label } = called.value else {
            return Err(unexpected("whoami"));
        };
        if self.out.json {
            self.out.json_line(&json!({
                "remote": called.remote,
                "account": called.account,
                "label": label,
                "whoami": body,
            }));
        } else {
            // The answer as the server sent it: numbers stay numbers, nesting stays.
            self.out.result(&pretty(&body));
        }
        Ok(EXIT_OK)
    }
}
