//! The pages, rendered in the visitor's language with the same look (`shared/web/page.css`),
//! the same script helpers (`shared/web/common.js`) and the same strict headers:
//!
//! - `GET /`, the demo page (`shared/web/page.html`, inline script). Without JavaScript its
//!   forms post to the API with a `redirect` back to the page, which then shows the outcome
//!   from the query parameters; with JavaScript the same forms are sent with `fetch`.
//! - `GET /totp?verification_id=…`, the authenticator-app enrolment that the demo page's last
//!   step links to (`shared/web/totp.html`). It needs JavaScript: the secret and its QR code
//!   come from `POST /totp/enroll` as JSON and are never put in a URL.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use rand::TryRng;

use crate::config::Config;
use crate::domain::VerificationId;
use crate::i18n::{Language, fill};
use crate::messages::escape_html;

mod demo;
mod totp;

use demo::{Outcome, render};
use totp::render_totp;

const TEMPLATE: &str = include_str!("../../../web/page.html");
const TOTP_TEMPLATE: &str = include_str!("../../../web/totp.html");
/// The start of both pages, to the open `<style>` (`{{v:head}}`).
const HEAD: &str = include_str!("../../../web/head.html");
const CSS: &str = include_str!("../../../web/page.css");
/// The helpers both pages' scripts start with (`{{v:script}}`, inside their nonce'd script element).
const SCRIPT: &str = include_str!("../../../web/common.js");

/// The page for `request`: in the language its query (`locale`) or `Accept-Language` asks
/// for, showing the outcome its query carries.
pub fn page(config: &Config, request: &Request) -> Response<Body> {
    let outcome = Outcome::from_query(request.uri().query().unwrap_or_default());
    let language = language_of(request, outcome.language);
    let nonce = nonce();
    let html = render(config, language, &outcome, &nonce);
    html_response(html, &nonce, request)
}

/// The authenticator-app enrolment page for `request`: for the `verification_id` of its
/// query, in the language its query (`locale`) or `Accept-Language` asks for.
pub fn totp_page(config: &Config, request: &Request) -> Response<Body> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(request.uri().query().unwrap_or_default()).unwrap_or_default();
    let given = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim());
    let language = language_of(request, given("locale").and_then(Language::from_tag));
    let id = given("verification_id").and_then(VerificationId::parse);
    let nonce = nonce();
    let html = render_totp(config, language, id.as_ref(), &nonce);
    html_response(html, &nonce, request)
}

/// The language a query asked for, else the most preferred of `Accept-Language`, else English.
fn language_of(request: &Request, asked: Option<Language>) -> Language {
    asked
        .or_else(|| {
            request
                .headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Language::from_accept_language)
        })
        .unwrap_or(Language::En)
}

/// A page's response: `200` with the strict headers every page has. Only the page's own
/// nonce'd `<style>` and `<script>` run; it talks to its own origin only; images are its own or
/// `data:`; nothing may frame it.
fn html_response(html: String, nonce: &str, request: &Request) -> Response<Body> {
    let gzipped = accepts_gzip(request).then(|| gzip(&html)).flatten();
    let encoded = gzipped.is_some();
    let body = match gzipped {
        Some(bytes) => Body::Binary(bytes),
        None => Body::Text(html),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         connect-src 'self'; form-action 'self'; img-src 'self' data:; base-uri 'none'; \
         frame-ancestors 'none'"
    );
    let set = |headers: &mut lambda_http::http::HeaderMap, name, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(headers, header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(headers, header::CONTENT_SECURITY_POLICY, &csp);
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::VARY, "accept-language, accept-encoding");
    if encoded {
        set(headers, header::CONTENT_ENCODING, "gzip");
    }
    response
}

/// The deflate level of a gzipped page: the page is made anew for every request (its nonce),
/// so a fast level; 9 saves about a hundred bytes more for several times the CPU.
const GZIP_LEVEL: u32 = 6;

