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

/// The send function's start, as deployed: the key read in the background from the start.
/// While the secret cannot be read, a sign-up is a retryable 503 and sends nothing; a bad
/// request is still a 400; once the secret is there, the next sign-up reads it and sends.
#[tokio::test]
async fn a_key_that_cannot_be_read_yet_is_a_retryable_503_until_it_can() {
    use lambda_http::Body;
    use twostep::service::keys::KeyRing;
    use twostep_tests::{sms_to, unique_phone};

    let sdk = aws::sdk_config("tests");
    let name = format!(
        "twostep-test/late-{}",
        rand::rng().random_range(0..u64::MAX)
    );
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("CODE_HASH_SECRET_ID".into(), name.clone());
    let config = Config::from_vars(&vars).expect("config");
    let sender = aws::sender(&sdk, &config);
    let app = twostep::http::App {
        hasher: aws::code_hasher_from_start(&sdk, &config),
        core: aws::core(&sdk, config),
        keys: KeyRing::new(),
    };
    let signup = async |body: serde_json::Value| {
        let request = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/signup")
            .header("content-type", "application/json")
            .body(Body::Text(body.to_string()))
            .expect("a request");
        let response = twostep::http::routes::signup::post(&app, &sender, &request).await;
        let body: serde_json::Value = match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap_or_default(),
            _ => serde_json::Value::Null,
        };
        (response.status().as_u16(), body)
    };

    let phone = unique_phone();
    let (status, body) = signup(json!({ "phone": phone })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    assert!(
        !body.to_string().contains(&name),
        "the answer names no secret: {body}"
    );
    let (status, body) = signup(json!({ "phone": "12" })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_phone")),
        "{body}"
    );
    assert!(sms_to(&phone).await.is_empty(), "nothing was sent");

    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(&name)
        .secret_string("k".repeat(32))
        .send()
        .await
        .expect("the emulator creates the secret");
    let (status, body) = signup(json!({ "phone": phone })).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        sms_to(&phone).await.len(),
        1,
        "one SMS once the key is read"
    );
}
