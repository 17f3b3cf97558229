//! The `truss` example walked down its seed page: login with a key or the device flow, remotes
//! created in `~/.trussrc` on login and removed on logout, the status lines (legacy plaintext
//! entries included), `truss login`, `BASETEN_API_KEY`

mod support;

use std::time::Duration;

use serde_json::json;
use support::{
    COMMAND_DEADLINE, Env, Provider, Spawned, example_bin, repo_root, run_with_deadline,
};

fn truss_env(provider: &Provider) -> Env {
    let mut env = Env::new();
    env.remove("KEYHOLE_CONFIG_DIR");
    env.set("BASETEN_TRUSS_AUTH_KEYRING_DISABLED", "1");
    env.set("BASETEN_REMOTE_URL", &provider.issuer);
    env.remove("BASETEN_API_KEY");
    env
}

#[test]
fn truss_auth_page() {
    let provider = Provider::start();
    let mut env = truss_env(&provider);
    // A browser that records what it was asked to open.
    let opened = env.root().join("opened.txt");
    let browser = env.root().join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\necho \"$1\" >> '{}'\n", opened.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    env.set("BROWSER", browser.to_string_lossy());

    // Non-interactive without a method: usage, with the page's advice.
    let run = env.run_example("truss", ["auth", "login"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("pass --browser or --api-key"),
        "{}",
        run.describe()
    );

    // `truss auth login --api-key …` creates the default remote `baseten`.
    let run = env.run_example("truss", ["auth", "login", "--api-key", "key_valid_ann"]);
    run.expect_ok();
    assert_eq!(
        run.stderr.trim(),
        "🔓 Logged in to remote `baseten`.",
        "{}",
        run.describe()
    );
    let run = env.run_example("truss", ["auth", "status"]);
    run.expect_ok();
    assert_eq!(
        run.stdout,
        format!(
            "remote: baseten\nremote_url: {}\nauth_type: api_key\nsource: trussrc-inline\n",
            provider.issuer
        ),
        "{}",
        run.describe()
    );

    // `truss login --browser --remote staging`: the device flow, the code pre-filled.
    let mut child =
        Spawned::start(&mut env.example("truss", ["login", "--browser", "--remote", "staging"]));
    let code = support::poll(150, Duration::from_millis(200), || {
        provider.state()["counters"]["last_user_code"]
            .as_str()
            .map(str::to_string)
    })
    .expect("truss started a device authorization");
    provider.approve_device(&code, "ann");
    let run = child.finish(COMMAND_DEADLINE);
    run.expect_ok();
    assert!(
        run.stderr.contains("🔓 Logged in to remote `staging`."),
        "{}",
        run.describe()
    );
    let opened = std::fs::read_to_string(&opened).unwrap_or_default();
    assert!(
        opened.contains(&format!("user_code={code}")),
        "the verification page opened with the code: {opened}"
    );

    // Two remotes: the page makes --remote optional only when one remote is configured.
    let run = env.run_example("truss", ["auth", "status"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains(
            "several remotes are configured in ~/.trussrc (baseten, staging); pass --remote NAME"
        ),
        "truss has no `remote use`, so the error names only the flag: {}",
        run.describe()
    );
    let run = env.run_example("truss", ["auth", "status", "--remote", "prod"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "no remote named `prod` in ~/.trussrc; add it with `truss auth login --remote prod`"
        ),
        "{}",
        run.describe()
    );
    let trussrc = env.root().join("home/.trussrc");
    let text = std::fs::read_to_string(&trussrc).unwrap();
    assert!(
        text.contains("[baseten]") && text.contains("[staging]"),
        "both remotes are sections of ~/.trussrc: {text}"
    );
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&trussrc).unwrap().permissions()
        ) & 0o777,
        0o600,
        "~/.trussrc holds inline credentials: 0600"
    );
    let run = env.run_example("truss", ["auth", "status", "--remote", "staging"]);
    run.expect_ok();
    assert!(
        run.stdout.contains("auth_type: oauth\n"),
        "{}",
        run.describe()
    );
    let revocations = provider.revocations();
    let run = env.run_example("truss", ["auth", "logout", "--remote", "staging"]);
    run.expect_ok();
    assert_eq!(
        run.stderr.trim(),
        "👋 Logged out of remote `staging`.",
        "{}",
        run.describe()
    );
    assert!(
        provider.revocations() > revocations,
        "logout revoked the tokens"
    );
    let text = std::fs::read_to_string(&trussrc).unwrap();
    assert!(!text.contains("[staging]"), "the remote is gone: {text}");
    assert!(text.contains("[baseten]"), "the other remote stays: {text}");

    // A plaintext entry written by an older truss keeps working untouched.
    let legacy = format!(
        "{text}\n[legacy]\nremote_provider = baseten\nremote_url = {}\napi_key = key_valid_old\n",
        provider.issuer
    );
    std::fs::write(&trussrc, &legacy).unwrap();
    let run = env.run_example("truss", ["auth", "status", "--remote", "legacy"]);
    run.expect_ok();
    assert_eq!(
        run.stdout,
        format!(
            "remote: legacy\nremote_url: {}\nauth_type: api_key (legacy plaintext)\nsource: trussrc-inline\n",
            provider.issuer
        ),
        "{}",
        run.describe()
    );
    assert_eq!(
        std::fs::read_to_string(&trussrc).unwrap(),
        legacy,
        "no auto-migration"
    );
    let run = env.run_example("truss", ["auth", "logout", "--remote", "legacy"]);
    run.expect_ok();

    // One remote left: --remote is inferred. Logging out of it too, BASETEN_API_KEY stands in.
    env.run_example("truss", ["auth", "logout"]).expect_ok();
    env.run_example("truss", ["auth", "status"]).expect_code(4);
    env.set("BASETEN_API_KEY", "key_valid_ci");
    let run = env.run_example("truss", ["auth", "status"]);
    run.expect_ok();
    assert!(run.stdout.contains("source: env\n"), "{}", run.describe());
}

