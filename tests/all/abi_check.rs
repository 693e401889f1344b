//! The C ABI check: the declarations of `include/wasi_parallel.h` (function
//! signatures, typedefs, struct and union layouts, enum and `#define`
//! values) are recorded in `abi/wasi_parallel.abi`; this test fails,
//! printing what changed, when they differ from the record:
//! - something removed or changed (a breaking change) without a major
//!   version bump in Cargo.toml: always, even when re-recording;
//! - only additions, or a bumped major version: until the record is
//!   re-recorded with `scripts/abi-record.sh` (`WP_BLESS_ABI=1`).
//!
//! The shared library must export exactly the record's `function`s, all
//! named `wp_*`, under the SONAME `libwasi_parallel.so.MAJOR`:
//! `scripts/check-exports.sh` checks each built library against the record
//! (c-examples/run.sh, scripts/test-cross.sh, scripts/test-deb.sh; cargo test
//! builds no shared library).
//!
//! The declarations come from clang's JSON AST of the header; layouts from a
//! C program compiled against it (x86_64 Linux, the record's platform).
//! (libabigail's abidiff compares DWARF of two builds; the library's DWARF
//! describes Rust types, not the header a C host compiles against, so the
//! header itself is what is recorded here.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{require_tool, scratch};

/// `key -> value`, e.g. `function wp_engine_new` -> its C type.
type Entries = BTreeMap<String, String>;

const RECORD: &str = "abi/wasi_parallel.abi";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn header() -> PathBuf {
    root().join("include/wasi_parallel.h")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn qual_type(node: &Value) -> String {
    node["type"]["qualType"].as_str().unwrap_or("?").to_string()
}

/// What a typedef names: a struct/union (with fields), an enum (with
/// constants), an opaque struct, or another type.
enum Shape {
    Record(Vec<String>),
    Opaque,
    Other,
}

/// Declarations of the header, from clang's JSON AST, plus the
/// `(typedef, shape)` list the layout probe needs.
fn declarations(entries: &mut Entries) -> Vec<(String, Shape)> {
    let json = run(Command::new("clang").args([
        "-Xclang",
        "-ast-dump=json",
        "-fsyntax-only",
        "-x",
        "c",
        header().to_str().unwrap(),
    ]));
    let ast: Value = serde_json::from_str(&json).expect("clang's JSON AST");
    let top = ast["inner"].as_array().expect("translation unit");
    let by_id: BTreeMap<&str, &Value> = top
        .iter()
        .filter_map(|d| Some((d["id"].as_str()?, d)))
        .collect();
    let mut typedefs = Vec::new();
    for d in top {
        let name = d["name"].as_str().unwrap_or("");
        if !name.starts_with("wp_") {
            continue;
        }
        match d["kind"].as_str() {
            Some("FunctionDecl") => {
                let inline = d["storageClass"] == "static";
                let key = if inline { "inline" } else { "function" };
                entries.insert(format!("{key} {name}"), qual_type(d));
            }
            Some("TypedefDecl") => {
                let mut ty = qual_type(d);
                if let Some(sugar) = d["type"]["desugaredQualType"].as_str() {
                    if sugar != name && sugar != ty {
                        ty = format!("{ty} = {sugar}");
                    }
                }
                entries.insert(format!("typedef {name}"), ty);
                let tag = d["inner"][0]["ownedTagDecl"]["id"]
                    .as_str()
                    .and_then(|id| by_id.get(id));
                let shape = match tag {
                    Some(t) if t["kind"] == "EnumDecl" => {
                        enum_constants(t, entries);
                        Shape::Other
                    }
                    Some(t) if t["kind"] == "RecordDecl" && t["completeDefinition"] == true => {
                        Shape::Record(record_fields(name, t, entries))
                    }
                    Some(t) if t["kind"] == "RecordDecl" => Shape::Opaque,
                    _ => Shape::Other,
                };
                typedefs.push((name.to_string(), shape));
            }
            _ => {}
        }
    }
    typedefs
}

/// `constant NAME -> value` for each enumerator (implicit values counted).
fn enum_constants(decl: &Value, entries: &mut Entries) {
    let mut next: i64 = 0;
    for c in decl["inner"].as_array().into_iter().flatten() {
        if c["kind"] != "EnumConstantDecl" {
            continue;
        }
        let explicit = c["inner"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|e| e["value"].as_str().and_then(|v| v.parse::<i64>().ok()));
        let value = explicit.unwrap_or(next);
        next = value + 1;
        let name = c["name"].as_str().unwrap_or("?");
        entries.insert(format!("constant {name}"), value.to_string());
    }
}

/// The field names of a struct/union; their types go into `entries`.
fn record_fields(owner: &str, decl: &Value, entries: &mut Entries) -> Vec<String> {
    let mut names = Vec::new();
    for f in decl["inner"].as_array().into_iter().flatten() {
        if f["kind"] != "FieldDecl" {
            continue;
        }
        let name = f["name"].as_str().unwrap_or("?").to_string();
        entries.insert(format!("field {owner}.{name}"), qual_type(f));
        names.push(name);
    }
    names
}

/// `define NAME -> value` for the header's `WP_*` and `WASI_PARALLEL_*`
/// macros, except the include guards (`WASI_PARALLEL_H*`) and the version macros (which change
/// by design; the record keeps the major version on its own line).
fn macros(text: &str, entries: &mut Entries) {
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("#define ") else {
            continue;
        };
        let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
        let api = name.starts_with("WP_") || name.starts_with("WASI_PARALLEL_");
        let guard = name.starts_with("WASI_PARALLEL_H");
        if api && !guard && !name.starts_with("WASI_PARALLEL_VERSION") {
            entries.insert(format!("define {name}"), value.trim().to_string());
        }
    }
}

