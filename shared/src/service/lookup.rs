//! Looking contacts up (keyed): whether, and when, each destination was verified.

use crate::domain::{Channel, ContactStatus, Destination};

use super::{Core, ServiceError};

/// What a lookup tells about one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactView {
    /// SMS or email.
    pub channel: Channel,
    /// The masked destination.
    pub to: String,
    /// Verified or not.
    pub status: ContactStatus,
    /// When it was first verified (unix ms).
    pub verified_at: Option<i64>,
}

/// The known contacts among `destinations` (one read each), for an IVR that chooses where
/// to send a PIN.
pub async fn lookup(
    core: &Core,
    destinations: &[Destination],
) -> Result<Vec<ContactView>, ServiceError> {
    let mut found = Vec::new();
    for destination in destinations {
        if let Some(contact) = core.store.contact(destination).await? {
            found.push(ContactView {
                channel: destination.channel(),
                to: destination.masked(),
                status: contact.status,
                verified_at: contact.verified_at,
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EmailAddress;
    use crate::service::CheckTarget;
    use crate::service::testing::{Harness, phone};

    #[tokio::test]
    async fn a_lookup_tells_verified_and_unverified_contacts_masked() {
        let h = Harness::new(&[]);
        let email = Destination::Email(EmailAddress::parse("ada@example.com").expect("valid"));
        assert!(
            lookup(&h.core, &[phone(), email.clone()])
                .await
                .expect("lookup")
                .is_empty()
        );
        h.send(&phone()).await.expect("sent");
        h.send(&email).await.expect("sent");
        h.check(CheckTarget::Destination(email.clone()), &h.last_code())
            .await
            .expect("approved");
        let found = lookup(&h.core, &[phone(), email]).await.expect("lookup");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].status, ContactStatus::Unverified);
        assert_eq!(found[0].verified_at, None);
        assert_eq!(found[0].to, phone().masked());
        assert_eq!(found[1].status, ContactStatus::Verified);
        assert!(found[1].verified_at.is_some());
        assert!(!found[1].to.contains("ada@"));
    }
}
