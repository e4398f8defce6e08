//! The phone-number metadata, one calling code at a time: the groups `shared/build.rs`
//! prepared at build time (every expression checked there), each turned into a database the
//! first time a number needs it. A national number that dials another country through its
//! region's international prefix gets the two groups together. The unit tests hold the
//! answers to the full database's on every example number of every region.

use std::sync::{Mutex, OnceLock, PoisonError};

use phonenumber::country;
#[cfg(test)]
use phonenumber::metadata::DATABASE;
use phonenumber::metadata::{Database, loader};

include!(concat!(env!("OUT_DIR"), "/phone_groups.rs"));

static BLOB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/phone_groups.bin"));

/// The database of each group, once built.
static BUILT: [OnceLock<Option<Database>>; GROUPS.len()] =
    [const { OnceLock::new() }; GROUPS.len()];

/// Databases of two groups together (a region's and another code's), once built.
static PAIRS: Mutex<Vec<((u16, u16), &'static Database)>> = Mutex::new(Vec::new());

fn group_index(code: u16) -> Option<usize> {
    GROUPS.binary_search_by_key(&code, |(c, _, _)| *c).ok()
}

fn metadata(index: usize) -> Option<Vec<loader::Metadata>> {
    use std::io::Read as _;
    let (_, offset, length) = GROUPS[index];
    let mut bytes = Vec::new();
    flate2::read::DeflateDecoder::new(BLOB.get(offset..offset + length)?)
        .read_to_end(&mut bytes)
        .ok()?;
    postcard::from_bytes(&bytes).ok()
}

/// The database of the regions that share calling code `code`.
pub(crate) fn for_code(code: u16) -> Option<&'static Database> {
    let index = group_index(code)?;
    BUILT[index]
        .get_or_init(|| Database::from(metadata(index)?).ok())
        .as_ref()
}

/// The database of two calling codes' regions together.
fn for_codes(a: u16, b: u16) -> Option<&'static Database> {
    if a == b {
        return for_code(a);
    }
    let key = (a.min(b), a.max(b));
    let mut pairs = PAIRS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, db)) = pairs.iter().find(|(k, _)| *k == key) {
        return Some(db);
    }
    let mut both = metadata(group_index(key.0)?)?;
    both.extend(metadata(group_index(key.1)?)?);
    let db: &'static Database = Box::leak(Box::new(Database::from(both).ok()?));
    pairs.push((key, db));
    Some(db)
}

/// The calling code an international number's digits start with: the codes are prefix-free,
/// so at most one of the first one, two or three digits is one.
pub(crate) fn calling_code(digits: &str) -> Option<u16> {
    (1..=3)
        .filter_map(|n| digits.get(..n)?.parse::<u16>().ok())
        .find(|code| group_index(*code).is_some())
}

/// The database to parse `text` with: for international input (`+…`), its calling code's;
/// for national input in `region`, the region's, with the code its international prefix
/// dials when it starts with one.
pub(crate) fn for_input(region: Option<country::Id>, text: &str) -> Option<&'static Database> {
    let digits: String = text
        .chars()
        .filter_map(|c| c.to_digit(10).and_then(|d| char::from_digit(d, 10)))
        .collect();
    let Some(region) = region else {
        return for_code(calling_code(&digits)?);
    };
    let id: &str = region.as_ref();
    let own = country_code_of(id)?;
    let db = for_code(own)?;
    let dialled = db
        .by_id(id)
        .and_then(|m| m.international_prefix())
        .and_then(|prefix| prefix.find(&digits).filter(|m| m.start() == 0))
        .and_then(|m| calling_code(&digits[m.end()..]));
    match dialled {
        Some(other) => for_codes(own, other),
        None => Some(db),
    }
}

/// A region's calling code.
fn country_code_of(id: &str) -> Option<u16> {
    REGION_CODES
        .binary_search_by_key(&id, |(region, _)| region)
        .ok()
        .map(|i| REGION_CODES[i].1)
}

/// The full database, as the `phonenumber` crate builds it: what the tests compare with.
#[cfg(test)]
pub(crate) fn full() -> &'static Database {
    &DATABASE
}

#[cfg(test)]
mod tests {
    use phonenumber::metadata::Metadata;
    use phonenumber::{Mode, PhoneNumber, Type};

    use super::*;
    use crate::domain::{Country, PhoneNumber as Number};

    /// What the full database makes of `text` in `region`, as `PhoneNumber::parse` reads a
    /// candidate: the E.164 form, the region and the type of a valid number.
    fn reference(
        region: Option<country::Id>,
        text: &str,
    ) -> Option<(String, Option<String>, Type)> {
        let db = full();
        let n: PhoneNumber = phonenumber::parse_with(db, region, text).ok()?;
        (phonenumber::is_valid_with(db, &n) && n.extension().is_none()).then(|| {
            (
                n.format_with(db).mode(Mode::E164).to_string(),
                // As `PhoneNumber::country` read it: a region (not `001`, a non-geographic code).
                n.metadata(db)
                    .and_then(|m| m.id().parse::<country::Id>().ok())
                    .map(|id| <country::Id as AsRef<str>>::as_ref(&id).to_owned()),
                n.number_type(db),
            )
        })
    }

