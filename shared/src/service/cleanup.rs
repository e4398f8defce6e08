//! The scheduled cleanup: contacts still unverified after the retention period are deleted,
//! with their verifications.

use crate::store::{DeleteOutcome, StaleContact, StaleCursor, StaleQuery};

use super::{Core, ServiceError};

/// What a cleanup run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CleanupReport {
    /// Contacts deleted (or, in a dry run, that would be).
    pub deleted: u32,
    /// Candidates kept: verified meanwhile, or in the middle of a verification.
    pub skipped: u32,
    /// Whether the run stopped before it saw every candidate.
    pub more: bool,
    /// Whether nothing was deleted because this was a dry run.
    pub dry_run: bool,
}

/// Contacts fetched per index page.
const CLEANUP_PAGE: u32 = 25;

/// Deletes unverified contacts older than the retention, page by page through the index,
/// until none is left or `out_of_time` says to stop.
pub async fn cleanup(
    core: &Core,
    dry_run: bool,
    out_of_time: &(dyn Fn() -> bool + Send + Sync),
) -> Result<CleanupReport, ServiceError> {
    let now = core.clock.now_ms();
    let cutoff = now - core.config.retention_ms();
    let mut report = CleanupReport {
        dry_run,
        ..CleanupReport::default()
    };
    let mut cursor: Option<StaleCursor> = None;
    loop {
        if out_of_time() {
            report.more = true;
            break;
        }
        let page = core
            .store
            .stale_contacts(&StaleQuery {
                created_before: cutoff,
                after: cursor.clone(),
                limit: CLEANUP_PAGE,
            })
            .await?;
        for (i, destination) in page.destinations.iter().enumerate() {
            if out_of_time() {
                report.more = i < page.destinations.len() || page.next.is_some();
                return Ok(report);
            }
            let deleted = if dry_run {
                let contact = core.store.contact(destination).await?;
                contact.is_some_and(|c| c.is_stale(cutoff, now))
            } else {
                core.store
                    .delete_stale_contact(&StaleContact {
                        destination: destination.clone(),
                        created_before: cutoff,
                        now,
                    })
                    .await?
                    == DeleteOutcome::Deleted
            };
            if deleted {
                report.deleted += 1;
            } else {
                report.skipped += 1;
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    tracing::info!(
        deleted = report.deleted,
        skipped = report.skipped,
        more = report.more,
        dry_run,
        "cleanup finished"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Destination;
    use crate::service::CheckTarget;
    use crate::service::testing::{Harness, phone};

    #[tokio::test]
    async fn cleanup_deletes_old_unverified_contacts_and_keeps_verified_ones() {
        let h = Harness::new(&[
            ("UNVERIFIED_RETENTION_HOURS", "1"),
            ("RESEND_COOLDOWN_SECONDS", "0"),
        ]);
        let kept = Destination::Email(
            crate::domain::EmailAddress::parse("kept@example.com").expect("valid"),
        );
        h.send(&phone()).await.expect("sent");
        h.send(&kept).await.expect("sent");
        let code = h.last_code();
        h.check(CheckTarget::Destination(kept.clone()), &code)
            .await
            .expect("approved");
        h.advance(3_601);
        let never = || false;
        let dry = cleanup(&h.core, true, &never).await.expect("dry run");
        assert_eq!((dry.deleted, dry.skipped, dry.more), (1, 0, false));
        assert_eq!(h.store.contacts().len(), 2);
        let report = cleanup(&h.core, false, &never).await.expect("cleanup");
        assert_eq!((report.deleted, report.skipped, report.more), (1, 0, false));
        let left = h.store.contacts();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].destination, kept);
        assert!(
            h.store
                .verifications()
                .iter()
                .all(|v| v.destination == kept)
        );
    }

    #[tokio::test]
    async fn cleanup_stops_when_out_of_time_and_says_there_is_more() {
        let h = Harness::new(&[("UNVERIFIED_RETENTION_HOURS", "0")]);
        h.send(&phone()).await.expect("sent");
        let report = cleanup(&h.core, false, &|| true).await.expect("cleanup");
        assert!(report.more);
        assert_eq!(report.deleted, 0);
    }
}
