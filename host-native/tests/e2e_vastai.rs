//! The `vastai` example's key handling: `set api-key` with no remote setup into
//! `~/.config/vastai/vast_api_key` (0600 in a 0700 directory), the legacy `~/.vast_api_key`
//! moved there on the next run, usage errors; and against the local provider's vast-shaped API:
//! `show user` passing numbers through, the key lifecycle (create → list → show → use → delete →
//! refused), a scoped key refused by name, exit 4 on 401, and a bad permissions file that names
//! its line and column and sends nothing

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;
use support::{Env, Provider, Run, http, keys_in_order};

/// A vastai environment pointed at the provider (`VAST_URL`, the example's documented override)
fn vast_env(provider: &Provider) -> Env {
    let mut env = Env::new();
    env.remove("KEYHOLE_CONFIG_DIR");
    env.set("VAST_NO_KEYRING", "1");
    env.remove("VAST_API_KEY");
    env.set("VAST_URL", &provider.issuer);
    env
}

/// The count of `METHOD /path` requests the provider's API has seen
fn api_requests(provider: &Provider, request: &str) -> u64 {
    provider.state()["counters"]["api_requests"][request]
        .as_u64()
        .unwrap_or(0)
}

fn stdout_json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is one JSON document ({e}): {}", run.describe()))
}

/// Every file under `dir`, read as text where it is text
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read_to_string(&path).is_ok_and(|t| t.contains(needle)) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn set_api_key_needs_no_setup() {
    let mut env = Env::new();
    env.remove("KEYHOLE_CONFIG_DIR");
    env.set("VAST_NO_KEYRING", "1");
    env.remove("VAST_API_KEY");
    let run = env.run_example("vastai", ["set", "api-key", "vk-secret-value"]);
    run.expect_ok();
    assert_eq!(
        run.stderr.trim(),
        "Your api key has been saved.",
        "{}",
        run.describe()
    );
    assert!(!run.stderr.contains("vk-secret-value") && !run.stdout.contains("vk-secret-value"));
    let dir = env.root().join("home/.config/vastai");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let key_file = dir.join("vast_api_key");
    assert_eq!(mode(&key_file), 0o600);
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap().trim(),
        "vk-secret-value",
        "the page's plain key file"
    );

    env.run_example("vastai", ["set", "api-key", "  "])
        .expect_code(2);
    env.run_example("vastai", ["set", "api-key"]).expect_code(2);
}

#[test]
fn the_legacy_key_file_moves_on_the_next_run() {
    let mut env = Env::new();
    env.remove("KEYHOLE_CONFIG_DIR");
    env.remove("VAST_API_KEY");
    let home = env.root().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join(".vast_api_key"), "vk-legacy\n").unwrap();
    // Any run that opens the store moves the key; `set api-key` then replaces it in the new place.
    let run = env.run_example("vastai", ["set", "api-key", "vk-new"]);
    run.expect_ok();
    assert!(!home.join(".vast_api_key").exists(), "{}", run.describe());
    assert_eq!(
        std::fs::read_to_string(home.join(".config/vastai/vast_api_key"))
            .unwrap()
            .trim(),
        "vk-new"
    );
    assert!(!run.stderr.contains("vk-legacy") && !run.stderr.contains("vk-new"));
}

