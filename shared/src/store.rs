//! The storage the service needs, as one trait, and an in-memory implementation for unit tests.
//!
//! Every write is conditional, so the limits hold whatever the interleaving of concurrent
//! requests: see `docs/data-model.md` for the DynamoDB requests behind each method.

use async_trait::async_trait;

use crate::domain::{
    ApiKeyId, ApiKeyRecord, ContactRecord, CurrentCode, Destination, FallbackState, TotpFactor,
    VerificationId, VerificationRecord,
};

/// A storage failure the service cannot resolve by itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The contact is not at the version the write expected (another request changed it,
    /// or it exists where none was expected). Carries the contact as the database saw it
    /// when it refused the write, when the database said.
    #[error("the record changed concurrently")]
    Conflict(Option<Box<ContactRecord>>),
    /// The database did not answer, or refused, after the SDK's retries.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The client's send log is full, or not at the version the write expected. Carries
    /// the log as the database saw it, when it said.
    #[error("the client's send log refused the write")]
    ClientLimited(Option<ClientSends>),
    /// A stored item could not be read back (a bug or a manual edit).
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
}

/// The writes of one send, applied all or nothing.
#[derive(Debug, Clone)]
pub struct SendWrite {
    /// The contact as it is to be stored, with its new code and send history.
    pub contact: ContactRecord,
    /// The version the contact had when it was read; `None` when it did not exist.
    pub expected_version: Option<u64>,
    /// The new verification's record.
    pub verification: VerificationRecord,
    /// The verification whose pending code this send replaces, with the checks it had.
    pub replaced: Option<(VerificationId, u32)>,
    /// The sending client's log entry, when the request came through the HTTP API.
    pub client: Option<ClientSlot>,
    /// A fallback flow's progress, for its origin when that is another contact than this
    /// send's (a move from `sms` to `email`); written in the same transaction.
    pub origin: Option<OriginUpdate>,
}

/// A fallback flow's progress, written to its origin contact by a send to another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginUpdate {
    /// The origin contact.
    pub origin: Destination,
    /// The flow's progress after this send.
    pub progress: FallbackState,
    /// The flow's newest verification as the send read it: the update holds only if the
    /// flow has not moved (or been ended by another send) since.
    pub expected_latest: Option<VerificationId>,
}

/// The sends recorded for one client (its source IP), for the per-client limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSends {
    /// The send times (unix ms), oldest first.
    pub sends: Vec<i64>,
    /// The log's version.
    pub version: u64,
}

/// The client's part of a send: one more entry in its send log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSlot {
    /// The client's key (a hash of its address).
    pub client: String,
    /// The time of this send (unix ms).
    pub now: i64,
    /// The most entries the log may hold.
    pub max: u32,
    /// When the log may be forgotten (unix ms).
    pub expires_at: i64,
    /// `None`: append, if the log holds fewer than `max` entries (no read needed).
    /// `Some(log)`: replace the log with these entries (the ones still in the window) and
    /// this send, if it is still at the log's version.
    pub replace: Option<ClientSends>,
}

/// What counting a check attempt did.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    /// The attempt was counted; the code as it is now, with the new count.
    Counted(CurrentCode),
    /// Nothing was counted: there is no pending, unexpired, unlocked code (with the
    /// expected id). The contact as it was, to tell why.
    Refused(Option<Box<ContactRecord>>),
}

/// Where a cleanup page ended, to ask for the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleCursor {
    /// The storage key of the last contact seen.
    pub key: String,
    /// Its creation time (unix ms).
    pub created_at: i64,
}

/// One page of contacts that are candidates for cleanup.
#[derive(Debug, Clone, Default)]
pub struct StalePage {
    /// The contacts' destinations.
    pub destinations: Vec<Destination>,
    /// Where to continue, if there may be more.
    pub next: Option<StaleCursor>,
}

/// The outcome of one conditional delete by cleanup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Deleted, with its verification records.
    Deleted,
    /// Kept: verified, younger than the cutoff, or in the middle of a verification.
    Kept,
}

/// An answer remembered for an `Idempotency-Key`: the HTTP status and the JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReply {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: String,
}

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key was free (new, or its record expired): this request runs and records its
    /// answer, or releases the key.
    Claimed,
    /// A request with this key and the same fingerprint answered this.
    Replay(StoredReply),
    /// The key belongs to a request with another fingerprint.
    Mismatch,
    /// A request with this key and fingerprint is still running.
    InFlight,
}

