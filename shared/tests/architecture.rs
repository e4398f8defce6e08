//! The crate's shape, as `docs/architecture.md` draws it: imports go one way (a module
//! names only its own layer and the layers below), and no source file grows past 700 lines.

use std::path::{Path, PathBuf};

/// The layers, lowest first: the top-level modules of each.
const LAYERS: [&[&str]; 5] = [
    &["domain", "time", "i18n", "messages"],
    &["store", "channels", "events", "metrics"],
    &["service", "config", "webhooks"],
    &["http", "calls"],
    &["aws"],
];

/// The most lines a source file may have, its tests included.
const MAX_LINES: usize = 700;

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn src() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
}

/// Every source file of the crate, by its path below `src/`.
fn files() -> Vec<(String, String)> {
    let mut paths = Vec::new();
    sources(&src(), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(src())
                .expect("below src")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).expect("a source file");
            (relative, text)
        })
        .collect()
}

/// The top-level modules a file names with `crate::` paths (in `use` lines and in code).
fn named_modules(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                // `use crate::{a, b}`: every name in the braces.
                if let Some(inner) = after.strip_prefix('{') {
                    let group = inner.split('}').next().unwrap_or_default();
                    names.extend(group.split(',').filter_map(|part| {
                        let head = part.trim().split("::").next()?.trim();
                        (!head.is_empty()).then(|| head.to_owned())
                    }));
                }
            } else {
                names.push(name);
            }
            rest = after;
        }
    }
    names
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let mut upward = Vec::new();
    let mut checked = 0;
    for (path, text) in files() {
        let top = path.split(['/', '.']).next().unwrap_or_default();
        let Some(own) = layer_of(top) else {
            // lib.rs and the binaries sit above every layer.
            continue;
        };
        checked += 1;
        for name in named_modules(&text) {
            if let Some(layer) = layer_of(&name)
                && layer > own
            {
                upward.push(format!(
                    "{path} (layer {own}) names crate::{name} (layer {layer})"
                ));
            }
        }
    }
    assert!(checked > 40, "only {checked} files were read");
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn every_top_level_module_has_a_layer() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    for line in lib.lines() {
        if let Some(name) = line
            .strip_prefix("pub mod ")
            .and_then(|r| r.strip_suffix(';'))
        {
            assert!(layer_of(name).is_some(), "crate::{name} is in no layer");
        }
    }
}

#[test]
fn no_source_file_is_over_700_lines() {
    let long: Vec<String> = files()
        .into_iter()
        .filter(|(_, text)| text.lines().count() > MAX_LINES)
        .map(|(path, text)| format!("{path}: {} lines", text.lines().count()))
        .collect();
    assert!(long.is_empty(), "split these files:\n{}", long.join("\n"));
}