#[test]
fn show_user_passes_the_account_json_through() {
    let provider = Provider::start();
    let mut env = vast_env(&provider);

    // No key anywhere: a login is required (exit 4), and nothing reached the API.
    let run = env.run_example("vastai", ["show", "user"]);
    run.expect_code(4);
    assert!(
        run.stderr.contains(
            "no API key; run `vastai set api-key KEY` with a key from https://cloud.vast.ai/manage-keys/, or set VAST_API_KEY"
        ),
        "vast's own advice: {}",
        run.describe()
    );
    assert_eq!(api_requests(&provider, "GET /api/v0/users/current/"), 0);
    // A key the server refuses (401) is exit 4 too.
    env.run_example("vastai", ["set", "api-key", "not-a-valid-key"])
        .expect_ok();
    let run = env.run_example("vastai", ["show", "user"]);
    run.expect_code(4);
    assert!(
        !run.stderr.contains("not-a-valid-key"),
        "{}",
        run.describe()
    );

    env.run_example("vastai", ["set", "api-key", "key_valid_vera"])
        .expect_ok();
    let run = env.run_example("vastai", ["show", "user"]);
    run.expect_ok();
    let shown = stdout_json(&run);
    let answer = http(
        "GET",
        &provider.url("/api/v0/users/current/"),
        &[("authorization", "Bearer key_valid_vera")],
        "",
    );
    let sent = answer.json();
    assert_eq!(shown, sent, "the account JSON as the server sent it");
    // In the server's order, nested objects too, as vast's page shows it (id, email, …).
    let order = keys_in_order(&answer.body);
    assert_eq!(keys_in_order(&run.stdout), order, "{}", run.stdout);
    assert_eq!(&order[..3], ["id", "username", "email"], "{order:?}");
    let mut sorted = order.clone();
    sorted.sort();
    assert_ne!(order, sorted, "the fixture's keys are not sorted");
    assert!(
        run.stdout.starts_with("{\n  \"id\": ")
            && run.stdout.contains("\n  \"billing\": {\n    \"limits\": {"),
        "indented for people: {}",
        run.stdout
    );
    assert!(shown["id"].is_u64(), "{shown}");
    assert_eq!(shown["credit"].as_f64(), Some(12.5));
    assert_eq!(shown["storage_bytes"].as_u64(), Some(9_007_199_254_740_991));
    assert_eq!(shown["billing"]["limits"]["daily"], 250);
    assert!(
        run.stdout.contains("\"credit\": 12.5") && !run.stdout.contains("\"12.5\""),
        "numbers stay numbers: {}",
        run.stdout
    );

    // VAST_API_KEY wins over the file.
    env.set("VAST_API_KEY", "key_valid_walt");
    let run = env.run_example("vastai", ["show", "user"]);
    run.expect_ok();
    assert_eq!(stdout_json(&run)["email"], "walt@example.test");
}

#[test]
fn api_key_lifecycle_create_list_show_use_delete() {
    let provider = Provider::start();
    let mut env = vast_env(&provider);
    env.run_example("vastai", ["set", "api-key", "key_valid_vera"])
        .expect_ok();

    let run = env.run_example("vastai", ["create", "api-key", "--name", "ci-deploy-key"]);
    run.expect_ok();
    let key = run.stdout.trim().to_owned();
    assert!(
        key.starts_with("vk_") && !key.contains('\n'),
        "{}",
        run.describe()
    );
    assert!(
        run.stderr.contains("Created API key ci-deploy-key (id 42)")
            && run.stderr.contains("cannot be shown again"),
        "{}",
        run.describe()
    );
    assert!(
        !run.stderr.contains(&key),
        "the key is printed once, on stdout"
    );
    assert!(
        !files_containing(env.root(), "key_valid_vera").is_empty(),
        "the scan finds a stored key (the one `set api-key` stored)"
    );
    assert!(
        files_containing(env.root(), &key).is_empty(),
        "the new key is not stored unless asked: {:?}",
        files_containing(env.root(), &key)
    );

    let run = env.run_example("vastai", ["show", "api-keys"]);
    run.expect_ok();
    let keys = stdout_json(&run);
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "{keys}");
    assert_eq!(keys[0]["id"], 42);
    assert_eq!(keys[0]["name"], "ci-deploy-key");
    assert!(!run.stdout.contains(&key));

    let run = env.run_example("vastai", ["show", "api-key", "42"]);
    run.expect_ok();
    assert_eq!(stdout_json(&run)["name"], "ci-deploy-key");
    assert_eq!(
        keys_in_order(&run.stdout),
        ["id", "name", "permissions", "created_at"],
        "the server's order: {}",
        run.stdout
    );

    // The new key works for the API.
    env.set("VAST_API_KEY", &key);
    let run = env.run_example("vastai", ["show", "user"]);
    run.expect_ok();
    assert_eq!(stdout_json(&run)["email"], "vera@example.test");
    env.remove("VAST_API_KEY");

    let run = env.run_example("vastai", ["delete", "api-key", "42"]);
    run.expect_ok();
    assert!(
        run.stderr.contains("Deleted API key 42"),
        "{}",
        run.describe()
    );

    // Deleted: refused (401, exit 4), and gone from the account.
    env.set("VAST_API_KEY", &key);
    env.run_example("vastai", ["show", "user"]).expect_code(4);
    env.remove("VAST_API_KEY");
    let run = env.run_example("vastai", ["show", "api-key", "42"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("`42`"),
        "the 404 names the id: {}",
        run.describe()
    );
    let run = env.run_example("vastai", ["show", "api-keys"]);
    assert_eq!(stdout_json(&run), serde_json::json!([]));
}

