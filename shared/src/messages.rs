//! The messages that carry a code, in the recipient's language (texts in `shared/locales/`).

mod call;

pub use call::{CallScript, Closing};

use crate::domain::{Locale, OtpCode};
use crate::i18n::{Language, fill};

/// The characters of the GSM 03.38 basic set that cost one septet each.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// Whether `c` is in the GSM 7-bit basic alphabet (so an SMS stays in 160-character segments).
pub fn is_gsm7_basic(c: char) -> bool {
    GSM7_BASIC.contains(c)
}

/// The name the messages give (`BRAND_NAME`, or a keyed caller's per-code name): at most
/// 30 characters of the GSM 7-bit basic alphabet, so that an SMS stays one segment.
pub fn valid_brand(raw: &str) -> bool {
    !raw.trim().is_empty() && raw.chars().count() <= 30 && raw.chars().all(is_gsm7_basic)
}

/// An email ready for SES: subject, plain text and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    /// The subject line (without the code, so it is not shown in previews).
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// An Amazon Polly voice that reads calls, one per language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voice {
    /// American English.
    Joanna,
    /// German.
    Vicki,
    /// French.
    Lea,
    /// Castilian Spanish.
    Lucia,
    /// Italian.
    Bianca,
    /// European Portuguese.
    Ines,
    /// Dutch.
    Lotte,
}

impl Voice {
    /// Polly's own name of the voice (`Joanna`), as Chime SDK PSTN Audio's `VoiceId` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Joanna => "Joanna",
            Self::Vicki => "Vicki",
            Self::Lea => "Lea",
            Self::Lucia => "Lucia",
            Self::Bianca => "Bianca",
            Self::Ines => "Ines",
            Self::Lotte => "Lotte",
        }
    }

    /// The voice's id as End User Messaging SMS and Voice names it (`JOANNA`, …).
    pub fn id(self) -> &'static str {
        match self {
            Self::Joanna => "JOANNA",
            Self::Vicki => "VICKI",
            Self::Lea => "LEA",
            Self::Lucia => "LUCIA",
            Self::Bianca => "BIANCA",
            Self::Ines => "INES",
            Self::Lotte => "LOTTE",
        }
    }
}

/// A voice call: the SSML that Amazon Polly reads, the voice that reads it and that
/// voice's language.
#[derive(Clone, PartialEq, Eq)]
pub struct VoiceMessage {
    /// The SSML document: intro, the code digit by digit, again, goodbye.
    pub ssml: String,
    /// The Polly voice (`JOANNA`, `VICKI`, …), chosen by the message's language.
    pub voice: Voice,
    /// The voice's language tag (`en-US`, `de-DE`, …), also the document's `xml:lang`.
    pub language: &'static str,
}

impl VoiceMessage {
    /// Every digit the call reads out, in order (the code twice).
    pub fn spoken_digits(&self) -> String {
        spoken_digits(&self.ssml)
    }
}

// The SSML carries the code: like `OtpCode`, it stays out of debug output and logs.
impl std::fmt::Debug for VoiceMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceMessage")
            .field("ssml", &"<redacted>")
            .field("voice", &self.voice)
            .field("language", &self.language)
            .finish()
    }
}

/// The pause between two digits, so that each is heard on its own.
const DIGIT_BREAK: &str = "<break time=\"500ms\"/>";
/// The pause between the parts of the call.
const PART_BREAK: &str = "<break time=\"1s\"/>";
/// How Polly is told to read a digit as a digit ("digits" works with every voice engine;
/// "characters" falls back to the standard engine on neural voices).
const SAY_DIGIT: &str = "<say-as interpret-as=\"digits\">";

