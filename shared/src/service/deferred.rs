//! A key that a function reads once per environment, from the start of its init, without
//! holding the init up: the read runs in the background while the function builds its
//! clients and asks the Runtime API for its first event, and the first request that needs
//! the key waits for what is left of it. A read that failed is tried again by the next
//! request that needs the key (one at a time), so a throttled or unreachable Secrets Manager
//! at start-up costs a retryable 503, not the environment.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::OnceCell;

use super::ServiceError;
use crate::config::ConfigError;

/// The message of the log line of every failed read: template.yaml's `KeyReadFailures`
/// metric filters match it (a test holds the two together).
pub const READ_FAILED: &str = "a key secret could not be read";

type Read<T> =
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<T, ConfigError>> + Send>> + Send + Sync;

/// A value (a key) read once, on first need or in the background from the start.
pub struct Deferred<T> {
    value: OnceCell<T>,
    read: Option<Box<Read<T>>>,
}

impl<T: Send + Sync + 'static> Deferred<T> {
    /// A value known from the start (tests, tools).
    pub fn ready(value: T) -> Arc<Self> {
        Arc::new(Self {
            value: OnceCell::new_with(Some(value)),
            read: None,
        })
    }

    /// A value that `read` reads, first now, in the background (on the tokio runtime
    /// this is called on): the caller goes on at once.
    pub fn start<F, Fut>(read: F) -> Arc<Self>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, ConfigError>> + Send + 'static,
    {
        let cell = Self::reading(read);
        Self::read_in_background(&cell, async {});
        cell
    }

    /// A value that `read` reads in the background once `first` has been read, on the
    /// connection that read left open (one TLS handshake for both), or on first need.
    pub fn start_after<A, F, Fut>(first: &Arc<Deferred<A>>, read: F) -> Arc<Self>
    where
        A: Send + Sync + 'static,
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, ConfigError>> + Send + 'static,
    {
        let cell = Self::reading(read);
        let first = Arc::clone(first);
        Self::read_in_background(&cell, async move {
            let _ = first.get().await;
        });
        cell
    }

    fn reading<F, Fut>(read: F) -> Arc<Self>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, ConfigError>> + Send + 'static,
    {
        Arc::new(Self {
            value: OnceCell::new(),
            read: Some(Box::new(move || Box::pin(read()))),
        })
    }

    fn read_in_background(cell: &Arc<Self>, after: impl Future<Output = ()> + Send + 'static) {
        let cell = Arc::clone(cell);
        tokio::spawn(async move {
            after.await;
            // A failure is logged by `get`; the next request that needs the value reads again.
            let _ = cell.get().await;
        });
    }

    /// The value: at once when it has been read, else after the read in progress (or a
    /// new one, when the last failed). A failed read is `Unavailable` (503, retryable) and
    /// one log line, [`READ_FAILED`], which the template's metric filters count
    /// (`KeyReadFailures`, its alarm).
    pub async fn get(&self) -> Result<&T, ServiceError> {
        self.value
            .get_or_try_init(|| async {
                let read = match &self.read {
                    Some(read) => read().await,
                    None => Err(ConfigError {
                        variable: "key",
                        problem: "has no source".to_owned(),
                    }),
                };
                if let Err(e) = &read {
                    tracing::error!(error = %e, "{READ_FAILED}");
                }
                read
            })
            .await
            .map_err(|e| ServiceError::Unavailable(format!("{} is not read", e.variable)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_ready_value_is_there_at_once() {
        let cell = Deferred::ready(7u8);
        assert_eq!(cell.get().await.ok(), Some(&7));
    }

    #[tokio::test]
    async fn the_read_starts_before_any_request_and_runs_once() {
        let reads = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&reads);
        let cell = Deferred::start(move || {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok::<_, ConfigError>(42u32)
            }
        });
        // The background read is under way before anyone asks.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        let (a, b) = tokio::join!(cell.get(), cell.get());
        assert_eq!((a.ok(), b.ok()), (Some(&42), Some(&42)));
        assert_eq!(cell.get().await.ok(), Some(&42));
        assert_eq!(reads.load(Ordering::SeqCst), 1, "read once");
    }

    #[tokio::test]
    async fn a_second_value_is_read_after_the_first() {
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (o1, o2) = (Arc::clone(&order), Arc::clone(&order));
        let first = Deferred::start(move || {
            let o1 = Arc::clone(&o1);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                o1.lock().map(|mut o| o.push("first")).ok();
                Ok::<_, ConfigError>(1u8)
            }
        });
        let second = Deferred::start_after(&first, move || {
            let o2 = Arc::clone(&o2);
            async move {
                o2.lock().map(|mut o| o.push("second")).ok();
                Ok::<_, ConfigError>(2u8)
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        assert_eq!(*order.lock().expect("lock"), ["first", "second"]);
        assert_eq!(
            (first.get().await.ok(), second.get().await.ok()),
            (Some(&1), Some(&2))
        );
    }

    #[tokio::test]
    async fn a_failed_read_is_unavailable_and_read_again_by_the_next_request() {
        let reads = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&reads);
        let cell = Deferred::start(move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => Err(ConfigError {
                        variable: "CODE_HASH_SECRET_ID",
                        problem: "could not be read from Secrets Manager: throttled".to_owned(),
                    }),
                    _ => Ok(5u8),
                }
            }
        });
        // The background read fails; a request waiting on it reads again and succeeds.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(cell.get().await.ok(), Some(&5));
        assert_eq!(reads.load(Ordering::SeqCst), 2);

        let failing = Deferred::start(|| async {
            Err::<u8, _>(ConfigError {
                variable: "CODE_HASH_SECRET_ID",
                problem: "could not be read".to_owned(),
            })
        });
        let r = failing.get().await;
        assert!(matches!(r, Err(ServiceError::Unavailable(_))), "{r:?}");
    }
}
