//! Codes from authenticator apps (RFC 6238 TOTP: HMAC-SHA-1, 6 digits, 30-second steps):
//! the shared secret, the check of a submitted code, the `otpauth://` URI and its QR code,
//! and the sealing of secrets for storage (AES-256-GCM).

use std::fmt::{self, Write as _};

use hmac::{Hmac, Mac};
use qrcode::{Color, EcLevel, QrCode};
use rand::TryRng;
use rand::rngs::SysRng;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq, CtOption};
use totp_rs::{Algorithm, TOTP};
use zeroize::{Zeroize, Zeroizing};

use crate::domain::{SealedSecret, hex};

/// Digits in a code.
pub const DIGITS: usize = 6;
/// Length of a time step, in seconds.
pub const STEP_SECONDS: u64 = 30;
/// Length of a secret, in bytes (160 bits, as RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;
/// Minimum length of the key material a [`TotpCipher`] is made from, in bytes.
pub const MIN_KEY_LEN: usize = 32;

/// What the sealing key is derived for: a new purpose gets a new label, never a reused key.
const KEY_LABEL: &[u8] = b"twostep totp secret v1";
/// Length of an AES-GCM tag, in bytes.
const TAG_LEN: usize = 16;
/// Width and height of the QR code's SVG, in CSS pixels.
const QR_PIXELS: usize = 240;
/// The quiet zone around a QR code, in modules (the standard's minimum).
const QUIET_ZONE: usize = 4;

/// Why a TOTP operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(#[from] rand::rngs::SysError),
    /// Bytes of the wrong length were given as a secret.
    #[error("a TOTP secret has {SECRET_LEN} bytes, not {0}")]
    SecretLength(usize),
    /// The data does not fit in a QR code.
    #[error("cannot make a QR code: {0}")]
    QrCode(#[from] qrcode::types::QrError),
    /// Encryption failed (AWS-LC found no randomness for the nonce).
    #[error("a TOTP secret could not be sealed")]
    Seal,
    /// The secret was sealed with a key this cipher does not hold (rotated out, or another stack's).
    #[error("the TOTP secret was sealed with key {0}, which this cipher does not hold")]
    UnknownKey(String),
    /// Decryption failed: the bytes were altered, or were sealed for another context.
    #[error("the sealed TOTP secret does not open: altered, or sealed for another factor")]
    CannotOpen,
}

/// A TOTP shared secret: 20 bytes, wiped from memory when dropped, never printed.
#[derive(Clone)]
pub struct TotpSecret([u8; SECRET_LEN]);

impl TotpSecret {
    /// Draws a fresh secret from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, TotpError> {
        let mut secret = Self([0; SECRET_LEN]);
        SysRng.try_fill_bytes(&mut secret.0)?;
        Ok(secret)
    }

    /// A secret from its raw bytes (exactly [`SECRET_LEN`] of them).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TotpError> {
        <[u8; SECRET_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| TotpError::SecretLength(bytes.len()))
    }

    /// The secret in base32 (RFC 4648, upper case, no padding), as authenticator apps take it.
    pub fn base32(&self) -> String {
        base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &self.0)
    }
}

impl Drop for TotpSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl PartialEq for TotpSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for TotpSecret {}

/// totp-rs's generator over a copy of a secret, which is wiped when the generator goes.
struct Generator(TOTP);

impl Generator {
    /// `new_unchecked`: the crate's checks (6 to 8 digits, a secret of 16 bytes or more)
    /// hold by construction here, and its skew is unused (`matching_step` picks the steps).
    fn new(algorithm: Algorithm, digits: usize, secret: &[u8]) -> Self {
        Self(TOTP::new_unchecked(
            algorithm,
            digits,
            0,
            STEP_SECONDS,
            secret.to_vec(),
        ))
    }

