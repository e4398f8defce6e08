//! The messages that carry a code, in the recipient's language (texts in `shared/locales/`).

use crate::domain::{Locale, OtpCode};
use crate::i18n::{Language, fill};

/// The characters of the GSM 03.38 basic set that cost one septet each.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// Whether `c` is in the GSM 7-bit basic alphabet (so an SMS stays in 160-character segments).
pub fn is_gsm7_basic(c: char) -> bool {
    GSM7_BASIC.contains(c)
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
}