/// The Polly voice and its language tag for a language: standard-engine voices that
/// `SendVoiceMessage` accepts (Dutch has Lotte and Ruben there, not Polly's newer Laura).
pub fn polly_voice(language: Language) -> (Voice, &'static str) {
    match language {
        Language::En => (Voice::Joanna, "en-US"),
        Language::De => (Voice::Vicki, "de-DE"),
        Language::Fr => (Voice::Lea, "fr-FR"),
        Language::Es => (Voice::Lucia, "es-ES"),
        Language::It => (Voice::Bianca, "it-IT"),
        Language::Pt => (Voice::Ines, "pt-PT"),
        Language::Nl => (Voice::Lotte, "nl-NL"),
    }
}

/// The digits a voice call's SSML reads out, in order: the content of its
/// `<say-as interpret-as="digits">` elements.
pub fn spoken_digits(ssml: &str) -> String {
    ssml.split(SAY_DIGIT)
        .skip(1)
        .filter_map(|rest| rest.split_once("</say-as>"))
        .map(|(digit, _)| digit)
        .collect()
}

/// Builds the messages that carry a code.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    brand: String,
    ttl_seconds: u32,
    webotp_domain: Option<String>,
}

impl MessageBuilder {
    /// A builder for the configured brand, code lifetime and WebOTP domain.
    pub fn new(brand: &str, ttl_seconds: u32, webotp_domain: Option<&str>) -> Self {
        Self {
            brand: brand.to_owned(),
            ttl_seconds,
            webotp_domain: webotp_domain.map(str::to_owned),
        }
    }

    /// The code's lifetime in words: `10 min`, or `90 s` when not whole minutes.
    pub fn lifetime(&self, language: Language) -> String {
        lifetime(language, self.ttl_seconds)
    }

    fn fill(&self, key: &str, language: Language, code: &OtpCode) -> String {
        fill(
            language.text(key),
            &[
                ("brand", &self.brand),
                ("lifetime", &self.lifetime(language)),
                ("code", code.digits()),
            ],
        )
    }

    /// The SMS text: one GSM-7 segment, ending with the WebOTP line when configured.
    pub fn sms(&self, locale: &Locale, code: &OtpCode) -> String {
        let mut text = self.fill("sms", Language::for_locale(locale), code);
        if let Some(domain) = &self.webotp_domain {
            text.push_str(&format!("\n\n@{domain} #{}", code.digits()));
        }
        text
    }

    /// The email: subject, text and HTML.
    pub fn email(&self, locale: &Locale, code: &OtpCode) -> EmailMessage {
        let language = Language::for_locale(locale);
        let text = self.fill("email_body", language, code);
        let subject = self.fill("email_subject", language, code);
        let mut paragraphs = text.split("\n\n");
        let first = escape_html(paragraphs.next().unwrap_or_default()).replace(
            code.digits(),
            &format!(
                "<strong style=\"font-size:24px;letter-spacing:4px\">{}</strong>",
                code.digits()
            ),
        );
        let rest: String = paragraphs
            .map(|p| format!("<p>{}</p>", escape_html(p)))
            .collect();
        let html = format!(
            "<!doctype html><html lang=\"{lang}\"><body style=\"font-family:system-ui,sans-serif;color:#111\"><p>{first}</p>{rest}</body></html>",
            lang = language.code()
        );
        EmailMessage {
            subject,
            text,
            html,
        }
    }

    /// The voice call: the intro sentence, the code digit by digit with pauses, "again" and
    /// the digits once more, then goodbye, read by the language's Polly voice.
    pub fn voice(&self, locale: &Locale, code: &OtpCode) -> VoiceMessage {
        let language = Language::for_locale(locale);
        let (voice, tag) = polly_voice(language);
        let sentence = |key: &str| {
            let text = fill(language.text(key), &[("brand", &self.brand)]);
            format!("<s>{}</s>", escape_xml(&text))
        };
        // One element per digit, so no voice reads "482913" as a number.
        let digits = code
            .digits()
            .chars()
            .map(|d| format!("{SAY_DIGIT}{}</say-as>", escape_xml(&d.to_string())))
            .collect::<Vec<_>>()
            .join(DIGIT_BREAK);
        let ssml = format!(
            "<speak xml:lang=\"{tag}\">{intro}{DIGIT_BREAK}{digits}{PART_BREAK}{again}{DIGIT_BREAK}{digits}{PART_BREAK}{bye}</speak>",
            intro = sentence("voice_intro"),
            again = sentence("voice_again"),
            bye = sentence("voice_bye"),
        );
        VoiceMessage {
            ssml,
            voice,
            language: tag,
        }
    }
}

