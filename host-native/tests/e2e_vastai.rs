//! The `vastai` example's `set api-key` (the part of its page that needs neither the key-file
//! format nor account calls): no remote setup, a 0600 file in a 0700 directory, usage errors

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
    let stored: Vec<_> = std::fs::read_dir(dir.join("credentials"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(mode(&stored[0]), 0o600);
    assert!(
        std::fs::read_to_string(&stored[0])
            .unwrap()
            .contains("vk-secret-value")
    );

    env.run_example("vastai", ["set", "api-key", "  "])
        .expect_code(2);
    env.run_example("vastai", ["set", "api-key"]).expect_code(2);
}
