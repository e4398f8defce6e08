//! The texts people receive. One place, so a translator edits only this file.

use crate::domain::{Locale, OtpCode};

/// The characters of the GSM 03.38 basic set that cost one septet each.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// Whether `c` is in the GSM 7-bit basic alphabet (so an SMS stays in 160-character segments).
pub fn is_gsm7_basic(c: char) -> bool {
    GSM7_BASIC.contains(c)
}

/// The texts of one language. `{brand}`, `{code}` and `{lifetime}` are filled in.
struct Texts {
    sms: &'static str,
    email_subject: &'static str,
    email_text: &'static str,
    minutes: &'static str,
    seconds: &'static str,
}

const EN: Texts = Texts {
    sms: "{code} is your {brand} code. It expires in {lifetime}. Do not share it.",
    email_subject: "Your {brand} code",
    email_text: "Your {brand} code is {code}.\n\nIt expires in {lifetime}. If you did not ask for it, ignore this email: nobody can use it without access to your inbox.",
    minutes: "{n} min",
    seconds: "{n} s",
};

fn texts_for(_locale: &Locale) -> &'static Texts {
    &EN
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

    fn fill(&self, template: &str, texts: &Texts, code: &OtpCode) -> String {
        let lifetime = if self.ttl_seconds.is_multiple_of(60) {
            texts
                .minutes
                .replace("{n}", &(self.ttl_seconds / 60).to_string())
        } else {
            texts.seconds.replace("{n}", &self.ttl_seconds.to_string())
        };
        template
            .replace("{brand}", &self.brand)
            .replace("{lifetime}", &lifetime)
            .replace("{code}", code.digits())
    }

    /// The SMS text: one GSM-7 segment, ending with the WebOTP line when configured.
    pub fn sms(&self, locale: &Locale, code: &OtpCode) -> String {
        let texts = texts_for(locale);
        let mut text = self.fill(texts.sms, texts, code);
        if let Some(domain) = &self.webotp_domain {
            text.push_str(&format!("\n\n@{domain} #{}", code.digits()));
        }
        text
    }

    /// The email: subject, text and HTML.
    pub fn email(&self, locale: &Locale, code: &OtpCode) -> EmailMessage {
        let texts = texts_for(locale);
        let text = self.fill(texts.email_text, texts, code);
        let subject = self.fill(texts.email_subject, texts, code);
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
            lang = locale.as_str()
        );
        EmailMessage {
            subject,
            text,
            html,
        }
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code() -> OtpCode {
        OtpCode::generate(10).expect("os rng")
    }

    #[test]
    fn the_sms_names_the_brand_code_and_lifetime_in_one_gsm7_segment() {
        let brand = "A".repeat(30);
        let b = MessageBuilder::new(
            &brand,
            86_399,
            Some("very-long-subdomain.example-company.com"),
        );
        let c = code();
        let sms = b.sms(&Locale::default(), &c);
        assert!(sms.contains(&brand) && sms.contains(c.digits()) && sms.contains("86399 s"));
        assert!(sms.ends_with(&format!(
            "@very-long-subdomain.example-company.com #{}",
            c.digits()
        )));
        assert!(sms.chars().all(is_gsm7_basic), "{sms}");
        assert!(
            sms.chars().count() <= 160,
            "{} characters: {sms}",
            sms.chars().count()
        );
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
