//! The high-level operations a CLI offers, each an operation machine ([`crate::ops`]) run with
//! [`drive`]
//!
//! Hosts (the native `keyhole`, the wasm component's `client` export) call these with their
//! [`Io`]; they keep their own configuration and hand in a [`RemoteSpec`]. Everything here is plain
//! data so that the WIT `client` interface can mirror it one to one. The logic lives in the
//! machines; these functions only build one and drive it.
use crate::account::{AccountOperation, AccountValue};
use crate::credential::ResolvedCredential;
use crate::drive::{Io, drive};
use crate::error::AuthError;
use crate::oauth::Endpoints;
use crate::ops::endpoints::ResolveEndpoints;
use crate::ops::{
    Account, AccountConfig, Forget, ForgetConfig, LoginApiKey, LoginApiKeyConfig, LoginBrowser,
    LoginBrowserConfig, LoginDevice, LoginDeviceConfig, Logout, LogoutConfig, SetKey, SetKeyConfig,
    Status, StatusConfig, TestConfig, TestCredential, Token, TokenConfig,
};
use crate::secret::Secret;

pub use crate::credential::AuthType;
pub use crate::ops::{
    CredentialOptions, DEFAULT_ACCOUNT, DEFAULT_ACCOUNT_LABEL, LoginOutcome, LogoutOutcome,
    RemoteSpec, StatusReport, TestFailure, TestMethod, TestOptions, TestReport, account_label,
    default_account_label,
};

/// The remote's endpoints: discovery from the issuer with the configured endpoints laid over it
/// field by field, or the configured ones alone without an issuer
///
/// Configured endpoints that name the remote's issuer are a (cached) discovery result and are
/// used as they are; without the issuer they are explicit overrides, so discovery still runs.
pub fn resolve_endpoints(io: &mut impl Io, remote: &RemoteSpec) -> Result<Endpoints, AuthError> {
    let now = io.now_ms();
    drive(ResolveEndpoints::new(remote.clone(), now), io)
}

/// Logs in with the device flow (RFC 8628) and stores the tokens, keeping a stored API key
///
/// The prompt reaches the user through [`Io::show`]. The account is named after the ID token's
/// identity, else `account_hint`, else `default`.
pub fn login_device(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account_hint: Option<&str>,
) -> Result<LoginOutcome, AuthError> {
    let config = LoginDeviceConfig {
        remote: remote.clone(),
        account_hint: account_hint.map(str::to_owned),
    };
    let now = io.now_ms();
    drive(LoginDevice::new(config, now), io)
}

/// Logs in through the browser (authorization code + PKCE) and stores the tokens
///
/// The host binds its loopback listener on 127.0.0.1 first and passes the port; `random` holds
/// at least [`crate::browser::RANDOM_BYTES`] bytes from a CSPRNG.
pub fn login_browser(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account_hint: Option<&str>,
    port: u16,
    timeout_s: u64,
    random: &[u8],
) -> Result<LoginOutcome, AuthError> {
    let config = LoginBrowserConfig {
        remote: remote.clone(),
        account_hint: account_hint.map(str::to_owned),
        port,
        timeout_s,
    };
    let now = io.now_ms();
    drive(LoginBrowser::new(config, now, random), io)
}

/// Validates `key` with the remote's key check (when it has one) and stores it as the account's
/// API key; OAuth tokens in the record stay
///
/// With `account: None` the account is named after the key check's identity, else `default`.
pub fn login_api_key(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account: Option<&str>,
    key: Secret,
) -> Result<LoginOutcome, AuthError> {
    let config = LoginApiKeyConfig {
        remote: remote.clone(),
        account: account.map(str::to_owned),
        key,
    };
    let now = io.now_ms();
    drive(LoginApiKey::new(config, now), io)
}

/// Replaces only the API key of `account` (validated first when the remote has a key check)
pub fn set_key(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account: &str,
    key: Secret,
) -> Result<LoginOutcome, AuthError> {
    let config = SetKeyConfig {
        remote: remote.clone(),
        account: account.to_owned(),
        key,
    };
    let now = io.now_ms();
    drive(SetKey::new(config, now), io)
}

