//! Prepares the phone-number metadata at build time, so that a function's first phone number
//! costs milliseconds instead of the whole database's preparation.
//!
//! The `phonenumber` crate's database checked the syntax of every regular expression of every
//! region when it was first used (about 0.1 s on a full core, seconds on a small Lambda).
//! Here, at build time, that database is loaded once, every expression is compiled (the
//! vendored `regex-cache` no longer checks them at run time: vendor/README.md), and the
//! metadata is written back as one group per calling code (`+1`: the 25 NANP regions,
//! `+49`: Germany, …). At run time `domain::phone_db` builds only the group a number needs,
//! the first time it needs it. `\d` becomes `[0-9]` on the way: the metadata's expressions
//! are matched against ASCII digits only (the parser normalises first), and an ASCII class
//! compiles many times faster than Unicode's `\d`. A unit test holds the result to the full
//! database on every example number of every region. Each group is deflated: a function
//! inflates only the groups it uses.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use phonenumber::metadata::{DATABASE, Descriptor, Format, Metadata, loader};

/// A metadata expression as the groups carry it (`\d` as `[0-9]`), compiled here with the
/// options the `phonenumber` crate compiles it with at run time, so that a function never
/// meets one that does not compile (the vendored `regex-cache` no longer checks them).
fn expression(pattern: &str) -> String {
    let pattern = pattern.replace("\\d", "[0-9]");
    if let Err(e) = regex::RegexBuilder::new(&pattern)
        .ignore_whitespace(true)
        .build()
    {
        panic!("a phone metadata expression does not compile: {pattern:?}: {e}");
    }
    pattern
}

fn descriptor(d: Option<&Descriptor>) -> Option<loader::Descriptor> {
    d.map(|d| loader::Descriptor {
        national_number: Some(expression(d.national_number().as_str())),
        possible_length: d.possible_length().to_vec(),
        possible_local_length: d.possible_local_length().to_vec(),
        example: d.example().map(str::to_owned),
    })
}

fn format(f: &Format) -> loader::Format {
    loader::Format {
        pattern: Some(expression(f.pattern().as_str())),
        format: Some(f.format().to_owned()),
        leading_digits: f
            .leading_digits()
            .iter()
            .map(|r| expression(r.as_str()))
            .collect(),
        national_prefix_formatting_rule: f.national_prefix().map(str::to_owned),
        national_prefix_optional_when_formatting: f.is_national_prefix_optional(),
        domestic_carrier: f.domestic_carrier().map(str::to_owned),
    }
}

/// The loader's form of a region's metadata: what `Database::from` takes.
fn loaded(m: &Metadata) -> loader::Metadata {
    let d = m.descriptors();
    loader::Metadata {
        general: descriptor(Some(d.general())),
        fixed_line: descriptor(d.fixed_line()),
        mobile: descriptor(d.mobile()),
        toll_free: descriptor(d.toll_free()),
        premium_rate: descriptor(d.premium_rate()),
        shared_cost: descriptor(d.shared_cost()),
        personal_number: descriptor(d.personal_number()),
        voip: descriptor(d.voip()),
        pager: descriptor(d.pager()),
        uan: descriptor(d.uan()),
        emergency: descriptor(d.emergency()),
        voicemail: descriptor(d.voicemail()),
        short_code: descriptor(d.short_code()),
        standard_rate: descriptor(d.standard_rate()),
        carrier: descriptor(d.carrier()),
        no_international: descriptor(d.no_international()),
        id: Some(m.id().to_owned()),
        country_code: Some(m.country_code()),
        international_prefix: m.international_prefix().map(|r| expression(r.as_str())),
        preferred_international_prefix: m.preferred_international_prefix().map(str::to_owned),
        national_prefix: m.national_prefix().map(str::to_owned),
        preferred_extension_prefix: m.preferred_extension_prefix().map(str::to_owned),
        national_prefix_for_parsing: m
            .national_prefix_for_parsing()
            .map(|r| expression(r.as_str())),
        national_prefix_transform_rule: m.national_prefix_transform_rule().map(str::to_owned),
        formats: m.formats().iter().map(format).collect(),
        international_formats: m.international_formats().iter().map(format).collect(),
        main_country_for_code: m.is_main_country_for_code(),
        leading_digits: m.leading_digits().map(|r| expression(r.as_str())),
        mobile_number_portable: m.is_mobile_number_portable(),
        defaults: loader::Defaults::default(),
    }
}

/// A group's bytes, deflated: the metadata is mostly repeated digits and patterns, and the
/// functions carry it in their binaries.
fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("in memory");
    encoder.finish().expect("in memory")
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let codes: BTreeSet<u16> = DATABASE.iter().map(Metadata::country_code).collect();
    // Each group in the full database's own order of regions (the main one first): the
    // order in which a number shared by regions is matched to one.
    let groups: BTreeMap<u16, Vec<loader::Metadata>> = codes
        .into_iter()
        .map(|code| {
            let regions = DATABASE.by_code(&code).unwrap_or_default();
            (code, regions.into_iter().map(loaded).collect())
        })
        .collect();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let mut blob = Vec::new();
    let mut index = String::from(
        "/// Each calling code's metadata: the code, its offset and its length in the blob.\n",
    );
    index.push_str(&format!(
        "pub(super) static GROUPS: [(u16, usize, usize); {}] = [\n",
        groups.len()
    ));
    for (code, group) in &groups {
        let bytes = deflate(&postcard::to_allocvec(group).expect("the metadata serializes"));
        index.push_str(&format!("    ({code}, {}, {}),\n", blob.len(), bytes.len()));
        blob.extend_from_slice(&bytes);
    }
    index.push_str("];\n");
    let mut regions: Vec<(String, u16)> = DATABASE
        .iter()
        .map(|m| (m.id().to_owned(), m.country_code()))
        .collect();
    regions.sort();
    index.push_str("/// Each region's calling code, by region.\n");
    index.push_str(&format!(
        "pub(super) static REGION_CODES: [(&str, u16); {}] = [\n",
        regions.len()
    ));
    for (id, code) in &regions {
        index.push_str(&format!("    ({id:?}, {code}),\n"));
    }
    index.push_str("];\n");
    std::fs::write(out.join("phone_groups.bin"), blob).expect("OUT_DIR is writable");
    std::fs::File::create(out.join("phone_groups.rs"))
        .and_then(|mut f| f.write_all(index.as_bytes()))
        .expect("OUT_DIR is writable");
}
