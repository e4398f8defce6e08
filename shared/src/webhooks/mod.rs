//! Signed webhooks: every outcome event POSTed to the stack's `WebhookUrl`, signed as the
//! Standard Webhooks specification says (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`), from a queue that the bus fills, with retries on a back-off
//! schedule and a dead-letter queue for what the receiver never took (docs/deploy.md,
//! "Events and the webhook"). The payload is the event's `detail` (no code, a masked
//! destination), so nothing secret is ever sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::config::{ConfigError, Env, Setting};

pub mod delivery;
pub mod http;
pub mod signing;
pub mod sqs;

pub use delivery::{Schedule, deliver_batch};
pub use signing::{SigningKeys, WebhookSecret};

/// The webhook function's settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `WEBHOOK_URL`: where events are POSTed.
    pub url: String,
    /// `WEBHOOK_SECRET_ID`: the Secrets Manager secret of the signing secret(s).
    pub secret_id: String,
    /// `WEBHOOK_QUEUE_URL`: the queue the messages come from.
    pub queue_url: String,
    /// `WEBHOOK_RETRY_SECONDS`: the waits between attempts.
    pub schedule: Schedule,
    /// `WEBHOOK_SECRET_CACHE_SECONDS` (default 300): how long the secrets are kept before
    /// they are read again, so a rotation reaches every running function within it.
    pub secret_cache: Duration,
}

/// Seconds the webhook function keeps its signing secrets before reading them again.
pub const WEBHOOK_SECRET_CACHE_SECONDS: Setting =
    Setting::new("WEBHOOK_SECRET_CACHE_SECONDS", 300, 0, 3_600);

impl WebhookConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Reads the given variables: the environment in production, a map in tests.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let env = Env(vars);
        let schedule = match env.get("WEBHOOK_RETRY_SECONDS") {
            None => Schedule::default(),
            Some(text) => Schedule::parse(text).map_err(|e| ConfigError {
                variable: "WEBHOOK_RETRY_SECONDS",
                problem: e.to_string(),
            })?,
        };
        Ok(Self {
            url: env.required("WEBHOOK_URL")?,
            secret_id: env.required("WEBHOOK_SECRET_ID")?,
            queue_url: env.required("WEBHOOK_QUEUE_URL")?,
            schedule,
            secret_cache: Duration::from_secs(u64::from(
                env.setting(WEBHOOK_SECRET_CACHE_SECONDS)?,
            )),
        })
    }
}

/// Where the signing secrets come from (Secrets Manager; a fake in tests).
#[async_trait]
pub trait KeySource: Send + Sync {
    /// Reads the current secrets.
    async fn read(&self) -> Result<SigningKeys, String>;
}

/// The secrets, read again once they are older than `ttl`. If a re-read fails, the secrets
/// already held go on signing (a receiver still verifies them) and the read is tried again on
/// the next batch.
pub struct CachedKeys<S> {
    source: S,
    ttl: Duration,
    held: Mutex<Option<(Instant, Arc<SigningKeys>)>>,
}

impl<S: KeySource> CachedKeys<S> {
    /// Secrets from `source`, kept `ttl`.
    pub fn new(source: S, ttl: Duration) -> Self {
        Self {
            source,
            ttl,
            held: Mutex::new(None),
        }
    }

    /// The secrets to sign with now.
    pub async fn get(&self) -> Result<Arc<SigningKeys>, String> {
        let held = self.held.lock().map(|h| h.clone()).unwrap_or(None);
        if let Some((read_at, keys)) = &held
            && read_at.elapsed() < self.ttl
        {
            return Ok(Arc::clone(keys));
        }
        match self.source.read().await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                if let Ok(mut slot) = self.held.lock() {
                    *slot = Some((Instant::now(), Arc::clone(&keys)));
                }
                Ok(keys)
            }
            Err(e) => match held {
                Some((_, keys)) => {
                    tracing::warn!(error = %e, "webhook secret not read again: signing with the one held");
                    Ok(keys)
                }
                None => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct Counting {
        reads: AtomicUsize,
        fail_after: usize,
    }

    #[async_trait]
    impl KeySource for Counting {
        async fn read(&self) -> Result<SigningKeys, String> {
            let n = self.reads.fetch_add(1, Ordering::SeqCst);
            if n >= self.fail_after {
                return Err("Secrets Manager is down".to_owned());
            }
            let secret = if n == 0 { "A" } else { "B" }.repeat(44);
            Ok(SigningKeys {
                current: WebhookSecret::parse(&secret).map_err(|e| e.to_string())?,
                previous: None,
            })
        }
    }

    #[tokio::test]
    async fn secrets_are_kept_for_their_ttl_and_read_again_after_it() {
        let kept = CachedKeys::new(
            Counting {
                reads: AtomicUsize::new(0),
                fail_after: 9,
            },
            Duration::from_secs(3_600),
        );
        let first = kept.get().await.unwrap();
        assert_eq!(kept.get().await.unwrap(), first);
        assert_eq!(kept.source.reads.load(Ordering::SeqCst), 1);

        let fresh = CachedKeys::new(
            Counting {
                reads: AtomicUsize::new(0),
                fail_after: 9,
            },
            Duration::ZERO,
        );
        let first = fresh.get().await.unwrap();
        let second = fresh.get().await.unwrap();
        assert_ne!(
            first, second,
            "a rotation is picked up once the TTL is over"
        );
    }

    #[tokio::test]
    async fn a_failed_re_read_keeps_the_held_secret_and_none_held_is_an_error() {
        let kept = CachedKeys::new(
            Counting {
                reads: AtomicUsize::new(0),
                fail_after: 1,
            },
            Duration::ZERO,
        );
        let first = kept.get().await.unwrap();
        assert_eq!(kept.get().await.unwrap(), first);
        let none = CachedKeys::new(
            Counting {
                reads: AtomicUsize::new(0),
                fail_after: 0,
            },
            Duration::ZERO,
        );
        assert!(none.get().await.is_err());
    }

    #[test]
    fn the_settings_are_required_and_checked() {
        let env: HashMap<String, String> = [
            ("WEBHOOK_URL", "https://hooks.example.com/t"),
            ("WEBHOOK_SECRET_ID", "stack-webhook-secret"),
            (
                "WEBHOOK_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/1/q",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let config = WebhookConfig::from_vars(&env).unwrap();
        assert_eq!(config.schedule, Schedule::default());
        assert_eq!(config.secret_cache, Duration::from_secs(300));
        let mut missing = env.clone();
        missing.remove("WEBHOOK_SECRET_ID");
        assert_eq!(
            WebhookConfig::from_vars(&missing).unwrap_err().variable,
            "WEBHOOK_SECRET_ID"
        );
        let mut bad = env.clone();
        bad.insert("WEBHOOK_RETRY_SECONDS".to_owned(), "5,soon".to_owned());
        assert_eq!(
            WebhookConfig::from_vars(&bad).unwrap_err().variable,
            "WEBHOOK_RETRY_SECONDS"
        );
        let mut long = env;
        long.insert("WEBHOOK_SECRET_CACHE_SECONDS".to_owned(), "3601".to_owned());
        assert_eq!(
            WebhookConfig::from_vars(&long).unwrap_err().variable,
            "WEBHOOK_SECRET_CACHE_SECONDS"
        );
    }
}
