//! keyhole's own account commands on its default paths (`whoami`, `projects`, `project --server`,
//! `keys create|list|show|delete`) against the local provider, with an API key and with an OAuth
//! login; the JSON forms, `--save`, and the errors' codes and exit statuses

mod support;

use serde_json::json;
use support::{Env, Provider, http};

#[test]
fn whoami_projects_and_keys_with_an_api_key() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);

    // Nobody logged in: exit 4, nothing sent.
    let run = env.run(["whoami", "--json"]);
    run.expect_code(4);
    assert_eq!(run.json()["code"], "not_logged_in", "{}", run.describe());
    assert!(
        provider.state()["counters"]["api_requests"]["GET /api/me"].is_null(),
        "nothing was sent without a credential"
    );

    env.run(["login", "--api-key", "key_valid_kim"]).expect_ok();
    let run = env.run(["whoami", "--json"]);
    run.expect_ok();
    let answer = run.json();
    assert_eq!(answer["remote"], "dev");
    assert_eq!(answer["label"], "kim@example.test");
    let sent = http(
        "GET",
        &provider.url("/api/me"),
        &[("authorization", "Bearer key_valid_kim")],
        "",
    )
    .json();
    assert_eq!(answer["whoami"], sent);

    let run = env.run(["projects", "--json"]);
    run.expect_ok();
    assert_eq!(
        run.json(),
        json!([
            {"id": "proj-alpha", "name": "Alpha", "active": false},
            {"id": "proj-kim", "name": "kim's sandbox", "active": false},
        ])
    );
    env.run(["project", "--server", "proj-erin"]).expect_code(1);
    env.run(["project", "--server", "proj-kim"]).expect_ok();
    let run = env.run(["projects"]);
    assert!(
        run.stdout.lines().any(|l| l.starts_with("* proj-kim ")),
        "{}",
        run.describe()
    );

    // A new key, saved on request: `token` hands it out from now on.
    let run = env.run(["keys", "create", "--name", "laptop", "--save", "--json"]);
    run.expect_ok();
    let created = run.json();
    assert_eq!(created["event"], "key_created");
    assert_eq!(created["saved"], true);
    assert_eq!(created["id"], 42);
    let key = created["key"].as_str().expect("the key").to_owned();
    assert!(
        created["answer"].get("key").is_none(),
        "the key appears once: {created}"
    );
    assert_eq!(env.token(), key);

    let run = env.run(["keys", "list", "--json"]);
    run.expect_ok();
    assert_eq!(run.json()[0]["name"], "laptop");
    let run = env.run(["keys", "show", "42", "--json"]);
    run.expect_ok();
    assert_eq!(run.json()["id"], 42);
    let run = env.run(["keys", "show", "7", "--json"]);
    run.expect_code(1);
    assert_eq!(run.json()["code"], "not_found");

    // Deleting the key in use: the next call needs a login (exit 4).
    let run = env.run(["keys", "delete", "42", "--json"]);
    run.expect_ok();
    assert_eq!(
        run.json(),
        json!({"event": "key_deleted", "remote": "dev", "id": "42"})
    );
    env.run(["whoami"]).expect_code(4);
}

#[test]
fn a_scoped_key_is_refused_naming_the_operation() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    env.run(["login", "--api-key", "key_valid_kim"]).expect_ok();
    let perms = env.root().join("read-only.json");
    std::fs::write(&perms, r#"{"api": {"user_read": {}}}"#).unwrap();
    let run = env.run([
        "keys",
        "create",
        "--name",
        "ro",
        "--permission-file",
        perms.to_str().unwrap(),
        "--save",
    ]);
    run.expect_ok();
    let run = env.run(["keys", "create", "--name", "more", "--json"]);
    run.expect_code(1);
    let error = run.json();
    assert_eq!(error["code"], "insufficient_permission");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("create API keys")),
        "{error}"
    );
    env.run(["whoami"]).expect_ok();
}

#[test]
fn whoami_with_an_oauth_login() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    env.device_login(&provider, "lena", &[]);
    let run = env.run(["whoami", "--json"]);
    run.expect_ok();
    assert_eq!(run.json()["whoami"]["email"], "lena@example.test");
    let run = env.run(["projects"]);
    run.expect_ok();
    assert!(run.stdout.contains("proj-lena"), "{}", run.describe());
}
