//! Authenticator apps (TOTP, RFC 6238): enrolment of a verified contact and checks of the
//! app's codes, as plain async functions over the [`Store`](crate::store::Store). The
//! app's attempt limit is in [`limits`](super::limits).

use crate::channels::authenticator::{self as totp, TotpCipher, TotpSecret};
use crate::domain::{
    Channel, CodeRules, Destination, SubmittedCode, TotpFactor, VerificationId, VerificationRecord,
    VerificationState,
};
use crate::metrics::Metric;
use crate::store::{AcceptedStep, AppCheck, AppLock, EnrollOutcome, Enrollment, FactorAttempt};
use crate::time::seconds_until;

use super::{Approval, Core, ServiceError, limits, random_failure};

/// Who may enrol an app for a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollBy {
    /// The holder of a verification approved moments ago: its code proved the destination.
    /// The verification enrols one app only.
    Verification(VerificationId),
    /// A keyed caller (a server that signed the person in), for a verified contact; with
    /// `replace`, an active app is replaced (a lost phone).
    Contact {
        /// The contact.
        destination: Destination,
        /// Whether an active app may be replaced.
        replace: bool,
    },
}

/// A new, pending enrolment: everything the app needs, shown once. Its `Debug` leaves the
/// secret out.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrolled {
    /// The masked destination (also the app's account label).
    pub to: String,
    /// The `otpauth://` URI the QR code holds.
    pub uri: String,
    /// The secret in base32, for typing into an app by hand.
    pub secret: String,
    /// The QR code of `uri`, as SVG.
    pub qr_svg: String,
    /// The first correct code must come before this (unix ms).
    pub activate_before: i64,
}

impl std::fmt::Debug for Enrolled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolled")
            .field("to", &self.to)
            .field("activate_before", &self.activate_before)
            .finish_non_exhaustive()
    }
}

/// The code length of authenticator apps.
const APP_CODE_LENGTH: u8 = totp::DIGITS as u8;

fn unavailable(what: &str, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Unavailable(format!("{what}: {e}"))
}

/// Makes a fresh secret for the contact and stores it sealed, as a pending factor that a
/// first correct code activates. Enrolling again while pending replaces the secret.
pub async fn enroll(
    core: &Core,
    cipher: &TotpCipher,
    by: EnrollBy,
) -> Result<Enrolled, ServiceError> {
    let now = core.clock.now_ms();
    let window_ms = i64::from(core.config.totp_enroll_window_seconds) * 1_000;
    let (destination, verification, replace_active) = match by {
        EnrollBy::Verification(id) => {
            let record = core
                .store
                .verification(&id)
                .await?
                .ok_or(ServiceError::NotFound("no verification has this id"))?;
            if record.state != VerificationState::Approved {
                return Err(ServiceError::NotVerified(
                    "this verification is not approved: enter its code first",
                ));
            }
            // Whoever asked for the code knows the id too: only a check that named the id
            // (and so came from its holder, with the code) proves the holder got the code.
            if !record.approved_by_id {
                return Err(ServiceError::NotVerified(
                    "this verification was confirmed by phone or email, not by its id: \
                     to enrol an app, confirm a code by its verification_id",
                ));
            }
            if record.verified_at.unwrap_or(0) + window_ms <= now {
                return Err(ServiceError::Expired(
                    "this verification was approved too long ago to enrol an app: verify again",
                ));
            }
            (record.destination, Some(id), false)
        }
        EnrollBy::Contact {
            destination,
            replace,
        } => (destination, None, replace),
    };
    let secret = TotpSecret::generate().map_err(|e| unavailable("TOTP secret", e))?;
    let sealed = cipher
        .seal(&secret, &TotpFactor::key(&destination))
        .map_err(|e| unavailable("TOTP secret", e))?;
    let factor = TotpFactor::pending(destination.clone(), sealed, now, now + window_ms);
    let enrollment = Enrollment {
        factor,
        replace_active,
        verification,
    };
    match core.store.enroll_totp(&enrollment).await? {
        EnrollOutcome::Enrolled => {}
        EnrollOutcome::AlreadyActive => {
            return Err(ServiceError::AlreadyEnrolled(
                "this contact has an authenticator app already",
            ));
        }
        EnrollOutcome::VerificationUsed => {
            return Err(ServiceError::AlreadyEnrolled(
                "this verification has enrolled an app already: verify again to enrol another",
            ));
        }
        EnrollOutcome::NotVerified => {
            return Err(ServiceError::NotVerified(
                "the contact is not verified: verify it by sms, voice or email first",
            ));
        }
    }
    let to = destination.masked();
    let uri = totp::otpauth_uri(&secret, &core.config.brand_name, &to);
    let qr_svg = totp::qr_svg(&uri).map_err(|e| unavailable("QR code", e))?;
    tracing::info!(to = %to, "authenticator app enrolled, waiting for its first code");
    Ok(Enrolled {
        to,
        uri,
        secret: secret.base32(),
        qr_svg,
        activate_before: enrollment.factor.pending_until,
    })
}

