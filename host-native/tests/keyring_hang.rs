//! Issue 16 item 10: a keyring that stops answering. A real gnome-keyring on a private D-Bus is
//! frozen with SIGSTOP, so calls to `org.freedesktop.secrets` queue and hang, and thawed with
//! SIGCONT, so whatever was queued runs late, as with a keyring waiting on an unlock prompt.
//!
//! - A reported write failure leaves nothing behind, even when the write lands after the timeout.
//! - A hanging keyring is an error, never a switch to the file store: one account, one store.
//!
//! One test function: the bus address is process-wide.
#![cfg(unix)]

mod support;

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use keyhole_core::{Secret, StoreOp};
use keyhole_native::store::{Backend, KeyringStore, LockDir, SecretStore, Store};
use support::Keyring;

/// The gnome-keyring-daemon serving `bus_address`, found by its environment
fn daemon_pid(bus_address: &str) -> u32 {
    let wanted = format!("DBUS_SESSION_BUS_ADDRESS={bus_address}");
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("gnome-keyring") {
            continue;
        }
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if environ.split(|b| *b == 0).any(|kv| kv == wanted.as_bytes()) {
            return pid;
        }
    }
    panic!("no gnome-keyring-daemon on {bus_address}");
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}

/// Whether the keyring holds an item for `key` under `service` (asks with secret-tool)
fn in_keyring(keyring: &Keyring, service: &str, key: &str) -> bool {
    keyring
        .secret_tool(&["lookup", "service", service, "username", key])
        .code()
        == Some(0)
}

fn records_in(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("credentials")).map_or(0, |d| d.count())
}

#[test]
fn a_hanging_keyring_leaves_nothing_behind_and_never_splits_stores() {
    let keyring = Keyring::start();
    // SAFETY: this test binary has a single test; nothing else reads the environment meanwhile.
    unsafe {
        std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &keyring.bus_address);
        std::env::remove_var("KEYHOLE_NO_KEYRING");
    }
    let daemon = daemon_pid(&keyring.bus_address);
    let dir = tempfile::tempdir().unwrap();
    let service = "keyhole-hang-test";

    // 1. A write that times out and lands late is taken back.
    let store = KeyringStore::new(service, LockDir::new(dir.path().join("locks")));
    assert_eq!(store.get("late").unwrap(), None, "the keyring answers");
    signal(daemon, "-STOP");
    let err = store
        .set("late", &Secret::new("s3cret".to_owned()))
        .unwrap_err();
    assert_eq!(err.kind(), "unavailable", "{err}");
    signal(daemon, "-CONT");
    // The queued write now runs; give it and its undo time, then look.
    thread::sleep(Duration::from_secs(3));
    assert!(
        !in_keyring(&keyring, service, "late"),
        "a write reported as failed landed in the keyring"
    );

    // 2. The account is in the keyring; the keyring then hangs. Saving must fail, not go to
    //    the file: the account would live in two stores.
    store
        .set("dev/a@example.test", &Secret::new("old".to_owned()))
        .unwrap();
    signal(daemon, "-STOP");
    let mut app = Store::open(service, dir.path(), Backend::Auto);
    let result = app.perform(&StoreOp::CompareAndSwap {
        key: "dev/a@example.test".into(),
        expected: None,
        new: Secret::new("new".to_owned()),
    });
    signal(daemon, "-CONT");
    assert!(
        result.is_err(),
        "a hanging keyring was replaced by the file"
    );
    assert_eq!(
        records_in(dir.path()),
        0,
        "the account went to the file too"
    );
    assert_eq!(app.source(), None);
    // Once the keyring answers again, the same store uses it.
    assert_eq!(
        app.perform(&StoreOp::Load {
            key: "dev/a@example.test".into()
        })
        .unwrap()
        .map(|s| s.expose().to_owned()),
        Some("old".to_owned())
    );
}