/// A claim on an idempotency key: its hashed key and the request's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key's hash (hex), as stored.
    pub key_hash: String,
    /// The request's fingerprint (hex).
    pub fingerprint: String,
    /// When the claim was made (unix ms).
    pub started_at: i64,
    /// When the record stops counting (unix ms).
    pub expires_at: i64,
}

/// The length a checked code must have, as a condition of counting the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthCheck {
    /// The submitted code's number of digits.
    pub length: u8,
    /// Whether a code stored without a length (before lengths were stored, when every code
    /// had `CODE_LENGTH` digits) counts as having it.
    pub matches_unrecorded: bool,
}

impl LengthCheck {
    /// Whether a code of `stored` length passes.
    pub fn passes(&self, stored: Option<u8>) -> bool {
        stored.map_or(self.matches_unrecorded, |l| l == self.length)
    }
}

/// A TOTP factor to store, and what allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    /// The new (pending) factor.
    pub factor: TotpFactor,
    /// Whether it may replace an active factor (a keyed caller's `replace=true`).
    pub replace_active: bool,
    /// The approved verification that allows it, which is used up by it; `None` for a
    /// keyed caller.
    pub verification: Option<VerificationId>,
}

/// What storing an enrolment found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollOutcome {
    /// Stored, replacing any pending factor.
    Enrolled,
    /// The contact has an active factor (and replacing it was not asked for).
    AlreadyActive,
    /// The verification was used to enrol before.
    VerificationUsed,
    /// The contact is not verified (or does not exist).
    NotVerified,
}

/// What counting a TOTP check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactorAttempt {
    /// Counted; the factor as it is now, with the new count.
    Counted(TotpFactor),
    /// Not counted: the failure window is full until this time (unix ms).
    Locked {
        /// When the window ends.
        until: i64,
    },
    /// Not counted: no usable factor (none, or pending past its time).
    Missing,
}

/// The operations of the service on its records.
#[async_trait]
pub trait Store: Send + Sync {
    /// Reads a contact (strongly consistent).
    async fn contact(&self, destination: &Destination)
    -> Result<Option<ContactRecord>, StoreError>;

    /// Stores a send: the contact (if its version is still `expected_version`), the new
    /// verification, and the replaced one's outcome, in one transaction.
    /// [`StoreError::Conflict`] when the contact is not at `expected_version`;
    /// [`StoreError::ClientLimited`] when the client's log refused the entry.
    async fn record_send(&self, write: &SendWrite) -> Result<(), StoreError>;

    /// Stores a pending TOTP factor, if the contact is verified, it has no active factor
    /// (unless replacing is allowed) and the enrolling verification (if any) was not used
    /// before, which it then is: one transaction.
    async fn enroll_totp(&self, enrollment: &Enrollment) -> Result<EnrollOutcome, StoreError>;

    /// Counts one TOTP check of the contact's usable factor, atomically, if fewer than `max`
    /// were wrong in the failure window of `window_ms` (a window that has ended starts anew).
    async fn count_totp_attempt(
        &self,
        destination: &Destination,
        max: u32,
        window_ms: i64,
        now: i64,
    ) -> Result<FactorAttempt, StoreError>;

