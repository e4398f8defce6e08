//! The vendored crates (vendor/README.md) are the ones every build uses, and only the crates
//! they were vendored for use them. The vendored `regex` has no Unicode script, age,
//! segmentation or boolean-property tables and no search optimisations: a new dependent may
//! need them, and must be looked at before it gets this copy.

use std::path::Path;

/// A package as `Cargo.lock` records it.
#[derive(Debug)]
struct Package {
    name: String,
    version: String,
    /// Where it comes from; none for a path dependency.
    source: Option<String>,
    /// The names of the packages it depends on.
    dependencies: Vec<String>,
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn quoted(line: &str) -> Option<String> {
    let start = line.find('"')?;
    let end = line.rfind('"')?;
    (end > start).then(|| line[start + 1..end].to_owned())
}

fn packages() -> Vec<Package> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).expect("Cargo.lock");
    lock.split("[[package]]")
        .skip(1)
        .map(|block| {
            let field = |key: &str| {
                block
                    .lines()
                    .find(|l| l.starts_with(&format!("{key} = ")))
                    .and_then(quoted)
            };
            let dependencies = block
                .split_once("dependencies = [")
                .map(|(_, rest)| rest.split(']').next().unwrap_or_default())
                .unwrap_or_default()
                .lines()
                .filter_map(quoted)
                .filter_map(|d| d.split(' ').next().map(str::to_owned))
                .collect();
            Package {
                name: field("name").expect("a package name"),
                version: field("version").expect("a package version"),
                source: field("source"),
                dependencies,
            }
        })
        .collect()
}

fn vendored_version(name: &str) -> String {
    let manifest = std::fs::read_to_string(root().join("vendor").join(name).join("Cargo.toml"))
        .expect("a vendored manifest");
    let package = manifest.split("[package]").nth(1).expect("[package]");
    package
        .lines()
        .find(|l| l.starts_with("version = "))
        .and_then(quoted)
        .expect("a version")
}

#[test]
fn regex_and_regex_cache_are_the_vendored_copies() {
    let packages = packages();
    for name in ["regex", "regex-cache"] {
        let found: Vec<&Package> = packages.iter().filter(|p| p.name == name).collect();
        assert_eq!(found.len(), 1, "one {name} in Cargo.lock: {found:?}");
        assert_eq!(
            found[0].source, None,
            "{name} is vendor/{name}, not a registry copy"
        );
        assert_eq!(found[0].version, vendored_version(name), "{name}'s version");
    }
}

#[test]
fn only_the_phone_metadata_uses_the_vendored_regex() {
    let packages = packages();
    let mut dependents: Vec<&str> = packages
        .iter()
        .filter(|p| p.dependencies.iter().any(|d| d == "regex"))
        .map(|p| p.name.as_str())
        .collect();
    dependents.sort_unstable();
    // twostep compiles the metadata's expressions in its build script.
    assert_eq!(
        dependents,
        ["phonenumber", "regex-cache", "twostep"],
        "a new crate uses regex: see vendor/README.md before it gets the vendored copy"
    );
}

#[test]
fn the_regex_syntax_the_cache_checked_with_is_gone() {
    let old: Vec<String> = packages()
        .into_iter()
        .filter(|p| p.name == "regex-syntax" && p.version.starts_with("0.6."))
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    assert!(old.is_empty(), "{old:?} is back in the build");
}