/// Checks an app's code for a contact: counts the attempt first, atomically, then compares
/// in constant time with the codes of the previous, current and next time steps. A match
/// on a step after the last accepted one approves (and activates a pending app); a code of
/// a step used before is refused like a wrong one.
pub async fn check(
    core: &Core,
    cipher: &TotpCipher,
    destination: Destination,
    code: &SubmittedCode,
) -> Result<Approval, ServiceError> {
    if code.length() != APP_CODE_LENGTH {
        return Err(ServiceError::Refused(code.wrong_length(APP_CODE_LENGTH)));
    }
    let now = core.clock.now_ms();
    let lock = limits::app_lock(&core.config);
    let factor = count(core, &destination, lock, now).await?;
    let secret = cipher
        .open(&factor.sealed, &TotpFactor::key(&destination))
        .map_err(|e| unavailable("TOTP secret", e))?;
    let unix_seconds = u64::try_from(now.div_euclid(1_000)).unwrap_or(0);
    let step = totp::matching_step(&secret, code.digits(), unix_seconds);
    if let Some(step) = step.filter(|s| *s > factor.last_step)
        && let Some(approval) = accept(core, &factor, step, lock.max, now).await?
    {
        return Ok(approval);
    }
    let remaining = lock.max.saturating_sub(factor.failures);
    tracing::info!(to = %destination.masked(), remaining, "incorrect authenticator code");
    core.metrics.count(Metric::WrongCodes, Channel::Totp, &[]);
    if remaining == 0 {
        core.metrics.count(Metric::Lockouts, Channel::Totp, &[]);
    }
    Err(ServiceError::IncorrectCode {
        attempts_remaining: remaining,
    })
}

/// Counts the check against the contact's app, before its code is compared: the factor
/// with the new count, or the refusal (locked, or no app).
async fn count(
    core: &Core,
    destination: &Destination,
    lock: AppLock,
    now: i64,
) -> Result<TotpFactor, ServiceError> {
    let check = AppCheck {
        destination: destination.clone(),
        lock,
        now,
    };
    match core.store.count_totp_attempt(&check).await? {
        FactorAttempt::Counted(factor) => Ok(factor),
        FactorAttempt::Locked { until } => Err(ServiceError::AppLocked {
            retry_after: seconds_until(until, now),
        }),
        FactorAttempt::Missing => Err(ServiceError::NotFound(
            "no authenticator app is enrolled for this destination",
        )),
    }
}

