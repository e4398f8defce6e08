//! Creates, lists and revokes API keys in a twostep table (`docs/integrations/README.md`).
//!
//! ```text
//! twostep-keys [--table NAME] create NAME [--scopes LIST] [--max-sends N]
//!                                           prints the new key, once
//! twostep-keys [--table NAME] list
//! twostep-keys [--table NAME] revoke ID
//! ```
//!
//! The table is `--table` or `TABLE_NAME`; credentials, region and endpoint come from the
//! usual AWS variables and profile. Only the key's SHA-256 is stored. `--scopes` takes a
//! comma-separated list of send, check, status, cancel, lookup, options (default: all);
//! `--max-sends` limits the codes the key may send per `SEND_WINDOW_SECONDS` (default: no
//! limit of its own).

use std::process::ExitCode;

use twostep::aws;
use twostep::domain::{ApiKey, ApiKeyId, ApiKeyRecord, MAX_SENDS_PER_KEY_LIMIT, Scopes};
use twostep::store::dynamodb::DynamoStore;
use twostep::store::{KeyStore, StoreError};
use twostep::time::{Clock, SystemClock, rfc3339};

const USAGE: &str = "usage: twostep-keys [--table NAME] create NAME [--scopes send,check,status,cancel,lookup,options] [--max-sends N] | list | revoke ID";

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
        ["create", name, options @ ..] => {
            let name = name.trim();
            if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                return Err(KeysError::Usage(
                    "a key's name is 1 to 64 printable characters".into(),
                ));
            }
            let (scopes, max_sends) = create_options(options)?;
            let key = ApiKey::generate().map_err(|e| KeysError::Random(e.to_string()))?;
            let record = ApiKeyRecord {
                scopes,
                max_sends,
                ..ApiKeyRecord::new(&key, name, now)
            };
            store.add_api_key(&record).await?;
            let limit =
                max_sends.map_or_else(String::new, |n| format!(", at most {n} sends per window"));
            eprintln!(
                "created key {} ({name}; scopes {scopes}{limit}) in {table}; it is shown only now:",
                key.id()
            );
            println!("{}", key.reveal());
        }
        ["list"] => {
            let mut keys = store.api_keys().await?;
            keys.sort_by_key(|k| k.created_at);
            println!(
                "{:<12}  {:<20}  {:<20}  {:<9}  {:<38}  revoked",
                "id", "name", "created", "max sends", "scopes"
            );
            for k in keys {
                let revoked = k.revoked_at.map(rfc3339).unwrap_or_else(|| "-".into());
                let max = k
                    .max_sends
                    .map_or_else(|| "-".to_owned(), |n| n.to_string());
                println!(
                    "{:<12}  {:<20}  {:<20}  {max:<9}  {:<38}  {revoked}",
                    k.id,
                    k.name,
                    rfc3339(k.created_at),
                    k.scopes.to_string()
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

/// `create`'s options: `--scopes LIST` (default: every scope) and `--max-sends N`.
fn create_options(mut args: &[&str]) -> Result<(Scopes, Option<u32>), KeysError> {
    let (mut scopes, mut max_sends) = (None, None);
    while let [flag, value, rest @ ..] = args {
        match *flag {
            "--scopes" if scopes.is_none() => {
                scopes = Some(Scopes::parse(value).ok_or_else(|| {
                    KeysError::Usage(format!(
                        "'{value}' is not a list of send, check, status, cancel, lookup, options (each once)"
                    ))
                })?);
            }
            "--max-sends" if max_sends.is_none() => {
                let n = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_SENDS_PER_KEY_LIMIT).contains(n))
                    .ok_or_else(|| {
                        KeysError::Usage(format!(
                            "--max-sends takes a whole number from 1 to {MAX_SENDS_PER_KEY_LIMIT}"
                        ))
                    })?;
                max_sends = Some(n);
            }
            other => {
                return Err(KeysError::Usage(format!(
                    "unknown or repeated option '{other}'"
                )));
            }
        }
        args = rest;
    }
    if let [extra, ..] = args {
        return Err(KeysError::Usage(format!("'{extra}' needs a value")));
    }
    Ok((scopes.unwrap_or(Scopes::ALL), max_sends))
}

#[cfg(test)]
mod tests {
    use super::*;
    use twostep::domain::Scope;

    #[test]
    fn create_takes_scopes_and_a_send_limit_once_each() {
        assert_eq!(create_options(&[]).ok(), Some((Scopes::ALL, None)));
        let (scopes, max) =
            create_options(&["--max-sends", "50", "--scopes", "check,status"]).expect("options");
        assert_eq!(max, Some(50));
        assert!(scopes.contains(Scope::Check) && !scopes.contains(Scope::Send));
        for bad in [
            &["--scopes"][..],
            &["--scopes", "admin"],
            &["--scopes", ""],
            &["--max-sends", "0"],
            &["--max-sends", "-1"],
            &["--max-sends", "ten"],
            &["--max-sends", "1", "--max-sends", "2"],
            &["--limit", "2"],
        ] {
            assert!(
                matches!(create_options(bad), Err(KeysError::Usage(_))),
                "{bad:?}"
            );
        }
    }
}
