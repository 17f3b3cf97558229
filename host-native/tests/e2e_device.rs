//! Device login against the real provider: the whole life of a login (status, token, expiry,
//! refresh, logout with revocation), denial, device-code expiry, `slow_down`, and 5xx during refresh.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{DEVICE_GRANT, Env, Provider, Spawned, poll};

/// An access token that lives this long is fresh right after login and due half of it later: the
/// core's 60 s refresh margin is capped at half a token's lifetime (refresh.rs `needs_refresh`)
const SHORT_TTL_S: u64 = 12;

fn logged_in_env(provider: &Provider, login: &str) -> (Env, Value) {
    let env = Env::new();
    env.add_remote("dev", provider, &[]);
    let event = env.device_login(provider, login, &[]);
    (env, event)
}

#[test]
fn device_login_status_token_expiry_refresh_logout() {
    let provider = Provider::start();
    provider.set(json!({ "access_ttl": SHORT_TTL_S }));
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);

    // The prompt comes first with everything a person needs, the result last.
    let mut login = Spawned::start(&mut env.keyhole(["login", "--device", "--no-open", "--json"]));
    let prompt = login.wait_event("prompt", Duration::from_secs(30));
    let user_code = prompt["user_code"].as_str().expect("user_code is a string");
    assert_eq!(prompt["verification_uri"], provider.url("/device"));
    assert_eq!(
        prompt["verification_uri_complete"],
        provider.url(&format!("/device?user_code={user_code}"))
    );
    assert!(
        prompt["expires_in"].as_u64().is_some_and(|s| s > 0),
        "{prompt}"
    );
    provider.approve_device(user_code, "alice");
    let run = login.finish(support::COMMAND_DEADLINE);
    run.expect_ok();
    let events = run.json_lines();
    let last = events.last().expect("login printed its result");
    assert_eq!(last["event"], "login");
    assert_eq!(last["remote"], "dev");
    assert_eq!(last["account"], "alice@example.test");
    assert_eq!(last["auth_type"], "oauth");

    let (code, status) = env.status();
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(status["logged_in"], true);
    assert_eq!(status["remote"], "dev");
    // The remote's URL: its API URL when it has one (as here), else its issuer.
    assert!(
        status["remote_url"] == provider.url("/api") || status["remote_url"] == provider.issuer,
        "{status}"
    );
    assert_eq!(status["account"], "alice@example.test");
    assert_eq!(status["auth_type"], "oauth");
    assert_eq!(status["source"], "file");
    let expires_at_ms = status["expires_at_ms"].as_u64().expect("expires_at_ms");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64;
    assert!(
        expires_at_ms > now_ms && expires_at_ms <= now_ms + (SHORT_TTL_S + 1) * 1000,
        "expires_at_ms {expires_at_ms} vs now {now_ms}"
    );
    assert!(status["expires_at"].is_string(), "{status}");

    // A fresh token is served from the store: no refresh.
    let first = env.token();
    assert!(provider.introspect(&first), "the printed token is live");
    assert_eq!(env.token(), first);
    assert_eq!(provider.token_requests("refresh_token"), 0);

    // Once it is due, `token` refreshes once and prints the new token.
    provider.set(json!({ "access_ttl": 3600 }));
    let refreshed = poll(15, Duration::from_secs(1), || {
        let token = env.token();
        (token != first).then_some(token)
    })
    .expect("token refreshed within 15 s of the access token coming due");
    assert_eq!(provider.token_requests("refresh_token"), 1);
    assert!(provider.introspect(&refreshed));
    assert_eq!(env.token(), refreshed, "the new token is stored and reused");
    assert_eq!(provider.token_requests("refresh_token"), 1);

    // Logout revokes at the provider and clears local state.
    let run = env.run(["logout", "--json"]);
    run.expect_ok();
    let out = run.json();
    assert_eq!(out["remote"], "dev");
    assert_eq!(out["account"], "alice@example.test");
    assert_eq!(out["cleared"], true);
    assert!(
        out["revoked"].as_array().is_some_and(|r| !r.is_empty()),
        "logout names what it revoked: {out}"
    );
    assert!(provider.revocations() >= 1);
    assert!(
        !provider.introspect(&refreshed),
        "the grant is gone at the provider"
    );

    let (code, status) = env.status();
    assert_eq!(code, Some(4), "{status}");
    assert_eq!(status["logged_in"], false);
    let run = env.run(["token"]);
    run.expect_code(4);
    assert!(
        run.stdout.is_empty(),
        "token prints nothing on failure\n{}",
        run.describe()
    );
    assert!(
        env.stored_records()
            .iter()
            .all(|(_, r)| r.get("oauth").is_none_or(Value::is_null))
    );
}

