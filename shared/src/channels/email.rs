//! Email through SES v2 `SendEmail`, from the configured identity, text and HTML.

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use super::{DeliveryError, describe};
use crate::domain::EmailAddress;
use crate::messages::EmailMessage;

/// Sends email through SES v2.
#[derive(Debug, Clone)]
pub struct SesEmail {
    client: aws_sdk_sesv2::Client,
    from: String,
}

fn content(data: &str) -> Result<Content, DeliveryError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| DeliveryError(e.to_string()))
}

impl SesEmail {
    /// Email through `client` from the identity `from` (`EMAIL_FROM`).
    pub fn new(client: aws_sdk_sesv2::Client, from: &EmailAddress) -> Self {
        Self {
            client,
            from: from.as_str().to_owned(),
        }
    }

    /// Sends one email.
    pub async fn send(
        &self,
        to: &EmailAddress,
        message: &EmailMessage,
    ) -> Result<(), DeliveryError> {
        let body = Body::builder()
            .text(content(&message.text)?)
            .html(content(&message.html)?)
            .build();
        let simple = Message::builder()
            .subject(content(&message.subject)?)
            .body(body)
            .build();
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .content(EmailContent::builder().simple(simple).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DeliveryError(format!("SES SendEmail: {}", describe(&e))))
    }
}
