//! Lambda's partial batch answer (`ReportBatchItemFailures`), for the two functions fed by an
//! event source mapping: the events function (a stream) and the webhooks function (a queue).

use serde::Serialize;

/// The answer Lambda reads with `ReportBatchItemFailures`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct BatchResponse {
    /// What to deliver again: for a stream, the first record (Lambda retries from it on); for
    /// a queue, each message.
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

/// One item to deliver again.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ItemFailure {
    /// A stream record's sequence number, or a queue message's id.
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl BatchResponse {
    /// The answer naming `items` (none: the whole batch was taken).
    pub fn failing(items: impl IntoIterator<Item = String>) -> Self {
        Self {
            batch_item_failures: items
                .into_iter()
                .map(|item_identifier| ItemFailure { item_identifier })
                .collect(),
        }
    }
}
