//! The `llamactl` example walked through its seed page against the local provider: environments,
//! device login, API-key profiles validated by listing projects, the profile table, switch and
//! logout; `auth token`, `auth login` and `auth project` choosing from the server's projects
//! through a PTY (masked key prompt, arrow-key picker), and their non-interactive forms

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::{
    COMMAND_DEADLINE, Env, Provider, Run, Spawned, example_bin, repo_root, require_tool,
};

/// `llamactl ARGS…` on a pseudo-terminal driven by `steps` (tests/support/pty-drive.py)
fn pty_llamactl(env: &Env, steps: Value, args: &[&str]) -> Command {
    require_tool("python3", "drives llamactl through a pseudo-terminal");
    let mut cmd = Command::new("python3");
    cmd.arg(repo_root().join("tests/support/pty-drive.py"))
        .arg(steps.to_string())
        .arg("--")
        .arg(example_bin("llamactl"))
        .args(args);
    env.apply(&mut cmd);
    cmd.env("TERM", "xterm");
    cmd
}

/// The driver's verdict: the session ran every step and llamactl exited 0; its screen output
fn pty_ok(run: &Run) -> String {
    run.expect_ok();
    let result = run.json();
    assert_eq!(result["ok"], true, "pty session: {result}");
    assert_eq!(result["exit_code"], 0, "pty session: {result}");
    result["output"].as_str().unwrap_or_default().to_owned()
}

/// The project of the current profile in `auth list` (the row marked `*`)
fn current_project(env: &Env) -> Option<String> {
    let run = env.run_example("llamactl", ["auth", "list"]);
    run.expect_ok();
    run.stdout
        .lines()
        .find(|r| r.starts_with("* "))
        .and_then(|r| r.split_whitespace().last())
        .map(str::to_owned)
}

fn local_env(provider: &Provider) -> Env {
    let mut env = llamactl_env();
    env.set("LLAMACTL_API_URL", &provider.issuer);
    env
}

fn llamactl_env() -> Env {
    let mut env = Env::new();
    env.remove("KEYHOLE_CONFIG_DIR");
    env.set("LLAMACTL_NO_KEYRING", "1");
    env.remove("LLAMA_CLOUD_API_KEY");
    env.remove("LLAMACTL_API_URL");
    env
}

#[test]
fn llamactl_auth_page_top_to_bottom() {
    let provider = Provider::start();
    let env = llamactl_env();

    env.run_example(
        "llamactl",
        ["auth", "env", "add", "local", &provider.issuer],
    )
    .expect_ok();
    env.run_example("llamactl", ["auth", "env", "switch", "local"])
        .expect_ok();
    let run = env.run_example("llamactl", ["auth", "env", "list"]);
    run.expect_ok();
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("* local ") && l.ends_with(&provider.issuer)),
        "{}",
        run.describe()
    );
    env.run_example("llamactl", ["auth", "env", "switch", "nowhere"])
        .expect_code(1);

    // `auth login`: the device flow creates a profile and makes it current.
    let mut child = Spawned::start(&mut env.example("llamactl", ["auth", "login"]));
    let code = support::poll(150, Duration::from_millis(200), || {
        provider.state()["counters"]["last_user_code"]
            .as_str()
            .map(str::to_string)
    })
    .expect("llamactl started a device authorization");
    provider.approve_device(&code, "erin");
    let run = child.finish(COMMAND_DEADLINE);
    run.expect_ok();
    assert!(
        run.stderr
            .contains("Logged in as erin@example.test; profile erin@example.test is now current"),
        "{}",
        run.describe()
    );

    // Non-interactive token needs both flags; a key is checked by listing projects.
    env.run_example(
        "llamactl",
        [
            "auth",
            "token",
            "--api-key",
            "key_valid_zed",
            "--no-interactive",
        ],
    )
    .expect_code(2);
    env.run_example(
        "llamactl",
        [
            "auth",
            "token",
            "--api-key",
            "not-a-key",
            "--project-id",
            "proj-zed",
            "--no-interactive",
        ],
    )
    .expect_code(4);
    assert!(
        provider.state()["counters"]["last_user_code"].is_string(),
        "the provider is still up"
    );
    env.run_example(
        "llamactl",
        [
            "auth",
            "token",
            "--api-key",
            "key_valid_zed",
            "--project-id",
            "proj-zed",
            "--no-interactive",
        ],
    )
    .expect_ok();
    let run = env.run_example("llamactl", ["auth", "list"]);
    assert!(
        run.stdout
            .lines()
            .any(|r| r.starts_with("* ") && r.ends_with("proj-zed")),
        "the key's profile is current with its project: {}",
        run.describe()
    );
    env.run_example("llamactl", ["auth", "switch", "erin@example.test"])
        .expect_ok();
    env.run_example("llamactl", ["auth", "project", "proj-alpha"])
        .expect_ok();

    let run = env.run_example("llamactl", ["auth", "list"]);
    run.expect_ok();
    let rows: Vec<&str> = run.stdout.lines().collect();
    assert!(
        rows[0].contains("NAME") && rows[0].contains("PROJECT"),
        "{}",
        run.describe()
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("* erin@example.test") && r.ends_with("proj-alpha")),
        "{}",
        run.describe()
    );

    // A second login is a second profile; switch picks one, logout of the current clears it.
    let mut child = Spawned::start(&mut env.example("llamactl", ["auth", "login"]));
    let first = code;
    let code = support::poll(150, Duration::from_millis(200), || {
        provider.state()["counters"]["last_user_code"]
            .as_str()
            .filter(|c| *c != first)
            .map(str::to_string)
    })
    .expect("a second device authorization");
    provider.approve_device(&code, "finn");
    child.finish(COMMAND_DEADLINE).expect_ok();
    env.run_example(
        "llamactl",
        ["auth", "switch", "erin@example.test", "--no-interactive"],
    )
    .expect_ok();
    let run = env.run_example("llamactl", ["auth", "logout", "erin@example.test"]);
    run.expect_ok();
    assert!(
        run.stderr.contains("Deleted profile erin@example.test"),
        "{}",
        run.describe()
    );
    let run = env.run_example("llamactl", ["auth", "list"]);
    assert!(!run.stdout.contains("erin@"), "{}", run.describe());
    assert!(
        run.stdout
            .lines()
            .any(|r| r.starts_with("  finn@example.test")),
        "the current selection is cleared: {}",
        run.describe()
    );
    env.run_example("llamactl", ["auth", "logout", "nobody", "--no-interactive"])
        .expect_code(1);
}

