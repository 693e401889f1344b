//! `THIRD-PARTY-NOTICES`: the crates linked into the libraries and the CLI
//! and their licence texts, generated from `cargo metadata` (Cargo.lock) and
//! the licence files in each crate's source. The committed file must be what
//! this generates; `scripts/gen-notices.sh` (`WP_BLESS_NOTICES=1`) rewrites
//! it.
//!
//! The crate set is that of the default features on x86_64 Linux (Vulkan,
//! WAT, the JIT): a superset of every other build (the aarch64 and armv7
//! SDKs, `--no-default-features`). Linked in means reached from the package
//! through normal dependencies; dev and build dependencies and proc-macro
//! crates (code that runs at build time only) are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const NOTICES: &str = "THIRD-PARTY-NOTICES";
const PLATFORM: &str = "x86_64-unknown-linux-gnu";

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", PLATFORM])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata JSON")
}

/// Package ids reached from the root package by normal dependency edges,
/// not through proc-macro crates; the root itself excluded.
fn linked_packages(meta: &Value) -> BTreeSet<String> {
    let packages: BTreeMap<&str, &Value> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let root = packages
        .values()
        .find(|p| Path::new(p["manifest_path"].as_str().unwrap()) == manifest)
        .expect("the root package")["id"]
        .as_str()
        .unwrap();
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let is_proc_macro = |id: &str| {
        packages[id]["targets"].as_array().unwrap().iter().any(|t| {
            t["kind"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k == "proc-macro")
        })
    };
    let mut seen = BTreeSet::new();
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            let pkg = dep["pkg"].as_str().unwrap();
            if normal && !is_proc_macro(pkg) && seen.insert(pkg.to_string()) {
                todo.push(pkg);
            }
        }
    }
    seen
}

/// The licence-like files at the top of a crate's source, sorted.
fn licence_files(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let upper = name.to_uppercase();
            let licence = [
                "LICENSE",
                "LICENCE",
                "COPYING",
                "NOTICE",
                "COPYRIGHT",
                "UNLICENSE",
            ]
            .iter()
            .any(|p| upper.starts_with(p));
            if !licence || !e.path().is_file() {
                return None;
            }
            let text = std::fs::read_to_string(e.path()).ok()?;
            let text: Vec<&str> = text.lines().map(str::trim_end).collect();
            Some((name, text.join("\n").trim().to_string()))
        })
        .collect();
    files.sort();
    files
}

fn generate() -> String {
    let meta = metadata();
    let ids = linked_packages(&meta);
    let mut crates = Vec::new();
    // licence text -> the crates (and file names) that ship it
    let mut texts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut missing = Vec::new();
    for p in meta["packages"].as_array().unwrap() {
        if !ids.contains(p["id"].as_str().unwrap()) {
            continue;
        }
        let (name, version) = (p["name"].as_str().unwrap(), p["version"].as_str().unwrap());
        let licence = p["license"].as_str().unwrap_or("(see its licence file)");
        crates.push(format!("  {name} {version}: {licence}"));
        let dir = Path::new(p["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap();
        let files = licence_files(dir);
        if files.is_empty() {
            missing.push(format!("  {name} {version}: {licence}"));
        }
        for (file, text) in files {
            texts
                .entry(text)
                .or_default()
                .push(format!("{name} {version} ({file})"));
        }
    }
    crates.sort();
    let mut out = String::from(
        "Third-party software in libwasi_parallel (libwasi_parallel.a, libwasi_parallel.so)\n\
         and the wasi-parallel command-line tool, with the licences it is distributed under.\n\
         libwasi_parallel itself is under the Apache License 2.0 (LICENSE).\n\n\
         The list covers the default features on x86_64 Linux (Vulkan, WAT, JIT), a superset\n\
         of every other build. Generated from Cargo.lock by tests/all/notices.rs\n\
         (scripts/gen-notices.sh); do not edit.\n\n",
    );
    out += &format!("Rust crates linked in ({}):\n", crates.len());
    out += &crates.join("\n");
    out += "\n";
    if !missing.is_empty() {
        out += "\nCrates that ship no licence file (their licence's standard text applies;\n\
                Apache-2.0: see LICENSE):\n";
        out += &missing.join("\n");
        out += "\n";
    }
    out += "\nThe licence and notice files of these crates, each text once, with the crates\nthat ship it:\n";
    let mut blocks: Vec<(String, String)> = texts
        .into_iter()
        .map(|(text, users)| (users.join(", "), text))
        .collect();
    blocks.sort();
    for (users, text) in blocks {
        out += &format!(
            "\n{}\n{users}:\n{}\n\n{text}\n",
            "=".repeat(78),
            "-".repeat(78)
        );
    }
    out
}

/// The `  name version: licence` lines of the crate list.
fn crate_list(text: &str) -> BTreeSet<&str> {
    text.lines()
        .skip_while(|l| !l.starts_with("Rust crates linked in"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect()
}

#[test]
fn third_party_notices_are_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(NOTICES);
    let generated = generate();
    assert!(generated.contains("  wasmi 2.0.0: "), "wasmi is linked in");
    assert!(
        !generated.contains("  cbindgen "),
        "a dev-dependency is not"
    );
    assert!(
        !generated.contains("  thiserror-impl "),
        "a proc-macro is not"
    );
    if std::env::var_os("WP_BLESS_NOTICES").is_some() {
        std::fs::write(&path, &generated).expect("write THIRD-PARTY-NOTICES");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let (new, old) = (crate_list(&generated), crate_list(&committed));
        panic!(
            "{NOTICES} is stale (crates added: {:?}; gone: {:?}); run scripts/gen-notices.sh \
             and commit the result",
            new.difference(&old).collect::<Vec<_>>(),
            old.difference(&new).collect::<Vec<_>>()
        );
    }
}
