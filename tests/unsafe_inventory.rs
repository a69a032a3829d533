//! docs/UNSAFE.md lists every `unsafe` function and block of the library
//! and the command-line tool: the keyword's uses in code, counted per file,
//! must equal that table's rows, so no site lands without its argument.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Rust files under `dir`, recursively.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Uses of `unsafe` as a keyword in code (comments and lint names aside).
fn unsafe_uses(text: &str) -> usize {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .map(|code| {
            code.match_indices("unsafe")
                .filter(|&(at, _)| {
                    let before = code[..at].chars().next_back();
                    let after = code[at + "unsafe".len()..].chars().next();
                    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                    !word(before) && !word(after)
                })
                .count()
        })
        .sum()
}

#[test]
#[cfg_attr(miri, ignore)] // reads the source tree
fn every_unsafe_site_is_listed_in_docs_unsafe_md() {
    let mut in_code: BTreeMap<String, usize> = BTreeMap::new();
    for dir in ["src", "cli/src", "compat/src"] {
        let mut files = Vec::new();
        sources(&Path::new(ROOT).join(dir), &mut files);
        for file in files {
            let uses = unsafe_uses(&std::fs::read_to_string(&file).unwrap());
            if uses > 0 {
                let name = file
                    .strip_prefix(ROOT)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                in_code.insert(name.replace('\\', "/"), uses);
            }
        }
    }
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/UNSAFE.md")).unwrap();
    let mut listed: BTreeMap<String, usize> = BTreeMap::new();
    for row in doc.lines().filter(|l| l.starts_with("| `")) {
        let file = row.split('`').nth(1).unwrap().to_owned();
        *listed.entry(file).or_default() += 1;
    }
    assert!(!in_code.is_empty());
    assert_eq!(
        in_code, listed,
        "unsafe uses in code vs rows of docs/UNSAFE.md"
    );
}

#[test]
fn the_counter_sees_keywords_not_words() {
    let text = "let x = unsafe { f() };\n// unsafe { g() }\n#![deny(unsafe_op_in_unsafe_fn)]\npub unsafe fn h() {}\n/// unsafe\n";
    assert_eq!(unsafe_uses(text), 2);
}
