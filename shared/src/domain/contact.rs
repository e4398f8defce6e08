//! What is stored: a contact (one per destination) that carries its current code, and
//! a verification record per code sent, which keeps the code's outcome.

use super::{
    Channel, CodeHash, CustomerKey, Destination, Fallback, FallbackState, Locale, PersonName,
    VerificationId,
};

/// Whether a contact has proven that it owns its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactStatus {
    /// Registered; no code confirmed yet.
    Unverified,
    /// A code sent to the destination was confirmed.
    Verified,
}

impl ContactStatus {
    /// The stored and shown name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Unverified => "unverified",
            Self::Verified => "verified",
        }
    }
}

/// The life of the current code as stored on the contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeState {
    /// Sent (or being sent) and not yet confirmed.
    Pending,
    /// Confirmed: spent.
    Approved,
    /// Its delivery failed: it was never seen and can never be used.
    Failed,
    /// Cancelled by a keyed caller: it can never be used.
    Canceled,
}

impl CodeState {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }
}

/// The newest code sent to a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentCode {
    /// The verification it belongs to.
    pub verification_id: VerificationId,
    /// The keyed hash of the code.
    pub hash: CodeHash,
    /// When it stops being accepted (unix ms).
    pub expires_at: i64,
    /// Checks made so far, right or wrong.
    pub attempts: u32,
    /// Checks allowed, fixed when it was sent.
    pub max_attempts: u32,
    /// Where it is in its life.
    pub state: CodeState,
    /// Its number of digits; `None` on a code stored before lengths were (`CODE_LENGTH`).
    pub length: Option<u8>,
    /// How it went (`sms` or `voice` to a phone).
    pub channel: Channel,
    /// The customer it was sent for (a keyed sign-up's `customer_id`): its approval records
    /// the destination as the customer's.
    pub customer: Option<CustomerKey>,
    /// The number of the last attempt found wrong, recorded after the comparison: the
    /// change that the `incorrect_code` (and `locked`) events are made from.
    pub wrong: Option<u32>,
    /// An interactive call's mode and progress (`channel=call` only).
    pub call: Option<super::CallState>,
}

impl CurrentCode {
    /// Whether the code may be checked only on the keypad of its call: a call in
    /// `mode=input` shows the code to someone, and only typing it on the called phone proves
    /// they hold that phone (until an SMS after the call replaced it).
    pub fn keypad_only(&self) -> bool {
        self.call
            .is_some_and(|c| c.mode == super::CallMode::Input && !c.sms_sent)
    }

    /// Checks left before the code locks.
    pub fn attempts_remaining(&self) -> u32 {
        self.max_attempts.saturating_sub(self.attempts)
    }

    /// The status of its verification at `now`, as this code shows it.
    pub fn status(&self, now: i64) -> VerificationStatus {
        match self.state {
            CodeState::Approved => VerificationStatus::Approved,
            CodeState::Failed => VerificationStatus::Failed,
            CodeState::Canceled => VerificationStatus::Canceled,
            CodeState::Pending if self.expires_at <= now => VerificationStatus::Expired,
            CodeState::Pending if self.attempts >= self.max_attempts => VerificationStatus::Locked,
            CodeState::Pending => VerificationStatus::Pending,
        }
    }
}

/// A contact: one per destination, created by the first send to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRecord {
    /// The phone number or email address that keys it.
    pub destination: Destination,
    /// Unverified or verified.
    pub status: ContactStatus,
    /// Given name, when the form had one.
    pub first_name: Option<PersonName>,
    /// Family name, when the form had one.
    pub last_name: Option<PersonName>,
    /// The language of the messages sent to it.
    pub locale: Locale,
    /// First registration (unix ms); cleanup ages unverified contacts by it.
    pub created_at: i64,
    /// When a code was first confirmed (unix ms).
    pub verified_at: Option<i64>,
    /// Times of the recent sends (unix ms), oldest first, at most the window's limit.
    pub recent_sends: Vec<i64>,
    /// No send before this time (unix ms).
    pub cooldown_until: i64,
    /// The newest code, if one was ever sent.
    pub current: Option<CurrentCode>,
    /// Verifications sent while unverified, so cleanup can delete them with the contact.
    pub verification_ids: Vec<VerificationId>,
    /// The progress of the channel fallback that started here, if one did.
    pub fallback: Option<FallbackState>,
    /// Bumped by every write; writes are conditional on it (optimistic locking).
    pub version: u64,
}

