//! The `vtrix` example walked through its seed page (`vtrix auth login|set-key|status|logout`)
//! against the local provider: the printed lines, `VTRIX_NO_KEYCHAIN`, and the YAML file
//! `~/.config/vtrix/config.yml` whose API key `set-key` replaces without touching the tokens

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
        "✓ Credentials saved to ~/.config/vtrix/config.yml",
    ] {
        assert!(run.stderr.contains(line), "{line}: {}", run.describe());
    }
    let config = env.root().join("home/.config/vtrix/config.yml");
    let mode = |p: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(mode(&config), 0o600, "config.yml holds tokens");
    assert_eq!(mode(config.parent().unwrap()), 0o700);
    let yaml = |key: &str| -> Option<String> {
        let text = std::fs::read_to_string(&config).unwrap();
        text.lines().find_map(|l| {
            l.strip_prefix(&format!("{key}: "))
                .map(|v| v.trim().to_owned())
        })
    };
    let auth_token = yaml("auth_token").expect("an auth_token in config.yml");
    let refresh_token = yaml("refresh_token").expect("a refresh_token in config.yml");

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
    assert_eq!(yaml("api_key").as_deref(), Some("vk-not-checked"));
    assert_eq!(
        yaml("auth_token"),
        Some(auth_token),
        "set-key keeps AuthToken"
    );
    assert_eq!(
        yaml("refresh_token"),
        Some(refresh_token),
        "and RefreshToken"
    );

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
    // What to run next names vtrix's own command and variable.
    let run = env.run_example("vtrix", ["auth", "token"]);
    run.expect_code(4);
    assert!(
        run.stderr
            .contains("not logged in; run `vtrix auth login` or set VTRIX_API_KEY"),
        "{}",
        run.describe()
    );

    // Usage errors exit 2; help names the mounted command.
    env.run_example("vtrix", ["auth", "set-key"]).expect_code(2);
    let exec_help = env.run_example("vtrix", ["auth", "exec", "--help"]);
    assert!(
        exec_help.stdout.contains("`VTRIX_TOKEN`"),
        "exec names the product's variable: {}",
        exec_help.describe()
    );
    let help = env.run_example("vtrix", ["auth", "login", "--help"]);
    assert!(
        help.stdout.contains("Usage: vtrix auth login"),
        "{}",
        help.describe()
    );

    // The group has vtrix's commands (the page's four, plus the token and its helpers), not
    // keyhole's remote management: left out of help, refused when typed.
    let help = env.run_example("vtrix", ["auth", "--help"]);
    help.expect_ok();
    for command in [
        "login",
        "set-key",
        "status",
        "logout",
        "token",
        "git-credential",
    ] {
        assert!(
            help.stdout.contains(&format!("\n  {command} ")),
            "`{command}` is listed: {}",
            help.describe()
        );
    }
    for command in ["remote", "switch", "project", "test"] {
        assert!(
            !help.stdout.contains(&format!("\n  {command} ")),
            "`{command}` is not listed: {}",
            help.describe()
        );
    }
    let run = env.run_example("vtrix", ["auth", "remote", "list"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("`vtrix auth remote` is not a command here; `vtrix auth --help` lists them"),
        "{}",
        run.describe()
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

#[test]
fn git_uses_the_vtrix_login_through_vtrix_auth_git_credential() {
    support::require_tool("git", "the git credential helper test");
    let provider = Provider::start();
    let mut env = vtrix_env(&provider);
    let root = env.root().to_path_buf();
    env.set(
        "GIT_CONFIG_GLOBAL",
        root.join("gitconfig").to_string_lossy(),
    )
    .set("GIT_CONFIG_NOSYSTEM", "1")
    .set("GIT_TERMINAL_PROMPT", "0");
    device_login(&env, &provider, "erin").expect_ok();

    let run = env.run_example("vtrix", ["auth", "setup-git"]);
    run.expect_ok();
    let config = std::fs::read_to_string(root.join("gitconfig")).unwrap();
    assert!(
        config.contains("' auth ") || config.contains(" 'auth' "),
        "git runs `vtrix auth … git-credential`: {config}"
    );

    let token = env.run_example("vtrix", ["auth", "token"]);
    token.expect_ok();
    let token = token.stdout.trim().to_owned();
    let host = provider
        .issuer
        .strip_prefix("http://")
        .expect("a loopback issuer")
        .to_owned();
    let mut git = std::process::Command::new("git");
    git.args(["credential", "fill"]);
    env.apply(&mut git);
    let fill = support::run_with_input(
        &mut git,
        Some(format!("protocol=https\nhost={host}\n\n").as_bytes()),
        COMMAND_DEADLINE,
    );
    fill.expect_ok();
    assert!(
        fill.stdout.contains(&format!("password={token}\n")),
        "{}",
        fill.describe()
    );
    assert!(!fill.stderr.contains(&token), "no secret on stderr");
}
