//! The `keyhole-wasi` binary: credentials shared with `keyhole`'s format, and a broken component
//! gives a clear error and leaves the stored credentials alone
//!
//! The flows against a real provider run in host-native's e2e suite with
//! `KEYHOLE_E2E_BIN=target/debug/keyhole-wasi` (see `scripts/test`, stage `wasi`).

use std::path::Path;
use std::process::{Command, Output};

fn keyhole_wasi(home: &Path, component: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyhole-wasi"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("KEYHOLE_CONFIG_DIR", home.join("config"))
        .env("KEYHOLE_NO_KEYRING", "1");
    if let Some(path) = component {
        cmd.env("KEYHOLE_COMPONENT", path);
    }
    cmd.output().expect("keyhole-wasi runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_broken_component_is_a_clear_error_and_the_stored_key_survives() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let ok = |out: &Output| {
        assert!(
            out.status.success(),
            "stdout: {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    };
    ok(&keyhole_wasi(
        home,
        None,
        &[
            "remote",
            "add",
            "dev",
            "--token-endpoint",
            "https://idp.example/token",
        ],
    ));
    ok(&keyhole_wasi(
        home,
        None,
        &["login", "--api-key", "sk-test-123"],
    ));
    let token = keyhole_wasi(home, None, &["token"]);
    ok(&token);
    assert_eq!(text(&token.stdout).trim(), "sk-test-123");
    // The precompiled component is cached in the user's cache directory: one entry, its
    // artefact and the check beside it.
    let mut cached: Vec<_> = std::fs::read_dir(home.join("cache/keyhole"))
        .unwrap()
        .map(|e| e.unwrap().path().extension().unwrap().to_owned())
        .collect();
    cached.sort();
    assert_eq!(cached, ["check", "cwasm"], "one cache entry");

    let missing = home.join("nowhere/keyhole.wasm");
    let garbage = home.join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm\x0d\x00\x01\x00not really").unwrap();
    for (component, expect) in [
        (&missing, "cannot read the keyhole component"),
        (&garbage, "not a valid wasm component"),
    ] {
        let out = keyhole_wasi(home, Some(component), &["token"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expect), "{stderr}");
        assert!(!stderr.contains("sk-test-123"), "{stderr}");
        assert!(out.stdout.is_empty(), "no credential printed");
    }

    let token = keyhole_wasi(home, None, &["token"]);
    ok(&token);
    assert_eq!(
        text(&token.stdout).trim(),
        "sk-test-123",
        "the key is untouched"
    );
}

#[test]
fn help_lists_the_same_commands_as_keyhole() {
    let home = tempfile::tempdir().unwrap();
    let out = keyhole_wasi(home.path(), None, &["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for command in [
        "login", "set-key", "status", "token", "logout", "test", "remote",
    ] {
        assert!(
            help.contains(&format!("  {command} ")),
            "{command} missing:\n{help}"
        );
    }
}
