//! `set-key`: replace the API key of the active account, OAuth tokens kept

use super::*;

impl Ctx<'_> {
    pub(super) fn set_key(&mut self, engine: &mut dyn Engine, a: SetKeyArgs) -> CliResult {
        let key = match a.key {
            Some(key) => key,
            None => read_stdin_secret("API key")?,
        };
        let config = self.config()?;
        let (name, remote) = self.remote_of(&config)?;
        let account = current_account(&remote);
        let outcome = engine.set_key(&remote.spec(&name, &[])?, &account, key)?;
        self.remember_login(&name, &outcome)?;
        self.report(&json!({
                "event": "set_key", "remote": outcome.remote, "account": outcome.account, "auth_type": "api_key",
            }), &self.message(
                self.app.product().messages.key_saved,
                &[
                    ("remote", &safe(&outcome.remote)),
                    ("account", &safe(&outcome.account)),
                ],
            ));
        Ok(EXIT_OK)
    }
}
