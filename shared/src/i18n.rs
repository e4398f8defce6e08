//! The languages twostep speaks and their texts, read from `shared/locales/<language>.txt`:
//! one file per language, `key = text` per line, so a translator edits only those files.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::domain::Locale;

/// A language with a message catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// English, the source and the fallback.
    En,
    /// German.
    De,
    /// French.
    Fr,
    /// Spanish.
    Es,
    /// Italian.
    It,
    /// Portuguese.
    Pt,
    /// Dutch.
    Nl,
}

const SOURCES: [(Language, &str, &str); 7] = [
    (Language::En, "en", include_str!("../locales/en.txt")),
    (Language::De, "de", include_str!("../locales/de.txt")),
    (Language::Fr, "fr", include_str!("../locales/fr.txt")),
    (Language::Es, "es", include_str!("../locales/es.txt")),
    (Language::It, "it", include_str!("../locales/it.txt")),
    (Language::Pt, "pt", include_str!("../locales/pt.txt")),
    (Language::Nl, "nl", include_str!("../locales/nl.txt")),
];

type Catalog = HashMap<&'static str, String>;

static CATALOGS: LazyLock<Vec<Catalog>> =
    LazyLock::new(|| SOURCES.iter().map(|(_, _, text)| parse(text)).collect());

/// Reads `key = text` lines; `\n` in a text is a line break. Lines that are not of that form
/// are skipped (a unit test checks that every file has every key).
fn parse(source: &'static str) -> Catalog {
    source
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once(" = "))
        .map(|(key, text)| (key.trim(), text.trim().replace("\\n", "\n")))
        .collect()
}

impl Language {
    /// Every language, English first.
    pub const ALL: [Language; 7] = [
        Language::En,
        Language::De,
        Language::Fr,
        Language::Es,
        Language::It,
        Language::Pt,
        Language::Nl,
    ];

    fn index(self) -> usize {
        SOURCES
            .iter()
            .position(|(language, _, _)| *language == self)
            .unwrap_or(0)
    }

    /// The ISO 639-1 code: `en`, `de`, …
    pub fn code(self) -> &'static str {
        SOURCES[self.index()].1
    }

    /// The language of a catalog named by a tag, if there is one (`de`, `DE`).
    fn from_code(code: &str) -> Option<Self> {
        SOURCES
            .iter()
            .find(|(_, c, _)| c.eq_ignore_ascii_case(code))
            .map(|(language, _, _)| *language)
    }

    /// The language for a locale: its most specific tag that has a catalog (`de-AT` → `de`),
    /// else English.
    pub fn for_locale(locale: &Locale) -> Self {
        locale
            .fallbacks()
            .find_map(Self::from_code)
            .unwrap_or(Self::En)
    }

    /// The language for a tag that may be malformed (a query parameter): as
    /// [`Language::for_locale`], or `None` when the tag does not name a language we have.
    pub fn from_tag(raw: &str) -> Option<Self> {
        let locale = Locale::parse(raw).ok()?;
        locale.fallbacks().find_map(Self::from_code)
    }

    /// The most preferred language of an `Accept-Language` header that we have.
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut ranked: Vec<(u16, usize, Self)> = header
            .split(',')
            .enumerate()
            .filter_map(|(position, item)| {
                let mut parts = item.split(';');
                let tag = parts.next()?.trim();
                let quality =
                    parts
                        .find_map(|p| p.trim().strip_prefix("q="))
                        .map_or(Some(1000), |q| {
                            q.trim()
                                .parse::<f32>()
                                .ok()
                                .filter(|q| (0.0..=1.0).contains(q))
                                .map(|q| (q * 1000.0) as u16)
                        })?;
                (quality > 0).then_some(())?;
                Some((quality, position, Self::from_tag(tag)?))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.first().map(|(_, _, language)| *language)
    }

    /// The text for `key` in this language; English when the language lacks it.
    pub fn text(self, key: &str) -> &'static str {
        let catalogs: &'static [Catalog] = CATALOGS.as_slice();
        catalogs
            .get(self.index())
            .and_then(|c| c.get(key))
            .or_else(|| catalogs.first().and_then(|c| c.get(key)))
            .map_or("", String::as_str)
    }

    /// Every key and text of this language, for the page's script.
    pub fn texts(self) -> &'static Catalog {
        let catalogs: &'static [Catalog] = CATALOGS.as_slice();
        &catalogs[self.index()]
    }
}

/// Fills `{name}` placeholders.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(language: Language) -> Vec<&'static str> {
        let (_, _, source) = SOURCES[language.index()];
        source
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.split_once(" = ").map_or(l, |(k, _)| k.trim()))
            .collect()
    }

    fn placeholders(text: &str) -> Vec<String> {
        let mut found: Vec<String> = text
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
            .collect();
        found.sort();
        found
    }

    #[test]
    fn every_language_has_every_key_with_the_same_placeholders() {
        let english = keys(Language::En);
        assert!(english.len() > 40);
        for language in Language::ALL {
            assert_eq!(keys(language), english, "{}: keys", language.code());
            for key in &english {
                let text = language.text(key);
                assert!(!text.is_empty(), "{}: {key} is empty", language.code());
                assert_eq!(
                    placeholders(text),
                    placeholders(Language::En.text(key)),
                    "{}: {key}",
                    language.code()
                );
            }
        }
    }

    #[test]
    fn locales_fall_back_from_region_to_language_to_english() {
        let at = Locale::parse("de-AT").expect("valid");
        assert_eq!(Language::for_locale(&at), Language::De);
        let br = Locale::parse("pt_BR").expect("valid");
        assert_eq!(Language::for_locale(&br), Language::Pt);
        let ja = Locale::parse("ja").expect("valid");
        assert_eq!(Language::for_locale(&ja), Language::En);
        assert_eq!(Language::from_tag("nl-BE"), Some(Language::Nl));
        assert_eq!(Language::from_tag("<script>"), None);
    }

    #[test]
    fn accept_language_picks_the_most_preferred_language_we_have() {
        let pick = Language::from_accept_language;
        assert_eq!(pick("ja, fr-CH;q=0.9, de;q=0.8"), Some(Language::Fr));
        assert_eq!(pick("de;q=0.5, it;q=0.7"), Some(Language::It));
        assert_eq!(pick("es;q=0, en;q=0.1"), Some(Language::En));
        assert_eq!(pick("ja, zh"), None);
        assert_eq!(pick(""), None);
        assert_eq!(pick("*;q=x,;;"), None);
    }

    #[test]
    fn texts_keep_line_breaks_and_fill_placeholders() {
        assert!(Language::En.text("email_body").contains("\n\n"));
        assert_eq!(
            fill("{n} s, {n} s, {x}", &[("n", "5")]),
            "5 s, 5 s, {x}".to_owned()
        );
        assert_eq!(Language::De.text("no such key"), "");
    }
}
