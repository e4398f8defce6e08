//! Creates, lists and revokes API keys in a twostep table (`docs/integrations/README.md`).
//!
//! ```text
//! twostep-keys [--table NAME] create NAME   prints the new key, once
//! twostep-keys [--table NAME] list
//! twostep-keys [--table NAME] revoke ID
//! ```
//!
//! The table is `--table` or `TABLE_NAME`; credentials, region and endpoint come from the
//! usual AWS variables and profile. Only the key's SHA-256 is stored.

use std::process::ExitCode;

use twostep::aws;
use twostep::domain::{ApiKey, ApiKeyId, ApiKeyRecord};
use twostep::store::dynamodb::DynamoStore;
use twostep::store::{KeyStore, StoreError};
use twostep::time::{Clock, SystemClock, rfc3339};

const USAGE: &str = "usage: twostep-keys [--table NAME] create NAME | list | revoke ID";

#[derive(Debug, thiserror::Error)]
enum KeysError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the OS random number generator failed: {0}")]
    Random(String),
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(KeysError::Usage(why)) => {
            eprintln!("{why}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("twostep-keys: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut args: Vec<String>) -> Result<(), KeysError> {
    let mut table = std::env::var("TABLE_NAME").ok().filter(|t| !t.is_empty());
    if args.first().map(String::as_str) == Some("--table") {
        if args.len() < 2 {
            return Err(KeysError::Usage("--table needs a name".into()));
        }
        table = Some(args.remove(1));
        args.remove(0);
    }
    let table =
        table.ok_or_else(|| KeysError::Usage("give --table NAME or set TABLE_NAME".into()))?;
    let sdk = aws::sdk_config_from_defaults("keys").await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone());
    let now = SystemClock.now_ms();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["create", name] => {
            let name = name.trim();
            if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                return Err(KeysError::Usage(
                    "a key's name is 1 to 64 printable characters".into(),
                ));
            }
            let key = ApiKey::generate().map_err(|e| KeysError::Random(e.to_string()))?;
            store
                .add_api_key(&ApiKeyRecord::new(&key, name, now))
                .await?;
            eprintln!(
                "created key {} ({name}) in {table}; it is shown only now:",
                key.id()
            );
            println!("{}", key.reveal());
        }
        ["list"] => {
            let mut keys = store.api_keys().await?;
            keys.sort_by_key(|k| k.created_at);
            println!("{:<12}  {:<20}  {:<20}  revoked", "id", "name", "created");
            for k in keys {
                let revoked = k.revoked_at.map(rfc3339).unwrap_or_else(|| "-".into());
                println!(
                    "{:<12}  {:<20}  {:<20}  {revoked}",
                    k.id,
                    k.name,
                    rfc3339(k.created_at)
                );
            }
        }
        ["revoke", id] => {
            let id = ApiKeyId::parse(id)
                .ok_or_else(|| KeysError::Usage(format!("'{id}' is not a key id")))?;
            if !store.revoke_api_key(&id, now).await? {
                return Err(KeysError::Usage(format!("no key has the id {id}")));
            }
            eprintln!("revoked {id}; functions stop accepting it within API_KEY_CACHE_SECONDS");
        }
        _ => return Err(KeysError::Usage("unknown command".into())),
    }
    Ok(())
}