#[test]
fn without_an_id_token_the_account_is_named_by_userinfo() {
    let provider = Provider::start();
    provider.set(json!({ "drop_id_token": true }));
    let (env, event) = logged_in_env(&provider, "carol");
    assert_eq!(event["account"], "carol@example.test", "{event}");
    let (code, status) = env.status();
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(status["account"], "carol@example.test", "{status}");
}

#[test]
fn denial_is_an_error_event_and_nothing_is_stored() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    let mut login = Spawned::start(&mut env.keyhole(["login", "--device", "--no-open", "--json"]));
    let prompt = login.wait_event("prompt", Duration::from_secs(30));
    provider.deny_device(prompt["user_code"].as_str().expect("user_code"));
    let run = login.finish(support::COMMAND_DEADLINE);
    run.expect_code(1);
    let last = run.json_lines().pop().expect("an error event");
    assert_eq!(last["event"], "error", "{}", run.describe());
    let code = last["code"].as_str().unwrap_or_default();
    assert!(
        code.contains("denied"),
        "error code names the denial: {last}"
    );
    assert!(last["message"].as_str().is_some_and(|m| !m.is_empty()));
    let (status_code, status) = env.status();
    assert_eq!(status_code, Some(4), "{status}");
}

#[test]
fn an_expired_device_code_ends_the_login() {
    let provider = Provider::start();
    provider.set(json!({ "device_code_ttl": 3 }));
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    let began = Instant::now();
    let mut login = Spawned::start(&mut env.keyhole(["login", "--device", "--no-open", "--json"]));
    let prompt = login.wait_event("prompt", Duration::from_secs(30));
    assert!(
        prompt["expires_in"].as_u64().is_some_and(|s| s <= 3),
        "{prompt}"
    );
    let run = login.finish(Duration::from_secs(30));
    run.expect_code(1);
    let last = run.json_lines().pop().expect("an error event");
    assert_eq!(last["event"], "error", "{}", run.describe());
    assert!(
        last["code"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "error code names the expiry: {last}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(25),
        "gave up promptly after expiry"
    );
}

#[test]
fn slow_down_widens_the_polling_interval_and_the_login_still_succeeds() {
    let provider = Provider::start();
    provider.set(json!({ "slow_downs": 1, "interval": 1 }));
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    let mut login = Spawned::start(&mut env.keyhole(["login", "--device", "--no-open", "--json"]));
    let prompt = login.wait_event("prompt", Duration::from_secs(30));
    // Wait for the injected slow_down to be spent, then approve at once.
    let seen = poll(100, Duration::from_millis(100), || {
        (provider.state()["switches"]["slow_downs"] == 0).then_some(Instant::now())
    })
    .expect("the CLI polled within 10 s");
    let polls_before = provider.token_requests(DEVICE_GRANT);
    provider.approve_device(prompt["user_code"].as_str().expect("user_code"), "bob");
    let run = login.finish(support::COMMAND_DEADLINE);
    run.expect_ok();
    assert_eq!(
        run.json_lines().last().expect("result")["account"],
        "bob@example.test"
    );
    // RFC 8628 §3.5: after slow_down the interval grows by 5 s, so the next poll waits >= 6 s.
    assert!(
        seen.elapsed() >= Duration::from_secs(5),
        "the poll after slow_down came {:?} later; expected the interval to grow by 5 s",
        seen.elapsed()
    );
    assert_eq!(provider.token_requests(DEVICE_GRANT), polls_before + 1);
}

#[test]
fn token_retries_a_refresh_through_one_server_error() {
    let provider = Provider::start();
    provider.set(json!({ "access_ttl": 1 }));
    let (env, _) = logged_in_env(&provider, "carol");
    support::wait_until_due(1);
    provider.set(json!({ "access_ttl": 3600, "fail_token": 1, "fail_status": 503 }));
    let token = env.token();
    assert!(provider.introspect(&token));
    assert_eq!(
        provider.token_requests("refresh_token"),
        2,
        "one 503, then success"
    );
}

#[test]
fn a_refused_refresh_means_login_required() {
    let provider = Provider::start();
    // Long enough that the token just issued is still active when introspected below (a 1 s
    // lifetime raced on a loaded machine); the last `token` waits until it is due.
    provider.set(json!({ "access_ttl": 4 }));
    let (env, _) = logged_in_env(&provider, "dave");
    // Kill the grant behind the CLI's back: revoke the refresh token via a rotation replay.
    let before = env.token();
    assert!(provider.introspect(&before));
    let records = env.stored_records();
    let refresh_token = records
        .iter()
        .find_map(|(_, r)| r["oauth"]["refresh_token"].as_str().map(str::to_string))
        .expect("the file store holds the rotated refresh token");
    // Revoking the current refresh token ends the grant.
    let answer = support::http(
        "POST",
        &provider.url("/token/revocation"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("token={refresh_token}&client_id={}", support::CLIENT_ID),
    );
    assert_eq!(answer.status, 200);
    support::wait_until_due(4);
    let run = env.run(["token"]);
    run.expect_code(4);
    assert!(run.stdout.is_empty());
    let stderr = run.stderr.to_ascii_lowercase();
    assert!(
        stderr.contains("log in") || stderr.contains("login"),
        "the error says to log in again\n{}",
        run.describe()
    );
}

/// Issue 16 item 15 against the real provider: the grant is revoked there, so the refresh is
/// refused for real; the account's stored API key is printed instead, with one warning line, and
/// the next call asks the provider nothing
#[test]
fn a_refused_refresh_falls_back_to_the_stored_api_key() {
    let provider = Provider::start();
    provider.set(json!({ "access_ttl": 4 }));
    let (env, _) = logged_in_env(&provider, "dave");
    env.run_input(["set-key", "--stdin"], "key_valid_dave\n")
        .expect_ok();
    // Logging in again makes the OAuth session the preferred credential; the key stays.
    env.device_login(&provider, "dave", &[]);
    assert!(provider.introspect(&env.token()), "the session works");
    let records = env.stored_records();
    let (_, record) = &records[0];
    assert_eq!(record["api_key"], "key_valid_dave", "{records:?}");
    let refresh_token = record["oauth"]["refresh_token"]
        .as_str()
        .expect("the file store holds the refresh token")
        .to_string();
    let answer = support::http(
        "POST",
        &provider.url("/token/revocation"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("token={refresh_token}&client_id={}", support::CLIENT_ID),
    );
    assert_eq!(answer.status, 200);
    support::wait_until_due(4);

    let refreshes = provider.token_requests("refresh_token");
    let run = env.run(["token"]);
    run.expect_ok();
    assert_eq!(run.stdout, "key_valid_dave\n", "{}", run.describe());
    let warning = run.stderr.trim_end();
    assert_eq!(
        warning.lines().count(),
        1,
        "one warning line\n{}",
        run.describe()
    );
    assert!(
        warning.starts_with("! the OAuth session for dave@example.test was refused (")
            && warning.contains("invalid_grant")
            && warning.ends_with("); using the stored API key — run `keyhole login` to restore it"),
        "{}",
        run.describe()
    );
    assert_eq!(provider.token_requests("refresh_token"), refreshes + 1);
    let records = env.stored_records();
    assert_eq!(records[0].1["api_key"], "key_valid_dave");
    assert!(records[0].1.get("oauth").is_none(), "{records:?}");

    let run = env.run(["token"]);
    run.expect_ok();
    assert_eq!(
        (run.stdout.as_str(), run.stderr.as_str()),
        ("key_valid_dave\n", "")
    );
    assert_eq!(provider.token_requests("refresh_token"), refreshes + 1);
}

#[test]
fn a_server_error_while_polling_does_not_end_the_login() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    let mut login = Spawned::start(&mut env.keyhole(["login", "--device", "--no-open", "--json"]));
    let prompt = login.wait_event("prompt", Duration::from_secs(30));
    // The next poll meets a 503; the one after that finds the approval.
    provider.set(json!({ "fail_token": 1, "fail_status": 503 }));
    let failed = poll(100, Duration::from_millis(100), || {
        (provider.state()["switches"]["fail_token"] == 0).then_some(())
    });
    assert!(failed.is_some(), "the CLI polled within 10 s");
    provider.approve_device(prompt["user_code"].as_str().expect("user_code"), "eve");
    let run = login.finish(support::COMMAND_DEADLINE);
    run.expect_ok();
    assert_eq!(
        run.json_lines().last().expect("a result")["account"],
        "eve@example.test"
    );
}
