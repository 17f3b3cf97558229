//! What a person sees: human output never shows a secret (only `token` prints one), `--qr` draws a
//! QR code, `test` checks OAuth credentials against the API and `--verbose` shows the request.

mod support;

use std::time::Duration;

use support::{Env, Provider, Spawned};

/// Every secret in the account's stored record
fn stored_secrets(env: &Env) -> Vec<String> {
    let mut secrets = Vec::new();
    for (_, record) in env.stored_records() {
        if let Some(key) = record["api_key"].as_str() {
            secrets.push(key.to_string());
        }
        for field in ["access_token", "refresh_token", "id_token"] {
            if let Some(value) = record["oauth"][field].as_str() {
                secrets.push(value.to_string());
            }
        }
    }
    secrets
}

#[test]
fn no_command_but_token_prints_a_secret() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    env.device_login(&provider, "xena", &[]);
    env.run(["set-key", "key_valid_xena"]).expect_ok();
    let secrets = stored_secrets(&env);
    assert_eq!(
        secrets.len(),
        4,
        "api key, access, refresh and ID token are stored"
    );

    let commands: &[&[&str]] = &[
        &["status"],
        &["status", "--json"],
        &["status", "--all"],
        &["status", "--all", "--json"],
        &["test"],
        &["test", "--json"],
        &["test", "--verbose"],
        &["test", "--method", "oauth", "--verbose", "--json"],
        &["remote", "list"],
        &["remote", "list", "--json"],
        &["project"],
        &["logout"],
    ];
    for args in commands {
        let run = env.run(*args);
        for secret in &secrets {
            assert!(
                !run.stdout.contains(secret.as_str()) && !run.stderr.contains(secret.as_str()),
                "`keyhole {}` printed a secret\n{}",
                args.join(" "),
                run.describe()
            );
        }
    }
}

#[test]
fn test_checks_oauth_credentials_against_the_api_and_verbose_shows_the_request() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    env.device_login(&provider, "yuri", &[]);

    let run = env.run(["test", "--json"]);
    run.expect_ok();
    let out = run.json();
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["status"], 200);
    assert_eq!(out["identity"]["email"], "yuri@example.test");

    let run = env.run(["test", "--verbose"]);
    run.expect_ok();
    assert!(
        run.stderr.contains(&provider.url("/api/me")),
        "--verbose names the request URL on stderr\n{}",
        run.describe()
    );
    assert!(
        run.stderr.contains("ms"),
        "--verbose shows the response time\n{}",
        run.describe()
    );

    // A failing check is when --verbose matters most: the request is still shown.
    let run = env.run(["test", "--key", "garbage-key", "--verbose"]);
    assert_ne!(run.code(), Some(0));
    assert!(
        run.stderr.contains(&provider.url("/api/me")),
        "--verbose names the request URL on stderr when the check fails too\n{}",
        run.describe()
    );

    // After logout the same check says a login is needed.
    env.run(["logout"]).expect_ok();
    let run = env.run(["test", "--json"]);
    run.expect_code(4);
}

#[test]
fn device_login_with_qr_draws_a_code_a_person_can_scan() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    let mut login = Spawned::start(&mut env.keyhole(["login", "--device", "--no-open", "--qr"]));
    let code = support::poll(150, Duration::from_millis(200), || {
        provider.state()["counters"]["last_user_code"]
            .as_str()
            .map(str::to_string)
    })
    .expect("the CLI started a device authorization within 30 s");
    provider.approve_device(&code, "zack");
    let run = login.finish(support::COMMAND_DEADLINE);
    run.expect_ok();
    let shown = format!("{}{}", run.stdout, run.stderr);
    assert!(
        shown.contains(&code),
        "the user code is shown\n{}",
        run.describe()
    );
    assert!(
        shown.contains(&provider.url(&format!("/device?user_code={code}"))),
        "the complete URI is shown\n{}",
        run.describe()
    );
    let qr_rows = shown
        .lines()
        .filter(|l| l.chars().filter(|c| matches!(c, '█' | '▀' | '▄')).count() >= 20)
        .count();
    assert!(qr_rows >= 10, "a QR code is drawn\n{}", run.describe());
    assert!(shown.contains("zack@example.test"), "{}", run.describe());
}