/// Whether `Accept-Encoding` takes gzip (`gzip`, `x-gzip` or `*`, with a q-value above 0).
fn accepts_gzip(request: &Request) -> bool {
    let Some(value) = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let (mut gzip, mut any) = (None, None);
    for part in value.split(',') {
        let mut fields = part.split(';');
        let name = fields
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let q = fields
            .find_map(|f| f.trim().strip_prefix("q="))
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
            .unwrap_or(0.0);
        match name.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => any = Some(q),
            _ => {}
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

/// The page gzipped; `None` if it could not be (the page then goes as it is).
fn gzip(html: &str) -> Option<Vec<u8>> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(html.len() / 3),
        Compression::new(GZIP_LEVEL),
    );
    encoder.write_all(html.as_bytes()).ok()?;
    encoder.finish().ok()
}

/// A fresh CSP nonce: 128 bits from the OS, hex.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    // Without OS randomness the nonce is constant; the page still works (the CSP then only
    // allows our own inline code, as a hash would) and nothing secret depends on it.
    let _ = rand::rngs::SysRng.try_fill_bytes(&mut bytes);
    crate::domain::hex(&bytes)
}

/// Fills a page's template, whose `{{v:head}}` is the shared start of every page and
/// `title` the text key of its title: the values every page has (`lang`, `brand`, `nonce`,
/// `css`, `script`, `home`, and `data`, the JSON its script reads), else `value(name)`.
fn fill_page(
    (template, title): (&str, &str),
    config: &Config,
    language: Language,
    nonce: &str,
    data: &serde_json::Value,
    value: impl Fn(&str) -> String,
) -> String {
    let shared = &|name: &str| -> String {
        match name {
            "title" => escape_html(language.text(title)),
            "lang" => language.code().to_owned(),
            "brand" => escape_html(&config.brand_name),
            "nonce" => nonce.to_owned(),
            "css" => CSS.to_owned(),
            "script" => SCRIPT.to_owned(),
            "home" => escape_html(&format!("/?locale={}", language.code())),
            // JSON inside <script>: no "<" can close the element.
            "data" => data.to_string().replace('<', "\\u003c"),
            other => value(other),
        }
    };
    let head = fill_template(HEAD, language, shared);
    fill_template(template, language, |name| match name {
        "head" => head.clone(),
        other => shared(other),
    })
}

