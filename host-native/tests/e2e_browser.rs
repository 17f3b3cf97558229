//! Browser login with PKCE through real headless Chromium: the CLI opens `$BROWSER <url>`, which
//! logs in on the provider's page and consents; the redirect reaches the CLI's loopback listener.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Env, Provider, free_port, repo_root, require_tool};

fn browser_env(provider: &Provider) -> (Env, std::path::PathBuf) {
    require_tool("chromium", "real browser login (Debian package chromium)");
    let mut env = Env::new();
    env.add_remote("dev", provider, &[]);
    let log = env.root().join("browser.log");
    env.set(
        "BROWSER",
        repo_root().join("tests/support/browser").to_string_lossy(),
    );
    env.set("KEYHOLE_E2E_BROWSER_LOG", log.to_string_lossy());
    (env, log)
}

/// `keyhole login --browser --port <free> --timeout SECS --json`; the port and the run
fn login_browser(env: &Env, timeout_s: &str) -> (String, support::Run) {
    let port = free_port().to_string();
    let run = env.run([
        "login",
        "--browser",
        "--port",
        &port,
        "--timeout",
        timeout_s,
        "--json",
    ]);
    (port, run)
}

fn browser_runs(log: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn browser_login_with_pkce_through_chromium() {
    let provider = Provider::start();
    let (mut env, log) = browser_env(&provider);
    env.set("KEYHOLE_E2E_LOGIN", "erin");
    let (port, run) = login_browser(&env, "60");
    run.expect_ok();
    // The browser script logs after Chromium has closed, which may be just after the CLI is done.
    let runs = support::poll(100, Duration::from_millis(100), || {
        let runs = browser_runs(&log);
        (!runs.is_empty()).then_some(runs)
    })
    .unwrap_or_default();
    let last = run.json_lines().pop().expect("a result event");
    assert_eq!(last["event"], "login", "{}", run.describe());
    assert_eq!(last["account"], "erin@example.test");
    assert_eq!(last["auth_type"], "oauth");

    assert_eq!(runs.len(), 1, "the CLI opened the browser once: {runs:?}");
    let url = runs[0]["url"].as_str().expect("the browser got a URL");
    assert!(url.starts_with(&provider.url("/auth?")), "{url}");
    assert!(
        url.contains("code_challenge_method=S256"),
        "PKCE S256: {url}"
    );
    assert!(url.contains("code_challenge="), "{url}");
    assert!(url.contains("state="), "{url}");
    assert!(
        url.contains(&format!(
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2Fcallback"
        )),
        "loopback redirect on the chosen port: {url}"
    );
    assert_eq!(runs[0]["callback_reached"], true, "{runs:?}");
    assert_eq!(provider.token_requests("authorization_code"), 1);

    let (code, status) = env.status();
    assert_eq!(code, Some(0));
    assert_eq!(status["account"], "erin@example.test");
    let token = env.token();
    assert!(provider.introspect(&token));
}

#[test]
fn denying_in_the_browser_fails_the_login() {
    let provider = Provider::start();
    let (mut env, _log) = browser_env(&provider);
    env.set("KEYHOLE_E2E_DENY", "1");
    let (_, run) = login_browser(&env, "60");
    run.expect_code(1);
    let last = run.json_lines().pop().expect("an error event");
    assert_eq!(last["event"], "error", "{}", run.describe());
    assert!(
        last["code"].as_str().unwrap_or_default().contains("denied"),
        "{last}"
    );
    assert_eq!(provider.token_requests("authorization_code"), 0);
}

#[test]
fn browser_login_times_out_when_nobody_comes_back() {
    let provider = Provider::start();
    let mut env = Env::new();
    env.add_remote("dev", &provider, &[]);
    // A "browser" that accepts the URL and does nothing.
    env.set("BROWSER", "true");
    let began = std::time::Instant::now();
    let (_, run) = login_browser(&env, "2");
    run.expect_code(1);
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "{:?}",
        began.elapsed()
    );
    let last = run.json_lines().pop().expect("an error event");
    assert_eq!(last["event"], "error", "{}", run.describe());
}

