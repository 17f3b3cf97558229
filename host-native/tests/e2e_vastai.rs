//! The `vastai` example's key handling: `set api-key` with no remote setup into
//! `~/.config/vastai/vast_api_key` (0600 in a 0700 directory), the legacy `~/.vast_api_key`
//! moved there on the next run, usage errors

mod support;

use std::os::unix::fs::PermissionsExt;

use support::Env;

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