/// A usable credential for `account`, refreshing the OAuth token first when it is (nearly)
/// expired; concurrent processes refresh once (the Credential machine locks and swaps)
pub fn token(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account: &str,
    options: &CredentialOptions,
) -> Result<ResolvedCredential, AuthError> {
    let config = TokenConfig {
        remote: remote.clone(),
        account: account.to_owned(),
        options: options.clone(),
    };
    let now = io.now_ms();
    drive(Token::new(config, now), io)
}

/// One call to the remote's account API (`api_url`) with `account`'s credential, resolved and
/// refreshed as [`token`] does: who am I, projects, API keys ([`AccountOperation`])
///
/// An API key goes in the key check's header and scheme when the remote has a key check (else
/// `authorization: Bearer`); an OAuth token always as `authorization: Bearer`.
pub fn account_call(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account: &str,
    options: &CredentialOptions,
    operation: &AccountOperation,
) -> Result<AccountValue, AuthError> {
    let config = AccountConfig {
        remote: remote.clone(),
        account: account.to_owned(),
        options: options.clone(),
        operation: operation.clone(),
    };
    let now = io.now_ms();
    drive(Account::new(config, now), io)
}

/// The account's login state from the store alone (no network, no refresh)
pub fn status(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account: &str,
    options: &CredentialOptions,
) -> Result<StatusReport, AuthError> {
    let config = StatusConfig {
        remote: remote.clone(),
        account: account.to_owned(),
        options: options.clone(),
    };
    let now = io.now_ms();
    drive(Status::new(config, now), io)
}

/// Revokes the account's tokens at the provider (RFC 7009), then deletes the local record
///
/// A revocation failure is reported in the outcome; the local credentials are cleared anyway.
pub fn logout(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account: &str,
) -> Result<LogoutOutcome, AuthError> {
    let config = LogoutConfig {
        remote: remote.clone(),
        account: account.to_owned(),
    };
    let now = io.now_ms();
    drive(Logout::new(config, now), io)
}

/// Deletes the local record of `account` without contacting the provider
pub fn forget(io: &mut impl Io, remote: &RemoteSpec, account: &str) -> Result<(), AuthError> {
    let config = ForgetConfig {
        remote: remote.clone(),
        account: account.to_owned(),
    };
    let now = io.now_ms();
    drive(Forget::new(config, now), io)
}

