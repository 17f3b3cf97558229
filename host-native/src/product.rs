//! The vendor description: one value decides everything that differs between the CLIs built on
//! keyhole, each item defaulting to keyhole's own behaviour
//!
//! A vendor writes a `static` with struct-update syntax over [`Product::KEYHOLE`] and changes
//! only what differs:
//!
//! ```
//! use keyhole_native::product::{EnvNames, Product, RemoteTemplate};
//! static VTRIX: Product = Product {
//!     name: "vtrix",
//!     keyring_service: "vtrix",
//!     config_dir_name: "vtrix",
//!     env: EnvNames { no_keyring: "VTRIX_NO_KEYCHAIN", ..EnvNames::KEYHOLE },
//!     remotes: &[RemoteTemplate { name: "vtrix", issuer: Some("https://vtrix.ai"), ..RemoteTemplate::EMPTY }],
//!     ..Product::KEYHOLE
//! };
//! assert_eq!(VTRIX.env.api_key, "KEYHOLE_API_KEY");
//! ```
//!
//! Nothing in keyhole asks which vendor it runs for: a difference is a field here.

use crate::config::{EnvKeyPrecedence, KeyCheckSettings, RemoteConfig};
use keyhole_core::client::DEFAULT_ACCOUNT_LABEL;
use keyhole_core::http::Method;

/// Who is embedding keyhole, and how its `auth` group behaves
#[derive(Debug, Clone, Copy)]
pub struct Product {
    /// The command name, in help and in messages (`keyhole`, `vtrix`)
    pub name: &'static str,
    /// The keyring service credentials are stored under (`baseten-truss`)
    pub keyring_service: &'static str,
    /// The config directory's name under `$XDG_CONFIG_HOME` or `~/.config`
    pub config_dir_name: &'static str,
    /// Environment variables by role
    pub env: EnvNames,
    /// Whether the API-key variable beats stored credentials (vast) or only stands in (truss)
    pub env_key_precedence: EnvKeyPrecedence,
    /// Where and in which format config and file credentials live
    pub storage: Storage,
    /// Built-in remotes: `login --remote NAME` creates a missing one from its template
    pub remotes: &'static [RemoteTemplate],
    /// The remote used when none is named or current (a name in `remotes`)
    pub default_remote: Option<&'static str>,
    /// Whether `logout` also removes the remote from the config (truss)
    pub logout_removes_remote: bool,
    /// Whether logging out of the active account leaves no account active (llamactl) rather
    /// than making another one active
    pub logout_clears_selection: bool,
    /// The login method used without a flag; `None` asks with the menu on a terminal (and
    /// refuses without one)
    pub default_login: Option<LoginMethod>,
    /// The login menu shown on a terminal when no method is given
    pub login_menu: LoginMenu,
    /// Browser login: the loopback port when neither `--port` nor the remote sets one (0: any)
    pub callback_port: u16,
    /// Browser login: seconds to wait for the callback when `--timeout` is not given
    pub callback_timeout_secs: u64,
    /// Whether `test --url` names an API base whose origin replaces the key check's, the path
    /// staying (sentrix); else it is the whole URL to call
    pub test_url_is_base: bool,
    /// Whether `login` ends with choosing the account's project from the server's list (or
    /// checking `--project` against it), and leaves no new account behind when that fails
    /// (llamactl)
    pub login_chooses_project: bool,
    /// The account name of an API-key login whose key check names nobody, `{n}` the smallest
    /// free number (llamactl: `profile-{n}`); `None`: `default`, one such account per remote
    pub unnamed_account: Option<&'static str>,
    /// The `auth` group's commands that exist, by name (`set-key`, `git-credential`); `None`:
    /// all of keyhole's. The others are left out of help and refused when typed.
    pub commands: Option<&'static [&'static str]>,
    /// Extra names of subcommands: (command, alias), e.g. `("logout", "signout")`
    pub aliases: &'static [(&'static str, &'static str)],
    /// The account API of the remotes (who am I, projects, API keys), relative to each remote's
    /// `api_url`
    pub account_api: AccountApi,
    /// Whether an account whose OAuth refresh the provider refuses goes on with the API key
    /// stored beside its tokens, with the warning `messages.api_key_fallback` (keyhole: yes; see
    /// `RemoteSpec::api_key_fallback`); written into each remote this product creates
    pub api_key_fallback: bool,
    /// The identity claims that name an account at login, tried in order (OAuth: ID token,
    /// then userinfo; API keys: the key check's identity fields); keyhole's is
    /// `DEFAULT_ACCOUNT_LABEL`, the email first. Written into each remote this product creates.
    pub account_label: &'static [&'static str],
    /// Every user-facing line that differs between vendors
    pub messages: Messages,
}

