//! `token`: print a usable credential, refreshed if needed

use super::*;

impl Ctx<'_> {
    pub(super) fn token(&mut self, engine: &mut dyn Engine) -> CliResult {
        let config = self.config()?;
        let (name, remote) = self.remote_of(&config)?;
        let account = current_account(&remote);
        let options = self.credential_options(&remote, &account);
        let resolved = engine.token(&remote.spec(&name, &[]), &account, &options)?;
        self.warn_credential(&resolved, &name, &account);
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", resolved.secret.expose())
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::Other(format!("cannot write the token: {e}")))?;
        Ok(EXIT_OK)
    }
}