#[test]
fn no_browser_falls_back_to_the_device_flow() {
    let provider = Provider::start();
    let mut env = Env::new();
    env.add_remote("dev", &provider, &[]);
    // A BROWSER that cannot open anything.
    env.set("BROWSER", "false");
    let port = free_port().to_string();
    let mut login = support::Spawned::start(&mut env.keyhole([
        "login",
        "--browser",
        "--port",
        &port,
        "--timeout",
        "10",
        "--json",
    ]));
    // Issue 4: "falls back to the device flow when no browser can be opened".
    let prompt = login.wait_event("prompt", Duration::from_secs(15));
    provider.approve_device(prompt["user_code"].as_str().expect("user_code"), "fay");
    let run = login.finish(support::COMMAND_DEADLINE);
    run.expect_ok();
    let last = run.json_lines().pop().expect("a result event");
    assert_eq!(last["event"], "login", "{}", run.describe());
    assert_eq!(last["account"], "fay@example.test");
}

#[test]
fn device_login_opens_the_verification_page_in_the_browser_unless_no_open() {
    let provider = Provider::start();
    let (mut env, log) = browser_env(&provider);
    env.set("KEYHOLE_E2E_LOGIN", "gwen");
    // Chromium gets verification_uri_complete, confirms the code, logs in and consents; the test
    // approves nothing itself.
    let run = env.run(["login", "--device", "--json"]);
    run.expect_ok();
    let events = run.json_lines();
    let prompt = events
        .iter()
        .find(|e| e["event"] == "prompt")
        .expect("a prompt event");
    assert_eq!(
        events.last().expect("a result")["account"],
        "gwen@example.test",
        "{}",
        run.describe()
    );
    let runs = support::poll(100, Duration::from_millis(100), || {
        let runs = browser_runs(&log);
        (!runs.is_empty()).then_some(runs)
    })
    .unwrap_or_default();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["url"], prompt["verification_uri_complete"]);
    assert_eq!(runs[0]["device_approved"], true, "{runs:?}");

    // With --no-open the browser is left alone.
    env.run(["logout"]).expect_ok();
    let other = env.device_login(&provider, "gwen", &[]);
    assert_eq!(other["account"], "gwen@example.test");
    assert_eq!(browser_runs(&log).len(), 1, "--no-open opened nothing");
}

#[test]
fn a_forged_callback_is_answered_400_and_the_real_one_still_logs_in() {
    // Issue 16 item 5: while the login waits, another local program sends a callback with the
    // wrong state. It gets a 400 that confirms nothing, and the login goes on to the real one.
    let provider = Provider::start();
    let (mut env, log) = browser_env(&provider);
    env.set("KEYHOLE_E2E_LOGIN", "hana");
    let forger = env.root().join("forger.mjs");
    std::fs::write(
        &forger,
        r#"const authorize = new URL(process.argv[2]);
const redirect = new URL(authorize.searchParams.get("redirect_uri"));
const answer = await fetch(`http://127.0.0.1:${redirect.port}/callback?code=forged&state=wrong`);
console.log(JSON.stringify({ status: answer.status, body: await answer.text() }));
"#,
    )
    .unwrap();
    let forged_log = env.root().join("forged.json");
    let wrapper = env.root().join("forge-then-browse");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nnode '{}' \"$1\" > '{}' || exit 1\nexec '{}' \"$@\"\n",
            forger.display(),
            forged_log.display(),
            repo_root().join("tests/support/browser").display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    env.set("BROWSER", wrapper.to_string_lossy());
    let (_, run) = login_browser(&env, "60");

    let forged: Value = serde_json::from_str(
        &std::fs::read_to_string(&forged_log).expect("the forger ran before the browser"),
    )
    .expect("the forger got an answer");
    assert_eq!(forged["status"], 400, "{forged}");
    let page = forged["body"].as_str().unwrap_or_default();
    assert!(!page.contains("Login received"), "{page}");
    assert!(page.contains("still waiting"), "{page}");

    run.expect_ok();
    let last = run.json_lines().pop().expect("a result event");
    assert_eq!(last["event"], "login", "{}", run.describe());
    assert_eq!(last["account"], "hana@example.test");
    // The forged code was never exchanged; the real one was, once.
    assert_eq!(provider.token_requests("authorization_code"), 1);
    let runs = support::poll(100, Duration::from_millis(100), || {
        let runs = browser_runs(&log);
        (!runs.is_empty()).then_some(runs)
    })
    .unwrap_or_default();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["callback_reached"], true, "{runs:?}");
    // The real redirect's page is written after the core's check, so it may confirm.
    let final_text = runs[0]["final_text"].as_str().unwrap_or_default();
    assert!(final_text.contains("Login received"), "{runs:?}");
}