impl Product {
    /// keyhole's own behaviour, the base every vendor's value starts from
    pub const KEYHOLE: Product = Product {
        name: "keyhole",
        keyring_service: "keyhole",
        config_dir_name: "keyhole",
        env: EnvNames::KEYHOLE,
        env_key_precedence: EnvKeyPrecedence::Override,
        storage: Storage::KeyholeToml,
        remotes: &[],
        default_remote: None,
        logout_removes_remote: false,
        logout_clears_selection: false,
        default_login: None,
        login_menu: LoginMenu::KEYHOLE,
        callback_port: 0,
        callback_timeout_secs: 300,
        test_url_is_base: false,
        login_chooses_project: false,
        unnamed_account: None,
        commands: None,
        aliases: &[],
        account_api: AccountApi::KEYHOLE,
        api_key_fallback: true,
        account_label: DEFAULT_ACCOUNT_LABEL,
        messages: Messages::KEYHOLE,
    };

    /// Whether the `auth` command `name` exists in this product's group
    pub fn has_command(&self, name: &str) -> bool {
        self.commands.is_none_or(|names| names.contains(&name))
    }

    /// The built-in remote named `name`
    pub fn template(&self, name: &str) -> Option<&'static RemoteTemplate> {
        self.remotes.iter().find(|t| t.name == name)
    }

    /// The template of the default remote
    pub fn default_template(&self) -> Option<&'static RemoteTemplate> {
        self.default_remote.and_then(|n| self.template(n))
    }

    /// The `account_label` of a remote this product creates: `None` (keyhole's order, not
    /// written to the config) unless the product names the account otherwise
    pub fn account_label_config(&self) -> Option<Vec<String>> {
        (self.account_label != DEFAULT_ACCOUNT_LABEL)
            .then(|| self.account_label.iter().map(|c| (*c).to_owned()).collect())
    }

    /// The user agent of HTTP requests
    pub fn user_agent(&self) -> String {
        format!("{}/{} (keyhole)", self.name, env!("CARGO_PKG_VERSION"))
    }
}

impl Default for Product {
    fn default() -> Self {
        Product::KEYHOLE
    }
}

/// The names of the environment variables keyhole reads, by role
#[derive(Debug, Clone, Copy)]
pub struct EnvNames {
    /// An API key to use (`VAST_API_KEY`, `BASETEN_API_KEY`)
    pub api_key: &'static str,
    /// Set to anything but `0`: skip the keyring, use the file (`VTRIX_NO_KEYCHAIN`)
    pub no_keyring: &'static str,
    /// The config directory
    pub config_dir: &'static str,
    /// The remote to use when `--remote` is not given
    pub remote: &'static str,
    /// Where `exec` puts the fresh token for the command it runs
    pub token: &'static str,
}

impl EnvNames {
    /// keyhole's variables
    pub const KEYHOLE: EnvNames = EnvNames {
        api_key: "KEYHOLE_API_KEY",
        no_keyring: "KEYHOLE_NO_KEYRING",
        config_dir: "KEYHOLE_CONFIG_DIR",
        remote: "KEYHOLE_REMOTE",
        token: "KEYHOLE_TOKEN",
    };
}