/// The header's major version (`WASI_PARALLEL_VERSION_MAJOR`).
fn header_major(text: &str) -> u32 {
    text.lines()
        .find_map(|l| l.strip_prefix("#define WASI_PARALLEL_VERSION_MAJOR "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the header defines WASI_PARALLEL_VERSION_MAJOR")
}

/// Sizes, alignments and field offsets, from a C program compiled against
/// the header (`layout T` and the offset/size half of `field T.f`).
fn layouts(typedefs: &[(String, Shape)], entries: &mut Entries) {
    // Included twice: the header (and its inline helpers) must allow it.
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <wasi_parallel.h>\n\
         #include <wasi_parallel.h>\nint main(void) {\n",
    );
    for (name, shape) in typedefs {
        if matches!(shape, Shape::Opaque) {
            continue;
        }
        c += &format!(
            "  printf(\"{name} size %zu align %zu\\n\", sizeof({name}), _Alignof({name}));\n"
        );
        if let Shape::Record(fields) = shape {
            for f in fields {
                c += &format!(
                    "  printf(\"{name}.{f} offset %zu size %zu\\n\", offsetof({name}, {f}), \
                     sizeof((({name} *)0)->{f}));\n"
                );
            }
        }
    }
    c += "  return 0;\n}\n";
    let dir = scratch("abi_check");
    std::fs::write(dir.join("probe.c"), c).unwrap();
    let exe = dir.join("probe");
    run(Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-I"])
        .arg(root().join("include"))
        .arg(dir.join("probe.c"))
        .arg("-o")
        .arg(&exe));
    for line in run(&mut Command::new(&exe)).lines() {
        let (what, layout) = line.split_once(' ').unwrap();
        if what.contains('.') {
            let key = format!("field {what}");
            let ty = entries.get(&key).cloned().unwrap_or_default();
            entries.insert(key, format!("{ty}, {layout}"));
        } else {
            entries.insert(format!("layout {what}"), layout.to_string());
        }
    }
}

/// The whole record: `major N`, then `key: value` lines, sorted.
fn render(major: u32, entries: &Entries) -> String {
    let mut s = String::from(
        "# The C ABI of libwasi_parallel: include/wasi_parallel.h as clang sees it\n\
         # (layouts of x86_64 Linux); the shared library exports exactly the\n\
         # `function`s (scripts/check-exports.sh). Checked by tests/all/abi_check.rs;\n\
         # re-record with scripts/abi-record.sh, which refuses a breaking change\n\
         # unless Cargo.toml's major version grew.\n",
    );
    s += &format!("major {major}\n");
    for (k, v) in entries {
        s += &format!("{k}: {v}\n");
    }
    s
}

/// The record's major version and entries.
fn parse(text: &str) -> (Option<u32>, Entries) {
    let mut major = None;
    let mut entries = Entries::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some(m) = line.strip_prefix("major ") {
            major = m.trim().parse().ok();
        } else if let Some((k, v)) = line.split_once(": ") {
            entries.insert(k.to_string(), v.to_string());
        }
    }
    (major, entries)
}

