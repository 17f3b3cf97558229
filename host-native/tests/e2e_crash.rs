//! Crash safety at the CLI level: `keyhole` processes are SIGKILLed at spread-out moments while they
//! write credentials. After every kill the file store parses and holds either the old or the new
//! record, and no lock is left behind that blocks the next command.

mod support;

use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Env, Provider, Spawned};

/// Kills per scenario; the delays sweep 0..KILL_SPREAD_MS so every phase of a write gets hit
const ROUNDS: u64 = 40;
const KILL_SPREAD_MS: u64 = 80;

fn kill_after(env: &Env, args: &[&str], delay: Duration) {
    let mut child = Spawned::start(&mut env.keyhole(args));
    thread::sleep(delay);
    // Child::kill is SIGKILL on Unix.
    let _ = child.close_with_kill();
}

/// Sleeps until the record's access token is past half its lifetime, when `token` refreshes it
fn wait_until_due(record: &Value) {
    let oauth = &record["oauth"];
    let (Some(issued), Some(expires)) = (
        oauth["issued_at_ms"].as_u64(),
        oauth["expires_at_ms"].as_u64(),
    ) else {
        panic!("the record has no token lifetime: {record}");
    };
    let due_ms = issued + (expires.saturating_sub(issued)) / 2 + 50;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    thread::sleep(Duration::from_millis(due_ms.saturating_sub(now_ms)));
}

fn the_record(env: &Env) -> Value {
    let records = env.stored_records();
    assert_eq!(
        records.len(),
        1,
        "one account, one record file: {:?}",
        records.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    let record = records[0].1.clone();
    assert_eq!(record["version"], 1, "{record}");
    record
}

#[test]
fn set_key_killed_at_any_moment_leaves_the_old_or_the_new_key() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    env.run(["login", "--api-key", "key_valid_uma", "--json"])
        .expect_ok();
    let mut current = "key_valid_uma".to_string();
    let mut changed = 0;
    for round in 0..ROUNDS {
        let next = format!("key_valid_uma{round}");
        let delay = Duration::from_millis((round * 37) % KILL_SPREAD_MS);
        kill_after(&env, &["set-key", &next], delay);
        let record = the_record(&env);
        let stored = record["api_key"].as_str().unwrap_or_default().to_string();
        assert!(
            stored == current || stored == next,
            "round {round} (kill after {delay:?}): stored key is neither the old nor the new one"
        );
        if stored == next {
            changed += 1;
        }
        current = stored;
    }
    // No stale lock: a normal write still goes through promptly, and reads see it.
    env.run(["set-key", "key_valid_uma_final"]).expect_ok();
    assert_eq!(env.token(), "key_valid_uma_final");
    // Temporaries left by killed writers (they may hold secrets) are removed by a later write once
    // they are old enough not to belong to a live writer (the store waits a minute): age them.
    let credentials = env.config_dir().join("credentials");
    let temporaries = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&credentials)
            .expect("the credentials dir exists")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "tmp"))
            .collect()
    };
    let left = temporaries();
    for path in &left {
        let mut touch = std::process::Command::new("touch");
        touch.args(["-m", "-d", "10 minutes ago"]).arg(path);
        support::run_with_deadline(&mut touch, Duration::from_secs(10)).expect_ok();
    }
    env.run(["set-key", "key_valid_uma_after"]).expect_ok();
    assert!(
        temporaries().is_empty(),
        "{} temporaries of killed writers remain after a write: {:?}",
        left.len(),
        temporaries()
    );
    eprintln!(
        "{changed} of {ROUNDS} killed writes had completed; {} temporaries were left",
        left.len()
    );
}

#[test]
fn token_refresh_killed_at_any_moment_leaves_the_old_or_a_new_record() {
    let provider = Provider::start();
    // Every round waits until the stored token is due (half its 4 s lifetime), so every `token`
    // refreshes, and the new token stays live long enough to introspect. Rotation is off here so that a
    // kill between the provider's answer and the save cannot end the grant: every round really
    // refreshes and writes. (With rotation on, such a kill loses the rotated token by nature.)
    provider.set(json!({ "access_ttl": 4, "rotate": false }));
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    env.device_login(&provider, "vic", &[]);
    let mut current = the_record(&env)["oauth"]["access_token"]
        .as_str()
        .expect("an access token is stored")
        .to_string();
    let mut changed = 0;
    for round in 0..ROUNDS / 2 {
        let delay = Duration::from_millis((round * 53) % KILL_SPREAD_MS);
        wait_until_due(&the_record(&env));
        kill_after(&env, &["token"], delay);
        let record = the_record(&env);
        let stored = record["oauth"]["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("round {round}: the record lost its OAuth tokens: {record}"))
            .to_string();
        assert!(
            record["oauth"]["refresh_token"].is_string(),
            "round {round}: the refresh token is still there"
        );
        if stored != current {
            // Not the old record, so it must be a whole new one the provider really issued.
            assert!(
                provider.introspect(&stored),
                "round {round}: the stored access token is neither the old one nor a live new one"
            );
            changed += 1;
        }
        current = stored;
    }
    // No stale lock, and the store still works: a normal `token` refreshes and saves.
    let token = env.token();
    assert!(provider.introspect(&token));
    eprintln!("{changed} of {} killed refreshes had saved", ROUNDS / 2);
}