/// Where config and file credentials live, and in which format
///
/// Only [`Storage::KeyholeToml`] is implemented in this crate so far; the vendor formats are
/// being added in `store/` and are wired in here when they land. Until then a product naming
/// one runs on keyhole's TOML layout in its own config directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Storage {
    /// keyhole's versioned `config.toml` plus `credentials.toml` in the config directory
    #[default]
    KeyholeToml,
    /// truss's INI `~/.trussrc`, one section per remote
    TrussRc,
    /// vtrix's YAML `~/.config/vtrix/config.yml`
    VtrixYaml,
    /// vast's plain key file `$XDG_CONFIG_HOME/vastai/vast_api_key`, legacy `~/.vast_api_key`
    VastKeyFile,
}

/// A login method
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMethod {
    /// A one-time code entered in a browser anywhere (RFC 8628)
    Device,
    /// This machine's browser with a loopback callback
    Browser,
    /// A pasted API key
    ApiKey,
}

/// The menu `login` shows on a terminal when no method is given
#[derive(Debug, Clone, Copy)]
pub struct LoginMenu {
    /// Printed before the question (empty: nothing)
    pub intro: &'static str,
    /// The question
    pub question: &'static str,
    /// The choices in order, each with its wording
    pub choices: &'static [(LoginMethod, &'static str)],
    /// The choice taken on an empty answer (an index into `choices`)
    pub default: usize,
    /// The prompt for a pasted key
    pub key_prompt: &'static str,
}

impl LoginMenu {
    /// keyhole's menu
    pub const KEYHOLE: LoginMenu = LoginMenu {
        intro: "",
        question: "How would you like to log in?",
        choices: &[
            (
                LoginMethod::Device,
                "With a one-time code in a browser (device login)",
            ),
            (LoginMethod::Browser, "With this machine's browser"),
            (LoginMethod::ApiKey, "By pasting an API key"),
        ],
        default: 0,
        key_prompt: "Paste your API key: ",
    };
}

/// A built-in remote
#[derive(Debug, Clone, Copy)]
pub struct RemoteTemplate {
    /// Its name (`baseten`)
    pub name: &'static str,
    /// The OpenID issuer (endpoints are discovered from it)
    pub issuer: Option<&'static str>,
    /// Explicit token endpoint: for providers without discovery, or overriding the discovered one
    pub token_endpoint: Option<&'static str>,
    /// Explicit device authorization endpoint
    pub device_authorization_endpoint: Option<&'static str>,
    /// Explicit authorization endpoint
    pub authorization_endpoint: Option<&'static str>,
    /// Explicit revocation endpoint
    pub revocation_endpoint: Option<&'static str>,
    /// The OAuth client id registered for the vendor's CLI
    pub client_id: &'static str,
    /// The scopes asked for at login
    pub scopes: &'static [&'static str],
    /// The API these credentials are for
    pub api_url: Option<&'static str>,
    /// How an API key is validated: method, URL, header, scheme
    pub key_check: Option<KeyCheckTemplate>,
    /// An environment variable whose value replaces the origin (`scheme://host:port`) of every
    /// URL above, so staging or a local test server is one variable away
    pub origin_env: Option<&'static str>,
}

impl RemoteTemplate {
    /// A template with nothing set, for struct-update syntax
    pub const EMPTY: RemoteTemplate = RemoteTemplate {
        name: "",
        issuer: None,
        token_endpoint: None,
        device_authorization_endpoint: None,
        authorization_endpoint: None,
        revocation_endpoint: None,
        client_id: "",
        scopes: &[],
        api_url: None,
        key_check: None,
        origin_env: None,
    };

    /// The remote's config, with the origin from `origin_env` when it is set
    pub fn to_config(&self, product: &Product) -> RemoteConfig {
        let origin = self
            .origin_env
            .and_then(|v| std::env::var(v).ok())
            .filter(|v| !v.is_empty());
        self.to_config_at(product, origin)
    }

