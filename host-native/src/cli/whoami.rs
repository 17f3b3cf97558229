//! `whoami`: the account the credential belongs to, as the remote's API answers it

use keyhole_core::AccountValue;

use super::account::{one_line, pretty, unexpected};
use super::*;

/// The `--json` line: the server's JSON as it sent it, keys in its order
#[derive(serde::Serialize)]
struct WhoamiLine<'a> {
    remote: &'a str,
    account: &'a str,
    label: Option<&'a str>,
    whoami: keyhole_core::JsonText,
}

impl Ctx<'_> {
    pub(super) fn whoami(&mut self, engine: &mut dyn Engine) -> CliResult {
        let operation = self.whoami_operation()?;
        let called = self.account_call(engine, operation)?;
        let AccountValue::Whoami { body, label } = called.value else {
            return Err(unexpected("whoami"));
        };
        if self.out.json {
            self.out.json_line(&WhoamiLine {
                remote: &called.remote,
                account: &called.account,
                label: label.as_deref(),
                whoami: one_line(&body),
            });
        } else {
            // The answer as the server sent it: keys in its order, numbers stay numbers.
            self.out.result(&pretty(&body));
        }
        Ok(EXIT_OK)
    }
}
