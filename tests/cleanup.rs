//! The scheduled cleanup, invoked as the schedule does, against the running stack
//! (`UNVERIFIED_RETENTION_HOURS=0` there, so any unverified contact without a live code
//! is due). A separate test binary, so it never races the other HTTP tests.

use std::time::Duration;

use serde_json::json;
use twostep_tests::*;

#[tokio::test]
async fn cleanup_deletes_unverified_contacts_and_keeps_verified_ones() {
    let api = Api::new();
    let verified = unique_phone();
    let (kept_id, code) = sign_up_by_sms(&api, &verified).await;
    assert_eq!(
        api.post_json("/verify", &json!({"phone": verified, "code": code}))
            .await
            .status,
        200
    );

    let abandoned = unique_phone();
    let (gone_id, _) = sign_up_by_sms(&api, &abandoned).await;

    let waiting = unique_phone();
    let (waiting_id, _) = sign_up_by_sms(&api, &waiting).await;

    // Let the abandoned code expire; keep the waiting one alive with a fresh send.
    let ttl: u64 = std::env::var("CODE_TTL_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("CODE_TTL_SECONDS");
    tokio::time::sleep(Duration::from_secs(ttl + 1)).await;
    let fresh = api.post_json("/signup", &json!({"phone": waiting})).await;
    assert_eq!(fresh.status, 202, "{fresh:?}");

    let dry = api.invoke_cleanup(&json!({"dry_run": true})).await;
    assert_eq!(dry["dry_run"], true);
    assert!(dry["deleted"].as_u64().is_some_and(|n| n >= 1), "{dry}");
    assert_eq!(
        api.get(&format!("/verifications/{gone_id}")).await.status,
        200,
        "a dry run deletes nothing"
    );

    let report = api
        .invoke_cleanup(&json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}))
        .await;
    assert!(
        report["deleted"].as_u64().is_some_and(|n| n >= 1),
        "{report}"
    );
    assert_eq!(report["more"], false);
    assert_eq!(
        api.get(&format!("/verifications/{gone_id}")).await.status,
        404,
        "deleted with its verifications"
    );
    assert_eq!(
        api.get(&format!("/verifications/{kept_id}")).await.json["status"],
        "approved"
    );
    assert_eq!(
        api.get(&format!("/verifications/{waiting_id}")).await.json["status"],
        "expired",
        "it expired before the newer code replaced it"
    );
    let code = last_sms_code(&waiting).await;
    assert_eq!(
        api.post_json("/verify", &json!({"phone": waiting, "code": code}))
            .await
            .status,
        200,
        "a contact mid-verification is kept"
    );
}
