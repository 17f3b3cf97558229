//! The harness itself, without the CLI: the provider starts and stops, its switches and counters
//! work, device approval and introspection work from Rust, the keyring comes up and goes away, and
//! the pty driver types into a program. If these fail, every other e2e failure is suspect.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::{CLIENT_ID, DEVICE_GRANT, Keyring, Provider, http, repo_root, run_with_deadline};

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(' ', "%20").replace(':', "%3A")))
        .collect::<Vec<_>>()
        .join("&")
}

fn post_form(provider: &Provider, path: &str, pairs: &[(&str, &str)]) -> serde_json::Value {
    http(
        "POST",
        &provider.url(path),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form(pairs),
    )
    .json()
}

#[test]
fn provider_device_flow_switches_and_introspection_from_rust() {
    let provider = Provider::start();
    let discovery = http(
        "GET",
        &provider.url("/.well-known/openid-configuration"),
        &[],
        "",
    )
    .json();
    assert_eq!(discovery["issuer"], provider.issuer);
    assert_eq!(
        discovery["device_authorization_endpoint"],
        provider.url("/device/auth")
    );

    provider.set(json!({ "slow_downs": 1 }));
    let auth = post_form(
        &provider,
        "/device/auth",
        &[
            ("client_id", CLIENT_ID),
            ("scope", "openid email offline_access"),
        ],
    );
    assert_eq!(
        auth["interval"], 1,
        "Provider::start injects a 1 s interval"
    );
    let device_code = auth["device_code"].as_str().expect("device_code");
    let poll = || {
        post_form(
            &provider,
            "/token",
            &[
                ("grant_type", DEVICE_GRANT),
                ("device_code", device_code),
                ("client_id", CLIENT_ID),
            ],
        )
    };
    assert_eq!(poll()["error"], "slow_down");
    assert_eq!(poll()["error"], "authorization_pending");
    provider.approve_device(auth["user_code"].as_str().expect("user_code"), "zoe");
    let tokens = poll();
    let access = tokens["access_token"].as_str().expect("access_token");
    let refresh = tokens["refresh_token"].as_str().expect("refresh_token");
    assert!(provider.introspect(access));
    assert_eq!(provider.token_requests(DEVICE_GRANT), 3);

    let rotated = post_form(
        &provider,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", CLIENT_ID),
        ],
    );
    assert!(rotated["refresh_token"].is_string());
    assert_ne!(rotated["refresh_token"], tokens["refresh_token"]);
    assert!(
        !provider.introspect(refresh),
        "rotation consumed the old one"
    );
    assert_eq!(provider.token_requests("refresh_token"), 1);
    provider.reset();
    assert_eq!(provider.token_requests("refresh_token"), 0);
}

#[test]
fn provider_process_is_gone_after_drop() {
    let provider = Provider::start();
    let port = provider.port;
    drop(provider);
    let gone = support::poll(50, Duration::from_millis(100), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .is_err()
            .then_some(())
    });
    assert!(gone.is_some(), "the provider still listens on {port}");
}

#[test]
fn keyring_stores_and_goes_away() {
    let keyring = Keyring::start();
    let mut store = Command::new("sh");
    store
        .args([
            "-c",
            "printf s3cret | secret-tool store --label=harness service keyhole-harness user u",
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", &keyring.bus_address);
    run_with_deadline(&mut store, Duration::from_secs(20)).expect_ok();
    let found = keyring.secret_tool(&["lookup", "service", "keyhole-harness", "user", "u"]);
    found.expect_ok();
    assert_eq!(found.stdout.trim(), "s3cret");
    let address = keyring.bus_address.clone();
    drop(keyring);
    let mut probe = Command::new("secret-tool");
    probe
        .args(["lookup", "service", "keyhole-harness", "user", "u"])
        .env("DBUS_SESSION_BUS_ADDRESS", &address);
    let after = run_with_deadline(&mut probe, Duration::from_secs(20));
    assert_ne!(after.code(), Some(0), "the private bus is gone after drop");
}

#[test]
fn pty_driver_types_into_a_terminal_program() {
    let script = r#"printf '1) Device\n2) Paste an API key\nChoice: '; read c; stty -echo; printf 'Key: '; read k; stty echo; echo; [ -t 0 ] && echo "tty choice=$c len=${#k}""#;
    let mut cmd = Command::new("python3");
    cmd.arg(repo_root().join("tests/support/pty-drive.py"))
        .arg(
            json!([{ "choose": "API key" }, { "expect": "Key:" }, { "send": "hidden-value\n" }])
                .to_string(),
        )
        .args(["--", "sh", "-c", script]);
    let run = run_with_deadline(&mut cmd, Duration::from_secs(30));
    run.expect_ok();
    let result = run.json();
    assert_eq!(result["ok"], true, "{result}");
    let output = result["output"].as_str().expect("output");
    assert!(output.contains("tty choice=2 len=12"), "{output}");
    assert!(!output.contains("hidden-value"), "echo was off: {output}");
}
