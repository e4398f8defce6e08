//! What an interactive call says, as SSML for Amazon Polly, in the contact's language.

use super::{
    DIGIT_BREAK, Language, MessageBuilder, PART_BREAK, SAY_DIGIT, escape_xml, fill, polly_voice,
};
use crate::domain::{Locale, OtpCode};

/// The sentences of one call, in one language and voice.
#[derive(Debug, Clone)]
pub struct CallScript {
    language: Language,
    tag: &'static str,
    voice: &'static str,
    brand: String,
}

impl MessageBuilder {
    /// What a call to a contact of `locale` says.
    pub fn call(&self, locale: &Locale) -> CallScript {
        let language = Language::for_locale(locale);
        let (voice, tag) = polly_voice(language);
        CallScript {
            language,
            tag,
            voice: voice.name(),
            brand: self.brand.clone(),
        }
    }
}

impl CallScript {
    /// The Polly voice (`Joanna`).
    pub fn voice_id(&self) -> &'static str {
        self.voice
    }

    /// The language code Polly reads with (`en-US`).
    pub fn language_code(&self) -> &'static str {
        self.tag
    }

    fn sentence(&self, key: &str, n: Option<u32>) -> String {
        let n = n.map(|n| n.to_string()).unwrap_or_default();
        let text = fill(
            self.language.text(key),
            &[("brand", &self.brand), ("n", &n)],
        );
        format!("<s>{}</s>", escape_xml(&text))
    }

    fn speak(&self, parts: &[String]) -> String {
        format!(
            "<speak xml:lang=\"{}\">{}</speak>",
            self.tag,
            parts.join(PART_BREAK)
        )
    }

    /// The code, digit by digit, and how to hear it again.
    pub fn read_code(&self, code: &OtpCode) -> String {
        let digits = code
            .digits()
            .chars()
            .map(|d| format!("{SAY_DIGIT}{d}</say-as>"))
            .collect::<Vec<_>>()
            .join(DIGIT_BREAK);
        self.speak(&[
            format!(
                "{}{DIGIT_BREAK}{digits}",
                self.sentence("voice_intro", None)
            ),
            self.sentence("call_repeat", None),
        ])
    }

    /// The request to type the code, after `before` (a wrong code's answer) when given.
    pub fn ask_code(&self, attempts_left_after_wrong: Option<u32>) -> String {
        let mut parts = Vec::new();
        if let Some(left) = attempts_left_after_wrong {
            parts.push(self.sentence("call_wrong", Some(left)));
        }
        parts.push(self.sentence("call_enter", None));
        self.speak(&parts)
    }

    /// What a try that got no code says before the request is said again.
    pub fn no_input(&self) -> String {
        self.speak(&[self.sentence("call_no_input", None)])
    }

    /// A closing sentence (`call_approved`, `call_locked`, `call_expired`, `call_no_input`,
    /// `call_error`, `call_invalid`), and goodbye.
    pub fn closing(&self, key: Closing) -> String {
        let mut parts = Vec::new();
        if let Some(key) = key.key() {
            parts.push(self.sentence(key, None));
        }
        if key != Closing::Invalid {
            parts.push(self.sentence("voice_bye", None));
        }
        self.speak(&parts)
    }
}

/// How a call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// Goodbye only.
    Bye,
    /// The code was right.
    Approved,
    /// Too many wrong codes.
    Locked,
    /// The code expired, was replaced or used.
    Expired,
    /// Nothing was typed.
    NoInput,
    /// A dependency failed.
    Error,
    /// An unknown caller: "Invalid request.", and nothing else.
    Invalid,
}

impl Closing {
    fn key(self) -> Option<&'static str> {
        match self {
            Self::Bye => None,
            Self::Approved => Some("call_approved"),
            Self::Locked => Some("call_locked"),
            Self::Expired => Some("call_expired"),
            Self::NoInput => Some("call_no_input"),
            Self::Error => Some("call_error"),
            Self::Invalid => Some("call_invalid"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(language: &str) -> CallScript {
        MessageBuilder::new("Acme", 600, None).call(&Locale::parse(language).expect("valid"))
    }

    #[test]
    fn a_call_reads_the_code_digit_by_digit_and_offers_a_repeat() {
        let code = OtpCode::custom("482913", "code").expect("valid");
        let ssml = script("en").read_code(&code);
        assert_eq!(super::super::spoken_digits(&ssml), "482913");
        assert!(ssml.starts_with("<speak xml:lang=\"en-US\">"), "{ssml}");
        assert!(ssml.contains("press 1"), "{ssml}");
    }

    #[test]
    fn every_sentence_of_every_language_is_one_speak_element_without_digits_of_a_code() {
        for language in ["en", "de", "fr", "es", "it", "pt", "nl"] {
            let s = script(language);
            assert!(!s.voice_id().is_empty() && s.language_code().contains('-'));
            let mut texts = vec![s.ask_code(None), s.ask_code(Some(3))];
            for closing in [
                Closing::Bye,
                Closing::Approved,
                Closing::Locked,
                Closing::Expired,
                Closing::NoInput,
                Closing::Error,
                Closing::Invalid,
            ] {
                texts.push(s.closing(closing));
            }
            for text in texts {
                assert!(
                    text.starts_with("<speak") && text.ends_with("</speak>"),
                    "{text}"
                );
                assert_eq!(text.matches("<speak").count(), 1, "{text}");
                assert!(!text.contains('{'), "a placeholder left: {text}");
            }
            assert!(s.ask_code(Some(3)).contains('3'));
        }
    }
}
