//! The flow machines, one file per flow
//!
//! Each is a [`crate::Machine`]: built from its config (serde-deserialisable), `now_ms` and the
//! random bytes it needs, then fed inputs and drained of outputs. The crate root re-exports each
//! module (`keyhole_core::device`), so paths stay short.
/// The one list of machines. Adding a machine means a line here (and its case in the WIT
/// `machine-config`); every artefact and host expands its own code from this list:
/// `for_each_machine!(callback)` calls `callback! { Variant => "wire_name", Type, "doc"; ... }`,
/// where `Variant` is also the WIT `machine-config` case and the JS class name, and `Type`
/// implements [`crate::machine::FromConfig`].
#[macro_export]
macro_rules! for_each_machine {
    ($callback:ident) => {
        $callback! {
            Discovery => "discovery", $crate::Discovery,
                "Issuer URL to endpoints (OpenID Connect or RFC 8414 metadata)";
            DeviceLogin => "device_login", $crate::DeviceLogin,
                "RFC 8628 device authorization grant";
            BrowserLogin => "browser_login", $crate::BrowserLogin,
                "Authorization code with PKCE and a loopback redirect";
            Refresh => "refresh", $crate::Refresh, "Refresh a token set when it needs it";
            Credential => "credential", $crate::Credential,
                "One account's credential: resolve, refresh, store";
            KeyCheck => "key_check", $crate::KeyCheck,
                "Validate an API key with a configured request";
            Revocation => "revocation", $crate::Revocation, "RFC 7009 token revocation";
            AccountCall => "account_call", $crate::AccountCall,
                "One account API call (who am I, projects, API keys) with the stored credential";
        }
    };
}

pub mod account;
pub mod browser;
pub mod credential;
pub mod device;
pub mod discovery;
pub mod key_check;
pub mod refresh;
pub mod revocation;
