//! The operation machines, one file per operation: what a CLI's `auth` commands do, whole
//!
//! Each operation (login by device, browser or API key, `set-key`, `token`, `status`, `logout`,
//! `forget`, `test`, an account call) is a [`crate::Machine`] of the same shape as the flows,
//! composed from them as sub-machines: the operation forwards a flow's requests, store operations,
//! prompts and waits as its own and goes on with its result. Store reads and compare-and-swap
//! writes are `Output::Store` / `Input::Stored` like HTTP, so one [`crate::drive`] runs a whole
//! operation, an async host writes the same loop with `await`, and a transcript pins a whole
//! operation. Lost compare-and-swap races are retried within the one [`crate::SwapBudget`].
//!
//! Besides the operations, three steps they share have a file each: `endpoints` (discovery or
//! the configured endpoints), `save_tokens` (naming the account of an OAuth login and storing
//! its tokens) and `update_record` (load, change, compare-and-swap). [`crate::client`] runs each
//! operation with `drive` for hosts that have an [`crate::Io`].

/// The one list of operations. Adding one means a line here; the transcript runners build
/// operations from it by wire name: `for_each_operation!(callback)` calls
/// `callback! { Variant => "wire_name", Type, "doc"; ... }`, where `Type` implements
/// [`crate::machine::FromConfig`] and its value [`crate::machine::WireValue`].
#[macro_export]
macro_rules! for_each_operation {
    ($callback:ident) => {
        $callback! {
            LoginDevice => "login_device", $crate::ops::LoginDevice,
                "Device login from the remote's endpoints to the stored record";
            LoginBrowser => "login_browser", $crate::ops::LoginBrowser,
                "Browser login from the remote's endpoints to the stored record";
            LoginApiKey => "login_api_key", $crate::ops::LoginApiKey,
                "Check an API key and store it, naming the account after it";
            SetKey => "set_key", $crate::ops::SetKey,
                "Check an API key and store it as a named account's key";
            Token => "token", $crate::ops::Token,
                "A usable credential, refreshed and saved when due";
            Status => "status", $crate::ops::Status, "An account's login state from the store";
            Logout => "logout", $crate::ops::Logout,
                "Revoke an account's tokens, then delete its record";
            Forget => "forget", $crate::ops::Forget, "Delete an account's record";
            Test => "test", $crate::ops::TestCredential,
                "Check a credential against the key-check endpoint";
            Account => "account", $crate::ops::Account,
                "One account API call with an account's credential";
        }
    };
}

pub mod account;
pub(crate) mod endpoints;
pub mod forget;
pub mod login_api_key;
pub mod login_browser;
pub mod login_device;
pub mod login_outcome;
pub mod logout;
pub mod remote;
mod save_tokens;
pub mod set_key;
pub mod status;
pub mod test;
pub mod token;
mod update_record;

pub use account::{Account, AccountConfig};
pub use forget::{Forget, ForgetConfig};
pub use login_api_key::{LoginApiKey, LoginApiKeyConfig};
pub use login_browser::{LoginBrowser, LoginBrowserConfig};
pub use login_device::{LoginDevice, LoginDeviceConfig};
pub use login_outcome::{
    DEFAULT_ACCOUNT, DEFAULT_ACCOUNT_LABEL, LoginOutcome, account_label, default_account_label,
};
pub use logout::{Logout, LogoutConfig, LogoutOutcome};
pub use remote::{CredentialOptions, RemoteSpec};
pub use set_key::{SetKey, SetKeyConfig};
pub use status::{Status, StatusConfig, StatusReport};
pub use test::{TestConfig, TestCredential, TestFailure, TestMethod, TestOptions, TestReport};
pub use token::{Token, TokenConfig};