/// Accepts a right code's time step and stores its approval; `None` when a concurrent check
/// took this step first, or the app was replaced.
async fn accept(
    core: &Core,
    factor: &TotpFactor,
    step: u64,
    max_attempts: u32,
    now: i64,
) -> Result<Option<Approval>, ServiceError> {
    let id = VerificationId::generate(now).map_err(random_failure)?;
    let destination = &factor.destination;
    let rules = CodeRules {
        length: APP_CODE_LENGTH,
        max_attempts,
    };
    let accepted = AcceptedStep {
        factor: factor.clone(),
        step,
        approval: VerificationRecord::app_approval(
            (id.clone(), destination.clone()),
            now,
            factor.failures,
            rules,
        ),
    };
    if !core.store.accept_totp(&accepted).await? {
        return Ok(None);
    }
    tracing::info!(verification_id = %id, "authenticator code approved");
    let id_text = id.to_string();
    core.metrics.count(
        Metric::Approvals,
        Channel::Totp,
        &[("verification_id", &id_text)],
    );
    Ok(Some(Approval {
        verification_id: id,
        verified_at: now,
        destination: destination.clone(),
        channel: Channel::Totp,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::domain::{Country, PhoneNumber, VerificationStatus};
    use crate::metrics::RecordingMetrics;
    use crate::store::memory::MemoryStore;
    use crate::time::testing::TestClock;

    /// 2026-11-30T00:00:00Z: the start of a time step.
    const T0: i64 = 1_764_460_800_000;

    struct Harness {
        core: Core,
        clock: Arc<TestClock>,
        cipher: TotpCipher,
    }

    impl Harness {
        fn new() -> Self {
            let clock = Arc::new(TestClock::at(T0));
            Self {
                core: Core {
                    config: Arc::new(crate::config::testing::test_config(&[])),
                    store: Arc::new(MemoryStore::new()),
                    clock: clock.clone(),
                    metrics: Arc::new(RecordingMetrics::default()),
                },
                clock,
                cipher: TotpCipher::new(&[7u8; 32], None),
            }
        }

        fn advance(&self, seconds: i64) {
            self.clock.advance(seconds);
        }

        fn now_s(&self) -> u64 {
            u64::try_from(self.clock.0.load(Ordering::SeqCst) / 1_000).expect("after 1970")
        }

        /// A verified contact with an approved verification, as a sign-up and a right code
        /// checked by the verification's id leave them.
        async fn verified(&self) -> (Destination, VerificationId) {
            self.approved(true).await
        }

        /// A sign-up to the phone and its right code, checked by id or by phone.
        async fn approved(&self, by_id: bool) -> (Destination, VerificationId) {
            let destination = phone();
            let hasher = crate::domain::CodeHasher::new(&[42u8; 32], None);
            let sender = crate::channels::memory::RecordingSender::new();
            let sent = crate::service::send(
                &self.core,
                &hasher,
                &sender,
                crate::service::SendRequest::new(destination.clone()),
            )
            .await
            .expect("sent");
            let code = sender.last_code(6).expect("a code");
            let code = SubmittedCode::parse_any(&code, 6).expect("format");
            let target = if by_id {
                crate::service::CheckTarget::Id(sent.verification_id.clone())
            } else {
                crate::service::CheckTarget::Destination(destination.clone())
            };
            crate::service::check(&self.core, &hasher, target, &code)
                .await
                .expect("approved");
            (destination, sent.verification_id)
        }

        async fn check(&self, code: &str) -> Result<Approval, ServiceError> {
            let code = SubmittedCode::parse_any(code, 6).expect("format");
            check(&self.core, &self.cipher, phone(), &code).await
        }
    }

    fn phone() -> Destination {
        Destination::Sms(
            PhoneNumber::parse("+12025550100", Country::parse("US").expect("US")).expect("valid"),
        )
    }

    /// The app's code at `unix_seconds`, as an authenticator computes it from the base32
    /// secret it was given.
    fn app_code(secret_base32: &str, unix_seconds: u64) -> String {
        let secret = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, secret_base32)
            .expect("base32");
        totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 0, 30, secret)
            .generate(unix_seconds)
    }

    #[tokio::test]
    async fn an_app_enrols_once_per_verification_activates_with_a_code_and_refuses_replays() {
        let h = Harness::new();
        let (_, id) = h.verified().await;
        let enrolled = enroll(&h.core, &h.cipher, EnrollBy::Verification(id.clone()))
            .await
            .expect("enrolled");
        assert!(enrolled.uri.starts_with("otpauth://totp/"));
        assert!(
            enrolled
                .uri
                .contains(&format!("secret={}", enrolled.secret))
        );
        assert!(enrolled.qr_svg.starts_with("<svg"));
        assert_eq!(enrolled.to, "+1******0100");
        let again = enroll(&h.core, &h.cipher, EnrollBy::Verification(id)).await;
        assert!(
            matches!(again, Err(ServiceError::AlreadyEnrolled(_))),
            "{again:?}"
        );

        let code = app_code(&enrolled.secret, h.now_s());
        let approval = h.check(&code).await.expect("activated");
        let status = crate::service::status(&h.core, &approval.verification_id)
            .await
            .expect("recorded");
        assert_eq!(status.status, VerificationStatus::Approved);
        assert_eq!(status.channel, Channel::Totp);
        // The same code, or one of an earlier step, is never accepted again.
        let replay = h.check(&code).await;
        assert!(
            matches!(replay, Err(ServiceError::IncorrectCode { .. })),
            "{replay:?}"
        );
        let earlier = app_code(&enrolled.secret, h.now_s() - 30);
        let earlier = h.check(&earlier).await;
        assert!(
            matches!(earlier, Err(ServiceError::IncorrectCode { .. })),
            "{earlier:?}"
        );
        // The next step's code is within the window of one step.
        let next = app_code(&enrolled.secret, h.now_s() + 30);
        h.check(&next).await.expect("t+1 accepted");
        let far = app_code(&enrolled.secret, h.now_s() + 90);
        assert!(h.check(&far).await.is_err(), "t+3 refused");
        // Active now: enrolling by another approval is refused.
        h.advance(30);
        let (_, other) = h.verified().await;
        let active = enroll(&h.core, &h.cipher, EnrollBy::Verification(other)).await;
        assert!(
            matches!(active, Err(ServiceError::AlreadyEnrolled(_))),
            "{active:?}"
        );
    }

    #[tokio::test]
    async fn wrong_app_codes_lock_the_factor_until_the_window_ends() {
        let h = Harness::new();
        h.verified().await;
        let enrolled = enroll(
            &h.core,
            &h.cipher,
            EnrollBy::Contact {
                destination: phone(),
                replace: false,
            },
        )
        .await
        .expect("enrolled by key");
        h.check(&app_code(&enrolled.secret, h.now_s()))
            .await
            .expect("activated");
        h.advance(30);
        let right = app_code(&enrolled.secret, h.now_s());
        // A code of another time step, far off: wrong now (barring a one-in-a-million tie).
        let wrong = app_code(&enrolled.secret, h.now_s() + 3_000);
        for left in (0..5).rev() {
            let answer = h.check(&wrong).await;
            assert!(
                matches!(answer, Err(ServiceError::IncorrectCode { attempts_remaining }) if attempts_remaining == left),
                "{answer:?}"
            );
        }
        let locked = h.check(&right).await;
        // The window began when the last right code was accepted, 30 s ago.
        let Err(ServiceError::AppLocked { retry_after }) = locked else {
            panic!("{locked:?}");
        };
        assert_eq!(retry_after, 3_570);
        h.advance(i64::from(retry_after));
        let code = app_code(&enrolled.secret, h.now_s());
        h.check(&code).await.expect("a new window");
    }

    #[tokio::test]
    async fn enrolment_needs_a_verified_contact_and_a_recent_approval() {
        let h = Harness::new();
        let by_key = enroll(
            &h.core,
            &h.cipher,
            EnrollBy::Contact {
                destination: phone(),
                replace: false,
            },
        )
        .await;
        assert!(
            matches!(by_key, Err(ServiceError::NotVerified(_))),
            "{by_key:?}"
        );
        let (_, id) = h.verified().await;
        h.advance(601);
        let late = enroll(&h.core, &h.cipher, EnrollBy::Verification(id)).await;
        assert!(matches!(late, Err(ServiceError::Expired(_))), "{late:?}");
        let none = h.check("123456").await;
        assert!(matches!(none, Err(ServiceError::NotFound(_))), "{none:?}");
    }

    #[tokio::test]
    async fn a_verification_confirmed_by_phone_enrols_no_app() {
        // Whoever asked for a code holds its id; if the person then types that code into a
        // form that checks by phone, the id must not enrol the asker's app.
        let h = Harness::new();
        let (_, id) = h.approved(false).await;
        let taken = enroll(&h.core, &h.cipher, EnrollBy::Verification(id)).await;
        assert!(
            matches!(taken, Err(ServiceError::NotVerified(_))),
            "{taken:?}"
        );
    }

    #[tokio::test]
    async fn a_pending_factor_lapses_and_a_replaced_secret_stops_working() {
        let h = Harness::new();
        h.verified().await;
        let by_key = |replace| {
            enroll(
                &h.core,
                &h.cipher,
                EnrollBy::Contact {
                    destination: phone(),
                    replace,
                },
            )
        };
        let first = by_key(false).await.expect("pending");
        // Enrolling again while pending replaces the secret.
        let second = by_key(false).await.expect("replaced while pending");
        assert_ne!(first.secret, second.secret);
        let old = h.check(&app_code(&first.secret, h.now_s())).await;
        assert!(
            matches!(old, Err(ServiceError::IncorrectCode { .. })),
            "{old:?}"
        );
        h.advance(601);
        let lapsed = h.check(&app_code(&second.secret, h.now_s())).await;
        assert!(
            matches!(lapsed, Err(ServiceError::NotFound(_))),
            "{lapsed:?}"
        );
        let third = by_key(false).await.expect("enrolled anew");
        h.check(&app_code(&third.secret, h.now_s()))
            .await
            .expect("active");
        assert!(matches!(
            by_key(false).await,
            Err(ServiceError::AlreadyEnrolled(_))
        ));
        let fourth = by_key(true).await.expect("replaced by a keyed caller");
        h.advance(30);
        let stale = h.check(&app_code(&third.secret, h.now_s())).await;
        assert!(stale.is_err(), "the replaced app's codes fail");
        h.check(&app_code(&fourth.secret, h.now_s()))
            .await
            .expect("the new app works");
        let stored = h.core.store.contact(&phone()).await.expect("read");
        assert!(stored.is_some());
    }
}