    /// The remote's config at another origin (`https://staging.example.com`), paths kept
    pub fn to_config_at(&self, product: &Product, origin: Option<String>) -> RemoteConfig {
        let url = |u: &str| match &origin {
            Some(o) => with_origin(u, o),
            None => u.to_owned(),
        };
        let endpoints = crate::config::explicit_endpoints(
            self.token_endpoint.map(url),
            self.device_authorization_endpoint.map(url),
            self.authorization_endpoint.map(url),
            self.revocation_endpoint.map(url),
        );
        RemoteConfig {
            issuer: self.issuer.map(url),
            endpoints,
            client_id: self.client_id.to_owned(),
            scopes: self.scopes.iter().map(|s| (*s).to_owned()).collect(),
            api_url: self.api_url.map(url),
            key_check: self.key_check.map(|k| KeyCheckSettings {
                method: k.method.to_owned(),
                url: url(k.url),
                header: k.header.to_owned(),
                scheme: k.scheme.to_owned(),
                identity: k
                    .identity
                    .iter()
                    .map(|(n, p)| ((*n).to_owned(), (*p).to_owned()))
                    .collect(),
            }),
            env_key_precedence: product.env_key_precedence,
            api_key_fallback: product.api_key_fallback,
            account_label: product.account_label_config(),
            // A vendor's own defaults are written into the remote's config, where its users
            // change them (sentrix: "from config").
            callback_port: (product.callback_port != 0).then_some(product.callback_port),
            callback_timeout_s: (product.callback_timeout_secs
                != Product::KEYHOLE.callback_timeout_secs)
                .then_some(product.callback_timeout_secs),
            ..RemoteConfig::default()
        }
    }
}

/// `url` with its scheme, host and port (and any path prefix) taken from `origin`; the path and
/// query stay
pub fn with_origin(url: &str, origin: &str) -> String {
    match (url::Url::parse(url), url::Url::parse(origin)) {
        (Ok(u), Ok(o)) => {
            let base = o.as_str().trim_end_matches('/');
            let rest = &u[url::Position::BeforePath..];
            let rest = if rest == "/" && !url.ends_with('/') {
                ""
            } else {
                rest
            };
            format!("{base}{rest}")
        }
        _ => url.to_owned(),
    }
}

/// How a built-in remote validates an API key
#[derive(Debug, Clone, Copy)]
pub struct KeyCheckTemplate {
    /// `GET` or `POST`
    pub method: &'static str,
    /// The URL
    pub url: &'static str,
    /// The header carrying the key (`authorization`)
    pub header: &'static str,
    /// The scheme before the key (`Bearer`; empty for the raw key)
    pub scheme: &'static str,
    /// Identity fields of the JSON answer: (name, JSON pointer)
    pub identity: &'static [(&'static str, &'static str)],
}

/// A vendor's account API: each operation's HTTP method and path (under the remote's `api_url`,
/// a leading `/` included, and never outside it; `{id}` is filled in, percent-encoded) and where
/// the answer's fields are. `None` means the vendor
/// has no such operation, and its command says so without sending anything.
#[derive(Debug, Clone, Copy)]
pub struct AccountApi {
    /// Who the credential belongs to: the server's JSON, shown as sent
    pub whoami: Option<WhoamiCall>,
    /// The projects the credential may use
    pub list_projects: Option<ProjectsCall>,
    /// A new API key; its secret is in this answer only
    pub create_key: Option<CreateKeyCall>,
    /// The account's API keys (without secrets)
    pub list_keys: Option<ListCall>,
    /// One API key by id (`path` has `{id}`)
    pub show_key: Option<ApiCall>,
    /// Deletes an API key by id (`path` has `{id}`)
    pub delete_key: Option<ApiCall>,
}

impl AccountApi {
    /// keyhole's own paths under the API base (`https://api.example.com/v1` + `me`), as the
    /// core's defaults name them; `/api/me` under `https://h/v1` is still `https://h/v1/api/me`
    pub const KEYHOLE: AccountApi = AccountApi {
        whoami: Some(WhoamiCall {
            method: Method::Get,
            path: "me",
            label: &["/email", "/name", "/id"],
        }),
        list_projects: Some(ProjectsCall {
            method: Method::Get,
            path: "projects",
            list: "/projects",
            id_field: "id",
            name_field: "name",
        }),
        create_key: Some(CreateKeyCall {
            method: Method::Post,
            path: "api-keys",
            name_field: "name",
            permissions_field: "permissions",
            key_pointer: "/key",
        }),
        list_keys: Some(ListCall {
            method: Method::Get,
            path: "api-keys",
            list: "/keys",
        }),
        show_key: Some(ApiCall {
            method: Method::Get,
            path: "api-keys/{id}",
        }),
        delete_key: Some(ApiCall {
            method: Method::Delete,
            path: "api-keys/{id}",
        }),
    };

