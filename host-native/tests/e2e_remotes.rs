//! Remotes, accounts, `switch` and `project`, all through the CLI and its config directory.

mod support;

use support::{Env, Provider};

#[test]
fn remotes_add_list_use_remove() {
    let provider = Provider::start();
    let env = Env::new();

    // With no remote at all, commands say how to add one.
    let run = env.run(["status", "--json"]);
    assert_ne!(run.code(), Some(0), "{}", run.describe());

    env.add_remote("prod", &provider, &[]);
    env.add_remote("staging", &provider, &["--port", "8765"]);

    let run = env.run(["remote", "list"]);
    run.expect_ok();
    assert!(run.stdout.contains("prod"), "{}", run.describe());
    assert!(run.stdout.contains("staging"), "{}", run.describe());

    // Adding a remote of an existing name is refused.
    let dup = env.run([
        "remote",
        "add",
        "prod",
        "--issuer",
        &provider.issuer,
        "--client-id",
        support::CLIENT_ID,
    ]);
    assert_ne!(dup.code(), Some(0), "{}", dup.describe());

    // Two remotes and none chosen explicitly: --remote picks; `remote use` makes one current.
    env.run(["remote", "use", "staging"]).expect_ok();
    let (code, status) = env.status();
    assert_eq!(code, Some(4));
    assert_eq!(status["remote"], "staging", "{status}");
    let run = env.run(["--remote", "prod", "status", "--json"]);
    assert_eq!(run.json()["remote"], "prod");

    // KEYHOLE_REMOTE picks a remote for one command too.
    let mut env_remote = env.keyhole(["status", "--json"]);
    env_remote.env("KEYHOLE_REMOTE", "prod");
    let run = support::run_with_deadline(&mut env_remote, support::COMMAND_DEADLINE);
    assert_eq!(run.json()["remote"], "prod", "{}", run.describe());

    // Credentials belong to their remote.
    env.run([
        "--remote",
        "prod",
        "login",
        "--api-key",
        "key_valid_lena",
        "--json",
    ])
    .expect_ok();
    let run = env.run(["--remote", "prod", "status", "--json"]);
    assert_eq!(run.json()["account"], "lena@example.test");
    let (code, _) = env.status();
    assert_eq!(code, Some(4), "staging (current) has no login");

    let unknown = env.run(["remote", "use", "nope"]);
    assert_ne!(unknown.code(), Some(0));
    assert!(
        unknown.stderr.contains("nope"),
        "the error names the remote\n{}",
        unknown.describe()
    );

    env.run(["remote", "remove", "staging"]).expect_ok();
    let run = env.run(["remote", "list"]);
    run.expect_ok();
    assert!(!run.stdout.contains("staging"), "{}", run.describe());
    // One remote left: it is inferred.
    let (code, status) = env.status();
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(status["remote"], "prod");
}

#[test]
fn accounts_switch_and_projects() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);

    env.run(["login", "--api-key", "key_valid_ann", "--json"])
        .expect_ok();
    env.run(["login", "--api-key", "key_valid_ben", "--json"])
        .expect_ok();
    let (_, status) = env.status();
    assert_eq!(
        status["account"], "ben@example.test",
        "the newest login is active"
    );
    assert_eq!(env.token(), "key_valid_ben");

    let run = env.run(["switch", "ann@example.test"]);
    run.expect_ok();
    let (_, status) = env.status();
    assert_eq!(status["account"], "ann@example.test");
    assert_eq!(env.token(), "key_valid_ann");

    let run = env.run(["switch", "nobody@example.test"]);
    assert_ne!(run.code(), Some(0), "{}", run.describe());
    let (_, status) = env.status();
    assert_eq!(
        status["account"], "ann@example.test",
        "a failed switch changes nothing"
    );

    // The active project belongs to the account.
    env.run(["project", "proj-alpha"]).expect_ok();
    let (_, status) = env.status();
    assert_eq!(status["project"], "proj-alpha", "{status}");
    let run = env.run(["project"]);
    run.expect_ok();
    assert!(run.stdout.contains("proj-alpha"), "{}", run.describe());

    env.run(["switch", "ben@example.test"]).expect_ok();
    let (_, status) = env.status();
    assert!(
        status["project"].is_null() || status.get("project").is_none(),
        "ben has no project yet: {status}"
    );
    env.run(["switch", "ann@example.test"]).expect_ok();
    let (_, status) = env.status();
    assert_eq!(status["project"], "proj-alpha");

    // Logging one account out leaves the other.
    let run = env.run(["logout", "--json"]);
    run.expect_ok();
    assert_eq!(run.json()["account"], "ann@example.test");
    env.run(["switch", "ben@example.test"]).expect_ok();
    assert_eq!(env.token(), "key_valid_ben");
}

#[test]
fn status_all_and_logout_all_cover_every_account() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    env.device_login(&provider, "otto", &[]);
    let oauth_token = env.token();
    env.run(["login", "--api-key", "key_valid_pam", "--json"])
        .expect_ok();

    let run = env.run(["status", "--all", "--json"]);
    run.expect_ok();
    let all = run.json();
    let entries = all.as_array().expect("status --all --json is a list");
    let accounts: Vec<&str> = entries
        .iter()
        .filter(|e| e["logged_in"] == true)
        .filter_map(|e| e["account"].as_str())
        .collect();
    assert!(
        accounts.contains(&"otto@example.test") && accounts.contains(&"pam@example.test"),
        "{all}"
    );
    // People see which account is the active one (the newest login).
    let run = env.run(["status", "--all"]);
    run.expect_ok();
    let line = |who: &str| {
        run.stdout
            .lines()
            .find(|l| l.contains(who))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line("pam@example.test").contains("(active)"),
        "{}",
        run.describe()
    );
    assert!(
        !line("otto@example.test").contains("(active)"),
        "{}",
        run.describe()
    );

    let run = env.run(["logout", "--all", "--json"]);
    run.expect_ok();
    let out = run.json();
    let entries = out.as_array().expect("logout --all --json is a list");
    let otto = entries
        .iter()
        .find(|e| e["account"] == "otto@example.test")
        .expect("the OAuth account was logged out");
    assert!(
        otto["revoked"].as_array().is_some_and(|r| !r.is_empty()),
        "{out}"
    );
    assert!(entries.iter().all(|e| e["cleared"] == true), "{out}");
    assert!(!provider.introspect(&oauth_token));
    let (code, _) = env.status();
    assert_eq!(code, Some(4));
    assert!(env.stored_records().is_empty());
}
