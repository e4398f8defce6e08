//! The code-hash key as the functions load it: from the Secrets Manager secret (the
//! emulator of `scripts/test.sh`), through a rotation as `docs/security.md` describes it.

use std::collections::HashMap;

use rand::RngExt;
use serde_json::json;
use twostep::Config;
use twostep::aws;
use twostep::domain::{CodeHasher, OtpCode, SubmittedCode, VerificationId};

#[tokio::test]
async fn during_a_rotation_codes_hashed_with_the_previous_key_still_verify() {
    let sdk = aws::sdk_config("tests");
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = format!(
        "twostep-test/rotation-{}",
        rand::rng().random_range(0..u64::MAX)
    );
    let (old, new) = ("o".repeat(32), "n".repeat(32));
    secrets
        .create_secret()
        .name(&name)
        .secret_string(json!({ "current": new, "previous": old }).to_string())
        .send()
        .await
        .expect("the emulator creates the secret");
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("CODE_HASH_SECRET_ID".into(), name.clone());
    let config = Config::from_vars(&vars).expect("config");

    let id = VerificationId::generate(1_800_000_000_000).expect("os rng");
    let code = OtpCode::generate(6).expect("os rng");
    let submitted = SubmittedCode::parse(code.digits(), 6).expect("format");
    let sent_before = CodeHasher::new(old.as_bytes(), None).hash(&id, &code);
    let sent_after = CodeHasher::new(new.as_bytes(), None).hash(&id, &code);

    let rotating = aws::code_hasher(&sdk, &config)
        .await
        .expect("the rotated secret");
    assert!(rotating.matches(&id, &submitted, &sent_before));
    assert!(rotating.matches(&id, &submitted, &sent_after));
    assert_eq!(
        rotating.hash(&id, &code),
        sent_after,
        "new codes use the new key"
    );

    // Step 3: `previous` removed; codes hashed with it no longer verify.
    secrets
        .put_secret_value()
        .secret_id(&name)
        .secret_string(json!({ "current": new }).to_string())
        .send()
        .await
        .expect("the emulator updates the secret");
    let rotated = aws::code_hasher(&sdk, &config)
        .await
        .expect("the secret after the rotation");
    assert!(!rotated.matches(&id, &submitted, &sent_before));
    assert!(rotated.matches(&id, &submitted, &sent_after));
}