/// Checks a credential against the remote's key-check endpoint (or `options.url`)
///
/// A failure carries the URL, the HTTP status and the time taken when the check request was
/// made; `?` turns it into its [`AuthError`].
// The failure holds a `Url` (88 bytes) beside the error: once per command, next to an HTTP
// request, the size costs nothing, and a boxed failure would be harder to match on.
#[allow(clippy::result_large_err)]
pub fn test(
    io: &mut impl Io,
    remote: &RemoteSpec,
    account: &str,
    options: &TestOptions,
) -> Result<TestReport, TestFailure> {
    let config = TestConfig {
        remote: remote.clone(),
        account: account.to_owned(),
        options: options.clone(),
    };
    let now = io.now_ms();
    let mut operation = TestCredential::new(config, now);
    drive(&mut operation, io).map_err(|error| operation.failure(error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::EnvPrecedence;
    use crate::error::StoreError;
    use crate::http::{HttpRequest, HttpResponse, TransportError};
    use crate::key_check::{KeyCheckMethod, KeyCheckSpec};
    use crate::machine::Prompt;
    use crate::machine::StoreOp;
    use crate::oauth::{Client, TokenSet};
    use crate::record::{StoredRecord, storage_key};
    use std::collections::BTreeMap;
    use std::collections::HashMap;
    use url::Url;

    /// An in-memory host: a map for the store, a function for HTTP, a clock that advances
    struct Mem {
        now: u64,
        store: HashMap<String, Secret>,
        http: fn(&HttpRequest) -> Result<HttpResponse, TransportError>,
        sent: Vec<String>,
        shown: Vec<Prompt>,
    }

    impl Mem {
        fn new(http: fn(&HttpRequest) -> Result<HttpResponse, TransportError>) -> Self {
            Mem {
                now: 1_700_000_000_000,
                store: HashMap::new(),
                http,
                sent: Vec::new(),
                shown: Vec::new(),
            }
        }

        fn record(&self, key: &str) -> StoredRecord {
            StoredRecord::from_json(&self.store[key]).unwrap()
        }
    }

    impl Io for Mem {
        fn now_ms(&mut self) -> u64 {
            self.now += 1;
            self.now
        }
        fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
            self.sent.push(request.url.to_string());
            (self.http)(request)
        }
        fn store(&mut self, op: &StoreOp) -> Result<Option<Secret>, StoreError> {
            Ok(match op {
                StoreOp::Load { key } => self.store.get(key).cloned(),
                StoreOp::CompareAndSwap { key, expected, new } => {
                    if self.store.get(key) == expected.as_ref() {
                        self.store.insert(key.clone(), new.clone());
                    }
                    self.store.get(key).cloned()
                }
                StoreOp::Delete { key } => {
                    self.store.remove(key);
                    None
                }
                StoreOp::Lock { .. } | StoreOp::Unlock { .. } => None,
            })
        }
        fn show(&mut self, prompt: &Prompt) {
            self.shown.push(prompt.clone());
        }
        fn open_browser(&mut self, _url: &Url) -> bool {
            false
        }
        fn wait_until(&mut self, until_ms: u64) -> Option<String> {
            self.now = self.now.max(until_ms);
            None
        }
        fn answer_callback(&mut self, verdict: crate::machine::CallbackVerdict) {
            panic!("answered {verdict:?}, but no callback was returned");
        }
    }

    fn remote() -> RemoteSpec {
        RemoteSpec {
            name: "work".into(),
            endpoints: Some(Endpoints {
                token_endpoint: Some("https://id.example.com/token".parse().unwrap()),
                device_authorization_endpoint: Some(
                    "https://id.example.com/device".parse().unwrap(),
                ),
                revocation_endpoint: Some("https://id.example.com/revoke".parse().unwrap()),
                ..Endpoints::default()
            }),
            client: Client {
                client_id: "cli".into(),
                ..Client::default()
            },
            key_check: Some(KeyCheckSpec {
                method: KeyCheckMethod::Get,
                url: "https://api.example.com/me".parse().unwrap(),
                header: "authorization".into(),
                scheme: "Bearer".into(),
                identity: BTreeMap::from([("email".into(), "/email".into())]),
            }),
            ..RemoteSpec::default()
        }
    }

    fn id_token() -> String {
        let claims = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"sub":"u1","email":"ada@example.com"}"#,
        );
        format!("x.{claims}.y")
    }

    fn provider(request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let body = match request.url.as_str() {
            "https://id.example.com/device" => serde_json::json!({
                "device_code": "dc", "user_code": "UC-1", "verification_uri": "https://id.example.com/activate",
                "expires_in": 300, "interval": 5,
            }),
            "https://id.example.com/token" => serde_json::json!({
                "access_token": "at", "token_type": "Bearer", "expires_in": 3600,
                "refresh_token": "rt", "id_token": id_token(),
            }),
            "https://id.example.com/revoke" => return Ok(HttpResponse::new(503, "")),
            "https://api.example.com/v1/api-keys" => {
                let auth = request.headers.iter().find(|(n, _)| n == "authorization");
                assert_eq!(auth.map(|(_, v)| v.expose()), Some("Bearer good"));
                assert_eq!(
                    request.body,
                    crate::http::Body::Json(serde_json::json!({"name": "ci"}))
                );
                serde_json::json!({"id": 7, "key": "new-key", "name": "ci"})
            }
            "https://api.example.com/me" => {
                let auth = request.headers.iter().find(|(n, _)| n == "authorization");
                return Ok(match auth.map(|(_, v)| v.expose()) {
                    Some("Bearer good") => HttpResponse::new(200, r#"{"email":"key@example.com"}"#),
                    _ => HttpResponse::new(401, ""),
                });
            }
            other => panic!("unexpected request to {other}"),
        };
        Ok(HttpResponse::new(200, body.to_string()))
    }

    /// A provider whose token responses carry no ID token, with a userinfo endpoint
    fn provider_without_id_token(request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let auth = request.headers.iter().find(|(n, _)| n == "authorization");
        match request.url.as_str() {
            "https://id.example.com/token" => Ok(HttpResponse::new(
                200,
                r#"{"access_token":"at","token_type":"Bearer","expires_in":3600}"#,
            )),
            "https://id.example.com/userinfo" => {
                assert_eq!(auth.map(|(_, v)| v.expose()), Some("Bearer at"));
                Ok(HttpResponse::new(
                    200,
                    r#"{"sub":"u1","preferred_username":"ada","email":"ada@example.com"}"#,
                ))
            }
            "https://id.example.com/userinfo-sub-only" => {
                Ok(HttpResponse::new(200, r#"{"sub":"u1"}"#))
            }
            "https://id.example.com/userinfo-username" => Ok(HttpResponse::new(
                200,
                r#"{"sub":"u1","preferred_username":"ada"}"#,
            )),
            "https://id.example.com/userinfo-down" => Ok(HttpResponse::new(503, "")),
            "https://id.example.com/userinfo-handle" => Ok(HttpResponse::new(
                200,
                r#"{"sub":"u1","email":"ada@example.com","https://example.com/handle":"ada-h"}"#,
            )),
            _ => provider(request),
        }
    }

    #[test]
    fn without_an_id_token_userinfo_names_the_account() {
        let with_userinfo = |url: &str| {
            let mut r = remote();
            r.endpoints.as_mut().unwrap().userinfo_endpoint = Some(url.parse().unwrap());
            r
        };
        let mut io = Mem::new(provider_without_id_token);
        let outcome = login_device(
            &mut io,
            &with_userinfo("https://id.example.com/userinfo"),
            None,
        )
        .unwrap();
        assert_eq!(outcome.account, "ada@example.com");
        assert_eq!(outcome.identity["preferred_username"], "ada");
        assert!(
            io.record(&storage_key("work", "ada@example.com"))
                .oauth
                .is_some()
        );

        let mut io = Mem::new(provider_without_id_token);
        let outcome = login_device(
            &mut io,
            &with_userinfo("https://id.example.com/userinfo-username"),
            None,
        )
        .unwrap();
        assert_eq!(outcome.account, "ada");

        let mut io = Mem::new(provider_without_id_token);
        let outcome = login_device(
            &mut io,
            &with_userinfo("https://id.example.com/userinfo-sub-only"),
            None,
        )
        .unwrap();
        assert_eq!(
            outcome.account, "u1",
            "sub is the last resort before the hint"
        );

        // A failing userinfo endpoint does not fail the login: the hint, else `default`.
        let down = with_userinfo("https://id.example.com/userinfo-down");
        let mut io = Mem::new(provider_without_id_token);
        assert_eq!(
            login_device(&mut io, &down, Some("me")).unwrap().account,
            "me"
        );
        let mut io = Mem::new(provider_without_id_token);
        assert_eq!(
            login_device(&mut io, &down, None).unwrap().account,
            DEFAULT_ACCOUNT
        );

        // With an ID token that has the email, userinfo is not asked.
        let mut io = Mem::new(provider);
        let mut r = remote();
        r.endpoints.as_mut().unwrap().userinfo_endpoint =
            Some("https://id.example.com/never".parse().unwrap());
        assert_eq!(
            login_device(&mut io, &r, None).unwrap().account,
            "ada@example.com"
        );
    }

    /// Issue 12: the claims that name an account are the remote's, in its order
    #[test]
    fn the_remote_decides_which_claims_name_the_account() {
        let labelled = |url: &str, claims: &[&str]| {
            let mut r = remote();
            r.endpoints.as_mut().unwrap().userinfo_endpoint = Some(url::Url::parse(url).unwrap());
            r.account_label = claims.iter().map(|c| (*c).to_owned()).collect();
            r
        };
        let login = |provider, r: &RemoteSpec| {
            let mut io = Mem::new(provider);
            let outcome = login_device(&mut io, r, None).unwrap();
            (outcome, io.sent)
        };
        // The default names Ada after her email; this remote prefers the username.
        let r = labelled(
            "https://id.example.com/userinfo",
            &["preferred_username", "email"],
        );
        let (outcome, _) = login(provider_without_id_token, &r);
        assert_eq!(outcome.account, "ada");
        assert_eq!(outcome.identity["email"], "ada@example.com");
        // A namespaced claim, read from userinfo (its `/` escaped in the pointer).
        let r = labelled(
            "https://id.example.com/userinfo-handle",
            &["https://example.com/handle", "email"],
        );
        assert_eq!(login(provider_without_id_token, &r).0.account, "ada-h");
        // The ID token has the first claim (`sub`): userinfo is not asked.
        let r = labelled("https://id.example.com/never", &["sub", "email"]);
        let (outcome, sent) = login(provider, &r);
        assert_eq!(outcome.account, "u1");
        assert!(!sent.iter().any(|u| u.contains("never")), "{sent:?}");
        // None of the claims: the first identity field, as before.
        let mut r = labelled("https://id.example.com/unused", &["nickname"]);
        r.endpoints.as_mut().unwrap().userinfo_endpoint = None;
        assert_eq!(login(provider, &r).0.account, "ada@example.com");
        // API keys too: the key check's fields in the remote's order.
        let mut io = Mem::new(provider);
        let mut r = remote();
        r.key_check.as_mut().unwrap().identity = BTreeMap::from([
            ("email".into(), "/email".into()),
            ("id".into(), "/email".into()),
        ]);
        r.account_label = vec!["id".into()];
        let outcome = login_api_key(&mut io, &r, None, Secret::new("good")).unwrap();
        assert_eq!(outcome.account, "key@example.com");
        assert_eq!(
            account_label(
                &BTreeMap::from([("email".into(), " ".into()), ("sub".into(), "u1".into())]),
                &default_account_label()
            ),
            Some("u1".into()),
            "a blank claim is skipped"
        );
    }

    #[test]
    fn device_login_names_the_account_and_keeps_a_stored_api_key() {
        let mut io = Mem::new(provider);
        let key = storage_key("work", "ada@example.com");
        let existing = StoredRecord {
            api_key: Some(Secret::new("k1")),
            ..StoredRecord::default()
        };
        io.store.insert(key.clone(), existing.to_json());
        let outcome = login_device(&mut io, &remote(), None).unwrap();
        assert_eq!(outcome.account, "ada@example.com");
        assert_eq!(outcome.auth_type, AuthType::Oauth);
        assert_eq!(io.shown[0].user_code, "UC-1");
        let record = io.record(&key);
        assert_eq!(record.api_key, Some(Secret::new("k1")));
        assert_eq!(record.oauth.unwrap().access_token, Secret::new("at"));
    }

    #[test]
    fn a_login_replaces_a_corrupt_record_but_never_a_newer_one() {
        let mut io = Mem::new(provider);
        let key = storage_key("work", "ada@example.com");
        io.store.insert(key.clone(), Secret::new("{not json"));
        let options = CredentialOptions {
            prefer: AuthType::Oauth,
            env_api_key: None,
        };
        let e = status(&mut io, &remote(), "ada@example.com", &options).unwrap_err();
        assert_eq!(e.code(), "corrupt_credential");
        login_device(&mut io, &remote(), None).unwrap();
        assert!(io.record(&key).oauth.is_some());

        io.store
            .insert(key.clone(), Secret::new(r#"{"version":99}"#));
        let e = login_device(&mut io, &remote(), None).unwrap_err();
        assert!(e.to_string().contains("newer keyhole"), "{e}");
        assert_eq!(io.store[&key], Secret::new(r#"{"version":99}"#));
    }

    #[test]
    fn api_keys_are_checked_first_and_set_key_keeps_tokens() {
        let mut io = Mem::new(provider);
        let e = login_api_key(&mut io, &remote(), None, Secret::new("bad")).unwrap_err();
        assert_eq!(e, AuthError::InvalidKey);
        assert!(io.store.is_empty(), "a rejected key is never stored");
        let outcome = login_api_key(&mut io, &remote(), None, Secret::new("good")).unwrap();
        assert_eq!(outcome.account, "key@example.com");

        login_device(&mut io, &remote(), None).unwrap();
        set_key(&mut io, &remote(), "ada@example.com", Secret::new("good")).unwrap();
        let record = io.record(&storage_key("work", "ada@example.com"));
        assert_eq!(record.api_key, Some(Secret::new("good")));
        assert!(record.oauth.is_some(), "set-key keeps the OAuth tokens");
    }

    #[test]
    fn status_applies_env_precedence_without_the_network() {
        let mut io = Mem::new(provider);
        let options = CredentialOptions {
            prefer: AuthType::Oauth,
            env_api_key: None,
        };
        let s = status(&mut io, &remote(), "ada@example.com", &options).unwrap();
        assert!(!s.logged_in);
        login_device(&mut io, &remote(), None).unwrap();
        let sent = io.sent.len();
        let s = status(&mut io, &remote(), "ada@example.com", &options).unwrap();
        assert_eq!(
            (s.logged_in, s.auth_type, s.from_env),
            (true, Some(AuthType::Oauth), false)
        );
        assert!(s.expires_at_ms.is_some());
        let env = CredentialOptions {
            env_api_key: Some(Secret::new("e")),
            ..options
        };
        let s = status(&mut io, &remote(), "ada@example.com", &env).unwrap();
        assert_eq!((s.auth_type, s.from_env), (Some(AuthType::ApiKey), true));
        let mut fallback = remote();
        fallback.env_precedence = EnvPrecedence::Fallback;
        let s = status(&mut io, &fallback, "ada@example.com", &env).unwrap();
        assert_eq!((s.auth_type, s.from_env), (Some(AuthType::Oauth), false));
        assert_eq!(io.sent.len(), sent, "status sends nothing");
    }

    #[test]
    fn logout_clears_local_credentials_even_when_revocation_fails() {
        let mut io = Mem::new(provider);
        login_device(&mut io, &remote(), None).unwrap();
        let out = logout(&mut io, &remote(), "ada@example.com").unwrap();
        assert!(out.cleared);
        assert!(out.revocation_error.is_some(), "the provider answered 503");
        assert!(io.store.is_empty());
    }

    #[test]
    #[allow(clippy::result_large_err)] // `test`'s failure, as `client::test` gives it
    fn token_and_test_use_the_stored_credential() {
        let mut io = Mem::new(provider);
        login_api_key(&mut io, &remote(), None, Secret::new("good")).unwrap();
        let options = CredentialOptions {
            prefer: AuthType::ApiKey,
            env_api_key: None,
        };
        let t = token(&mut io, &remote(), "key@example.com", &options).unwrap();
        assert_eq!((t.secret, t.kind), (Secret::new("good"), AuthType::ApiKey));
        let mut run = |method, key: Option<&str>| {
            let options = TestOptions {
                method,
                url: None,
                key: key.map(Secret::new),
                credential: options.clone(),
            };
            test(&mut io, &remote(), "key@example.com", &options)
        };
        let report = run(TestMethod::Auto, None).unwrap();
        assert_eq!(report.status, 200);
        assert_eq!(report.identity["email"], "key@example.com");
        let e = run(TestMethod::Oauth, None).unwrap_err();
        assert_eq!(
            e,
            AuthError::NotLoggedIn.into(),
            "no OAuth tokens are stored, so no request was made"
        );
        assert_eq!((e.url, e.status, e.elapsed_ms), (None, None, None));
        let e = run(TestMethod::Auto, Some("bad")).unwrap_err();
        assert_eq!(e.error, AuthError::InvalidKey);
        assert_eq!(
            e.url.as_ref().map(Url::as_str),
            Some("https://api.example.com/me")
        );
        assert_eq!(e.status, Some(401), "a failure keeps the status");
        assert!(e.elapsed_ms.is_some(), "and the time taken");
    }

    #[test]
    fn account_calls_send_the_stored_credential_to_the_api_url() {
        let mut io = Mem::new(provider);
        login_api_key(&mut io, &remote(), None, Secret::new("good")).unwrap();
        let options = CredentialOptions {
            prefer: AuthType::ApiKey,
            env_api_key: None,
        };
        let create: AccountOperation =
            serde_json::from_value(serde_json::json!({"create_key": {"name": "ci"}})).unwrap();
        let e = account_call(&mut io, &remote(), "key@example.com", &options, &create).unwrap_err();
        assert_eq!(e.code(), "config", "no api_url: {e}");
        let mut with_api = remote();
        with_api.api_url = Some("https://api.example.com/v1".parse().unwrap());
        let value = account_call(&mut io, &with_api, "key@example.com", &options, &create).unwrap();
        let AccountValue::CreatedKey(created) = value else {
            panic!("not a created key: {value:?}");
        };
        assert_eq!(created.key, Secret::new("new-key"));
        assert_eq!(
            created.body.to_value(),
            serde_json::json!({"id": 7, "name": "ci"})
        );
        assert_eq!(
            io.sent.last().map(String::as_str),
            Some("https://api.example.com/v1/api-keys")
        );
    }

    fn refusing_provider(request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        match request.url.as_str() {
            "https://id.example.com/token" => Ok(HttpResponse::new(
                400,
                r#"{"error":"invalid_grant","error_description":"grant revoked"}"#,
            )),
            other => panic!("unexpected request to {other}"),
        }
    }

    /// Issue 16 item 15: a refused refresh uses the record's API key, says so, and drops the
    /// refused tokens so the next call sends no refresh; a remote that disallows it, or a record
    /// without a key, needs a login as before
    #[test]
    fn a_refused_refresh_falls_back_to_the_stored_api_key() {
        let key = storage_key("work", "ada@example.com");
        let stale = StoredRecord {
            api_key: Some(Secret::new("k1")),
            oauth: Some(TokenSet {
                access_token: Secret::new("at"),
                token_type: "Bearer".into(),
                refresh_token: Some(Secret::new("rt")),
                id_token: None,
                scope: None,
                expires_at_ms: Some(1),
                refresh_at_ms: None,
                issued_at_ms: None,
            }),
            updated_at_ms: 1,
        };
        let options = CredentialOptions {
            prefer: AuthType::Oauth,
            env_api_key: None,
        };
        let mut io = Mem::new(refusing_provider);
        io.store.insert(key.clone(), stale.to_json());
        let t = token(&mut io, &remote(), "ada@example.com", &options).unwrap();
        assert_eq!((t.kind, t.secret), (AuthType::ApiKey, Secret::new("k1")));
        assert_eq!(
            t.warning.as_deref(),
            Some(crate::credential::WARNING_OAUTH_REFUSED)
        );
        assert!(
            t.fallback_reason
                .as_deref()
                .unwrap()
                .contains("grant revoked"),
            "{:?}",
            t.fallback_reason
        );
        let record = io.record(&key);
        assert_eq!(record.api_key, Some(Secret::new("k1")), "the key stays");
        assert_eq!(record.oauth, None, "the refused tokens are dropped");
        let sent = io.sent.len();
        let t = token(&mut io, &remote(), "ada@example.com", &options).unwrap();
        assert_eq!((t.kind, t.warning), (AuthType::ApiKey, None));
        assert_eq!(io.sent.len(), sent, "no refused refresh is sent again");

        let mut io = Mem::new(refusing_provider);
        io.store.insert(key.clone(), stale.to_json());
        let strict = RemoteSpec {
            api_key_fallback: false,
            ..remote()
        };
        let e = token(&mut io, &strict, "ada@example.com", &options).unwrap_err();
        assert_eq!(e.code(), "relogin_required");
        assert_eq!(io.store[&key], stale.to_json(), "nothing is written");

        let mut io = Mem::new(refusing_provider);
        let no_key = StoredRecord {
            api_key: None,
            ..stale.clone()
        };
        io.store.insert(key.clone(), no_key.to_json());
        let e = token(&mut io, &remote(), "ada@example.com", &options).unwrap_err();
        assert_eq!(e.code(), "relogin_required");
        assert_eq!(io.store[&key], no_key.to_json());
    }

    #[test]
    fn endpoints_need_an_issuer_or_a_token_endpoint() {
        let mut io = Mem::new(provider);
        let bare = RemoteSpec {
            name: "x".into(),
            ..RemoteSpec::default()
        };
        let e = resolve_endpoints(&mut io, &bare).unwrap_err();
        assert_eq!(e.code(), "config");
        assert!(
            e.to_string()
                .contains("neither an issuer nor a token endpoint")
        );
    }
}