    /// No account API at all
    pub const NONE: AccountApi = AccountApi {
        whoami: None,
        list_projects: None,
        create_key: None,
        list_keys: None,
        show_key: None,
        delete_key: None,
    };
}

/// An account call's method and path
#[derive(Debug, Clone, Copy)]
pub struct ApiCall {
    /// `GET`, `POST` or `DELETE`
    pub method: Method,
    /// The path under the remote's `api_url` (`/api/v0/auth/apikeys/{id}/`)
    pub path: &'static str,
}

/// `whoami`
#[derive(Debug, Clone, Copy)]
pub struct WhoamiCall {
    /// The method
    pub method: Method,
    /// The path
    pub path: &'static str,
    /// JSON pointers tried in order for the account's label (`/email`)
    pub label: &'static [&'static str],
}

/// Listing projects
#[derive(Debug, Clone, Copy)]
pub struct ProjectsCall {
    /// The method
    pub method: Method,
    /// The path
    pub path: &'static str,
    /// A JSON pointer to the array (`/projects`; empty: the answer is the array)
    pub list: &'static str,
    /// Each project's id field
    pub id_field: &'static str,
    /// Each project's name field
    pub name_field: &'static str,
}

/// Creating an API key
#[derive(Debug, Clone, Copy)]
pub struct CreateKeyCall {
    /// The method
    pub method: Method,
    /// The path
    pub path: &'static str,
    /// The request body's field for the key's name
    pub name_field: &'static str,
    /// The request body's field for the permissions JSON (left out without one)
    pub permissions_field: &'static str,
    /// A JSON pointer to the new key's secret in the answer (`/key`)
    pub key_pointer: &'static str,
}

/// Listing API keys
#[derive(Debug, Clone, Copy)]
pub struct ListCall {
    /// The method
    pub method: Method,
    /// The path
    pub path: &'static str,
    /// A JSON pointer to the array (`/keys`; empty: the answer is the array)
    pub list: &'static str,
}

