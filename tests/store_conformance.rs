//! The store conformance suite (`shared/src/store/conformance.rs`) against the DynamoDB
//! store on DynamoDB Local, over HTTP as in AWS: the same checks the in-memory store passes
//! in the unit tests. Each check gets a table of its own, made from template.yaml.

use twostep::store::dynamodb::DynamoStore;
use twostep_tests::fresh_table;

async fn dynamo_store() -> DynamoStore {
    let sdk = twostep::aws::sdk_config("tests");
    let table = fresh_table(&sdk).await;
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)
}

twostep::store_conformance!(dynamo_store().await);