#[test]
fn auth_token_asks_for_the_key_masked_and_lets_the_user_choose_a_project() {
    let provider = Provider::start();
    let env = local_env(&provider);
    let steps = json!([
        { "expect": "Enter your API key:", "timeout": 20 },
        { "send": "key_valid_zed\n" },
        { "select": "sandbox", "timeout": 30 },
        { "expect": "proj-zed", "timeout": 20 },
    ]);
    let run = support::run_with_deadline(
        &mut pty_llamactl(&env, steps, &["auth", "token"]),
        Duration::from_secs(90),
    );
    let output = pty_ok(&run);
    assert!(
        !output.contains("key_valid_zed"),
        "the key is not echoed:\n{output}"
    );
    assert!(
        output.contains("Alpha (proj-alpha)") && output.contains("zed's sandbox (proj-zed)"),
        "the picker shows the key's own projects from the server:\n{output}"
    );
    assert_eq!(current_project(&env).as_deref(), Some("proj-zed"));
    assert_eq!(
        provider.state()["counters"]["api_requests"]["GET /api/v1/projects"].as_u64(),
        Some(2),
        "once for the key check, once for the choice"
    );
}

#[test]
fn auth_token_non_interactive_needs_both_flags_and_a_real_project() {
    let provider = Provider::start();
    let env = local_env(&provider);
    let run = env.run_example("llamactl", ["auth", "token", "--api-key", "key_valid_zed"]);
    run.expect_code(2);
    assert!(run.stderr.contains("--project-id"), "{}", run.describe());
    assert_eq!(
        provider.state()["counters"]["api_requests"]["GET /api/v1/projects"].as_u64(),
        None,
        "nothing was sent"
    );
    env.run_example("llamactl", ["auth", "token", "--project-id", "proj-zed"])
        .expect_code(2);
    // Another user's project is not one of this key's.
    let run = env.run_example(
        "llamactl",
        [
            "auth",
            "token",
            "--api-key",
            "key_valid_zed",
            "--project-id",
            "proj-erin",
            "--no-interactive",
        ],
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains("proj-erin") && run.stderr.contains("proj-alpha, proj-zed"),
        "{}",
        run.describe()
    );
    env.run_example(
        "llamactl",
        [
            "auth",
            "token",
            "--api-key",
            "key_valid_zed",
            "--project-id",
            "proj-zed",
            "--no-interactive",
        ],
    )
    .expect_ok();
    assert_eq!(current_project(&env).as_deref(), Some("proj-zed"));

    // Each key is its own auto-named profile; the newest is current.
    env.run_example(
        "llamactl",
        [
            "auth",
            "token",
            "--api-key",
            "key_valid_amy",
            "--project-id",
            "proj-alpha",
            "--no-interactive",
        ],
    )
    .expect_ok();
    let run = env.run_example("llamactl", ["auth", "list"]);
    let rows: Vec<&str> = run.stdout.lines().collect();
    assert!(
        rows.iter()
            .any(|r| r.starts_with("  profile-1 ") && r.ends_with("proj-zed")),
        "{}",
        run.describe()
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("* profile-2 ") && r.ends_with("proj-alpha")),
        "{}",
        run.describe()
    );
}

