//! The secret store the CLI picks: a real gnome-keyring on a private D-Bus session, the file
//! fallback (with a one-line warning) when there is no bus, and `KEYHOLE_NO_KEYRING=1` (file,
//! silently).

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Env, Keyring, Provider};

fn warning_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("keyring"))
        .collect()
}

#[test]
fn credentials_live_in_the_real_keyring() {
    let provider = Provider::start();
    let keyring = Keyring::start();
    let mut env = Env::new();
    keyring.use_in(&mut env);
    env.add_remote("dev", &provider, &[]);

    let run = env.run(["login", "--api-key", "key_valid_pat", "--json"]);
    run.expect_ok();
    assert!(
        warning_lines(&run.stderr).is_empty(),
        "a working keyring needs no warning\n{}",
        run.describe()
    );
    let (code, status) = env.status();
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(status["source"], "keyring", "{status}");
    assert!(
        env.stored_records().is_empty(),
        "nothing went to the file store"
    );

    // The record really is in gnome-keyring, under service "keyhole" and key "remote/account".
    let found = keyring.secret_tool(&[
        "lookup",
        "service",
        "keyhole",
        "username",
        "dev/pat@example.test",
    ]);
    found.expect_ok();
    let record: Value = serde_json::from_str(found.stdout.trim())
        .unwrap_or_else(|e| panic!("the keyring item is the JSON record ({e})"));
    assert_eq!(record["version"], 1);
    assert_eq!(record["api_key"], "key_valid_pat");

    // OAuth through the keyring: login, a refresh that rotates, and the grant stays alive.
    provider.set(json!({ "access_ttl": 1 }));
    env.device_login(&provider, "quinn", &[]);
    support::wait_until_due(1);
    provider.set(json!({ "access_ttl": 3600 }));
    let token = env.token();
    assert_eq!(provider.token_requests("refresh_token"), 1);
    assert!(provider.introspect(&token));
    assert_eq!(
        env.token(),
        token,
        "the rotated tokens were saved in the keyring"
    );
    assert_eq!(provider.token_requests("refresh_token"), 1);
    let (_, status) = env.status();
    assert_eq!(status["source"], "keyring");
    assert!(env.stored_records().is_empty());
}

#[test]
fn no_bus_falls_back_to_the_file_with_one_warning() {
    let provider = Provider::start();
    // Two ways to have no Secret Service: a bus address whose socket does not exist (Env::new's
    // default), and no bus address at all with an empty runtime dir (no default bus either).
    for unset_address in [false, true] {
        let mut env = Env::new();
        env.remove("KEYHOLE_NO_KEYRING");
        if unset_address {
            env.remove("DBUS_SESSION_BUS_ADDRESS");
            let runtime = env.root().join("runtime");
            std::fs::create_dir_all(&runtime).expect("a fresh temp dir is writable");
            env.set("XDG_RUNTIME_DIR", runtime.to_string_lossy());
        }
        let case = if unset_address {
            "no address"
        } else {
            "dead socket"
        };
        env.add_remote("dev", &provider, &[]);
        let began = Instant::now();
        let run = env.run(["login", "--api-key", "key_valid_ruth", "--json"]);
        run.expect_ok();
        assert!(
            began.elapsed() < Duration::from_secs(15),
            "{case}: an absent keyring must not hang the CLI ({:?})",
            began.elapsed()
        );
        let warnings = warning_lines(&run.stderr);
        assert_eq!(
            warnings.len(),
            1,
            "{case}: exactly one warning line about the keyring\n{}",
            run.describe()
        );
        let (code, status) = env.status();
        assert_eq!(code, Some(0), "{case}: {status}");
        assert_eq!(status["source"], "file", "{case}");
        let records = env.stored_records();
        assert_eq!(records.len(), 1, "{case}");
        assert_eq!(records[0].1["api_key"], "key_valid_ruth");
        let token = env.run(["token"]);
        token.expect_ok();
        assert_eq!(
            token.stdout, "key_valid_ruth\n",
            "{case}: the warning goes to stderr only"
        );
    }
}

#[test]
fn no_keyring_env_uses_the_file_silently_even_with_a_keyring_present() {
    let provider = Provider::start();
    let keyring = Keyring::start();
    let mut env = Env::new();
    keyring.use_in(&mut env);
    env.set("KEYHOLE_NO_KEYRING", "1");
    env.add_remote("dev", &provider, &[]);
    let run = env.run(["login", "--api-key", "key_valid_sam", "--json"]);
    run.expect_ok();
    assert!(
        warning_lines(&run.stderr).is_empty(),
        "KEYHOLE_NO_KEYRING=1 is silent\n{}",
        run.describe()
    );
    let (_, status) = env.status();
    assert_eq!(status["source"], "file", "{status}");
    assert_eq!(env.stored_records().len(), 1);
    let lookup = keyring.secret_tool(&[
        "lookup",
        "service",
        "keyhole",
        "username",
        "dev/sam@example.test",
    ]);
    assert_ne!(lookup.code(), Some(0), "nothing in the keyring");

    // Files are private.
    let dir = env.config_dir().join("credentials");
    for entry in std::fs::read_dir(&dir)
        .expect("the credentials dir exists")
        .flatten()
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = entry.metadata().expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", entry.path().display());
    }
}

#[test]
fn file_credentials_move_into_the_keyring_once_it_works() {
    let provider = Provider::start();
    let keyring = Keyring::start();
    let mut env = Env::new();
    keyring.use_in(&mut env);
    // Logged in while the keyring was off: the record is in the file store.
    env.set("KEYHOLE_NO_KEYRING", "1");
    env.add_remote("dev", &provider, &[]);
    env.run(["login", "--api-key", "key_valid_mo", "--json"])
        .expect_ok();
    assert_eq!(env.stored_records().len(), 1);

    // The keyring works now: the next read moves the record, and nothing is lost.
    env.remove("KEYHOLE_NO_KEYRING");
    assert_eq!(env.token(), "key_valid_mo");
    assert!(
        env.stored_records().is_empty(),
        "the file copy is gone once the keyring holds it"
    );
    let found = keyring.secret_tool(&[
        "lookup",
        "service",
        "keyhole",
        "username",
        "dev/mo@example.test",
    ]);
    found.expect_ok();
    let record: Value = serde_json::from_str(found.stdout.trim()).unwrap();
    assert_eq!(record["api_key"], "key_valid_mo");
    let (code, status) = env.status();
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(
        status["source"], "keyring",
        "status says where it lives now"
    );
}
