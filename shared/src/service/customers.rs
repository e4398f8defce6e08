//! Customers (keyed): a caller's own identifier of a person (an account number) names the
//! phone number and email address verified for it, so that an IVR can send a PIN to "the
//! customer with account number 123456" without knowing the number. A code sent with a
//! `customer_id` makes its destination the customer's once it is approved; the customer's
//! record is one item, read in one request.

use crate::channels::Sender;
use crate::domain::{
    Channel, CodeHasher, ContactStatus, CustomerId, CustomerRecord, Destination, Locale,
};

use super::lookup::ContactView;
use super::{Core, SendOptions, SendOutcome, SendRequest, ServiceError};

/// A code to the customer's verified destination for `channel`.
pub async fn send(
    core: &Core,
    hasher: &CodeHasher,
    sender: &dyn Sender,
    customer: &CustomerId,
    channel: Channel,
    locale: Option<Locale>,
    options: SendOptions,
) -> Result<SendOutcome, ServiceError> {
    let request = SendRequest {
        channel,
        locale,
        options,
        customer: Some(customer.key()),
        ..SendRequest::new(destination(core, customer, channel).await?)
    };
    super::send(core, hasher, sender, request).await
}

/// The customer's verified destination for `channel`: its phone number for `sms`, `voice`, `call` and
/// `totp` (its email address for `totp` when it has no phone), its address for `email`.
pub async fn destination(
    core: &Core,
    customer: &CustomerId,
    channel: Channel,
) -> Result<Destination, ServiceError> {
    let record = record(core, customer).await?;
    let phone = record.phone.map(|(p, _)| Destination::Sms(p));
    let email = record.email.map(|(e, _)| Destination::Email(e));
    match channel {
        Channel::Sms | Channel::Voice | Channel::Call => phone.ok_or(ServiceError::NotFound(
            "this customer has no verified phone number",
        )),
        Channel::Email => email.ok_or(ServiceError::NotFound(
            "this customer has no verified email address",
        )),
        Channel::Totp => phone.or(email).ok_or(ServiceError::NotFound(
            "this customer has no verified contact",
        )),
    }
}

/// The customer's verified destinations, masked, as a lookup by phone or email shows them.
pub async fn lookup(core: &Core, customer: &CustomerId) -> Result<Vec<ContactView>, ServiceError> {
    Ok(core
        .store
        .customer(&customer.key())
        .await?
        .map(|record| views(&record))
        .unwrap_or_default())
}

/// A customer's verified destinations, masked.
pub fn views(record: &CustomerRecord) -> Vec<ContactView> {
    let record = record.clone();
    let view = |destination: Destination, at: i64| ContactView {
        channel: destination.channel(),
        to: destination.masked(),
        status: ContactStatus::Verified,
        verified_at: Some(at),
    };
    record
        .phone
        .map(|(p, at)| view(Destination::Sms(p), at))
        .into_iter()
        .chain(record.email.map(|(e, at)| view(Destination::Email(e), at)))
        .collect()
}

async fn record(core: &Core, customer: &CustomerId) -> Result<CustomerRecord, ServiceError> {
    core.store
        .customer(&customer.key())
        .await?
        .ok_or(ServiceError::NotFound(
            "no contact was verified for this customer",
        ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EmailAddress;
    use crate::service::testing::{Harness, phone};
    use crate::service::{CheckTarget, SendRequest, send};

    #[tokio::test]
    async fn a_code_sent_for_a_customer_makes_its_destinations_the_customers_once_approved() {
        let h = Harness::new(&[]);
        let customer = CustomerId::parse("ACCT-42").expect("an id");
        let none = destination(&h.core, &customer, Channel::Sms).await;
        assert!(matches!(none, Err(ServiceError::NotFound(_))), "{none:?}");
        assert!(lookup(&h.core, &customer).await.expect("lookup").is_empty());
        let request = SendRequest {
            customer: Some(customer.key()),
            ..SendRequest::new(phone())
        };
        send(&h.core, &h.hasher, &h.sender, request)
            .await
            .expect("sent");
        let pending = destination(&h.core, &customer, Channel::Sms).await;
        assert!(
            matches!(pending, Err(ServiceError::NotFound(_))),
            "not before the approval"
        );
        h.check(CheckTarget::Destination(phone()), &h.last_code())
            .await
            .expect("approved");
        assert_eq!(
            destination(&h.core, &customer, Channel::Voice)
                .await
                .expect("its phone"),
            phone()
        );
        let no_email = destination(&h.core, &customer, Channel::Email).await;
        assert!(
            matches!(no_email, Err(ServiceError::NotFound(_))),
            "{no_email:?}"
        );
        let found = lookup(&h.core, &customer).await.expect("lookup");
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].to.as_str(), found[0].status),
            ("+49*******1100", ContactStatus::Verified)
        );
        // Another customer is not this one.
        let other = CustomerId::parse("ACCT-43").expect("an id");
        assert!(lookup(&h.core, &other).await.expect("lookup").is_empty());
        let email = Destination::Email(EmailAddress::parse("ada@example.com").expect("valid"));
        let request = SendRequest {
            customer: Some(customer.key()),
            ..SendRequest::new(email.clone())
        };
        send(&h.core, &h.hasher, &h.sender, request)
            .await
            .expect("sent");
        h.check(CheckTarget::Destination(email.clone()), &h.last_code())
            .await
            .expect("approved");
        assert_eq!(
            destination(&h.core, &customer, Channel::Email)
                .await
                .expect("its address"),
            email
        );
        assert_eq!(lookup(&h.core, &customer).await.expect("lookup").len(), 2);
    }
}
