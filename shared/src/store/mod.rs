//! The storage the service needs: one trait per concern ([`RecordStore`], [`SendStore`],
//! [`CheckStore`], [`FactorStore`], [`KeyStore`], [`IdempotencyStore`], [`CleanupStore`]),
//! all of them together a [`Store`]. Two implementations: [`dynamodb`] (production) and, for
//! tests, `memory`; one conformance suite (`conformance`) holds both to the same behaviour.
//!
//! Every write is conditional, so the limits hold whatever the interleaving of concurrent
//! requests: see `docs/data-model.md` for the DynamoDB requests behind each method.

use async_trait::async_trait;

use crate::domain::{
    ApiKeyId, ApiKeyRecord, CodeHash, ContactRecord, CurrentCode, CustomerKey, CustomerRecord,
    Destination, FallbackState, TotpFactor, VerificationId, VerificationRecord,
};

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
pub mod dynamodb;
#[cfg(any(test, feature = "testing"))]
pub mod memory;

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

/// One check attempt to count against a contact's current code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The contact.
    pub destination: Destination,
    /// The verification the check names (by id); `None` for a check by destination.
    pub expected: Option<VerificationId>,
    /// The length the code must have.
    pub length: LengthCheck,
    /// The time of the check (unix ms): the code must be unexpired then.
    pub now: i64,
    /// Whether the code was typed on the keypad of its own call. A call in `mode=input`'s
    /// code is checked only so (until an SMS after the call replaced it): whoever sees the
    /// code must also hold the phone.
    pub keypad: bool,
}

/// The approval of a right code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeApproval {
    /// The contact.
    pub destination: Destination,
    /// The verification whose code was right.
    pub id: VerificationId,
    /// Whether the check named the verification by its id.
    pub by_id: bool,
    /// The time of the check (unix ms).
    pub now: i64,
    /// The customer the code was sent for: its record gets the destination, verified now.
    pub customer: Option<CustomerKey>,
    /// Checks made, the right one included: the verification's final count.
    pub attempts: u32,
}

/// An authenticator app's attempt limit: at most `max` wrong codes in a window of
/// `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppLock {
    /// Wrong codes allowed per window.
    pub max: u32,
    /// The window's length in milliseconds.
    pub window_ms: i64,
}

/// A code of a contact: the contact, and the verification the code belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRef {
    /// The contact.
    pub destination: Destination,
    /// The verification.
    pub id: VerificationId,
}

/// A check of an authenticator app's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCheck {
    /// The contact whose app it is.
    pub destination: Destination,
    /// The app's attempt limit.
    pub lock: AppLock,
    /// The time of the check (unix ms).
    pub now: i64,
}

/// An app's code that was right: the factor as its check counted it, the time step the
/// code matched, and the approval to store (at whose time it is accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedStep {
    /// The factor, as counted.
    pub factor: TotpFactor,
    /// The time step the code matched.
    pub step: u64,
    /// The approved verification to store.
    pub approval: VerificationRecord,
}

/// Which page of cleanup's candidates to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleQuery {
    /// Contacts created before this time (unix ms).
    pub created_before: i64,
    /// Where the previous page ended.
    pub after: Option<StaleCursor>,
    /// The most contacts on the page.
    pub limit: u32,
}

/// A contact that cleanup deletes if it is still stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleContact {
    /// The contact.
    pub destination: Destination,
    /// It must have been created before this time (unix ms).
    pub created_before: i64,
    /// It must wait for no code still valid at this time (unix ms).
    pub now: i64,
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

/// Reading the records.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Reads a contact (strongly consistent).
    async fn contact(&self, destination: &Destination) -> StoreResult<Option<ContactRecord>>;

    /// Reads a verification record.
    async fn verification(&self, id: &VerificationId) -> StoreResult<Option<VerificationRecord>>;

    /// Reads what is known of a customer (its verified destinations).
    async fn customer(&self, key: &CustomerKey) -> StoreResult<Option<CustomerRecord>>;

    /// Reads a contact's authenticator-app factor.
    async fn factor(&self, destination: &Destination) -> StoreResult<Option<TotpFactor>>;
}

/// Storing sends.
#[async_trait]
pub trait SendStore: Send + Sync {
    /// Stores a send: the contact (if its version is still `expected_version`), the new
    /// verification, and the replaced one's outcome, in one transaction.
    /// [`StoreError::Conflict`] when the contact is not at `expected_version`;
    /// [`StoreError::ClientLimited`] when the client's log refused the entry.
    async fn record_send(&self, write: &SendWrite) -> StoreResult<()>;

    /// Marks a send whose delivery failed: its code becomes unusable and the contact's
    /// cooldown ends `until`, if it is still the contact's current code.
    async fn record_delivery_failure(&self, code: &CodeRef, until: i64) -> StoreResult<()>;
}

/// Checking codes.
#[async_trait]
pub trait CheckStore: Send + Sync {
    /// Counts one check attempt against the contact's current code, atomically, if that
    /// code is pending, unexpired at `now`, below its attempt limit, has the length and
    /// (when given) the expected id.
    async fn count_attempt(&self, attempt: &Attempt) -> StoreResult<AttemptOutcome>;

    /// Approves the code and verifies the contact, if that code is still current, pending
    /// and unexpired at `now`; `by_id` records that the check named the verification, and
    /// a customer's record gets the destination (in the same transaction). `false` when
    /// another request changed it first.
    async fn approve(&self, approval: &CodeApproval) -> StoreResult<bool>;

