//! Time: the clock the service reads (a trait, so tests can move it), and the one format
//! the API writes times in.

/// Wall-clock time in unix milliseconds; a trait so tests can move it.
pub trait Clock: Send + Sync {
    /// Now, in unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Whole seconds from `now_ms` until `at_ms`, rounded up, at least 1: what a `Retry-After`
/// says.
pub fn seconds_until(at_ms: i64, now_ms: i64) -> u32 {
    let ms = (at_ms - now_ms).max(0);
    u32::try_from((ms + 999) / 1_000).unwrap_or(u32::MAX).max(1)
}

/// Formats unix milliseconds as RFC 3339 UTC, to the second.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1_000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A clock that tests move by hand.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use std::sync::atomic::{AtomicI64, Ordering};

    /// Unix milliseconds, moved by the test.
    #[derive(Debug)]
    pub struct TestClock(pub AtomicI64);

    impl TestClock {
        /// A clock standing at `ms`.
        pub fn at(ms: i64) -> Self {
            Self(AtomicI64::new(ms))
        }

        /// Moves the clock on by `seconds`.
        pub fn advance(&self, seconds: i64) {
            self.0.fetch_add(seconds * 1_000, Ordering::SeqCst);
        }
    }

    impl super::Clock for TestClock {
        fn now_ms(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_795_889_400_000), "2026-11-28T18:10:00Z");
    }

    #[test]
    fn a_wait_is_rounded_up_to_whole_seconds_and_never_zero() {
        assert_eq!(seconds_until(10_001, 0), 11);
        assert_eq!(seconds_until(10_000, 0), 10);
        assert_eq!(seconds_until(0, 5_000), 1);
    }
}