    /// The code of the time step holding `unix_seconds`.
    fn code_at(&self, unix_seconds: u64) -> Zeroizing<String> {
        Zeroizing::new(self.0.generate(unix_seconds))
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        self.0.secret.zeroize();
    }
}

/// The time step (`unix_seconds / 30`) among t-1, t and t+1 whose code is `submitted`, the
/// earliest if several are; `None` if none is, or if `submitted` is not exactly six ASCII
/// digits. All three codes are computed and compared in constant time, whatever matches.
pub fn matching_step(secret: &TotpSecret, submitted: &str, unix_seconds: u64) -> Option<u64> {
    if submitted.len() != DIGITS || !submitted.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let generator = Generator::new(Algorithm::SHA1, DIGITS, &secret.0);
    let now = unix_seconds / STEP_SECONDS;
    let mut found = Choice::from(0);
    let mut step = 0u64;
    // Steps that do not exist (before 1970, past u64 seconds) are skipped, not wrapped.
    for candidate in [now.checked_sub(1), Some(now), now.checked_add(1)]
        .into_iter()
        .flatten()
    {
        let Some(at) = candidate.checked_mul(STEP_SECONDS) else {
            continue;
        };
        let equal = generator.code_at(at).as_bytes().ct_eq(submitted.as_bytes());
        let first = equal & !found;
        step.conditional_assign(&candidate, first);
        found |= equal;
    }
    CtOption::new(step, found).into()
}

/// The `otpauth://` URI an authenticator app enrols from (Google's Key Uri Format), with the
/// label `issuer:account`, and the issuer and account percent-encoded.
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        account = percent_encode(account),
        secret = secret.base32(),
    )
}

/// Percent-encodes all but RFC 3986's unreserved characters, so a colon, space, `@`, `&` or
/// `#` in a name cannot change the URI's structure.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `data` as a QR code in SVG (error correction M, quiet zone of 4 modules, black on white,
/// 240 × 240 px with a `viewBox` in modules), with no XML declaration and no script, for a
/// page to insert inline.
pub fn qr_svg(data: &str) -> Result<String, TotpError> {
    let code = QrCode::with_error_correction_level(data, EcLevel::M)?;
    let modules = code.width();
    let size = modules + 2 * QUIET_ZONE;
    // Each horizontal run of dark modules is one stroke of width 1 along the middle of its
    // row, drawn with relative moves: a few characters a run, so that the whole enrolment
    // answer stays small.
    let mut path = String::new();
    for y in 0..modules {
        let mut x = 0;
        let mut pen: Option<usize> = None;
        while x < modules {
            if code[(x, y)] != Color::Dark {
                x += 1;
                continue;
            }
            let start = x;
            while x < modules && code[(x, y)] == Color::Dark {
                x += 1;
            }
            let _ = match pen {
                None => write!(
                    path,
                    "M{} {}.5h{}",
                    start + QUIET_ZONE,
                    y + QUIET_ZONE,
                    x - start
                ),
                Some(end) => write!(path, "m{} 0h{}", start - end, x - start),
            };
            pen = Some(x);
        }
    }
    Ok(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{QR_PIXELS}" height="{QR_PIXELS}" viewBox="0 0 {size} {size}" shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/><path fill="none" stroke="#000" stroke-width="1" d="{path}"/></svg>"##
    ))
}

/// Seals TOTP secrets for storage with AES-256-GCM, bound to the factor's storage key.
/// Holds the current key and, after a rotation, the previous one, so secrets sealed before
/// the rotation still open.
pub struct TotpCipher {
    current: SealingKey,
    previous: Option<SealingKey>,
}

/// An AES-256-GCM key derived from key material, and its fingerprint.
struct SealingKey {
    id: String,
    key: LessSafeKey,
}

