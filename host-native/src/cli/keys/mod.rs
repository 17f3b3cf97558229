//! `keys create|list|show|delete`: the account's API keys, one file per command

mod create;
mod delete;
mod list;
mod show;

use super::*;

impl Ctx<'_> {
    pub(super) fn keys(&mut self, engine: &mut dyn Engine, command: KeysCommand) -> CliResult {
        match command {
            KeysCommand::Create(a) => self.key_create(engine, a),
            KeysCommand::List => self.key_list(engine),
            KeysCommand::Show { id } => self.key_show(engine, id),
            KeysCommand::Delete { id } => self.key_delete(engine, id),
        }
    }

    fn key_api(&self) -> crate::product::AccountApi {
        self.app.product().account_api
    }
}