/// Fills a template's `{{t:key}}` (a text, HTML-escaped) and `{{v:name}}` (`value(name)`,
/// inserted as it is) placeholders.
fn fill_template(template: &str, language: Language, value: impl Fn(&str) -> String) -> String {
    let t = |key: &str| language.text(key);
    let mut out = String::with_capacity(template.len() + 8_192);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let placeholder = &after[..end];
        match placeholder.split_once(':') {
            Some(("t", key)) => out.push_str(&escape_html(t(key))),
            Some(("v", name)) => out.push_str(&value(name)),
            _ => out.push_str(&rest[start..start + 4 + end]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A wait in words: seconds under a minute, else whole minutes rounded up.
fn wait(language: Language, seconds: u32) -> String {
    if seconds < 60 {
        fill(language.text("seconds"), &[("n", &seconds.to_string())])
    } else {
        fill(
            language.text("minutes"),
            &[("n", &seconds.div_ceil(60).to_string())],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn config() -> Config {
        crate::config::testing::test_config(&[])
    }

    pub(super) fn config_with(extra: &[(&str, &str)]) -> Config {
        crate::config::testing::test_config(extra)
    }

    /// The demo page as a query's outcome renders it.
    pub(super) fn render_query(query: &str) -> String {
        render(
            &config(),
            Outcome::from_query(query).language.unwrap_or(Language::En),
            &Outcome::from_query(query),
            "n0nce",
        )
    }

    /// The enrolment page for `uri`.
    pub(super) fn get(uri: &str, accept_language: &str) -> Response<Body> {
        let request = lambda_http::http::Request::builder()
            .uri(uri)
            .header("accept-language", accept_language)
            .body(Body::Empty)
            .expect("request");
        totp_page(&config(), &request)
    }

    pub(super) fn text_of(response: &Response<Body>) -> &str {
        match response.body() {
            Body::Text(html) => html,
            _ => panic!("text"),
        }
    }

    #[test]
    fn both_pages_start_their_nonced_script_with_the_shared_helpers() {
        let totp = get("/totp?verification_id=01JD3Z6Q0Y4S8V1M2N3P4Q5R6S", "en");
        for html in [render_query(""), text_of(&totp).to_owned()] {
            let script = html
                .split("<script nonce=\"")
                .nth(1)
                .and_then(|rest| rest.split("</script>").next())
                .expect("script");
            assert!(script.contains(SCRIPT.trim()), "{script}");
            assert!(!script.contains("{{"));
        }
    }

    #[test]
    fn waits_read_as_seconds_or_whole_minutes() {
        assert_eq!(wait(Language::En, 12), "12 s");
        assert_eq!(wait(Language::En, 61), "2 min");
        assert_eq!(
            wait(Language::De, 120),
            fill(Language::De.text("minutes"), &[("n", "2")])
        );
    }

    fn with_encoding(uri: &str, accept_encoding: &str) -> Response<Body> {
        let request = lambda_http::http::Request::builder()
            .uri(uri)
            .header("accept-encoding", accept_encoding)
            .body(Body::Empty)
            .expect("request");
        page(&config(), &request)
    }

    #[test]
    fn a_client_that_accepts_gzip_gets_the_page_gzipped_and_the_same_html() {
        use std::io::Read;
        let plain = with_encoding("/?locale=de", "identity");
        let Body::Text(html) = plain.body() else {
            panic!("text for a client without gzip")
        };
        assert!(!plain.headers().contains_key("content-encoding"));
        let zipped = with_encoding("/?locale=de", "gzip, deflate, br");
        assert_eq!(zipped.headers()["content-encoding"], "gzip");
        assert_eq!(zipped.headers()["vary"], "accept-language, accept-encoding");
        assert_eq!(plain.headers()["vary"], "accept-language, accept-encoding");
        let Body::Binary(bytes) = zipped.body() else {
            panic!("bytes")
        };
        assert!(
            bytes.len() * 2 < html.len(),
            "{} of {} bytes",
            bytes.len(),
            html.len()
        );
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut unzipped)
            .expect("gzip");
        // The same page but for its nonce.
        let nonce = |r: &Response<Body>| {
            let csp = r.headers()["content-security-policy"]
                .to_str()
                .expect("ascii");
            csp.split("'nonce-")
                .nth(1)
                .and_then(|n| n.split('\'').next())
                .expect("nonce")
                .to_owned()
        };
        assert_eq!(
            unzipped.replace(&nonce(&zipped), "N"),
            html.replace(&nonce(&plain), "N")
        );
    }

    #[test]
    fn gzip_is_taken_only_when_accept_encoding_allows_it() {
        let request = |value: &str| {
            lambda_http::http::Request::builder()
                .header("accept-encoding", value)
                .body(Body::Empty)
                .expect("request")
        };
        for yes in [
            "gzip",
            "GZIP",
            "br, gzip;q=0.5",
            "*",
            "x-gzip",
            "deflate, *;q=0.1",
        ] {
            assert!(accepts_gzip(&request(yes)), "{yes}");
        }
        for no in [
            "",
            "br",
            "identity",
            "gzip;q=0",
            "gzip;q=0.0, br",
            "*;q=0",
            "gzip;q=nonsense",
            "gzip;q=0, *",
        ] {
            assert!(!accepts_gzip(&request(no)), "{no}");
        }
        let none = lambda_http::http::Request::builder()
            .body(Body::Empty)
            .expect("request");
        assert!(!accepts_gzip(&none));
    }
}