#[test]
fn a_scoped_key_is_refused_by_operation_and_a_bad_permissions_file_sends_nothing() {
    let provider = Provider::start();
    let mut env = vast_env(&provider);
    env.run_example("vastai", ["set", "api-key", "key_valid_vera"])
        .expect_ok();
    let home = env.root().join("home");
    let perms = home.join("perms.json");
    std::fs::write(&perms, "{\"api\": {\"user_read\": {}}}\n").unwrap();
    let run = env.run_example(
        "vastai",
        [
            "create",
            "api-key",
            "--name",
            "read-only",
            "--permission_file",
            perms.to_str().unwrap(),
        ],
    );
    run.expect_ok();
    let scoped = run.stdout.trim().to_owned();
    let run = env.run_example("vastai", ["show", "api-key", "42"]);
    assert_eq!(
        stdout_json(&run)["permissions"],
        serde_json::json!({"api": {"user_read": {}}}),
        "the file's permissions were sent as written"
    );

    // The scoped key reads the account but may not create keys: 403 naming the operation.
    env.set("VAST_API_KEY", &scoped);
    env.run_example("vastai", ["show", "user"]).expect_ok();
    let run = env.run_example("vastai", ["create", "api-key", "--name", "escalate"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("may not create API keys"),
        "{}",
        run.describe()
    );
    env.remove("VAST_API_KEY");
    let created = provider.state()["counters"]["keys_created"].as_u64();
    assert_eq!(created, Some(1));

    // A malformed file: line and column named, exit 2, no request at all.
    let bad = home.join("bad.json");
    // A missing comma before `"user_write"`, on line 4 at column 5.
    std::fs::write(
        &bad,
        "{\n  \"api\": {\n    \"user_read\": {}\n    \"user_write\": {}\n  }\n}\n",
    )
    .unwrap();
    let posts = api_requests(&provider, "POST /api/v0/auth/apikeys/");
    let before: u64 = provider.state()["counters"]["api_requests"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    let run = env.run_example(
        "vastai",
        [
            "create",
            "api-key",
            "--name",
            "bad",
            "--permission_file",
            bad.to_str().unwrap(),
        ],
    );
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("bad.json: not valid JSON at line 4, column 5"),
        "{}",
        run.describe()
    );
    assert!(
        run.stderr.contains("nothing was sent"),
        "{}",
        run.describe()
    );
    let after: u64 = provider.state()["counters"]["api_requests"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(after, before, "no API request of any kind on a bad file");
    assert_eq!(api_requests(&provider, "POST /api/v0/auth/apikeys/"), posts);
    // A missing file and a non-object are refused the same way.
    env.run_example(
        "vastai",
        [
            "create",
            "api-key",
            "--name",
            "x",
            "--permission_file",
            "/nonexistent/p.json",
        ],
    )
    .expect_code(2);
    std::fs::write(&bad, "[\"user_read\"]").unwrap();
    env.run_example(
        "vastai",
        [
            "create",
            "api-key",
            "--name",
            "x",
            "--permission_file",
            bad.to_str().unwrap(),
        ],
    )
    .expect_code(2);
    assert_eq!(
        provider.state()["counters"]["keys_created"].as_u64(),
        Some(1)
    );
}

#[test]
fn a_key_that_looks_like_a_flag_is_never_echoed() {
    let provider = Provider::start();
    let env = vast_env(&provider);
    let run = env.run_example("vastai", ["set", "api-key", "--sk-live-0123456789"]);
    run.expect_code(2);
    assert!(run.stderr.contains("error:"), "{}", run.describe());
    assert!(!run.stderr.contains("sk-live"), "{}", run.describe());
}