    /// Accepts time step `step` for `factor` if no step at or after it was accepted and the
    /// factor's secret is still the one checked: the factor becomes active, its failures
    /// reset, and `approval` is stored, in one transaction. `false` when refused.
    async fn accept_totp(
        &self,
        factor: &TotpFactor,
        step: u64,
        approval: &VerificationRecord,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Marks a send whose delivery failed: its code becomes unusable and the cooldown it
    /// started is lifted, if it is still the contact's current code.
    async fn record_delivery_failure(
        &self,
        destination: &Destination,
        id: &VerificationId,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Counts one check attempt against the contact's current code, atomically, if that
    /// code is pending, unexpired at `now`, below its attempt limit, has `length` digits
    /// and (when given) the expected id.
    async fn count_attempt(
        &self,
        destination: &Destination,
        expected: Option<&VerificationId>,
        length: LengthCheck,
        now: i64,
    ) -> Result<AttemptOutcome, StoreError>;

    /// Cancels the code `id` if it is still the contact's current, pending code: both
    /// records say canceled. `false` when it is not (any more).
    async fn cancel(
        &self,
        destination: &Destination,
        id: &VerificationId,
        attempts: u32,
    ) -> Result<bool, StoreError>;

    /// Records that a pending verification was seen past its expiry, with the checks it
    /// had. `true` only for the first request that records it.
    async fn mark_expired(&self, id: &VerificationId, attempts: u32) -> Result<bool, StoreError>;

    /// Every API key, revoked ones too (one item: see `docs/data-model.md`).
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Adds a key; [`StoreError::Conflict`] if its id exists.
    async fn add_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;

    /// Revokes a key at `now`. `false` when no key has this id.
    async fn revoke_api_key(&self, id: &ApiKeyId, now: i64) -> Result<bool, StoreError>;

    /// Approves the code `id` and verifies the contact, if that code is still current,
    /// pending and unexpired at `now`; `by_id` records that the check named the
    /// verification. `false` when another request changed it first.
    async fn approve(
        &self,
        destination: &Destination,
        id: &VerificationId,
        by_id: bool,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Reads a verification record.
    async fn verification(
        &self,
        id: &VerificationId,
    ) -> Result<Option<VerificationRecord>, StoreError>;

    /// A page of unverified contacts created before `created_before`, oldest first,
    /// from the sparse index (never a scan).
    async fn stale_contacts(
        &self,
        created_before: i64,
        after: Option<&StaleCursor>,
        limit: u32,
    ) -> Result<StalePage, StoreError>;

    /// Claims an idempotency key, atomically: free when no record exists, the record has
    /// expired, or it is a claim with the same fingerprint that started before
    /// `stale_before` (a request that died before it answered).
    async fn claim_key(&self, claim: &KeyRecord, stale_before: i64)
    -> Result<KeyClaim, StoreError>;

    /// Records the answer of the request that holds the key.
    async fn record_reply(&self, key_hash: &str, reply: &StoredReply) -> Result<(), StoreError>;

    /// Frees a key whose request answered with an error (nothing was sent), so that a
    /// retry with the same key runs again.
    async fn release_key(&self, key_hash: &str) -> Result<(), StoreError>;

    /// Deletes a contact and its verifications if it is still unverified, created
    /// before `created_before`, and has no unexpired pending code at `now`.
    async fn delete_stale_contact(
        &self,
        destination: &Destination,
        created_before: i64,
        now: i64,
    ) -> Result<DeleteOutcome, StoreError>;
}

/// An in-memory [`Store`] with the same conditions as the DynamoDB one, for unit tests.
pub mod memory {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;
    use crate::domain::{CodeState, ContactStatus, FactorState, VerificationState};

    /// Records in maps behind one lock: every method is atomic, as the conditional
    /// writes it stands for are.
    #[derive(Debug, Default)]
    pub struct MemoryStore {
        inner: Mutex<Inner>,
    }

    #[derive(Debug, Default)]
    struct Inner {
        contacts: BTreeMap<String, ContactRecord>,
        verifications: BTreeMap<String, VerificationRecord>,
        keys: BTreeMap<String, (KeyRecord, Option<StoredReply>)>,
        clients: BTreeMap<String, ClientSends>,
        api_keys: BTreeMap<ApiKeyId, ApiKeyRecord>,
        factors: BTreeMap<String, TotpFactor>,
        fail_next: Option<String>,
    }

    impl MemoryStore {
        /// An empty store.
        pub fn new() -> Self {
            Self::default()
        }

        /// Makes the next call fail as an unavailable database would.
        pub fn fail_next_call(&self, why: &str) {
            self.lock().fail_next = Some(why.to_owned());
        }

        /// All contacts, for assertions.
        pub fn contacts(&self) -> Vec<ContactRecord> {
            self.lock().contacts.values().cloned().collect()
        }

        /// All verification records, for assertions.
        pub fn verifications(&self) -> Vec<VerificationRecord> {
            self.lock().verifications.values().cloned().collect()
        }

        /// Replaces a contact as it is, for tests that set up old records.
        pub fn put_contact(&self, contact: ContactRecord) {
            self.lock()
                .contacts
                .insert(contact.destination.key(), contact);
        }

        fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
            self.inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }

        fn guard(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
            let mut inner = self.lock();
            match inner.fail_next.take() {
                Some(why) => Err(StoreError::Unavailable(why)),
                None => Ok(inner),
            }
        }
    }

    fn is_open(code: &CurrentCode, now: i64) -> bool {
        code.state == CodeState::Pending
            && code.attempts < code.max_attempts
            && code.expires_at > now
    }

    #[async_trait]
    impl Store for MemoryStore {
        async fn enroll_totp(&self, enrollment: &Enrollment) -> Result<EnrollOutcome, StoreError> {
            let mut inner = self.guard()?;
            let factor = &enrollment.factor;
            let key = TotpFactor::key(&factor.destination);
            if inner
                .factors
                .get(&key)
                .is_some_and(|f| f.state == FactorState::Active && !enrollment.replace_active)
            {
                return Ok(EnrollOutcome::AlreadyActive);
            }
            if !inner
                .contacts
                .get(&factor.destination.key())
                .is_some_and(|c| c.status == ContactStatus::Verified)
            {
                return Ok(EnrollOutcome::NotVerified);
            }
            if let Some(id) = &enrollment.verification {
                let Some(v) = inner.verifications.get_mut(id.as_str()).filter(|v| {
                    v.state == VerificationState::Approved
                        && v.approved_by_id
                        && v.enrolled_at.is_none()
                }) else {
                    return Ok(EnrollOutcome::VerificationUsed);
                };
                v.enrolled_at = Some(factor.created_at);
            }
            inner.factors.insert(key, factor.clone());
            Ok(EnrollOutcome::Enrolled)
        }

        async fn count_totp_attempt(
            &self,
            destination: &Destination,
            max: u32,
            window_ms: i64,
            now: i64,
        ) -> Result<FactorAttempt, StoreError> {
            let mut inner = self.guard()?;
            let Some(factor) = inner
                .factors
                .get_mut(&TotpFactor::key(destination))
                .filter(|f| f.usable(now))
            else {
                return Ok(FactorAttempt::Missing);
            };
            if let Some(until) = factor.locked_until(max, window_ms, now) {
                return Ok(FactorAttempt::Locked { until });
            }
            if factor.window_open(window_ms, now) {
                factor.failures += 1;
            } else {
                factor.failures = 1;
                factor.failure_window_start = now;
            }
            Ok(FactorAttempt::Counted(factor.clone()))
        }

        async fn accept_totp(
            &self,
            factor: &TotpFactor,
            step: u64,
            approval: &VerificationRecord,
            now: i64,
        ) -> Result<bool, StoreError> {
            let mut inner = self.guard()?;
            let Some(stored) = inner
                .factors
                .get_mut(&TotpFactor::key(&factor.destination))
                .filter(|f| f.sealed == factor.sealed && f.last_step < step)
            else {
                return Ok(false);
            };
            stored.last_step = step;
            stored.failures = 0;
            stored.failure_window_start = now;
            stored.state = FactorState::Active;
            stored.activated_at.get_or_insert(now);
            inner
                .verifications
                .insert(approval.id.as_str().to_owned(), approval.clone());
            Ok(true)
        }

        async fn claim_key(
            &self,
            claim: &KeyRecord,
            stale_before: i64,
        ) -> Result<KeyClaim, StoreError> {
            let mut inner = self.guard()?;
            if let Some((held, reply)) = inner.keys.get(&claim.key_hash) {
                let free = held.expires_at <= claim.started_at
                    || (held.fingerprint == claim.fingerprint
                        && reply.is_none()
                        && held.started_at < stale_before);
                if !free {
                    return Ok(match reply {
                        _ if held.fingerprint != claim.fingerprint => KeyClaim::Mismatch,
                        Some(reply) => KeyClaim::Replay(reply.clone()),
                        None => KeyClaim::InFlight,
                    });
                }
            }
            inner
                .keys
                .insert(claim.key_hash.clone(), (claim.clone(), None));
            Ok(KeyClaim::Claimed)
        }

        async fn record_reply(
            &self,
            key_hash: &str,
            reply: &StoredReply,
        ) -> Result<(), StoreError> {
            let mut inner = self.guard()?;
            if let Some((_, stored)) = inner.keys.get_mut(key_hash) {
                *stored = Some(reply.clone());
            }
            Ok(())
        }

        async fn release_key(&self, key_hash: &str) -> Result<(), StoreError> {
            let mut inner = self.guard()?;
            if inner.keys.get(key_hash).is_some_and(|(_, r)| r.is_none()) {
                inner.keys.remove(key_hash);
            }
            Ok(())
        }

        async fn contact(
            &self,
            destination: &Destination,
        ) -> Result<Option<ContactRecord>, StoreError> {
            Ok(self.guard()?.contacts.get(&destination.key()).cloned())
        }

        async fn record_send(&self, write: &SendWrite) -> Result<(), StoreError> {
            let mut inner = self.guard()?;
            let key = write.contact.destination.key();
            let current_version = inner.contacts.get(&key).map(|c| c.version);
            if current_version != write.expected_version {
                return Err(StoreError::Conflict(
                    inner.contacts.get(&key).cloned().map(Box::new),
                ));
            }
            // The client's log entry, decided before anything changes (all or nothing).
            let client_log = match &write.client {
                None => None,
                Some(slot) => {
                    let held = inner.clients.get(&slot.client).cloned();
                    let sends = match (&slot.replace, &held) {
                        (None, None) => vec![slot.now],
                        (None, Some(log)) if log.sends.len() < slot.max as usize => {
                            let mut sends = log.sends.clone();
                            sends.push(slot.now);
                            sends
                        }
                        (Some(kept), Some(log)) if log.version == kept.version => {
                            let mut sends = kept.sends.clone();
                            sends.push(slot.now);
                            sends
                        }
                        _ => return Err(StoreError::ClientLimited(held)),
                    };
                    let version = held.map_or(1, |log| log.version + 1);
                    Some((slot.client.clone(), ClientSends { sends, version }))
                }
            };
            if let Some(update) = &write.origin
                && !inner.contacts.get(&update.origin.key()).is_some_and(|c| {
                    c.fallback.as_ref().and_then(|f| f.latest.as_ref())
                        == update.expected_latest.as_ref()
                })
            {
                return Err(StoreError::Conflict(None));
            }
            if let Some((old, attempts)) = &write.replaced {
                match inner.verifications.get_mut(old.as_str()) {
                    Some(v) if v.state == VerificationState::Pending => {
                        v.state = VerificationState::Replaced;
                        v.final_attempts = Some(*attempts);
                    }
                    _ => return Err(StoreError::Conflict(None)),
                }
            }
            inner.contacts.insert(key, write.contact.clone());
            if let Some(update) = &write.origin
                && let Some(c) = inner.contacts.get_mut(&update.origin.key())
            {
                c.fallback = Some(update.progress.clone());
                c.version += 1;
            }
            inner.verifications.insert(
                write.verification.id.as_str().to_owned(),
                write.verification.clone(),
            );
            if let Some((client, log)) = client_log {
                inner.clients.insert(client, log);
            }
            Ok(())
        }

        async fn record_delivery_failure(
            &self,
            destination: &Destination,
            id: &VerificationId,
            now: i64,
        ) -> Result<(), StoreError> {
            let mut inner = self.guard()?;
            if let Some(v) = inner.verifications.get_mut(id.as_str())
                && v.state == VerificationState::Pending
            {
                v.state = VerificationState::Failed;
            }
            if let Some(c) = inner.contacts.get_mut(&destination.key())
                && let Some(code) = c
                    .current
                    .as_mut()
                    .filter(|code| &code.verification_id == id)
            {
                code.state = CodeState::Failed;
                c.cooldown_until = c.cooldown_until.min(now);
                c.version += 1;
            }
            Ok(())
        }

        async fn count_attempt(
            &self,
            destination: &Destination,
            expected: Option<&VerificationId>,
            length: LengthCheck,
            now: i64,
        ) -> Result<AttemptOutcome, StoreError> {
            let mut inner = self.guard()?;
            let Some(contact) = inner.contacts.get_mut(&destination.key()) else {
                return Ok(AttemptOutcome::Refused(None));
            };
            let before = contact.clone();
            match contact.current.as_mut() {
                Some(code)
                    if is_open(code, now)
                        && length.passes(code.length)
                        && expected.is_none_or(|id| *id == code.verification_id) =>
                {
                    code.attempts += 1;
                    let counted = code.clone();
                    contact.version += 1;
                    Ok(AttemptOutcome::Counted(counted))
                }
                _ => Ok(AttemptOutcome::Refused(Some(Box::new(before)))),
            }
        }

        async fn approve(
            &self,
            destination: &Destination,
            id: &VerificationId,
            by_id: bool,
            now: i64,
        ) -> Result<bool, StoreError> {
            let mut inner = self.guard()?;
            let Some(contact) = inner.contacts.get_mut(&destination.key()) else {
                return Ok(false);
            };
            let Some(code) = contact.current.as_mut() else {
                return Ok(false);
            };
            if &code.verification_id != id
                || code.state != CodeState::Pending
                || code.expires_at <= now
            {
                return Ok(false);
            }
            code.state = CodeState::Approved;
            contact.status = ContactStatus::Verified;
            contact.verified_at = contact.verified_at.or(Some(now));
            contact.verification_ids.clear();
            contact.version += 1;
            if let Some(v) = inner.verifications.get_mut(id.as_str()) {
                v.state = VerificationState::Approved;
                v.verified_at = Some(now);
                v.approved_by_id = by_id;
            }
            Ok(true)
        }

        async fn verification(
            &self,
            id: &VerificationId,
        ) -> Result<Option<VerificationRecord>, StoreError> {
            Ok(self.guard()?.verifications.get(id.as_str()).cloned())
        }

        async fn cancel(
            &self,
            destination: &Destination,
            id: &VerificationId,
            attempts: u32,
        ) -> Result<bool, StoreError> {
            let mut inner = self.guard()?;
            let Some(contact) = inner.contacts.get_mut(&destination.key()) else {
                return Ok(false);
            };
            let Some(code) = contact
                .current
                .as_mut()
                .filter(|c| &c.verification_id == id && c.state == CodeState::Pending)
            else {
                return Ok(false);
            };
            code.state = CodeState::Canceled;
            contact.version += 1;
            if let Some(v) = inner.verifications.get_mut(id.as_str()) {
                v.state = VerificationState::Canceled;
                v.final_attempts = Some(attempts);
            }
            Ok(true)
        }

        async fn mark_expired(
            &self,
            id: &VerificationId,
            attempts: u32,
        ) -> Result<bool, StoreError> {
            let mut inner = self.guard()?;
            match inner.verifications.get_mut(id.as_str()) {
                Some(v) if v.state == VerificationState::Pending => {
                    v.state = VerificationState::Expired;
                    v.final_attempts = Some(attempts);
                    Ok(true)
                }
                _ => Ok(false),
            }
        }

        async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
            Ok(self.guard()?.api_keys.values().cloned().collect())
        }

        async fn add_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
            let mut inner = self.guard()?;
            if inner.api_keys.contains_key(&key.id) {
                return Err(StoreError::Conflict(None));
            }
            inner.api_keys.insert(key.id.clone(), key.clone());
            Ok(())
        }

        async fn revoke_api_key(&self, id: &ApiKeyId, now: i64) -> Result<bool, StoreError> {
            let mut inner = self.guard()?;
            Ok(match inner.api_keys.get_mut(id) {
                Some(key) => {
                    key.revoked_at = key.revoked_at.or(Some(now));
                    true
                }
                None => false,
            })
        }

        async fn stale_contacts(
            &self,
            created_before: i64,
            after: Option<&StaleCursor>,
            limit: u32,
        ) -> Result<StalePage, StoreError> {
            let inner = self.guard()?;
            let mut stale: Vec<&ContactRecord> = inner
                .contacts
                .values()
                .filter(|c| c.status == ContactStatus::Unverified && c.created_at < created_before)
                .collect();
            stale.sort_by_key(|c| (c.created_at, c.destination.key()));
            let start = after.map_or(0, |cur| {
                stale
                    .iter()
                    .position(|c| {
                        (c.created_at, c.destination.key()) > (cur.created_at, cur.key.clone())
                    })
                    .unwrap_or(stale.len())
            });
            let page: Vec<&ContactRecord> = stale
                .iter()
                .skip(start)
                .take(limit as usize)
                .copied()
                .collect();
            let next = (start + page.len() < stale.len())
                .then(|| page.last())
                .flatten()
                .map(|c| StaleCursor {
                    key: c.destination.key(),
                    created_at: c.created_at,
                });
            Ok(StalePage {
                destinations: page.iter().map(|c| c.destination.clone()).collect(),
                next,
            })
        }

        async fn delete_stale_contact(
            &self,
            destination: &Destination,
            created_before: i64,
            now: i64,
        ) -> Result<DeleteOutcome, StoreError> {
            let mut inner = self.guard()?;
            let key = destination.key();
            let deletable = inner
                .contacts
                .get(&key)
                .is_some_and(|c| c.is_stale(created_before, now));
            if !deletable {
                return Ok(DeleteOutcome::Kept);
            }
            if let Some(contact) = inner.contacts.remove(&key) {
                for id in contact.verification_ids {
                    inner.verifications.remove(id.as_str());
                }
            }
            Ok(DeleteOutcome::Deleted)
        }
    }
}
