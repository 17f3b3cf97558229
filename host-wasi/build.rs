//! Builds the keyhole component this crate embeds and tests, and records the wasmtime version
//!
//! The component comes from a nested `cargo rustc -p keyhole-core --lib --crate-type cdylib
//! --target wasm32-wasip2 --profile wasm --features component` into its own target directory
//! (`<target>/keyhole-component`, so the nested cargo never waits on the lock the outer one
//! holds), the way wasmtime's own `test-programs` build their guests. It is the same
//! size-optimised build `scripts/build-component` ships: one build, because keyhole-wasi loads it
//! precompiled from its cache, where its bytes hardly matter (docs/performance.md). Its path
//! reaches the crate as `KEYHOLE_COMPONENT_BUILT`.
//!
//! Set `KEYHOLE_COMPONENT_PREBUILT=/path/to/keyhole_core.wasm` to use an existing component
//! instead (for packaging, or a machine without the wasm32-wasip2 target).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.parent().expect("host-wasi sits in the workspace");
    wasmtime_version(root);
    println!("cargo:rerun-if-env-changed=KEYHOLE_COMPONENT_PREBUILT");
    let component = match std::env::var_os("KEYHOLE_COMPONENT_PREBUILT") {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            path
        }
        None => build_component(root),
    };
    println!(
        "cargo:rustc-env=KEYHOLE_COMPONENT_BUILT={}",
        component.display()
    );
    // The embedded component's SHA-256, its precompile-cache key: hashing it at every start would
    // cost a quarter of a warm load (measured, docs/performance.md).
    let bytes = std::fs::read(&component)
        .unwrap_or_else(|e| panic!("cannot read the component {}: {e}", component.display()));
    let sha: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=KEYHOLE_COMPONENT_SHA256={sha}");
}

fn build_component(root: &Path) -> PathBuf {
    for path in [
        "core/src",
        "core/Cargo.toml",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    let target_root = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let target_dir = target_root.join("keyhole-component");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        // `rustc --crate-type cdylib`, as scripts/build-component: with core's rlib also requested
        // cargo drops the profile's LTO (rust-lang/cargo#9672).
        .args([
            "rustc",
            "-p",
            "keyhole-core",
            "--lib",
            "--crate-type",
            "cdylib",
        ])
        .args(["--target", "wasm32-wasip2"])
        .args([
            "--profile",
            "wasm",
            "--features",
            "component",
            "--target-dir",
        ])
        .arg(&target_dir);
    // The outer build's flags and jobserver belong to the host target, not to the guest.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_MAKEFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the keyhole component: {e}"));
    assert!(
        status.success(),
        "building the keyhole component failed (see above); `rustup target add wasm32-wasip2` if the \
         target is missing, or set KEYHOLE_COMPONENT_PREBUILT to a built component"
    );
    target_dir.join("wasm32-wasip2/wasm/keyhole_core.wasm")
}

/// `KEYHOLE_WASMTIME_VERSION`: part of the precompiled-component cache key
fn wasmtime_version(root: &Path) {
    let lock = root.join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    // `[[package]]\nname = "wasmtime"\nversion = "48.0.8"`: the line after the name.
    let version = text
        .split("[[package]]")
        .find_map(|block| {
            let mut lines = block.lines().map(str::trim).filter(|l| !l.is_empty());
            (lines.next()? == r#"name = "wasmtime""#)
                .then(|| lines.next())
                .flatten()
                .and_then(|l| l.strip_prefix("version = "))
                .map(|v| v.trim_matches('"').to_owned())
        })
        // Outside this workspace wasmtime's own header check still refuses an artefact from
        // another version; the entry is then rebuilt.
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=KEYHOLE_WASMTIME_VERSION={version}");
}
