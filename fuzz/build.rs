//! Embeds every transcript of tests/transcripts: the machine targets build their machines from a
//! transcript's config, so the fuzzer starts from configs the suite already proves realistic.
use std::{env, fs, path::PathBuf};

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../tests/transcripts");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("tests/transcripts")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = String::from("pub(crate) const TRANSCRIPTS: &[(&str, &str)] = &[\n");
    for f in files {
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let path = fs::canonicalize(&f).unwrap();
        out += &format!("    ({name:?}, include_str!({:?})),\n", path.display().to_string());
    }
    out += "];\n";
    fs::write(PathBuf::from(env::var("OUT_DIR").unwrap()).join("transcripts.rs"), out).unwrap();
}