/// The user-facing lines that differ between vendors; `{remote}`, `{account}`, `{auth_type}`
/// and `{name}` (the command name) are filled in
#[derive(Debug, Clone, Copy)]
pub struct Messages {
    /// After a login
    pub logged_in: &'static str,
    /// After `set-key`
    pub key_saved: &'static str,
    /// After a logout; `{revoked}` is ` (revoked …)` when tokens were revoked
    pub logged_out: &'static str,
    /// Before the success lines (`✓`; empty: none)
    pub mark: &'static str,
    /// `login` without a method flag and without a terminal to ask on
    pub no_login_method: &'static str,
    /// `status` of a remote nobody is logged in to
    pub not_logged_in: &'static str,
    /// `--remote NAME` names no remote: `{remote}`, `{name}`
    pub unknown_remote: &'static str,
    /// No remote is configured and the product has no default: `{name}`
    pub no_remote: &'static str,
    /// Several remotes, none current or named: `{remotes}` (comma-separated), `{name}`
    pub several_remotes: &'static str,
    /// `logout` of an account with an API key, which only the provider can revoke (empty: say
    /// nothing, where the product's docs say logout clears local credentials only)
    pub api_key_kept: &'static str,
    /// The one line printed when no keyring is usable and a credential goes to the file
    /// instead: `{why}`
    pub keyring_fallback: &'static str,
    /// A command that needs a credential found none: `{error}` (the core's text), `{name}`
    /// and `{api_key_env}`
    pub login_required: &'static str,
    /// The one warning line when the provider refused the OAuth refresh and the stored API key
    /// is used instead: `{account}`, `{remote}`, `{reason}` (the provider's refusal), `{name}`
    pub api_key_fallback: &'static str,
    /// Device login: waiting for the approval
    pub device_waiting: &'static str,
    /// Browser login: waiting for the callback
    pub browser_waiting: &'static str,
    /// Device login: the prompt, with `{code}`, `{url}` and `{url_complete}` (the URL with the
    /// code filled in, else the plain one); `None` prints keyhole's own lines
    pub device_prompt: Option<&'static str>,
    /// Browser login: printed once the callback listener is up, with `{url}` (empty: nothing)
    pub browser_callback: &'static str,
    /// `{saved}` of `logged_in` when the credentials went to the OS keyring
    pub saved_to_keyring: &'static str,
    /// `{saved}` of `logged_in` when they went to the file
    pub saved_to_file: &'static str,
    /// `{source}` of `status` for the keyring, the file store and the API-key variable
    pub sources: [&'static str; 3],
    /// `status` of a logged-in account, with `{remote}`, `{remote_url}`, `{account}`,
    /// `{auth_type}`, `{source}`, `{expires_date}` (YYYY-MM-DD, `never` without expiry) and
    /// `{project}`; `None` prints keyhole's own lines
    pub status: Option<&'static str>,
}

impl Messages {
    /// keyhole's wording
    pub const KEYHOLE: Messages = Messages {
        logged_in: "Logged in to {remote} as {account} ({auth_type})",
        key_saved: "Saved the API key of {account} on {remote}",
        logged_out: "Logged out of {remote} as {account}{revoked}",
        mark: "✓",
        no_login_method: "no login method given and no terminal to ask on; pass --device, --browser, --api-key KEY or --api-key-stdin",
        not_logged_in: "{remote}: not logged in; run `{name} login`",
        login_required: "{error}; run `{name} login` or set {api_key_env}",
        api_key_fallback: "the OAuth session for {account} was refused ({reason}); using the stored API key — run `{name} login` to restore it",
        api_key_kept: "the API key is cleared here but stays valid at the provider: only the provider can revoke it",
        keyring_fallback: "warning: no usable keyring ({why}); credentials are stored in a file in the config directory",
        unknown_remote: "no remote named `{remote}`; `{name} remote list` shows them, `{name} remote add` adds one",
        no_remote: "no remote is configured; add one with `{name} remote add NAME --issuer URL --client-id ID`",
        several_remotes: "several remotes are configured ({remotes}); choose one with --remote NAME or `{name} remote use NAME`",
        device_waiting: "Waiting for approval",
        browser_waiting: "Waiting for the browser login",
        device_prompt: None,
        browser_callback: "",
        saved_to_keyring: "keyring",
        saved_to_file: "file",
        sources: ["keyring", "file", "env"],
        status: None,
    };
}

/// `template` with each `{key}` replaced by its value, and each `{key:N}` by its value padded
/// with spaces to N characters (for boxes); unknown keys stay as written
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut text = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            rest = &rest[open..];
            break;
        };
        let field = &after[..close];
        let (key, width) = match field.split_once(':') {
            Some((key, width)) => (key, width.parse::<usize>().ok()),
            None => (field, None),
        };
        match values.iter().find(|(k, _)| *k == key) {
            Some((_, value)) => {
                text.push_str(value);
                let shown = value.chars().count();
                let pad = width.map_or(0, |w| w.saturating_sub(shown));
                text.extend(std::iter::repeat_n(' ', pad));
            }
            None => {
                text.push('{');
                text.push_str(field);
                text.push('}');
            }
        }
        rest = &after[close + 1..];
    }
    text.push_str(rest);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_override_keeps_paths() {
        assert_eq!(
            with_origin("https://api.sentrix.ai/v1/me?x=1", "http://127.0.0.1:9"),
            "http://127.0.0.1:9/v1/me?x=1"
        );
        assert_eq!(
            with_origin("https://vtrix.ai", "http://127.0.0.1:9/"),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn messages_fill_their_fields() {
        assert_eq!(
            fill(
                Messages::KEYHOLE.logged_out,
                &[("remote", "r"), ("account", "a"), ("revoked", "")]
            ),
            "Logged out of r as a"
        );
        // Padded fields fill boxes; unknown ones and a lone brace stay as written.
        assert_eq!(
            fill("│ {url:6}│ {x} {", &[("url", "ab")]),
            "│ ab    │ {x} {"
        );
    }
}
