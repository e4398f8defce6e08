//! SMS through SNS `Publish`, as a transactional message with the configured sender ID.

use aws_sdk_sns::types::MessageAttributeValue;

use super::{DeliveryError, describe};
use crate::domain::PhoneNumber;

/// Sends SMS through SNS.
#[derive(Debug, Clone)]
pub struct SnsSms {
    client: aws_sdk_sns::Client,
    sender_id: Option<String>,
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, DeliveryError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| DeliveryError(e.to_string()))
}

impl SnsSms {
    /// SMS through `client`, from `sender_id` where the country supports one.
    pub fn new(client: aws_sdk_sns::Client, sender_id: Option<&str>) -> Self {
        Self {
            client,
            sender_id: sender_id.map(str::to_owned),
        }
    }

    /// Sends one transactional SMS.
    pub async fn send(&self, to: &PhoneNumber, text: &str) -> Result<(), DeliveryError> {
        let mut request = self
            .client
            .publish()
            .phone_number(to.as_str())
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional")?);
        if let Some(id) = &self.sender_id {
            request = request.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(id)?);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DeliveryError(format!("SNS Publish: {}", describe(&e))))
    }
}
