//! Where a plain HTML form post is sent back to: only a configured origin, or a path on the
//! API's own origin. Anything else is refused, so twostep is never an open redirect.

use crate::domain::InputError;

/// The longest redirect accepted.
const MAX_LEN: usize = 2048;

/// A redirect target that is safe to put in a `Location` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectTarget(String);

impl RedirectTarget {
    /// Accepts `raw` when it is an absolute URL whose origin is one of `allowed_origins`
    /// (lower-case `scheme://host[:port]`, as the configuration holds them), or a path on
    /// this API's own origin (`/`, `/?locale=de`).
    ///
    /// Refused: other origins, other schemes (`javascript:`, `data:`), scheme-relative
    /// (`//evil`), backslashes (`/\evil`), userinfo (`https://ok@evil`), look-alike hosts
    /// (`https://ok.evil`), encoded separators (`/%2F/evil`), and any whitespace or control
    /// character (browsers drop tabs and newlines, which turns `/\t/evil` into `//evil`).
    pub fn parse(raw: &str, allowed_origins: &[String]) -> Result<Self, InputError> {
        let refuse = |why: &str| InputError::InvalidRedirect(why.to_owned());
        if raw.len() > MAX_LEN {
            return Err(refuse("is too long"));
        }
        if raw
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        {
            return Err(refuse("contains whitespace, control characters or '\\'"));
        }
        let decoded = percent_decoded(raw);
        if decoded
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        {
            return Err(refuse(
                "contains encoded whitespace, control characters or '\\'",
            ));
        }
        if raw.starts_with('/') {
            if raw.starts_with("//") || decoded.starts_with("//") {
                return Err(refuse("is not a path on this site"));
            }
            return Ok(Self(encode_non_ascii(raw)));
        }
        let allowed = allowed_origins.iter().any(|origin| {
            raw.get(..origin.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(origin))
                && matches!(
                    raw[origin.len()..].chars().next(),
                    None | Some('/' | '?' | '#')
                )
        });
        if allowed {
            Ok(Self(encode_non_ascii(raw)))
        } else {
            Err(refuse("is not on an allowed origin"))
        }
    }

    /// The target with `params` added to its query (before any fragment).
    pub fn with_params(&self, params: &[(&str, String)]) -> String {
        let (base, fragment) = match self.0.split_once('#') {
            Some((base, fragment)) => (base, Some(fragment)),
            None => (self.0.as_str(), None),
        };
        let query = serde_urlencoded::to_string(params).unwrap_or_default();
        let mut out = base.to_owned();
        if !query.is_empty() {
            if !base.contains('?') {
                out.push('?');
            } else if !base.ends_with(['?', '&']) {
                out.push('&');
            }
            out.push_str(&query);
        }
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(fragment);
        }
        out
    }
}

/// `raw` with `%XX` escapes decoded, repeatedly (to catch `%252F`), as lossy UTF-8.
fn percent_decoded(raw: &str) -> String {
    let mut current = raw.to_owned();
    for _ in 0..3 {
        let bytes = current.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
                (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                    let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                    out.push(value as u8);
                    i += 3;
                }
                (b, _, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        let next = String::from_utf8_lossy(&out).into_owned();
        if next == current {
            break;
        }
        current = next;
    }
    current
}

/// Percent-encodes characters outside ASCII, so the target is a valid header value.
fn encode_non_ascii(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec![
            "https://forms.example.com".to_owned(),
            "http://localhost:8080".to_owned(),
        ]
    }

    fn parse(raw: &str) -> Result<RedirectTarget, InputError> {
        RedirectTarget::parse(raw, &allowed())
    }

    #[test]
    fn allowed_origins_and_own_paths_are_accepted() {
        for ok in [
            "https://forms.example.com",
            "https://forms.example.com/",
            "https://forms.example.com/thanks?x=1#top",
            "HTTPS://Forms.Example.com/thanks",
            "https://forms.example.com?x",
            "http://localhost:8080/done",
            "/",
            "/?locale=de",
            "/thanks/page",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn every_open_redirect_trick_is_refused() {
        for bad in [
            "https://evil.example",
            "https://forms.example.com.evil.example/",
            "https://forms.example.comevil.example",
            "https://forms.example.com@evil.example/",
            "https://forms.example.com:443@evil.example/",
            "https://user:pass@forms.example.com/",
            "https://forms.example.com:8443/",
            "http://forms.example.com/",
            "//evil.example",
            "//forms.example.com",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%252F/evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/%09/evil.example",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(document.domain)",
            "java%0ascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "https:evil.example",
            "https:/evil.example",
            "evil.example",
            "https://evil.example/https://forms.example.com",
            "https://forms.example.com\\@evil.example",
            "https://forms.example.com%40evil.example",
            "https://forms%2Eexample%2Ecom.evil.example",
            "http://localhost:8080.evil.example",
            "http://localhost:80800",
            " https://forms.example.com",
            "\u{3000}/evil",
        ] {
            assert!(
                matches!(parse(bad), Err(InputError::InvalidRedirect(_))),
                "{bad:?} was accepted"
            );
        }
        assert!(parse(&format!("/{}", "a".repeat(MAX_LEN))).is_err());
    }

    #[test]
    fn the_outcome_is_added_to_the_query_before_the_fragment() {
        let p = |raw: &str| parse(raw).expect("allowed");
        let params = [
            ("status", "pending".to_owned()),
            ("to", "+49***00".to_owned()),
        ];
        assert_eq!(
            p("https://forms.example.com/t").with_params(&params),
            "https://forms.example.com/t?status=pending&to=%2B49***00"
        );
        assert_eq!(
            p("/?locale=de#form").with_params(&params[..1]),
            "/?locale=de&status=pending#form"
        );
        assert_eq!(p("/?").with_params(&params[..1]), "/?status=pending");
        assert_eq!(p("/über").with_params(&[]), "/%C3%BCber");
    }
}