    /// Cancels the code if it is still the contact's current, pending code: both records
    /// say canceled, with the checks it had. `false` when it is not (any more).
    async fn cancel(&self, code: &CodeRef, attempts: u32) -> StoreResult<bool>;

    /// Records that a pending verification was seen past its expiry, with the checks it
    /// had. `true` only for the first request that records it.
    async fn mark_expired(&self, id: &VerificationId, attempts: u32) -> StoreResult<bool>;

    /// Records that attempt number `attempt` of the code was wrong, if the code is still the
    /// contact's current one: the record of the outcome that the `incorrect_code` event is
    /// made from (the count itself happens before the comparison, and cannot say).
    async fn mark_wrong(&self, code: &CodeRef, attempt: u32) -> StoreResult<()>;
}

/// Authenticator apps (TOTP factors).
#[async_trait]
pub trait FactorStore: Send + Sync {
    /// Stores a pending TOTP factor, if the contact is verified, it has no active factor
    /// (unless replacing is allowed) and the enrolling verification (if any) was not used
    /// before, which it then is: one transaction.
    async fn enroll_totp(&self, enrollment: &Enrollment) -> StoreResult<EnrollOutcome>;

    /// Counts one TOTP check of the contact's usable factor, atomically, if fewer than
    /// `check.lock.max` were wrong in its failure window (a window that has ended starts
    /// anew).
    async fn count_totp_attempt(&self, check: &AppCheck) -> StoreResult<FactorAttempt>;

    /// Accepts the time step for the factor if no step at or after it was accepted and the
    /// factor's secret is still the one checked: the factor becomes active, its failures
    /// reset, and the approval is stored, in one transaction, at the approval's time.
    /// `false` when refused.
    async fn accept_totp(&self, accepted: &AcceptedStep) -> StoreResult<bool>;
}

/// API keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every API key, revoked ones too (one item: see `docs/data-model.md`).
    async fn api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;

    /// Adds a key; [`StoreError::Conflict`] if its id exists.
    async fn add_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;

    /// Revokes a key at `now`. `false` when no key has this id.
    async fn revoke_api_key(&self, id: &ApiKeyId, now: i64) -> StoreResult<bool>;
}

/// `Idempotency-Key` claims and their answers.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims an idempotency key, atomically: free when no record exists, the record has
    /// expired, or it is a claim with the same fingerprint that started before
    /// `stale_before` (a request that died before it answered).
    async fn claim_key(&self, claim: &KeyRecord, stale_before: i64) -> StoreResult<KeyClaim>;

    /// Records the answer of the request that holds the key.
    async fn record_reply(&self, key_hash: &str, reply: &StoredReply) -> StoreResult<()>;

    /// Frees a key whose request answered with an error (nothing was sent), so that a
    /// retry with the same key runs again.
    async fn release_key(&self, key_hash: &str) -> StoreResult<()>;
}

/// The scheduled cleanup.
#[async_trait]
pub trait CleanupStore: Send + Sync {
    /// A page of unverified contacts created before `query.created_before`, oldest first,
    /// from the sparse index (never a scan).
    async fn stale_contacts(&self, query: &StaleQuery) -> StoreResult<StalePage>;

    /// Deletes a contact and its verifications if it is still unverified, created before
    /// `stale.created_before`, and has no unexpired pending code at `stale.now`.
    async fn delete_stale_contact(&self, stale: &StaleContact) -> StoreResult<DeleteOutcome>;
}

/// Why a call verification's code is replaced by a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replacement {
    /// A call is about to read it: at most `max_reads` readings per verification.
    Read {
        /// The most codes calls may read for the verification.
        max_reads: u32,
    },
    /// The SMS after a call that read no code: once, and only if no call read one.
    SmsAfterCall,
}

/// A new code for a pending call verification: its hash replaces the current one's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeReplacement {
    /// The contact and the verification, which must still be its current code.
    pub code: CodeRef,
    /// The new code's keyed hash (with the same verification id).
    pub hash: CodeHash,
    /// The time (unix ms): the code must be pending, unexpired and unlocked then.
    pub now: i64,
    /// Why, and so which condition holds it.
    pub reason: Replacement,
}

/// One inbound call from a number, counted in the number's window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundCall {
    /// The caller's key (a hash of the number: the table holds no caller's number).
    pub caller: String,
    /// The window's start (unix ms): one counter per number and window.
    pub window_start: i64,
    /// The most calls per window.
    pub max: u32,
    /// When the counter may be forgotten (unix ms).
    pub expires_at: i64,
}

/// Interactive calls.
#[async_trait]
pub trait CallStore: Send + Sync {
    /// Replaces the hash of a call verification's code, if it is still the contact's
    /// current code, pending, unexpired and unlocked at `now`, and the reason's own
    /// condition holds (fewer readings than allowed; no SMS after the call yet and no code
    /// read). `false` when refused.
    async fn replace_code(&self, replacement: &CodeReplacement) -> StoreResult<bool>;

    /// Counts an inbound call in its number's window; `false` (nothing counted) when the
    /// window holds `max` calls already.
    async fn count_inbound_call(&self, call: &InboundCall) -> StoreResult<bool>;
}

/// A store's answer.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the service needs of its records.
pub trait Store:
    RecordStore
    + SendStore
    + CheckStore
    + FactorStore
    + KeyStore
    + IdempotencyStore
    + CleanupStore
    + CallStore
{
}

impl<T> Store for T where
    T: RecordStore
        + SendStore
        + CheckStore
        + FactorStore
        + KeyStore
        + IdempotencyStore
        + CleanupStore
        + CallStore
{
}
