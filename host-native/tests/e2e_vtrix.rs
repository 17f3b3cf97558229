//! The `vtrix` example walked through its seed page (`vtrix auth login|set-key|status|logout`)
//! against the local provider; the YAML file layout is not part of this test (it is the
//! storage format's), the commands, environment variables and printed lines are

mod support;

use std::time::Duration;

use support::{COMMAND_DEADLINE, Env, Provider, Spawned};

fn vtrix_env(provider: &Provider) -> Env {
    let mut env = Env::new();
    env.remove("KEYHOLE_CONFIG_DIR");
    env.set("VTRIX_NO_KEYCHAIN", "1");
    env.set("VTRIX_BASE_URL", &provider.issuer);
    env.remove("VTRIX_API_KEY");
    env
}

/// `vtrix auth login` approved as `login`; the run
fn device_login(env: &Env, provider: &Provider, login: &str) -> support::Run {
    let mut child = Spawned::start(&mut env.example("vtrix", ["auth", "login"]));
    let code = support::poll(150, Duration::from_millis(200), || {
        provider.state()["counters"]["last_user_code"]
            .as_str()
            .map(str::to_string)
    })
    .expect("vtrix started a device authorization within 30 s");
    provider.approve_device(&code, login);
    let run = child.finish(COMMAND_DEADLINE);
    let visit = format!("│   Visit: {}/device", provider.issuer);
    assert!(run.stderr.contains(&visit), "{}", run.describe());
    assert!(
        run.stderr.contains(&format!("│   Code:  {code}")),
        "{}",
        run.describe()
    );
    run
}

#[test]
fn vtrix_auth_page_top_to_bottom() {
    let provider = Provider::start();
    let env = vtrix_env(&provider);

    let run = device_login(&env, &provider, "erin");
    run.expect_ok();
    for line in [
        "┌─────────────────────────────────────────────┐",
        "Waiting for authorization... (opens browser automatically)",
        "✓ Authenticated as erin@example.test",
        "✓ Credentials saved to ~/.config/vtrix",
    ] {
        assert!(run.stderr.contains(line), "{line}: {}", run.describe());
    }
    let config = env.root().join("home/.config/vtrix/config.toml");
    assert!(config.is_file(), "the config lives in ~/.config/vtrix");

    let run = env.run_example("vtrix", ["auth", "status"]);
    run.expect_ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[..2],
        ["● Logged in", "  User:    erin@example.test"],
        "{}",
        run.describe()
    );
    let date = lines[2]
        .strip_prefix("  Expires: ")
        .expect("an Expires line");
    let bytes = date.as_bytes();
    assert!(
        date.len() == 10 && bytes[4] == b'-' && bytes[7] == b'-' && date.starts_with("20"),
        "YYYY-MM-DD: {date}"
    );

    // set-key: no browser, no key check (the key is not one the API knows), OAuth kept.
    let run = env.run_example("vtrix", ["auth", "set-key", "vk-not-checked"]);
    run.expect_ok();
    assert_eq!(run.stderr.trim(), "✓ API Key updated", "{}", run.describe());
    assert_eq!(provider.state()["counters"]["device_authorizations"], 1);

    let run = env.run_example("vtrix", ["auth", "logout"]);
    run.expect_ok();
    assert_eq!(
        run.stderr.trim(),
        "✓ Credentials cleared",
        "{}",
        run.describe()
    );
    let run = env.run_example("vtrix", ["auth", "status"]);
    run.expect_code(4);
    assert!(run.stdout.contains("Not logged in"), "{}", run.describe());

    // Usage errors exit 2; help names the mounted command.
    env.run_example("vtrix", ["auth", "set-key"]).expect_code(2);
    let help = env.run_example("vtrix", ["auth", "login", "--help"]);
    assert!(
        help.stdout.contains("Usage: vtrix auth login"),
        "{}",
        help.describe()
    );
}

#[test]
fn without_no_keychain_the_login_goes_to_the_keychain() {
    let provider = Provider::start();
    let mut env = vtrix_env(&provider);
    env.remove("VTRIX_NO_KEYCHAIN");
    let keyring = support::Keyring::start();
    keyring.use_in(&mut env);
    let run = device_login(&env, &provider, "erin");
    run.expect_ok();
    assert!(
        run.stderr.contains("✓ Credentials saved to keychain"),
        "{}",
        run.describe()
    );
    let stored = keyring.secret_tool(&["search", "--all", "service", "vtrix"]);
    assert!(
        stored.stdout.contains("vtrix") || stored.stderr.contains("vtrix"),
        "the keyring holds vtrix's service: {}",
        stored.describe()
    );
}