impl SealingKey {
    /// The key is HMAC-SHA256(material, [`KEY_LABEL`]), so the same secret can also serve
    /// another purpose without the two keys being related.
    fn derive(material: &[u8]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(material)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(KEY_LABEL);
        let mut derived = Zeroizing::new([0u8; 32]);
        derived.copy_from_slice(&mac.finalize().into_bytes());
        let id = hex(&Sha256::digest(derived.as_slice())[..8]);
        let key = UnboundKey::new(&AES_256_GCM, derived.as_slice())
            .map(LessSafeKey::new)
            .unwrap_or_else(|_| unreachable!("AES-256-GCM takes a 32-byte key"));
        Self { id, key }
    }
}

impl TotpCipher {
    /// A cipher with the current key material and optionally the one before a rotation
    /// (each at least [`MIN_KEY_LEN`] bytes; the caller checks, at start-up).
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> Self {
        Self {
            current: SealingKey::derive(current),
            previous: previous.map(SealingKey::derive),
        }
    }

    /// The fingerprint of the key new secrets are sealed with.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `secret` with the current key and a fresh random nonce; `context` (the factor's
    /// storage key) is authenticated, so the result opens for that factor only.
    pub fn seal(&self, secret: &TotpSecret, context: &str) -> Result<SealedSecret, TotpError> {
        let mut in_out = Zeroizing::new(Vec::with_capacity(SECRET_LEN + TAG_LEN));
        in_out.extend_from_slice(&secret.0);
        // A random 96-bit nonce from the OS CSPRNG: one key seals at most a few secrets per
        // factor and rotation, far below the 2^32 messages random GCM nonces allow.
        let mut nonce = [0u8; NONCE_LEN];
        SysRng
            .try_fill_bytes(&mut nonce)
            .map_err(|_| TotpError::Seal)?;
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut *in_out,
            )
            .map_err(|_| TotpError::Seal)?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + in_out.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&in_out);
        Ok(SealedSecret {
            key_id: self.current.id.clone(),
            bytes,
        })
    }

    /// Opens a sealed secret with the key its `key_id` names, for the same `context` it was
    /// sealed for.
    pub fn open(&self, sealed: &SealedSecret, context: &str) -> Result<TotpSecret, TotpError> {
        let key = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| TotpError::UnknownKey(sealed.key_id.clone()))?;
        let (nonce, ciphertext) = sealed
            .bytes
            .split_at_checked(NONCE_LEN)
            .ok_or(TotpError::CannotOpen)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| TotpError::CannotOpen)?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| TotpError::CannotOpen)?;
        TotpSecret::from_bytes(plain)
    }
}