impl ContactRecord {
    /// Whether cleanup deletes this contact: still unverified, created before `cutoff`,
    /// and not waiting for a code that is still valid at `now`.
    pub fn is_stale(&self, cutoff: i64, now: i64) -> bool {
        self.status == ContactStatus::Unverified
            && self.created_at < cutoff
            && !self
                .current
                .as_ref()
                .is_some_and(|code| code.state == CodeState::Pending && code.expires_at > now)
    }
}

/// What became of a verification, as recorded on its own record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationState {
    /// Its code is the contact's current one (the contact holds the details).
    Pending,
    /// Confirmed.
    Approved,
    /// A newer code was sent to the same destination.
    Replaced,
    /// Its delivery failed.
    Failed,
    /// Cancelled by a keyed caller.
    Canceled,
    /// Seen past its expiry (recorded once, so that the `expired` event is published once).
    Expired,
}

impl VerificationState {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Replaced => "replaced",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
        }
    }
}

/// One verification: which destination it went to and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRecord {
    /// Its id.
    pub id: VerificationId,
    /// The contact it belongs to.
    pub destination: Destination,
    /// How its code went: SMS, voice, email, or (for an approved app code) TOTP.
    pub channel: Channel,
    /// The fallback flow it is part of, so that a resend by its id moves on.
    pub fallback: Option<Fallback>,
    /// When it was created (unix ms).
    pub created_at: i64,
    /// When its code expires (unix ms).
    pub expires_at: i64,
    /// Its recorded outcome.
    pub state: VerificationState,
    /// When it was approved (unix ms).
    pub verified_at: Option<i64>,
    /// Whether it was approved by its id (the caller held the id and the code), not by
    /// phone or email: only such an approval may enrol an authenticator app, since a
    /// verification's id is also known to whoever asked for the code.
    pub approved_by_id: bool,
    /// When it enrolled an authenticator app (unix ms): an approval enrols one app at most.
    pub enrolled_at: Option<i64>,
    /// Checks made, recorded when it stops being current.
    pub final_attempts: Option<u32>,
    /// Checks allowed.
    pub max_attempts: u32,
    /// Its code's number of digits; `None` on a record stored before lengths were.
    pub code_length: Option<u8>,
    /// The customer it was sent for, if a keyed sign-up named one.
    pub customer: Option<CustomerKey>,
}

/// A code's length and the checks it allows: what a verification records of its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRules {
    /// The code's number of digits.
    pub length: u8,
    /// Checks allowed.
    pub max_attempts: u32,
}

impl VerificationRecord {
    /// The checks made, from the checks its status says are left: what it records when it
    /// stops being current.
    pub fn checks_made(&self, attempts_remaining: u32) -> u32 {
        self.max_attempts.saturating_sub(attempts_remaining)
    }

    /// A new verification of a code sent to `destination` by `channel` at `now`, pending
    /// until `expires_at`.
    pub fn pending(
        (id, destination, channel): (VerificationId, Destination, Channel),
        now: i64,
        expires_at: i64,
        rules: CodeRules,
    ) -> Self {
        Self {
            id,
            destination,
            channel,
            fallback: None,
            created_at: now,
            expires_at,
            state: VerificationState::Pending,
            verified_at: None,
            approved_by_id: false,
            enrolled_at: None,
            final_attempts: None,
            max_attempts: rules.max_attempts,
            code_length: Some(rules.length),
            customer: None,
        }
    }

    /// The record of an authenticator app's right code, approved at `now` after `failures`
    /// wrong ones. An app's code proves the app, not the phone or address: the approval is
    /// not by id, so it enrols no other app.
    pub fn app_approval(
        (id, destination): (VerificationId, Destination),
        now: i64,
        failures: u32,
        rules: CodeRules,
    ) -> Self {
        Self {
            state: VerificationState::Approved,
            verified_at: Some(now),
            final_attempts: Some(failures),
            ..Self::pending((id, destination, Channel::Totp), now, now, rules)
        }
    }
}

/// A verification's status as the API shows it, derived from both records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationStatus {
    /// Waiting for its code.
    Pending,
    /// Confirmed.
    Approved,
    /// Past its expiry.
    Expired,
    /// Too many wrong codes.
    Locked,
    /// A newer code was sent.
    Replaced,
    /// Never delivered.
    Failed,
    /// Cancelled by a keyed caller.
    Canceled,
}

impl VerificationStatus {
    /// The API name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Expired => "expired",
            Self::Locked => "locked",
            Self::Replaced => "replaced",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }
}
