//! Outcome events from the table's stream (docs/integrations/README.md, "Events"), on the
//! local stack: scripts/streams.py plays Lambda's stream mapping into the events function,
//! which publishes to moto's bus. No stored outcome goes without its event: not when the
//! bus fails for a while, not when checks race.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use twostep_tests::{
    Api, env, events_for, events_of, sign_up_by_sms, unique_phone, wrong_code,
    wrong_then_right_by_phone,
};

/// The call recorder between the functions and the emulators (scripts/aws_calls.py).
fn recorder() -> String {
    env("TWOSTEP_CALLS_URL")
}

/// Makes every `PutEvents` fail with EventBridge's 500 (`on`), or lets them through again.
async fn bus_fails(on: bool) {
    let client = reqwest::Client::new();
    let url = format!("{}/_faults", recorder());
    let request = if on {
        client.post(url).json(&json!({"operation": "PutEvents"}))
    } else {
        client.delete(url)
    };
    let answer = request.send().await.expect("the recorder answers");
    assert_eq!(answer.status(), 204);
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["detail"]["type"].as_str().expect("a type"))
        .collect()
}

fn ids(events: &[Value]) -> BTreeSet<&str> {
    events
        .iter()
        .map(|e| e["detail"]["event_id"].as_str().expect("an event id"))
        .collect()
}

#[tokio::test]
async fn outcomes_stored_while_the_bus_fails_get_their_events_once_it_is_back() {
    let api = Api::new();
    bus_fails(true).await;
    // The answers do not depend on the bus: a wrong code is 422, the right one 200.
    let phone = unique_phone();
    let (id, _) = wrong_then_right_by_phone(&api, &phone).await;
    let status = api.get(&format!("/verifications/{id}")).await;
    assert_eq!(status.json["status"], "approved", "{status:?}");
    // The stream delivers the records, the bus refuses them: no event yet, retried.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let while_down = events_for(&id).await;
    bus_fails(false).await;
    assert!(while_down.is_empty(), "{while_down:?}");
    let events = events_of(&id, 3).await;
    assert_eq!(
        types(&events),
        ["sent", "incorrect_code", "approved"],
        "{events:?}"
    );
    assert_eq!(ids(&events).len(), 3, "each event once: {events:?}");
    // And no more arrive later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(events_for(&id).await.len(), 3);
}

#[tokio::test]
async fn racing_wrong_codes_each_have_their_event_and_the_lock_one() {
    let api = Api::new();
    let phone = unique_phone();
    let (id, code) = sign_up_by_sms(&api, &phone).await;
    // Twelve wrong codes at once against five attempts (MAX_CHECK_ATTEMPTS): five counted.
    let answers = futures_join(
        (0..12)
            .map(|_| {
                let api = api.clone();
                let body = json!({ "verification_id": id, "code": wrong_code(&code) });
                tokio::spawn(async move { api.post_json("/verify", &body).await.status })
            })
            .collect(),
    )
    .await;
    let counted = answers.iter().filter(|s| **s == 422).count();
    assert_eq!(counted, 5, "{answers:?}");
    let events = events_of(&id, 7).await;
    let mut kinds = types(&events);
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "incorrect_code",
            "incorrect_code",
            "incorrect_code",
            "incorrect_code",
            "incorrect_code",
            "locked",
            "sent"
        ],
        "{events:?}"
    );
    let remaining: BTreeSet<u64> = events
        .iter()
        .filter(|e| e["detail"]["type"] == "incorrect_code")
        .map(|e| e["detail"]["attempts_remaining"].as_u64().expect("a count"))
        .collect();
    assert_eq!(remaining, BTreeSet::from([0, 1, 2, 3, 4]));
    assert_eq!(ids(&events).len(), events.len());
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<u16>>) -> Vec<u16> {
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.expect("a request"));
    }
    statuses
}
