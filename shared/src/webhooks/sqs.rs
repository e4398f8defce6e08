//! The webhook queue, for a failed delivery's back-off: `ChangeMessageVisibility`.

use async_trait::async_trait;
use aws_smithy_types::error::display::DisplayErrorContext;

use super::delivery::Redelivery;

/// The queue at `queue_url` (the template passes it as `WEBHOOK_QUEUE_URL`).
#[derive(Debug, Clone)]
pub struct SqsRedelivery {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsRedelivery {
    /// The queue at `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Self { client, queue_url }
    }
}

#[async_trait]
impl Redelivery for SqsRedelivery {
    async fn delay(&self, receipt_handle: &str, seconds: u32) -> Result<(), String> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(seconds).unwrap_or(i32::MAX))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DisplayErrorContext(&e).to_string())
    }
}
