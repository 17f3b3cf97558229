//! Cross-host: a login by one host is used by the other (issue 3). `keyhole` drives the core
//! natively, `keyhole-wasi` drives the same core inside the wasm component; both must read and
//! write the same store and record format.
//!
//! Needs `keyhole-wasi` built beside `keyhole` (`cargo build -p keyhole-wasi`, which
//! `scripts/test wasi` does), or its path in `KEYHOLE_WASI_BIN`.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::{
    COMMAND_DEADLINE, Env, Provider, Run, Spawned, http, keys_in_order, run_with_deadline,
};

fn native_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keyhole"))
}

fn wasi_bin() -> PathBuf {
    let path = match std::env::var_os("KEYHOLE_WASI_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => native_bin().with_file_name("keyhole-wasi"),
    };
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p keyhole-wasi` (scripts/test wasi does) or set KEYHOLE_WASI_BIN",
        path.display()
    );
    path
}

fn cmd(env: &Env, bin: &PathBuf, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args);
    env.apply(&mut cmd);
    cmd
}

fn run(env: &Env, bin: &PathBuf, args: &[&str]) -> Run {
    run_with_deadline(&mut cmd(env, bin, args), COMMAND_DEADLINE)
}

fn device_login(env: &Env, bin: &PathBuf, provider: &Provider, login: &str) {
    let mut child = Spawned::start(&mut cmd(
        env,
        bin,
        &["login", "--device", "--no-open", "--json"],
    ));
    let prompt = child.wait_event("prompt", Duration::from_secs(30));
    provider.approve_device(prompt["user_code"].as_str().expect("a user code"), login);
    child.finish(COMMAND_DEADLINE).expect_ok();
}

fn token(env: &Env, bin: &PathBuf) -> String {
    let run = run(env, bin, &["token"]);
    run.expect_ok();
    run.stdout.trim_end().to_owned()
}

/// Logs in with `first`, then checks that `second` sees the same account and token, and that
/// `second` can log out what `first` logged in
fn login_with_then_use_with(first: &PathBuf, second: &PathBuf) {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    device_login(&env, first, &provider, "carol");

    let by_first = run(&env, first, &["status", "--json"]);
    by_first.expect_ok();
    let by_second = run(&env, second, &["status", "--json"]);
    by_second.expect_ok();
    let (a, b) = (by_first.json(), by_second.json());
    assert_eq!(b["account"], "carol@example.test", "{b}");
    for field in [
        "logged_in",
        "remote",
        "remote_url",
        "account",
        "auth_type",
        "source",
        "expires_at_ms",
    ] {
        assert_eq!(
            a[field], b[field],
            "`{field}` differs between hosts:\n{a}\n{b}"
        );
    }

    let token = token(&env, second);
    assert_eq!(
        token,
        self::token(&env, first),
        "both hosts hand out the same stored token"
    );
    assert!(
        provider.introspect(&token),
        "the shared token is live at the provider"
    );

    run(&env, second, &["logout"]).expect_ok();
    assert!(
        !provider.introspect(&token),
        "logout through the other host revoked the token"
    );
    run(&env, first, &["status", "--json"]).expect_code(4);
}

#[test]
fn native_login_is_used_by_the_component() {
    login_with_then_use_with(&native_bin(), &wasi_bin());
}

#[test]
fn component_login_is_used_natively() {
    login_with_then_use_with(&wasi_bin(), &native_bin());
}

/// `whoami` prints the server's JSON the same through the core natively and in the component:
/// the same bytes, keys in the server's order (which is not sorted)
#[test]
fn whoami_prints_the_same_on_both_hosts() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    run(
        &env,
        &native_bin(),
        &["login", "--api-key", "key_valid_kim"],
    )
    .expect_ok();
    let sent = http(
        "GET",
        &provider.url("/api/me"),
        &[("authorization", "Bearer key_valid_kim")],
        "",
    );
    let order = keys_in_order(&sent.body);
    let mut sorted = order.clone();
    sorted.sort();
    assert_ne!(
        order, sorted,
        "the fixture's keys are not sorted: {order:?}"
    );
    for args in [&["whoami"][..], &["whoami", "--json"][..]] {
        let native = run(&env, &native_bin(), args);
        native.expect_ok();
        let wasi = run(&env, &wasi_bin(), args);
        wasi.expect_ok();
        assert_eq!(native.stdout, wasi.stdout, "{args:?} differs between hosts");
        let shown = keys_in_order(&native.stdout);
        let body = if args.len() == 1 {
            &shown[..]
        } else {
            &shown[4..]
        };
        assert_eq!(
            body, order,
            "{args:?} in the server's order: {}",
            native.stdout
        );
    }
}