#[test]
fn without_a_keyring_truss_warns_once_unless_told_to_write_inline() {
    let provider = Provider::start();
    let mut env = truss_env(&provider);
    // No keyring (the harness points D-Bus at nothing) and no opt-out: one warning line.
    env.remove("BASETEN_TRUSS_AUTH_KEYRING_DISABLED");
    let run = env.run_example("truss", ["auth", "login", "--api-key", "key_valid_ann"]);
    run.expect_ok();
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.describe());
    assert!(
        lines[0].starts_with("⚠️  No usable keyring (")
            && lines[0].ends_with(
                "); the credential is written inline to ~/.trussrc. Set BASETEN_TRUSS_AUTH_KEYRING_DISABLED=1 to do this without a warning."
            ),
        "{}",
        run.describe()
    );
    assert_eq!(lines[1], "🔓 Logged in to remote `baseten`.");
    let trussrc = std::fs::read_to_string(env.root().join("home/.trussrc")).unwrap();
    assert!(trussrc.contains("key_valid_ann"), "inline: {trussrc}");

    // BASETEN_TRUSS_AUTH_KEYRING_DISABLED=1: the same write, silently.
    env.set("BASETEN_TRUSS_AUTH_KEYRING_DISABLED", "1");
    let run = env.run_example("truss", ["auth", "login", "--api-key", "key_valid_bo"]);
    run.expect_ok();
    assert_eq!(
        run.stderr.trim(),
        "🔓 Logged in to remote `baseten`.",
        "{}",
        run.describe()
    );
}

#[test]
fn truss_login_on_a_terminal_asks_how_to_authenticate() {
    support::require_tool("python3", "drives truss through a pseudo-terminal");
    let provider = Provider::start();
    let env = truss_env(&provider);
    // The page's prompt, verbatim, with the highlight on the browser; up, Enter, then the key.
    let steps = json!([
        { "expect": "💻 Let's add a Baseten remote!\r?\n", "timeout": 20 },
        { "expect": "\\? How would you like to authenticate\\?\r?\n  Paste an API key\r?\n> Log in via browser \\(OAuth\\)", "timeout": 5 },
        { "send": "\u{1b}[A\r" },
        { "expect": "\\? Paste your API key: ", "timeout": 20 },
        { "send": "key_valid_pat\n" },
        { "expect": "🔓 Logged in to remote `baseten`\\.", "timeout": 30 },
    ]);
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(repo_root().join("tests/support/pty-drive.py"))
        .arg(steps.to_string())
        .arg("--")
        .arg(example_bin("truss"))
        .args(["auth", "login"]);
    env.apply(&mut cmd);
    cmd.env("TERM", "xterm");
    let run = run_with_deadline(&mut cmd, Duration::from_secs(90));
    run.expect_ok();
    let result = run.json();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["exit_code"], 0, "{result}");
    let output = result["output"].as_str().unwrap();
    assert!(
        !output.contains("key_valid_pat"),
        "the key is masked: {output:?}"
    );
    let run = env.run_example("truss", ["auth", "status"]);
    run.expect_ok();
    assert!(
        run.stdout.contains("auth_type: api_key\n"),
        "{}",
        run.describe()
    );
}

#[test]
fn a_mistyped_key_flag_never_echoes_the_key() {
    let provider = Provider::start();
    let env = truss_env(&provider);
    let run = env.run_example(
        "truss",
        ["auth", "login", "--api-key", "--sk-live-0123456789"],
    );
    run.expect_code(2);
    assert!(run.stderr.contains("error:"), "{}", run.describe());
    assert!(
        !run.stderr.contains("sk-live") && !run.stdout.contains("sk-live"),
        "{}",
        run.describe()
    );
}
