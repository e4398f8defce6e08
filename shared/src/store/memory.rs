//! An in-memory [`Store`](super::Store) with the same conditions as the DynamoDB one, for
//! tests only (it is compiled for `cargo test` and the `testing` feature, never into the
//! functions). The conformance suite (`super::conformance`) holds the two to the same
//! behaviour.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::*;
use crate::domain::{CodeState, ContactStatus, FactorState, VerificationState};
use crate::events::changes::{Change, RecordChange};

mod calls;

/// The records, in maps. Every operation is a method that runs under the store's one lock,
/// so each is atomic, as the conditional write it stands for is.
#[derive(Debug, Default)]
pub struct Records {
    contacts: BTreeMap<String, ContactRecord>,
    verifications: BTreeMap<String, VerificationRecord>,
    keys: BTreeMap<String, (KeyRecord, Option<StoredReply>)>,
    clients: BTreeMap<String, ClientSends>,
    api_keys: BTreeMap<ApiKeyId, ApiKeyRecord>,
    factors: BTreeMap<String, TotpFactor>,
    customers: BTreeMap<String, CustomerRecord>,
    callers: BTreeMap<(String, i64), u32>,
}

/// An operation that a test may slip a concurrent request in before.
#[derive(Debug)]
pub enum Op<'a> {
    /// [`SendStore::record_send`].
    RecordSend(&'a SendWrite),
    /// [`CheckStore::count_attempt`].
    CountAttempt(&'a Attempt),
}

type Meanwhile = Box<dyn FnMut(&mut Records, &Op<'_>) + Send>;

/// The in-memory store.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<Records>,
    fail_next: Mutex<Option<String>>,
    meanwhile: Mutex<Option<Meanwhile>>,
    stream: Mutex<Vec<RecordChange>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next call fail as an unavailable database would.
    pub fn fail_next_call(&self, why: &str) {
        *lock(&self.fail_next) = Some(why.to_owned());
    }

    /// Runs `request` on the records just before each [`Op`], as a concurrent request
    /// would: interleavings that the store never produces by itself.
    pub fn meanwhile(&self, request: impl FnMut(&mut Records, &Op<'_>) + Send + 'static) {
        *lock(&self.meanwhile) = Some(Box::new(request));
    }

    /// All contacts, for assertions.
    pub fn contacts(&self) -> Vec<ContactRecord> {
        lock(&self.records).contacts.values().cloned().collect()
    }

    /// All verification records, for assertions.
    pub fn verifications(&self) -> Vec<VerificationRecord> {
        lock(&self.records)
            .verifications
            .values()
            .cloned()
            .collect()
    }

    /// Every change of a contact or a verification so far, in order, as the table's stream
    /// gives them (its record ids are their numbers): what the outcome events are made of.
    pub fn changes(&self) -> Vec<RecordChange> {
        lock(&self.stream).clone()
    }

    /// Replaces a contact as it is, for tests that set up old records.
    pub fn put_contact(&self, contact: ContactRecord) {
        lock(&self.records)
            .contacts
            .insert(contact.destination.key(), contact);
    }

    /// Runs `f` on the records under the lock, after any failure a test asked for and any
    /// concurrent request it slipped in before `op`.
    fn with<T>(
        &self,
        op: Option<Op<'_>>,
        f: impl FnOnce(&mut Records) -> StoreResult<T>,
    ) -> StoreResult<T> {
        if let Some(why) = lock(&self.fail_next).take() {
            return Err(StoreError::Unavailable(why));
        }
        let mut records = lock(&self.records);
        if let (Some(op), Some(request)) = (op, lock(&self.meanwhile).as_mut()) {
            let before = records.snapshot();
            request(&mut records, &op);
            self.note_changes(&before, &records);
        }
        let before = records.snapshot();
        let result = f(&mut records);
        self.note_changes(&before, &records);
        result
    }

    /// Appends to the stream each contact and verification that differs from `before`.
    fn note_changes(&self, before: &Records, after: &Records) {
        let mut stream = lock(&self.stream);
        let mut push = |change| {
            let record_id = stream.len().to_string();
            stream.push(RecordChange {
                record_id,
                at: 0,
                change,
            });
        };
        let keys: std::collections::BTreeSet<&String> = before
            .contacts
            .keys()
            .chain(after.contacts.keys())
            .collect();
        for key in keys {
            let (old, new) = (before.contacts.get(key), after.contacts.get(key));
            if old != new {
                push(Change::Contact {
                    old: old.cloned().map(Box::new),
                    new: new.cloned().map(Box::new),
                });
            }
        }
        let keys: std::collections::BTreeSet<&String> = before
            .verifications
            .keys()
            .chain(after.verifications.keys())
            .collect();
        for key in keys {
            let (old, new) = (before.verifications.get(key), after.verifications.get(key));
            if old != new {
                push(Change::Verification {
                    old: old.cloned().map(Box::new),
                    new: new.cloned().map(Box::new),
                });
            }
        }
    }
}

fn is_open(code: &CurrentCode, now: i64) -> bool {
    code.state == CodeState::Pending && code.attempts < code.max_attempts && code.expires_at > now
}

impl Records {
    /// The contacts and verifications as they are (what the stream reports changes of).
    fn snapshot(&self) -> Records {
        Records {
            contacts: self.contacts.clone(),
            verifications: self.verifications.clone(),
            ..Records::default()
        }
    }

    /// [`SendStore::record_send`].
    pub fn record_send(&mut self, write: &SendWrite) -> StoreResult<()> {
        let key = write.contact.destination.key();
        let current_version = self.contacts.get(&key).map(|c| c.version);
        if current_version != write.expected_version {
            return Err(StoreError::Conflict(
                self.contacts.get(&key).cloned().map(Box::new),
            ));
        }
        // The client's log entry, decided before anything changes (all or nothing).
        let client_log = match &write.client {
            None => None,
            Some(slot) => Some((slot.client.clone(), self.client_log(slot)?)),
        };
        if let Some(update) = &write.origin
            && !self.contacts.get(&update.origin.key()).is_some_and(|c| {
                c.fallback.as_ref().and_then(|f| f.latest.as_ref())
                    == update.expected_latest.as_ref()
            })
        {
            return Err(StoreError::Conflict(None));
        }
        if let Some((old, attempts)) = &write.replaced {
            match self.verifications.get_mut(old.as_str()) {
                Some(v) if v.state == VerificationState::Pending => {
                    v.state = VerificationState::Replaced;
                    v.final_attempts = Some(*attempts);
                }
                _ => return Err(StoreError::Conflict(None)),
            }
        }
        self.contacts.insert(key, write.contact.clone());
        if let Some(update) = &write.origin
            && let Some(c) = self.contacts.get_mut(&update.origin.key())
        {
            c.fallback = Some(update.progress.clone());
            c.version += 1;
        }
        self.verifications.insert(
            write.verification.id.as_str().to_owned(),
            write.verification.clone(),
        );
        if let Some((client, log)) = client_log {
            self.clients.insert(client, log);
        }
        Ok(())
    }

    /// The client's log with the slot's send, or the refusal with the log as it is.
    fn client_log(&self, slot: &ClientSlot) -> StoreResult<ClientSends> {
        let held = self.clients.get(&slot.client).cloned();
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
        Ok(ClientSends { sends, version })
    }

    /// [`CheckStore::count_attempt`].
    pub fn count_attempt(&mut self, attempt: &Attempt) -> StoreResult<AttemptOutcome> {
        let Some(contact) = self.contacts.get_mut(&attempt.destination.key()) else {
            return Ok(AttemptOutcome::Refused(None));
        };
        let before = contact.clone();
        match contact.current.as_mut() {
            Some(code)
                if is_open(code, attempt.now)
                    && attempt.length.passes(code.length)
                    && attempt
                        .expected
                        .as_ref()
                        .is_none_or(|id| *id == code.verification_id)
                    && (attempt.keypad || !code.keypad_only()) =>
            {
                code.attempts += 1;
                let counted = code.clone();
                contact.version += 1;
                Ok(AttemptOutcome::Counted(counted))
            }
            _ => Ok(AttemptOutcome::Refused(Some(Box::new(before)))),
        }
    }

    fn record_delivery_failure(&mut self, CodeRef { destination, id }: &CodeRef, until: i64) {
        if let Some(v) = self.verifications.get_mut(id.as_str())
            && v.state == VerificationState::Pending
        {
            v.state = VerificationState::Failed;
        }
        if let Some(c) = self.contacts.get_mut(&destination.key())
            && let Some(code) = c
                .current
                .as_mut()
                .filter(|code| &code.verification_id == id)
        {
            code.state = CodeState::Failed;
            c.cooldown_until = until;
            c.version += 1;
        }
    }

    fn approve(&mut self, approval: &CodeApproval) -> bool {
        let Some(contact) = self.contacts.get_mut(&approval.destination.key()) else {
            return false;
        };
        let Some(code) = contact.current.as_mut() else {
            return false;
        };
        if code.verification_id != approval.id
            || code.state != CodeState::Pending
            || code.expires_at <= approval.now
        {
            return false;
        }
        code.state = CodeState::Approved;
        contact.status = ContactStatus::Verified;
        contact.verified_at = contact.verified_at.or(Some(approval.now));
        contact.verification_ids.clear();
        contact.version += 1;
        if let Some(key) = &approval.customer {
            let customer = self
                .customers
                .entry(key.as_str().to_owned())
                .or_insert_with(|| CustomerRecord {
                    key: key.clone(),
                    phone: None,
                    email: None,
                });
            match &approval.destination {
                Destination::Sms(phone) => customer.phone = Some((phone.clone(), approval.now)),
                Destination::Email(email) => customer.email = Some((email.clone(), approval.now)),
            }
        }
        if let Some(v) = self.verifications.get_mut(approval.id.as_str()) {
            v.state = VerificationState::Approved;
            v.verified_at = Some(approval.now);
            v.approved_by_id = approval.by_id;
            v.final_attempts = Some(approval.attempts);
        }
        true
    }

    fn cancel(&mut self, CodeRef { destination, id }: &CodeRef, attempts: u32) -> bool {
        let Some(contact) = self.contacts.get_mut(&destination.key()) else {
            return false;
        };
        let Some(code) = contact
            .current
            .as_mut()
            .filter(|c| &c.verification_id == id && c.state == CodeState::Pending)
        else {
            return false;
        };
        code.state = CodeState::Canceled;
        contact.version += 1;
        if let Some(v) = self.verifications.get_mut(id.as_str()) {
            v.state = VerificationState::Canceled;
            v.final_attempts = Some(attempts);
        }
        true
    }

    fn mark_expired(&mut self, id: &VerificationId, attempts: u32) -> bool {
        match self.verifications.get_mut(id.as_str()) {
            Some(v) if v.state == VerificationState::Pending => {
                v.state = VerificationState::Expired;
                v.final_attempts = Some(attempts);
                true
            }
            _ => false,
        }
    }

    fn mark_wrong(&mut self, code: &CodeRef, attempt: u32) {
        if let Some(current) = self
            .contacts
            .get_mut(&code.destination.key())
            .and_then(|c| c.current.as_mut())
            .filter(|c| c.verification_id == code.id)
        {
            current.wrong = Some(attempt);
        }
    }

    fn enroll_totp(&mut self, enrollment: &Enrollment) -> EnrollOutcome {
        let factor = &enrollment.factor;
        let key = TotpFactor::key(&factor.destination);
        if self
            .factors
            .get(&key)
            .is_some_and(|f| f.state == FactorState::Active && !enrollment.replace_active)
        {
            return EnrollOutcome::AlreadyActive;
        }
        if !self
            .contacts
            .get(&factor.destination.key())
            .is_some_and(|c| c.status == ContactStatus::Verified)
        {
            return EnrollOutcome::NotVerified;
        }
        if let Some(id) = &enrollment.verification {
            let Some(v) = self.verifications.get_mut(id.as_str()).filter(|v| {
                v.state == VerificationState::Approved
                    && v.approved_by_id
                    && v.enrolled_at.is_none()
            }) else {
                return EnrollOutcome::VerificationUsed;
            };
            v.enrolled_at = Some(factor.created_at);
        }
        self.factors.insert(key, factor.clone());
        EnrollOutcome::Enrolled
    }

    fn count_totp_attempt(&mut self, check: &AppCheck) -> FactorAttempt {
        let AppCheck {
            destination,
            lock,
            now,
        } = check;
        let (lock, now) = (*lock, *now);
        let Some(factor) = self
            .factors
            .get_mut(&TotpFactor::key(destination))
            .filter(|f| f.usable(now))
        else {
            return FactorAttempt::Missing;
        };
        if let Some(until) = factor.locked_until(lock.max, lock.window_ms, now) {
            return FactorAttempt::Locked { until };
        }
        if factor.window_open(lock.window_ms, now) {
            factor.failures += 1;
        } else {
            factor.failures = 1;
            factor.failure_window_start = now;
        }
        FactorAttempt::Counted(factor.clone())
    }

    fn accept_totp(&mut self, accepted: &AcceptedStep) -> bool {
        let AcceptedStep {
            factor,
            step,
            approval,
        } = accepted;
        let step = *step;
        let now = approval.created_at;
        let Some(stored) = self
            .factors
            .get_mut(&TotpFactor::key(&factor.destination))
            .filter(|f| f.sealed == factor.sealed && f.last_step < step)
        else {
            return false;
        };
        stored.last_step = step;
        stored.failures = 0;
        stored.failure_window_start = now;
        stored.state = FactorState::Active;
        stored.activated_at.get_or_insert(now);
        self.verifications
            .insert(approval.id.as_str().to_owned(), approval.clone());
        true
    }

    fn claim_key(&mut self, claim: &KeyRecord, stale_before: i64) -> KeyClaim {
        if let Some((held, reply)) = self.keys.get(&claim.key_hash) {
            let free = held.expires_at <= claim.started_at
                || (held.fingerprint == claim.fingerprint
                    && reply.is_none()
                    && held.started_at < stale_before);
            if !free {
                return match reply {
                    _ if held.fingerprint != claim.fingerprint => KeyClaim::Mismatch,
                    Some(reply) => KeyClaim::Replay(reply.clone()),
                    None => KeyClaim::InFlight,
                };
            }
        }
        self.keys
            .insert(claim.key_hash.clone(), (claim.clone(), None));
        KeyClaim::Claimed
    }

    fn stale_contacts(&self, query: &StaleQuery) -> StalePage {
        let (created_before, after, limit) =
            (query.created_before, query.after.as_ref(), query.limit);
        let mut stale: Vec<&ContactRecord> = self
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
        StalePage {
            destinations: page.iter().map(|c| c.destination.clone()).collect(),
            next,
        }
    }

    fn delete_stale_contact(&mut self, stale: &StaleContact) -> DeleteOutcome {
        let StaleContact {
            destination,
            created_before,
            now,
        } = stale;
        let (created_before, now) = (*created_before, *now);
        let key = destination.key();
        let deletable = self
            .contacts
            .get(&key)
            .is_some_and(|c| c.is_stale(created_before, now));
        if !deletable {
            return DeleteOutcome::Kept;
        }
        if let Some(contact) = self.contacts.remove(&key) {
            for id in contact.verification_ids {
                self.verifications.remove(id.as_str());
            }
        }
        DeleteOutcome::Deleted
    }
}

#[async_trait]
impl RecordStore for MemoryStore {
    async fn contact(&self, destination: &Destination) -> StoreResult<Option<ContactRecord>> {
        self.with(None, |r| Ok(r.contacts.get(&destination.key()).cloned()))
    }

    async fn verification(&self, id: &VerificationId) -> StoreResult<Option<VerificationRecord>> {
        self.with(None, |r| Ok(r.verifications.get(id.as_str()).cloned()))
    }

    async fn customer(&self, key: &CustomerKey) -> StoreResult<Option<CustomerRecord>> {
        self.with(None, |r| Ok(r.customers.get(key.as_str()).cloned()))
    }

    async fn factor(&self, destination: &Destination) -> StoreResult<Option<TotpFactor>> {
        self.with(None, |r| {
            Ok(r.factors.get(&TotpFactor::key(destination)).cloned())
        })
    }
}

#[async_trait]
impl SendStore for MemoryStore {
    async fn record_send(&self, write: &SendWrite) -> StoreResult<()> {
        self.with(Some(Op::RecordSend(write)), |r| r.record_send(write))
    }

    async fn record_delivery_failure(&self, code: &CodeRef, until: i64) -> StoreResult<()> {
        self.with(None, |r| {
            r.record_delivery_failure(code, until);
            Ok(())
        })
    }
}

#[async_trait]
impl CheckStore for MemoryStore {
    async fn count_attempt(&self, attempt: &Attempt) -> StoreResult<AttemptOutcome> {
        self.with(Some(Op::CountAttempt(attempt)), |r| {
            r.count_attempt(attempt)
        })
    }

    async fn approve(&self, approval: &CodeApproval) -> StoreResult<bool> {
        self.with(None, |r| Ok(r.approve(approval)))
    }

    async fn cancel(&self, code: &CodeRef, attempts: u32) -> StoreResult<bool> {
        self.with(None, |r| Ok(r.cancel(code, attempts)))
    }

    async fn mark_expired(&self, id: &VerificationId, attempts: u32) -> StoreResult<bool> {
        self.with(None, |r| Ok(r.mark_expired(id, attempts)))
    }

    async fn mark_wrong(&self, code: &CodeRef, attempt: u32) -> StoreResult<()> {
        self.with(None, |r| {
            r.mark_wrong(code, attempt);
            Ok(())
        })
    }
}

#[async_trait]
impl FactorStore for MemoryStore {
    async fn enroll_totp(&self, enrollment: &Enrollment) -> StoreResult<EnrollOutcome> {
        self.with(None, |r| Ok(r.enroll_totp(enrollment)))
    }

    async fn count_totp_attempt(&self, check: &AppCheck) -> StoreResult<FactorAttempt> {
        self.with(None, |r| Ok(r.count_totp_attempt(check)))
    }

    async fn accept_totp(&self, accepted: &AcceptedStep) -> StoreResult<bool> {
        self.with(None, |r| Ok(r.accept_totp(accepted)))
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        self.with(None, |r| Ok(r.api_keys.values().cloned().collect()))
    }

    async fn add_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        self.with(None, |r| {
            if r.api_keys.contains_key(&key.id) {
                return Err(StoreError::Conflict(None));
            }
            r.api_keys.insert(key.id.clone(), key.clone());
            Ok(())
        })
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, now: i64) -> StoreResult<bool> {
        self.with(None, |r| {
            Ok(r.api_keys.get_mut(id).is_some_and(|key| {
                key.revoked_at = key.revoked_at.or(Some(now));
                true
            }))
        })
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim_key(&self, claim: &KeyRecord, stale_before: i64) -> StoreResult<KeyClaim> {
        self.with(None, |r| Ok(r.claim_key(claim, stale_before)))
    }

    async fn record_reply(&self, key_hash: &str, reply: &StoredReply) -> StoreResult<()> {
        self.with(None, |r| {
            if let Some((_, stored)) = r.keys.get_mut(key_hash) {
                *stored = Some(reply.clone());
            }
            Ok(())
        })
    }

    async fn release_key(&self, key_hash: &str) -> StoreResult<()> {
        self.with(None, |r| {
            if r.keys
                .get(key_hash)
                .is_some_and(|(_, reply)| reply.is_none())
            {
                r.keys.remove(key_hash);
            }
            Ok(())
        })
    }
}

#[async_trait]
impl CleanupStore for MemoryStore {
    async fn stale_contacts(&self, query: &StaleQuery) -> StoreResult<StalePage> {
        self.with(None, |r| Ok(r.stale_contacts(query)))
    }

    async fn delete_stale_contact(&self, stale: &StaleContact) -> StoreResult<DeleteOutcome> {
        self.with(None, |r| Ok(r.delete_stale_contact(stale)))
    }
}

#[cfg(test)]
mod tests {
    crate::store_conformance!(super::MemoryStore::new());
}
