//! The `sentrix` example walked through its seed page (`sentrix auth login`, `sentrix auth test`)
//! against the local provider, with real Chromium for the browser login

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{Env, Provider, free_port, repo_root, require_tool};

/// A sentrix user's world: its config in `~/.config/sentrix`, the file store, the provider as
/// the Sentrix origin, Chromium as the browser
fn sentrix_env(provider: &Provider) -> Env {
    let mut env = Env::new();
    env.remove("KEYHOLE_CONFIG_DIR");
    env.set("SENTRIX_NO_KEYRING", "1");
    env.set("SENTRIX_URL", &provider.issuer);
    env.remove("SENTRIX_API_KEY");
    env.remove("WSL_DISTRO_NAME");
    env.set(
        "BROWSER",
        repo_root().join("tests/support/browser").to_string_lossy(),
    );
    env.set("KEYHOLE_E2E_LOGIN", "erin");
    env
}

#[test]
fn sentrix_auth_page_top_to_bottom() {
    require_tool(
        "chromium",
        "sentrix's browser login (Debian package chromium)",
    );
    let provider = Provider::start();
    let env = sentrix_env(&provider);

    // "Test a specific API key before saving it to your config" works before any login.
    let run = env.run_example("sentrix", ["auth", "test", "--key", "key_valid_zoe"]);
    run.expect_ok();
    assert!(
        run.stderr.contains("The API key works: HTTP 200"),
        "{}",
        run.describe()
    );

    // `sentrix auth login`: the callback URL with the page's warning, then a stored session.
    let port = free_port().to_string();
    let run = env.run_example(
        "sentrix",
        ["auth", "login", "--port", &port, "--timeout", "60"],
    );
    run.expect_ok();
    let callback = format!(
        "Waiting for the login callback on http://127.0.0.1:{port}/callback; do not open that callback URL directly. Complete the login in the browser window opened by the CLI."
    );
    assert!(run.stderr.contains(&callback), "{}", run.describe());
    assert!(
        run.stderr
            .contains("Logged in to sentrix as erin@example.test (oauth)"),
        "{}",
        run.describe()
    );
    let dir = env.root().join("home/.config/sentrix");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("config.toml")), 0o600);
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(
        config.contains("callback_port = 17483"),
        "the page's default port is the config's: {config}"
    );
    assert!(
        config.contains("callback_timeout_s = 120"),
        "so is the timeout: {config}"
    );

    // `sentrix auth test --verbose`: auto prefers the stored OAuth session; URL and time on stderr.
    let run = env.run_example("sentrix", ["auth", "test", "--verbose"]);
    run.expect_ok();
    let me = provider.url("/api/me");
    assert!(
        run.stderr.contains(&format!("GET {me} -> HTTP 200 in ")),
        "{}",
        run.describe()
    );
    assert!(
        run.stderr.contains("The OAuth token works"),
        "{}",
        run.describe()
    );
    env.run_example("sentrix", ["auth", "test", "--method", "oauth"])
        .expect_ok();

    // `--url` overrides the API base only: the key check's path stays.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let run = env.run_example(
        "sentrix",
        [
            "auth",
            "test",
            "--url",
            &dead,
            "--key",
            "sk-staging-key",
            "--verbose",
        ],
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!("GET {dead}/api/me -> ")),
        "{}",
        run.describe()
    );
    let run = env.run_example(
        "sentrix",
        [
            "auth",
            "test",
            "--url",
            &provider.issuer,
            "--key",
            "key_valid_bob",
            "--verbose",
        ],
    );
    run.expect_ok();
    assert!(
        run.stderr.contains(&format!("GET {me} -> HTTP 200")),
        "{}",
        run.describe()
    );

    // A wrong key is a login problem (exit 4); a wrong flag value is usage (exit 2).
    env.run_example("sentrix", ["auth", "test", "--key", "sk-your-new-key"])
        .expect_code(4);
    env.run_example("sentrix", ["auth", "test", "--method", "password"])
        .expect_code(2);
}

#[test]
fn login_waits_as_long_as_the_config_says() {
    let provider = Provider::start();
    let mut env = sentrix_env(&provider);
    // A browser that opens nothing: only the timeout ends the login.
    env.set("BROWSER", "true");
    // The config a user edits: sentrix's remote with a one-second callback timeout.
    let dir = env.root().join("home/.config/sentrix");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "version = 1\ncurrent_remote = \"sentrix\"\n\n[remotes.sentrix]\nissuer = \"{}\"\nclient_id = \"sentrix-cli\"\ncallback_timeout_s = 1\n",
            provider.issuer
        ),
    )
    .unwrap();
    // Without --timeout the config's second applies, not the product's two minutes.
    let port = free_port().to_string();
    let run = env.run_example("sentrix", ["auth", "login", "--port", &port]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("error:") && run.stderr.contains("callback"),
        "{}",
        run.describe()
    );
}

#[test]
fn help_lists_sentrix_commands_and_variables() {
    let provider = Provider::start();
    let env = sentrix_env(&provider);
    let help = env.run_example("sentrix", ["auth", "--help"]);
    help.expect_ok();
    assert!(
        help.stdout.contains("SENTRIX_REMOTE"),
        "{}",
        help.describe()
    );
    assert!(!help.stdout.contains("KEYHOLE_"), "{}", help.describe());
    for listed in ["login", "test", "status", "logout"] {
        assert!(
            help.stdout.contains(&format!("\n  {listed} ")),
            "{}",
            help.describe()
        );
    }
    assert!(!help.stdout.contains("\n  remote "), "{}", help.describe());
}

#[test]
fn wsl_without_wslview_prints_the_install_hint() {
    let provider = Provider::start();
    let mut env = sentrix_env(&provider);
    env.set("WSL_DISTRO_NAME", "Ubuntu");
    env.set("PATH", "/nonexistent");
    let port = free_port().to_string();
    let run = env.run_example(
        "sentrix",
        [
            "auth",
            "login",
            "--no-open",
            "--timeout",
            "1",
            "--port",
            &port,
        ],
    );
    assert_ne!(run.code(), Some(0), "nobody came back: {}", run.describe());
    assert!(
        run.stderr.contains("sudo apt install -y wslu xdg-utils"),
        "{}",
        run.describe()
    );
}