impl fmt::Debug for TotpCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpCipher")
            .field("current", &self.current.id)
            .field("previous", &self.previous.as_ref().map(|k| &k.id))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238's seeds: ASCII digits, as long as each hash's output.
    const SEED_SHA1: &[u8] = b"12345678901234567890";
    const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(SEED_SHA1).expect("20 bytes")
    }

    const KEY_A: &[u8] = b"key material A, thirty-two bytes or more";
    const KEY_B: &[u8] = b"key material B, thirty-two bytes or more";
    const CONTEXT: &str = "T#sms#+12025550123";

    #[test]
    fn the_crate_computes_all_rfc_6238_appendix_b_vectors() {
        // (T, SHA1, SHA256, SHA512), 8 digits, 30-second steps.
        let vectors: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ];
        let sha1 = Generator::new(Algorithm::SHA1, 8, SEED_SHA1);
        let sha256 = Generator::new(Algorithm::SHA256, 8, SEED_SHA256);
        let sha512 = Generator::new(Algorithm::SHA512, 8, SEED_SHA512);
        let mut checked = 0;
        for (t, want1, want256, want512) in vectors {
            assert_eq!(sha1.code_at(t).as_str(), want1, "SHA1 at {t}");
            assert_eq!(sha256.code_at(t).as_str(), want256, "SHA256 at {t}");
            assert_eq!(sha512.code_at(t).as_str(), want512, "SHA512 at {t}");
            checked += 3;
        }
        assert_eq!(checked, 18);
    }

    #[test]
    fn six_digit_codes_are_the_last_six_of_the_rfc_vectors() {
        let secret = rfc_secret();
        // 94287082 at T = 59 (step 1); 07081804 at 1111111109, the step before 1111111111's.
        assert_eq!(matching_step(&secret, "287082", 59), Some(1));
        assert_eq!(
            matching_step(&secret, "050471", 1_111_111_111),
            Some(37_037_037)
        );
        assert_eq!(
            matching_step(&secret, "081804", 1_111_111_111),
            Some(37_037_036)
        );
    }

    #[test]
    fn codes_of_the_previous_current_and_next_step_match_and_no_others() {
        let secret = TotpSecret::generate().expect("os rng");
        let generator = Generator::new(Algorithm::SHA1, DIGITS, &secret.0);
        let now = 1_700_000_015;
        let t = now / STEP_SECONDS;
        for step in [t - 1, t, t + 1] {
            let code = generator.code_at(step * STEP_SECONDS);
            assert_eq!(matching_step(&secret, &code, now), Some(step));
        }
        for step in [t - 2, t + 2] {
            let code = generator.code_at(step * STEP_SECONDS);
            // A far step's code can equal a near one's by chance (1 in a million).
            let near = [t - 1, t, t + 1]
                .map(|s| generator.code_at(s * STEP_SECONDS))
                .contains(&code);
            if !near {
                assert_eq!(matching_step(&secret, &code, now), None, "step {step}");
            }
        }
    }

    #[test]
    fn only_exactly_six_ascii_digits_are_compared() {
        let secret = rfc_secret();
        for bad in [
            "",
            "28708",
            "2870820",
            "28708a",
            " 287082",
            "287082 ",
            "287-082",
            "+28708",
            "２８７０８２",
        ] {
            assert_eq!(matching_step(&secret, bad, 59), None, "{bad:?}");
        }
    }

    #[test]
    fn the_first_and_last_steps_of_time_do_not_overflow() {
        let secret = rfc_secret();
        let generator = Generator::new(Algorithm::SHA1, DIGITS, SEED_SHA1);
        assert_eq!(matching_step(&secret, &generator.code_at(0), 0), Some(0));
        let last = u64::MAX / STEP_SECONDS;
        let code = generator.code_at(last * STEP_SECONDS);
        assert_eq!(matching_step(&secret, &code, u64::MAX), Some(last));
    }

    #[test]
    fn base32_is_rfc_4648_without_padding() {
        assert_eq!(rfc_secret().base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let fresh = TotpSecret::generate().expect("os rng");
        assert_eq!(fresh.base32().len(), 32);
        assert_ne!(fresh, TotpSecret::generate().expect("os rng"));
    }

    #[test]
    fn a_secret_has_twenty_bytes_and_never_prints() {
        assert!(matches!(
            TotpSecret::from_bytes(&[0; 19]),
            Err(TotpError::SecretLength(19))
        ));
        assert!(matches!(
            TotpSecret::from_bytes(&[0; 21]),
            Err(TotpError::SecretLength(21))
        ));
        let shown = format!("{:?}", rfc_secret());
        assert_eq!(shown, "TotpSecret(<redacted>)");
    }

    #[test]
    fn the_uri_has_google_key_uri_format() {
        assert_eq!(
            otpauth_uri(&rfc_secret(), "Acme Co", "alice@example.com"),
            "otpauth://totp/Acme%20Co:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20Co&algorithm=SHA1&digits=6&period=30"
        );
        let odd = otpauth_uri(&rfc_secret(), "a:b&c", "+1 202#é");
        assert!(odd.starts_with("otpauth://totp/a%3Ab%26c:%2B1%20202%23%C3%A9?secret="));
        assert!(odd.contains("&issuer=a%3Ab%26c&"));
    }

    #[test]
    fn the_qr_code_is_an_inline_svg_of_the_modules() {
        let uri = otpauth_uri(&rfc_secret(), "twostep", "+12025550123");
        let svg = qr_svg(&uri).expect("fits");
        assert!(svg.starts_with("<svg "));
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("<script") && !svg.contains("<?xml"));
        assert!(svg.contains(r#"width="240" height="240""#));

        // Redraw the path's rectangles and compare with the encoder's modules.
        let code = QrCode::with_error_correction_level(&uri, EcLevel::M).expect("fits");
        let n = code.width();
        let size = n + 2 * QUIET_ZONE;
        assert!(svg.contains(&format!(r#"viewBox="0 0 {size} {size}""#)));
        let d = svg
            .split(r#" d=""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a path");
        let mut dark = vec![vec![false; size]; size];
        // Replay the strokes: `M x y.5` starts a row, `m dx 0` skips, `h w` draws a run.
        let (mut x, mut y) = (0usize, 0usize);
        let mut rest = d;
        while let Some(command) = rest.chars().next() {
            let end = rest[1..]
                .find(|c: char| c.is_ascii_alphabetic())
                .map_or(rest.len(), |i| i + 1);
            let args: Vec<&str> = rest[1..end].split(' ').collect();
            match command {
                'M' => {
                    x = args[0].parse().expect("x");
                    y = args[1]
                        .strip_suffix(".5")
                        .expect("mid-row")
                        .parse()
                        .expect("y");
                }
                'm' => {
                    assert_eq!(args[1], "0", "moves stay in the row");
                    x += args[0].parse::<usize>().expect("dx");
                }
                'h' => {
                    let w: usize = args[0].parse().expect("w");
                    for cell in &mut dark[y][x..x + w] {
                        assert!(!*cell, "overlap");
                        *cell = true;
                    }
                    x += w;
                }
                other => panic!("unexpected path command {other}"),
            }
            rest = &rest[end..];
        }
        for (y, row) in dark.iter().enumerate() {
            for (x, &is_dark) in row.iter().enumerate() {
                let inside = (QUIET_ZONE..QUIET_ZONE + n).contains(&x)
                    && (QUIET_ZONE..QUIET_ZONE + n).contains(&y);
                let want = inside && code[(x - QUIET_ZONE, y - QUIET_ZONE)] == Color::Dark;
                assert_eq!(is_dark, want, "module ({x}, {y})");
            }
        }
        // And a decoder of its own reads the URI back, as an authenticator's camera would
        // (the drawing at 4 pixels per module).
        const SCALE: usize = 4;
        let mut image =
            rqrr::PreparedImage::prepare_from_greyscale(size * SCALE, size * SCALE, |x, y| {
                if dark[y / SCALE][x / SCALE] { 0 } else { 255 }
            });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code");
        let (_, decoded) = grids[0].decode().expect("decodes");
        assert_eq!(decoded, uri);
    }

    #[test]
    fn a_sealed_secret_opens_for_its_factor() {
        let cipher = TotpCipher::new(KEY_A, None);
        let secret = TotpSecret::generate().expect("os rng");
        let sealed = cipher.seal(&secret, CONTEXT).expect("seal");
        assert_eq!(sealed.key_id, cipher.current_key_id());
        assert_eq!(sealed.key_id.len(), 16);
        assert_eq!(sealed.bytes.len(), NONCE_LEN + SECRET_LEN + TAG_LEN);
        assert!(!sealed.bytes.windows(SECRET_LEN).any(|w| w == secret.0));
        assert_eq!(cipher.open(&sealed, CONTEXT).expect("open"), secret);
        // A fresh nonce each time.
        let again = cipher.seal(&secret, CONTEXT).expect("seal");
        assert_ne!(again.bytes[..NONCE_LEN], sealed.bytes[..NONCE_LEN]);
        assert_ne!(again.bytes, sealed.bytes);
    }

    #[test]
    fn a_secret_sealed_by_an_earlier_build_still_opens() {
        // Sealed by the build that used aws-lc's AES-256-GCM: nonce ‖ ciphertext ‖ tag.
        let sealed = SealedSecret {
            key_id: "023ff7b587f224c4".to_owned(),
            bytes: (0..KAT_SEALED.len() / 2)
                .map(|i| u8::from_str_radix(&KAT_SEALED[2 * i..2 * i + 2], 16).expect("hex"))
                .collect(),
        };
        let cipher = TotpCipher::new(KEY_A, None);
        assert_eq!(cipher.current_key_id(), sealed.key_id);
        assert_eq!(cipher.open(&sealed, CONTEXT).expect("opens"), rfc_secret());
        assert!(cipher.open(&sealed, "T#sms#+12025550124").is_err());
    }

    const KAT_SEALED: &str = "1346626a8e587d172f534c6c34db9212a61ad2f5d893057056de32692de26bce4d3ba6333d2daf46bfab59ede082605b";

    #[test]
    fn after_a_rotation_old_secrets_open_with_the_previous_key() {
        let secret = rfc_secret();
        let old = TotpCipher::new(KEY_A, None)
            .seal(&secret, CONTEXT)
            .expect("seal");
        let rotated = TotpCipher::new(KEY_B, Some(KEY_A));
        assert_eq!(rotated.open(&old, CONTEXT).expect("open"), secret);
        let new = rotated.seal(&secret, CONTEXT).expect("seal");
        assert_ne!(new.key_id, old.key_id);
        assert_eq!(new.key_id, TotpCipher::new(KEY_B, None).current_key_id());
    }

    #[test]
    fn a_secret_for_another_factor_does_not_open() {
        let cipher = TotpCipher::new(KEY_A, None);
        let sealed = cipher.seal(&rfc_secret(), CONTEXT).expect("seal");
        assert!(matches!(
            cipher.open(&sealed, "T#sms#+12025550124"),
            Err(TotpError::CannotOpen)
        ));
    }

    #[test]
    fn any_altered_byte_is_refused() {
        let cipher = TotpCipher::new(KEY_A, None);
        let sealed = cipher.seal(&rfc_secret(), CONTEXT).expect("seal");
        for i in 0..sealed.bytes.len() {
            let mut altered = sealed.clone();
            altered.bytes[i] ^= 0x01;
            assert!(
                matches!(cipher.open(&altered, CONTEXT), Err(TotpError::CannotOpen)),
                "byte {i}"
            );
        }
        for len in [0, NONCE_LEN - 1, NONCE_LEN, sealed.bytes.len() - 1] {
            let mut short = sealed.clone();
            short.bytes.truncate(len);
            assert!(
                matches!(cipher.open(&short, CONTEXT), Err(TotpError::CannotOpen)),
                "length {len}"
            );
        }
    }

    #[test]
    fn a_key_the_cipher_does_not_hold_is_named() {
        let sealed = TotpCipher::new(KEY_A, None)
            .seal(&rfc_secret(), CONTEXT)
            .expect("seal");
        let other = TotpCipher::new(KEY_B, None);
        match other.open(&sealed, CONTEXT) {
            Err(TotpError::UnknownKey(id)) => assert_eq!(id, sealed.key_id),
            other => panic!("expected UnknownKey, got {other:?}"),
        }
        // A forged key id is no way around the tag.
        let mut forged = sealed.clone();
        forged.key_id = other.current_key_id().to_owned();
        assert!(matches!(
            other.open(&forged, CONTEXT),
            Err(TotpError::CannotOpen)
        ));
    }

    #[test]
    fn the_cipher_prints_key_ids_only() {
        let shown = format!("{:?}", TotpCipher::new(KEY_A, Some(KEY_B)));
        assert!(shown.contains(TotpCipher::new(KEY_A, None).current_key_id()));
        assert!(!shown.contains("key material"));
    }
}