/// A duration in words, in minutes when it is whole minutes: `10 min`, `90 s`.
pub fn lifetime(language: Language, seconds: u32) -> String {
    if seconds >= 60 && seconds.is_multiple_of(60) {
        fill(
            language.text("minutes"),
            &[("n", &(seconds / 60).to_string())],
        )
    } else {
        fill(language.text("seconds"), &[("n", &seconds.to_string())])
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Escapes text for XML (SSML) content and attribute values, with the five entities Polly
/// documents for SSML's reserved characters.
pub fn escape_xml(s: &str) -> String {
    // HTML's escaping, with XML's named entity for the apostrophe.
    escape_html(s).replace("&#39;", "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code() -> OtpCode {
        OtpCode::generate(10).expect("os rng")
    }

    #[test]
    fn every_languages_sms_fits_one_gsm7_segment_in_the_worst_case() {
        let brand = "A".repeat(30);
        let domain = format!("{}.example.com", "w".repeat(28));
        assert_eq!(domain.len(), 40);
        for ttl in [86_399, 86_400 - 60] {
            let b = MessageBuilder::new(&brand, ttl, Some(&domain));
            for language in Language::ALL {
                let c = code();
                let locale = Locale::parse(language.code()).expect("valid");
                let sms = b.sms(&locale, &c);
                assert!(sms.contains(&brand) && sms.contains(c.digits()));
                assert!(sms.contains(&b.lifetime(language)), "{sms}");
                assert!(sms.ends_with(&format!("\n\n@{domain} #{}", c.digits())));
                assert!(sms.chars().all(is_gsm7_basic), "{}: {sms}", language.code());
                let email = b.email(&locale, &c);
                for text in [&sms, &email.text] {
                    assert!(!text.contains(".."), "{}: {text}", language.code());
                }
                assert!(
                    sms.chars().count() <= 160,
                    "{}: {} characters: {sms}",
                    language.code(),
                    sms.chars().count()
                );
            }
        }
    }

    #[test]
    fn the_message_language_follows_the_locale_with_fallback() {
        let b = MessageBuilder::new("Acme", 600, None);
        let c = code();
        let at = b.sms(&Locale::parse("de-AT").expect("valid"), &c);
        assert_eq!(at, b.sms(&Locale::parse("de").expect("valid"), &c));
        assert!(at.contains("10 min"), "{at}");
        let ja = b.sms(&Locale::parse("ja").expect("valid"), &c);
        assert_eq!(ja, b.sms(&Locale::default(), &c));
        let fr = b.email(&Locale::parse("fr-CA").expect("valid"), &c);
        assert!(fr.html.starts_with("<!doctype html><html lang=\"fr\">"));
        assert_ne!(fr.subject, b.email(&Locale::default(), &c).subject);
    }

    #[test]
    fn the_email_has_subject_text_and_html_without_the_code_in_the_subject() {
        let b = MessageBuilder::new("Acme <Shop>", 600, None);
        let c = code();
        let m = b.email(&Locale::default(), &c);
        assert_eq!(m.subject, "Your Acme <Shop> code");
        assert!(m.text.contains(c.digits()) && m.text.contains("10 min"));
        assert!(m.html.contains(c.digits()) && m.html.contains("Acme &lt;Shop&gt;"));
    }

    /// Checks that `ssml` is one well-formed `<speak>` element (tags balance, attributes are
    /// quoted, `&` only starts one of the five entities, no `<` or `>` in text) and returns
    /// the names of the elements in document order.
    fn well_formed(ssml: &str) -> Result<Vec<String>, String> {
        fn text_ok(text: &str) -> Result<(), String> {
            if text.contains(['<', '>', '"']) {
                return Err(format!("unescaped character in {text:?}"));
            }
            for (at, _) in text.match_indices('&') {
                let entity = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"];
                if !entity.iter().any(|e| text[at..].starts_with(e)) {
                    return Err(format!("bare & in {text:?}"));
                }
            }
            Ok(())
        }
        let mut open: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let mut rest = ssml;
        while let Some(start) = rest.find('<') {
            if open.is_empty() && !names.is_empty() {
                return Err("content after the root element".to_owned());
            }
            let text = &rest[..start];
            if open.is_empty() && !text.is_empty() {
                return Err("text outside the root element".to_owned());
            }
            text_ok(text)?;
            let end = start + rest[start..].find('>').ok_or("a tag is not closed")?;
            let tag = &rest[start + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                if open.pop().as_deref() != Some(name) {
                    return Err(format!("</{name}> closes nothing"));
                }
            } else {
                let empty = tag.ends_with('/');
                let body = tag.trim_end_matches('/');
                let (name, attributes) = body.split_once(' ').unwrap_or((body, ""));
                for attribute in attributes.split_whitespace() {
                    let (_, value) = attribute
                        .split_once('=')
                        .ok_or(format!("attribute without value in <{tag}>"))?;
                    let inner = value
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .ok_or(format!("unquoted attribute in <{tag}>"))?;
                    text_ok(inner)?;
                }
                names.push(name.to_owned());
                if !empty {
                    open.push(name.to_owned());
                }
            }
            rest = &rest[end + 1..];
        }
        if !open.is_empty()
            || !rest.is_empty()
            || names.first().map(String::as_str) != Some("speak")
        {
            return Err("not one <speak> element".to_owned());
        }
        Ok(names)
    }

    /// The text a listener hears between the tags, each tag replaced by a space.
    fn spoken_text(ssml: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in ssml.chars() {
            match c {
                '<' => {
                    in_tag = true;
                    out.push(' ');
                }
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out
    }

    fn code_of(digits: &str) -> OtpCode {
        OtpCode::custom(digits, "code").expect("valid code")
    }

    #[test]
    fn the_voice_call_reads_the_code_digit_by_digit_twice_with_pauses() {
        let b = MessageBuilder::new("twostep", 600, None);
        let m = b.voice(&Locale::parse("de").expect("valid"), &code_of("482913"));
        let digit = |d: char| format!("<say-as interpret-as=\"digits\">{d}</say-as>");
        let reading: Vec<String> = "482913".chars().map(digit).collect();
        let reading = reading.join("<break time=\"500ms\"/>");
        assert_eq!(
            m.ssml,
            format!(
                "<speak xml:lang=\"de-DE\"><s>Ihr twostep-Code lautet</s><break time=\"500ms\"/>{reading}<break time=\"1s\"/><s>Noch einmal:</s><break time=\"500ms\"/>{reading}<break time=\"1s\"/><s>Auf Wiederhören.</s></speak>"
            )
        );
        assert_eq!(m.spoken_digits(), "482913482913");
        assert_eq!((m.voice, m.language), (Voice::Vicki, "de-DE"));
        // Every digit but the last of a reading is followed by a pause.
        assert_eq!(
            m.ssml.matches("</say-as><break time=\"500ms\"/>").count(),
            10
        );
    }

    #[test]
    fn the_voice_call_is_well_formed_ssml_in_the_locales_language() {
        let b = MessageBuilder::new("Acme", 600, None);
        let english = b.voice(&Locale::default(), &code_of("1234"));
        for language in Language::ALL {
            let locale = Locale::parse(language.code()).expect("valid");
            let m = b.voice(&locale, &code_of("1234"));
            let names =
                well_formed(&m.ssml).map_err(|e| format!("{}: {e}: {}", language.code(), m.ssml));
            let names = names.expect("well-formed");
            assert!(
                names
                    .iter()
                    .all(|n| ["speak", "s", "break", "say-as"].contains(&n.as_str())),
                "{names:?}"
            );
            let (voice, tag) = polly_voice(language);
            assert_eq!((&m.voice, m.language), (&voice, tag));
            assert!(m.ssml.starts_with(&format!("<speak xml:lang=\"{tag}\">")));
            assert!(tag.starts_with(language.code()), "{tag}");
            for key in ["voice_intro", "voice_again", "voice_bye"] {
                let text = escape_xml(&fill(language.text(key), &[("brand", "Acme")]));
                assert!(
                    m.ssml.contains(&format!("<s>{text}</s>")),
                    "{}: {key}",
                    language.code()
                );
            }
            if language != Language::En {
                assert_ne!(m.ssml, english.ssml, "{}", language.code());
            }
            assert_eq!(m.spoken_digits(), "12341234");
        }
        let at = b.voice(&Locale::parse("de-AT").expect("valid"), &code_of("1234"));
        assert_eq!(at.voice, Voice::Vicki);
        let ja = b.voice(&Locale::parse("ja").expect("valid"), &code_of("1234"));
        assert_eq!((ja.voice, ja.language), (Voice::Joanna, "en-US"));
    }

    #[test]
    fn the_voice_call_escapes_the_brand() {
        let brand = "Tom & Jerry's <\"Shop\">";
        assert!(
            brand.chars().all(is_gsm7_basic),
            "a brand the configuration accepts"
        );
        let m = MessageBuilder::new(brand, 600, None).voice(&Locale::default(), &code_of("0042"));
        well_formed(&m.ssml).expect("well-formed");
        assert!(
            m.ssml
                .contains("<s>Your Tom &amp; Jerry&apos;s &lt;&quot;Shop&quot;&gt; code is</s>"),
            "{}",
            m.ssml
        );
        assert!(!m.ssml.contains(brand));
        assert_eq!(m.spoken_digits(), "00420042");
    }

    #[test]
    fn the_voice_call_never_speaks_the_code_as_one_number() {
        let b = MessageBuilder::new("Acme", 600, None);
        for length in 4..=10 {
            for language in Language::ALL {
                let c = OtpCode::generate(length).expect("os rng");
                let m = b.voice(&Locale::parse(language.code()).expect("valid"), &c);
                let heard = spoken_text(&m.ssml);
                let numbers: Vec<&str> = heard
                    .split(|ch: char| !ch.is_ascii_digit())
                    .filter(|w| !w.is_empty())
                    .collect();
                assert_eq!(numbers.len(), 2 * usize::from(length), "{heard}");
                assert!(numbers.iter().all(|n| n.len() == 1), "{heard}");
                assert_eq!(numbers.concat(), format!("{0}{0}", c.digits()));
            }
        }
    }

    #[test]
    fn a_voice_message_keeps_its_code_out_of_debug_output() {
        let m =
            MessageBuilder::new("Acme", 600, None).voice(&Locale::default(), &code_of("987654"));
        let shown = format!("{m:?}");
        assert!(!shown.contains('9') && shown.contains("Joanna"), "{shown}");
    }

    #[test]
    fn the_ssml_checker_refuses_what_polly_would() {
        for bad in [
            "<speak>a</speak><speak>b</speak>",
            "<speak><s>a</speak></s>",
            "<speak>Tom & Jerry</speak>",
            "<speak><break time=500ms/></speak>",
            "<speak>1 < 2</speak>",
            "x<speak></speak>",
        ] {
            assert!(well_formed(bad).is_err(), "{bad}");
        }
    }
}