#[test]
fn auth_project_chooses_from_the_servers_projects() {
    let provider = Provider::start();
    let env = local_env(&provider);
    env.run_example(
        "llamactl",
        [
            "auth",
            "token",
            "--api-key",
            "key_valid_zed",
            "--project-id",
            "proj-zed",
        ],
    )
    .expect_ok();
    let steps =
        json!([{ "select": "Alpha", "timeout": 30 }, { "expect": "proj-alpha", "timeout": 20 }]);
    let run = support::run_with_deadline(
        &mut pty_llamactl(&env, steps, &["auth", "project"]),
        Duration::from_secs(90),
    );
    pty_ok(&run);
    assert_eq!(current_project(&env).as_deref(), Some("proj-alpha"));

    // Without a terminal: an id is needed, and it must be one of the server's.
    let run = env.run_example("llamactl", ["auth", "project", "--no-interactive"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("proj-alpha, proj-zed"),
        "{}",
        run.describe()
    );
    let run = env.run_example("llamactl", ["auth", "project", "proj-nope"]);
    run.expect_code(1);
    assert_eq!(current_project(&env).as_deref(), Some("proj-alpha"));
    env.run_example("llamactl", ["auth", "project", "proj-zed"])
        .expect_ok();
    assert_eq!(current_project(&env).as_deref(), Some("proj-zed"));
}

#[test]
fn auth_login_chooses_a_project_after_the_device_flow() {
    let provider = Provider::start();
    let env = local_env(&provider);
    let steps = json!([
        { "select": "sandbox", "timeout": 60 },
        { "expect": "proj-gwen", "timeout": 20 },
    ]);
    let mut child = Spawned::start(&mut pty_llamactl(&env, steps, &["auth", "login"]));
    let code = support::poll(150, Duration::from_millis(200), || {
        provider.state()["counters"]["last_user_code"]
            .as_str()
            .map(str::to_string)
    })
    .expect("llamactl started a device authorization");
    provider.approve_device(&code, "gwen");
    let run = child.finish(Duration::from_secs(90));
    let output = pty_ok(&run);
    assert!(output.contains("gwen@example.test"), "{output}");
    assert_eq!(current_project(&env).as_deref(), Some("proj-gwen"));
}

#[test]
fn an_environment_without_auth_takes_the_project_id_as_typed() {
    let env = llamactl_env();
    env.run_example(
        "llamactl",
        [
            "auth",
            "env",
            "add",
            "selfhosted",
            "http://127.0.0.1:9",
            "--no-auth",
        ],
    )
    .expect_ok();
    env.run_example("llamactl", ["auth", "env", "switch", "selfhosted"])
        .expect_ok();
    // Nothing to list projects from (the URL is dead): the id is taken as typed.
    env.run_example(
        "llamactl",
        ["auth", "project", "proj-local", "--no-interactive"],
    )
    .expect_ok();
    assert_eq!(current_project(&env).as_deref(), Some("proj-local"));
    let run = env.run_example("llamactl", ["auth", "project", "--no-interactive"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("name the project"),
        "{}",
        run.describe()
    );
    // On a terminal it asks for the id.
    let steps = json!([
        { "expect": "Project ID: ", "timeout": 20 },
        { "send": "proj-typed\n" },
        { "expect": "proj-typed", "timeout": 20 },
    ]);
    let run = support::run_with_deadline(
        &mut pty_llamactl(&env, steps, &["auth", "project"]),
        Duration::from_secs(60),
    );
    run.expect_ok();
    assert_eq!(run.json()["exit_code"], 0, "{}", run.describe());
    assert_eq!(current_project(&env).as_deref(), Some("proj-typed"));
}