    /// The same through the groups, as `PhoneNumber::parse` reads a candidate.
    fn grouped(region: Option<country::Id>, text: &str) -> Option<(String, Option<String>, Type)> {
        let db = for_input(region, text)?;
        let n: PhoneNumber = phonenumber::parse_with(db, region, text).ok()?;
        (phonenumber::is_valid_with(db, &n) && n.extension().is_none()).then(|| {
            let number = Number::of(db, &n);
            (
                number.as_str().to_owned(),
                number.country().map(|c| c.code()),
                number.kind(),
            )
        })
    }

    /// Every example number of a region's metadata.
    fn examples(m: &Metadata) -> Vec<String> {
        let d = m.descriptors();
        [
            Some(d.general()),
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.personal_number(),
            d.voip(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ]
        .into_iter()
        .flatten()
        .filter_map(|d| d.example().map(str::to_owned))
        .collect()
    }

    /// Inputs around one example of a region: international, national with and without the
    /// national prefix, dialled through an international prefix, one digit short or long,
    /// and in full-width digits.
    fn inputs(m: &Metadata, example: &str) -> Vec<(Option<country::Id>, String)> {
        let region: Option<country::Id> = m.id().parse().ok();
        let cc = m.country_code();
        let mut texts = vec![
            (None, format!("+{cc}{example}")),
            (region, example.to_owned()),
            (region, format!("00{cc}{example}")),
            (region, format!("011{cc}{example}")),
            (region, format!("{cc}{example}")),
            (region, format!("+{cc} {example}9")),
            (
                region,
                example[..example.len().saturating_sub(1)].to_owned(),
            ),
            (
                None,
                format!(
                    "+{cc}{}",
                    example.replacen(|c: char| c.is_ascii_digit(), "0", 1)
                ),
            ),
            (
                None,
                format!("+{cc}{example}")
                    .chars()
                    .map(|c| {
                        c.to_digit(10)
                            .and_then(|d| char::from_u32(0xFF10 + d))
                            .unwrap_or(c)
                    })
                    .collect(),
            ),
        ];
        if let Some(prefix) = m.national_prefix() {
            texts.push((region, format!("{prefix}{example}")));
        }
        // Another country, dialled from this one as its people would.
        if let Some(idd) = m.preferred_international_prefix() {
            texts.push((region, format!("{idd}4989202451100")));
            texts.push((region, format!("{idd} 1 415 555 0123")));
        }
        texts
    }

    #[test]
    fn the_groups_answer_every_example_number_as_the_full_database_does() {
        let mut checked = 0;
        let mut differ = Vec::new();
        for m in full().iter() {
            for example in examples(m) {
                for (region, text) in inputs(m, &example) {
                    checked += 1;
                    let (want, got) = (reference(region, &text), grouped(region, &text));
                    if want != got {
                        differ.push(format!(
                            "{} {text:?}: full {want:?}, groups {got:?}",
                            m.id()
                        ));
                    }
                }
            }
        }
        assert!(checked > 10_000, "only {checked} inputs");
        assert!(
            differ.is_empty(),
            "{} of {checked} differ:\n{}",
            differ.len(),
            differ.join("\n")
        );
    }

    #[test]
    fn a_number_builds_only_its_calling_codes_group() {
        let us = Country::parse("US").expect("US");
        Number::parse("+4989202451100", us).expect("valid");
        assert!(BUILT[group_index(49).expect("+49")].get().is_some());
        assert_eq!(calling_code("4989202451100"), Some(49));
        assert_eq!(calling_code("14155550123"), Some(1));
        assert_eq!(calling_code("8885550123"), None, "no such code");
        assert_eq!(country_code_of("DE"), Some(49));
        assert_eq!(country_code_of("CA"), Some(1));
    }

    proptest::proptest! {
        #[test]
        fn the_groups_decide_any_digits_as_the_full_database_does(
            region in proptest::sample::select(vec!["US", "DE", "GB", "FR", "IN", "BR", "CA", "AU", "JP", "NG", "IT", "CH", "AT", "MX", "ZA"]),
            prefix in proptest::sample::select(vec!["", "+", "00", "011", "0", "+1", "+49"]),
            digits in "[0-9]{3,15}",
        ) {
            let region: Option<country::Id> = region.parse().ok();
            let text = format!("{prefix}{digits}");
            let region = if prefix.starts_with('+') { None } else { region };
            // What twostep decides: a number to send to, or a refusal. Raw validity can differ
            // for a non-geographic code (`+881000000001`: valid but unclassified in its group,
            // not valid in the full database, which keeps one metadata entry per `001` id):
            // both refuse it.
            let decide = |found: Option<(String, Option<String>, Type)>| {
                found.filter(|(_, _, kind)| super::super::destination::unfit_kind(*kind).is_none())
            };
            proptest::prop_assert_eq!(
                decide(reference(region, &text)),
                decide(grouped(region, &text)),
                "{:?}",
                text
            );
        }
    }
}
