//! An authenticator-app (TOTP) factor of one contact.

use super::Destination;

/// A TOTP secret sealed for storage (by `channels::authenticator::TotpCipher`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// Fingerprint of the key that sealed it (not the key).
    pub key_id: String,
    /// Nonce (12 bytes) ‖ ciphertext (20 bytes) ‖ tag (16 bytes).
    pub bytes: Vec<u8>,
}

/// Where a factor is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorState {
    /// Enrolled, waiting for its first correct code (before `pending_until`).
    Pending,
    /// Confirmed by a correct code: it verifies.
    Active,
}

impl FactorState {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
        }
    }
}

/// A contact's TOTP factor (item `T#<destination key>`): its secret, sealed with a key that
/// is not in the table, and its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    /// The contact it belongs to.
    pub destination: Destination,
    /// The shared secret, encrypted (AES-256-GCM, bound to the factor's storage key).
    pub sealed: SealedSecret,
    /// Pending or active.
    pub state: FactorState,
    /// The last time step accepted: a code of this step or an earlier one is refused.
    pub last_step: u64,
    /// Wrong codes in the current failure window.
    pub failures: u32,
    /// When the current failure window started (unix ms).
    pub failure_window_start: i64,
    /// When it was enrolled (unix ms).
    pub created_at: i64,
    /// When its first correct code activated it (unix ms).
    pub activated_at: Option<i64>,
    /// A pending factor is forgotten after this (unix ms).
    pub pending_until: i64,
}

impl TotpFactor {
    /// A factor enrolled at `now` with the secret `sealed`, waiting for its first correct
    /// code until `pending_until`.
    pub fn pending(
        destination: Destination,
        sealed: SealedSecret,
        now: i64,
        pending_until: i64,
    ) -> Self {
        Self {
            destination,
            sealed,
            state: FactorState::Pending,
            last_step: 0,
            failures: 0,
            failure_window_start: now,
            created_at: now,
            activated_at: None,
            pending_until,
        }
    }

    /// The factor's storage key, also the sealed secret's context.
    pub fn key(destination: &Destination) -> String {
        format!("T#{}", destination.key())
    }

    /// Whether it verifies codes at `now`: active, or pending and not yet past its time.
    pub fn usable(&self, now: i64) -> bool {
        self.state == FactorState::Active || self.pending_until > now
    }

    /// Whether its failure window (of `window_ms`) is still open at `now`; once it has
    /// ended, the next check starts a new one.
    pub fn window_open(&self, window_ms: i64, now: i64) -> bool {
        self.failure_window_start > now - window_ms
    }

    /// When it unlocks, if `max` checks were counted in a window still open at `now`.
    pub fn locked_until(&self, max: u32, window_ms: i64, now: i64) -> Option<i64> {
        (self.window_open(window_ms, now) && self.failures >= max)
            .then_some(self.failure_window_start + window_ms)
    }
}
