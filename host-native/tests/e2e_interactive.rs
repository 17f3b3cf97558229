//! Interactive login on a pseudo-terminal (tests/support/pty-drive.py): `keyhole login` with no
//! method asks how to log in, and a pasted key is masked. Without a terminal the same command is a
//! usage error that names the flags.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Env, Provider, Spawned, keyhole_bin, repo_root, require_tool, run_with_deadline};

fn pty_command(env: &Env, steps: Value, args: &[&str]) -> Command {
    require_tool("python3", "drives the CLI through a pseudo-terminal");
    let mut cmd = Command::new("python3");
    cmd.arg(repo_root().join("tests/support/pty-drive.py"))
        .arg(steps.to_string())
        .arg("--")
        .arg(keyhole_bin())
        .args(args);
    env.apply(&mut cmd);
    // The menu moves its `>` with cursor movements, which a dumb terminal lacks.
    cmd.env("TERM", "xterm");
    cmd
}

#[test]
fn interactive_login_asks_for_the_method_and_masks_the_key() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    let steps = json!([
        { "expect": "How would you like to log in\\?", "timeout": 20 },
        { "expect": "> With a one-time code in a browser \\(device login\\)", "timeout": 5 },
        { "expect": "  By pasting an API key", "timeout": 5 },
        // Down twice to the third choice, then Enter.
        { "send": "\u{1b}[B\u{1b}[B\r" },
        { "expect": "Paste your API key: ", "timeout": 20 },
        { "send": "key_valid_mona\n" },
        { "expect": "mona@example\\.test", "timeout": 30 },
    ]);
    let run = run_with_deadline(
        &mut pty_command(&env, steps, &["login"]),
        Duration::from_secs(90),
    );
    run.expect_ok();
    let result = run.json();
    let output = result["output"].as_str().unwrap_or_default();
    assert_eq!(result["ok"], true, "pty session: {result}");
    assert_eq!(result["exit_code"], 0, "pty session: {result}");
    assert!(
        !output.contains("key_valid_mona"),
        "the pasted key is masked on the terminal:\n{output}"
    );
    // The menu moves the cursor (`ESC [ 2 A`), but NO_COLOR=1 (set by the harness) means no
    // colour: no SGR sequence, `ESC [ … m`.
    let colour = output.split("\u{1b}[").skip(1).any(|rest| {
        rest.chars()
            .find(|c| !c.is_ascii_digit() && *c != ';' && *c != '?')
            == Some('m')
    });
    assert!(!colour, "no colour codes:\n{output:?}");
    assert!(
        output.contains("How would you like to log in? By pasting an API key"),
        "the answer is shown after the question:\n{output:?}"
    );
    let (code, status) = env.status();
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(status["auth_type"], "api_key");
    assert_eq!(status["account"], "mona@example.test");
}

#[test]
fn interactive_device_choice_shows_the_code_and_logs_in() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    let steps = json!([
        { "expect": "> With a one-time code", "timeout": 20 },
        // Enter takes the highlighted default.
        { "send": "\r" },
        { "expect": "[A-Z]{4}-[A-Z]{4}", "timeout": 30 },
        { "expect": "nora@example\\.test", "timeout": 60 },
    ]);
    let mut driver = Spawned::start(&mut pty_command(&env, steps, &["login", "--no-open"]));
    // The user code is on the pty; the provider's test state names the one it handed out.
    let code = support::poll(150, Duration::from_millis(200), || {
        provider.state()["counters"]["last_user_code"]
            .as_str()
            .map(str::to_string)
    })
    .expect("the CLI started a device authorization within 30 s");
    provider.approve_device(&code, "nora");
    let run = driver.finish(Duration::from_secs(90));
    run.expect_ok();
    let result = run.json();
    assert_eq!(result["ok"], true, "pty session: {result}");
    assert_eq!(result["exit_code"], 0, "pty session: {result}");
    assert!(
        result["output"]
            .as_str()
            .unwrap_or_default()
            .contains(&code),
        "the terminal showed the user code: {result}"
    );
    assert!(
        shows_time_left(result["output"].as_str().unwrap_or_default()),
        "the terminal shows the time left (m:ss) while waiting: {result}"
    );
    let (status_code, status) = env.status();
    assert_eq!(status_code, Some(0), "{status}");
    assert_eq!(status["auth_type"], "oauth");
    assert_eq!(status["account"], "nora@example.test");
}

#[test]
fn login_without_a_method_and_without_a_terminal_is_a_usage_error() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    let run = env.run(["login"]);
    run.expect_code(2);
    for flag in ["--device", "--browser", "--api-key"] {
        assert!(
            run.stderr.contains(flag),
            "the usage error names {flag}\n{}",
            run.describe()
        );
    }
    let run = env.run(["--non-interactive", "login"]);
    run.expect_code(2);
}

/// Whether some line shows a countdown like ` 1:59` (a free-standing m:ss, not part of `host:port`)
fn shows_time_left(output: &str) -> bool {
    output.lines().any(|line| {
        let b = line.as_bytes();
        (0..b.len().saturating_sub(3)).any(|i| {
            let before_ok = i == 0 || b[i - 1] == b' ';
            let after_ok = b.get(i + 4).is_none_or(|c| !c.is_ascii_digit());
            before_ok
                && after_ok
                && b[i].is_ascii_digit()
                && b[i + 1] == b':'
                && b[i + 2].is_ascii_digit()
                && b[i + 3].is_ascii_digit()
        })
    })
}
