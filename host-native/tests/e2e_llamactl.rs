//! The `llamactl` example walked through its seed page against the local provider: environments,
//! device login, API-key profiles validated by listing projects, the profile table, switch and
//! logout (project choice from the server's list is not built yet; see the example's header)

mod support;

use std::time::Duration;

use support::{COMMAND_DEADLINE, Env, Provider, Spawned};

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
            "proj-beta",
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
            "proj-beta",
            "--no-interactive",
        ],
    )
    .expect_ok();
    let run = env.run_example("llamactl", ["auth", "list"]);
    assert!(
        run.stdout
            .lines()
            .any(|r| r.starts_with("* ") && r.ends_with("proj-beta")),
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