/// What changed from `old` to `new`: breaking lines (removed or changed)
/// and added lines, each in diff notation.
#[derive(Debug, Default, PartialEq)]
struct Changes {
    breaking: Vec<String>,
    added: Vec<String>,
}

fn compare(old: &Entries, new: &Entries) -> Changes {
    let mut c = Changes::default();
    for (k, v) in old {
        match new.get(k) {
            None => c.breaking.push(format!("- {k}: {v}")),
            Some(n) if n != v => c.breaking.push(format!("- {k}: {v}\n+ {k}: {n}")),
            Some(_) => {}
        }
    }
    for (k, v) in new {
        if !old.contains_key(k) {
            c.added.push(format!("+ {k}: {v}"));
        }
    }
    c
}

/// The verdict on a record against the current ABI: `Ok(true)` when the
/// record may be (re)written, `Ok(false)` when it is up to date, `Err`
/// with the message to fail with otherwise.
fn verdict(rec_major: Option<u32>, major: u32, ch: &Changes, bless: bool) -> Result<bool, String> {
    let list = |v: &[String]| v.join("\n");
    match rec_major {
        Some(old) if major == old && !ch.breaking.is_empty() => Err(format!(
            "the C ABI changed incompatibly without a major version bump (still {major}):\n{}\n\
             Undo the change, or bump the major version in Cargo.toml (then \
             scripts/gen-header.sh and scripts/abi-record.sh).",
            list(&ch.breaking)
        )),
        Some(old) if major < old => Err(format!(
            "the major version went back from {old} to {major}"
        )),
        Some(old) if major == old && ch.added.is_empty() => Ok(false),
        _ if bless => Ok(true),
        Some(old) if major == old => Err(format!(
            "the C ABI grew (compatible additions):\n{}\n\
             Run scripts/abi-record.sh and commit {RECORD}.",
            list(&ch.added)
        )),
        _ => Err(format!(
            "the major version is now {major} (record: {rec_major:?}); changes since the record:\n{}\n{}\n\
             Run scripts/abi-record.sh and commit {RECORD}.",
            list(&ch.breaking),
            list(&ch.added)
        )),
    }
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn c_abi_matches_the_record() {
    for tool in ["clang", "cc"] {
        if require_tool(tool).is_none() {
            return;
        }
    }
    let text = std::fs::read_to_string(header()).unwrap();
    let major = header_major(&text);
    assert_eq!(major.to_string(), env!("CARGO_PKG_VERSION_MAJOR"));
    let mut entries = Entries::new();
    let typedefs = declarations(&mut entries);
    macros(&text, &mut entries);
    layouts(&typedefs, &mut entries);
    let functions = entries
        .keys()
        .filter(|k| k.starts_with("function "))
        .count();
    assert!(
        functions > 50,
        "only {functions} functions found in the header"
    );
    let bad: Vec<_> = entries
        .keys()
        .filter_map(|k| k.split_once(' ').map(|(_, name)| name))
        .filter(|n| !(n.starts_with("wp_") || n.starts_with("WP_")))
        .collect();
    assert!(bad.is_empty(), "names outside wp_*/WP_*: {bad:?}");

    let path = root().join(RECORD);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let (rec_major, old) = parse(&committed);
    let changes = compare(&old, &entries);
    let bless = std::env::var_os("WP_BLESS_ABI").is_some();
    match verdict(rec_major, major, &changes, bless) {
        Ok(true) => std::fs::write(&path, render(major, &entries)).expect("write the record"),
        Ok(false) => {}
        Err(msg) => panic!("{RECORD}: {msg}"),
    }
}

#[cfg(test)]
mod checker {
    //! The comparison itself, on made-up records.
    use super::*;

    fn entries(lines: &[&str]) -> Entries {
        parse(&lines.join("\n")).1
    }

    const BASE: &[&str] = &[
        "function wp_a: int (void)",
        "constant WP_X: 1",
        "layout wp_s: size 8 align 4",
    ];

    #[test]
    fn the_record_round_trips() {
        let e = entries(BASE);
        assert_eq!(e.len(), 3);
        assert_eq!(parse(&render(3, &e)), (Some(3), e));
    }

    #[test]
    fn removals_and_changes_break_additions_do_not() {
        let old = entries(BASE);
        let same = compare(&old, &old);
        assert_eq!(same, Changes::default());
        let removed = compare(&old, &entries(&BASE[1..]));
        assert_eq!(removed.breaking, ["- function wp_a: int (void)"]);
        let mut changed = BASE.to_vec();
        changed[1] = "constant WP_X: 2";
        let ch = compare(&old, &entries(&changed));
        assert_eq!(ch.breaking, ["- constant WP_X: 1\n+ constant WP_X: 2"]);
        assert!(ch.added.is_empty());
        let mut grown = BASE.to_vec();
        grown.push("function wp_b: void (int)");
        let ch = compare(&old, &entries(&grown));
        assert!(ch.breaking.is_empty());
        assert_eq!(ch.added, ["+ function wp_b: void (int)"]);
    }

    #[test]
    fn a_break_needs_a_major_bump_even_when_re_recording() {
        let breaking = Changes {
            breaking: vec!["- function wp_a: int (void)".into()],
            added: vec![],
        };
        for bless in [false, true] {
            let e = verdict(Some(0), 0, &breaking, bless).unwrap_err();
            assert!(e.contains("without a major version bump"), "{e}");
            assert!(e.contains("- function wp_a"), "{e}");
        }
        assert_eq!(verdict(Some(0), 1, &breaking, true), Ok(true));
        assert!(verdict(Some(0), 1, &breaking, false).is_err());
        assert!(verdict(Some(1), 0, &Changes::default(), true).is_err());
    }

    #[test]
    fn additions_need_a_new_record_and_nothing_else() {
        let added = Changes {
            breaking: vec![],
            added: vec!["+ function wp_b: void (int)".into()],
        };
        let e = verdict(Some(0), 0, &added, false).unwrap_err();
        assert!(
            e.contains("compatible additions") && e.contains("wp_b"),
            "{e}"
        );
        assert_eq!(verdict(Some(0), 0, &added, true), Ok(true));
        assert_eq!(verdict(Some(0), 0, &Changes::default(), false), Ok(false));
        assert_eq!(verdict(None, 0, &added, true), Ok(true));
        assert!(verdict(None, 0, &added, false).is_err());
    }

    #[test]
    fn macros_skip_the_guard_and_the_version() {
        let mut e = Entries::new();
        macros(
            "#define WASI_PARALLEL_H\n#define WASI_PARALLEL_H_INLINE\n\
             #define WASI_PARALLEL_VERSION_MAJOR 0\n\
             #define WP_MAX_THREADS 1024\n#define OTHER 1\n",
            &mut e,
        );
        assert_eq!(e, entries(&["define WP_MAX_THREADS: 1024"]));
        assert_eq!(header_major("#define WASI_PARALLEL_VERSION_MAJOR 7\n"), 7);
    }
}
