//! API keys: login with a key checked against the provider's fake API (valid, invalid, forbidden),
//! `set-key` beside OAuth tokens, `keyhole test`, and `KEYHOLE_API_KEY` precedence both ways.

mod support;

use support::{Env, Provider};

fn env_with_remote(provider: &Provider, extra: &[&str]) -> Env {
    let env = Env::new();
    env.add_remote("dev", provider, extra);
    env
}

#[test]
fn a_valid_key_is_checked_then_saved() {
    let provider = Provider::start();
    let env = env_with_remote(&provider, &[]);
    let run = env.run(["login", "--api-key", "key_valid_frank", "--json"]);
    run.expect_ok();
    let last = run.json_lines().pop().expect("a result event");
    assert_eq!(last["event"], "login", "{}", run.describe());
    assert_eq!(last["auth_type"], "api_key");
    assert_eq!(last["account"], "frank@example.test");
    assert!(
        !run.stdout.contains("key_valid_frank"),
        "the key is never echoed"
    );
    assert!(
        !run.stderr.contains("key_valid_frank"),
        "the key is never echoed"
    );

    let (code, status) = env.status();
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(status["auth_type"], "api_key");
    assert_eq!(status["source"], "file");
    assert_eq!(status["account"], "frank@example.test");
    assert_eq!(env.token(), "key_valid_frank");

    let run = env.run(["test", "--json"]);
    run.expect_ok();
    let out = run.json();
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["status"], 200);
    assert!(out["elapsed_ms"].is_u64(), "{out}");
    assert_eq!(out["identity"]["email"], "frank@example.test");
    assert_eq!(out["identity"]["id"], "acct-frank");

    // The key can come from stdin too, never from the command line of `ps`.
    let env2 = env_with_remote(&provider, &[]);
    let run = env2.run_input(["login", "--api-key-stdin", "--json"], "key_valid_gina\n");
    run.expect_ok();
    assert_eq!(env2.token(), "key_valid_gina");
}

#[test]
fn an_invalid_key_is_refused_and_not_saved() {
    let provider = Provider::start();
    let env = env_with_remote(&provider, &[]);
    let run = env.run(["login", "--api-key", "garbage-key", "--json"]);
    assert_ne!(run.code(), Some(0), "{}", run.describe());
    let last = run.json_lines().pop().expect("an error event");
    assert_eq!(last["event"], "error", "{}", run.describe());
    assert!(!run.stdout.contains("garbage-key") && !run.stderr.contains("garbage-key"));
    let (code, status) = env.status();
    assert_eq!(code, Some(4), "nothing was saved: {status}");
    assert!(env.stored_records().is_empty());
}

#[test]
fn a_forbidden_key_is_refused_with_its_own_error() {
    let provider = Provider::start();
    let env = env_with_remote(&provider, &[]);
    let invalid = env.run(["login", "--api-key", "garbage-key", "--json"]);
    let forbidden = env.run(["login", "--api-key", "key_forbidden_hal", "--json"]);
    assert_ne!(forbidden.code(), Some(0), "{}", forbidden.describe());
    let invalid_event = invalid.json_lines().pop().expect("an error event");
    let event = forbidden.json_lines().pop().expect("an error event");
    assert_eq!(event["event"], "error", "{}", forbidden.describe());
    assert_ne!(
        event["code"], invalid_event["code"],
        "403 (key valid but not allowed) and 401 (key unknown) are told apart"
    );
    let (code, _) = env.status();
    assert_eq!(code, Some(4));

    // `test` with an explicit key tells the two apart the same way.
    let forbidden = env.run(["test", "--key", "key_forbidden_hal", "--json"]);
    let invalid = env.run(["test", "--key", "garbage-key", "--json"]);
    assert_ne!(forbidden.code(), Some(0), "{}", forbidden.describe());
    assert_ne!(invalid.code(), Some(0), "{}", invalid.describe());
    let (forbidden, invalid) = (forbidden.json(), invalid.json());
    assert_eq!(forbidden["ok"], false, "{forbidden}");
    assert_eq!(invalid["ok"], false, "{invalid}");
    assert_ne!(
        forbidden["code"], invalid["code"],
        "{forbidden} vs {invalid}"
    );
    // Scripts can tell them apart by the HTTP status as well, without parsing text.
    assert_eq!(forbidden["status"], 403, "{forbidden}");
    assert_eq!(invalid["status"], 401, "{invalid}");
    assert_eq!(forbidden["code"], "insufficient_permission", "{forbidden}");

    // A bare 403 (no insufficient_scope challenge) is a refusal, not a valid key (issue 16 item 20).
    let refused = env.run(["test", "--key", "key_refused_hal", "--json"]);
    assert_eq!(refused.code(), Some(1), "{}", refused.describe());
    let refused = refused.json();
    assert_eq!(
        (&refused["code"], &refused["status"]),
        (&serde_json::json!("forbidden"), &serde_json::json!(403)),
        "{refused}"
    );
    assert!(
        !refused.to_string().contains("valid but lacks permission"),
        "{refused}"
    );
}

#[test]
fn set_key_keeps_the_oauth_tokens() {
    let provider = Provider::start();
    let env = env_with_remote(&provider, &[]);
    env.device_login(&provider, "ivan", &[]);
    let oauth_token = env.token();

    let run = env.run(["set-key", "key_valid_ivan"]);
    run.expect_ok();
    assert!(!run.stdout.contains("key_valid_ivan") && !run.stderr.contains("key_valid_ivan"));
    let records = env.stored_records();
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0].1;
    assert_eq!(record["api_key"], "key_valid_ivan");
    assert_eq!(
        record["oauth"]["access_token"], oauth_token,
        "the OAuth tokens are untouched"
    );
    assert!(record["oauth"]["refresh_token"].is_string());

    // Logout still has a refresh token to revoke.
    let run = env.run(["logout", "--json"]);
    run.expect_ok();
    assert!(
        run.json()["revoked"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
    assert!(!provider.introspect(&oauth_token));
}

#[test]
fn env_key_overrides_stored_oauth_when_precedence_is_override() {
    let provider = Provider::start();
    let mut env = env_with_remote(&provider, &["--env-key-precedence", "override"]);
    env.device_login(&provider, "judy", &[]);
    let oauth_token = env.token();
    env.set("KEYHOLE_API_KEY", "key_valid_fromenv");
    assert_eq!(env.token(), "key_valid_fromenv");
    let (code, status) = env.status();
    assert_eq!(code, Some(0));
    assert_eq!(status["source"], "env", "{status}");
    assert_eq!(status["auth_type"], "api_key");
    env.remove("KEYHOLE_API_KEY");
    assert_eq!(env.token(), oauth_token);
}

#[test]
fn env_key_is_only_a_fallback_when_precedence_is_fallback() {
    let provider = Provider::start();
    let mut env = env_with_remote(&provider, &["--env-key-precedence", "fallback"]);
    env.set("KEYHOLE_API_KEY", "key_valid_fromenv");
    // Nothing stored: the env key is used.
    assert_eq!(env.token(), "key_valid_fromenv");
    let (code, status) = env.status();
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(status["source"], "env");
    // Once logged in, the stored credential wins.
    env.device_login(&provider, "kim", &[]);
    let token = env.token();
    assert_ne!(token, "key_valid_fromenv");
    assert!(provider.introspect(&token));
    let (_, status) = env.status();
    assert_eq!(status["source"], "file", "{status}");
    assert_eq!(status["auth_type"], "oauth");
}
