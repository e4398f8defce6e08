//! Authenticator apps (TOTP) through HTTP on the local stack, as docs/channels.md describes
//! them: enrolment with a just-approved verification, app codes once per step, the lock
//! after wrong codes, activation and a keyed replacement, for phone and email contacts.

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use twostep_tests::{
    Api, Reply, after_cooldown, api_key, assert_problem, code_in, emails_to, events_of, id_of,
    kinds, sign_up_by_sms, status_of, unique_email, unique_phone, wrong_code,
};

async fn keyed_post(api: &Api, path: &str, body: &Value) -> Reply {
    let auth = format!("Bearer {}", api_key());
    api.request(
        Method::POST,
        path,
        &[("authorization", &auth)],
        Some(("application/json", body.to_string())),
    )
    .await
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// The code an authenticator app shows at `unix_seconds` for the base32 `secret`.
fn app_code(secret: &str, unix_seconds: u64) -> String {
    let bytes = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, secret)
        .unwrap_or_else(|| panic!("{secret:?} is not base32"));
    totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes).generate(unix_seconds)
}

/// `TOTP_LOCK_SECONDS` of the stack: the failure window of an authenticator app.
fn lock_seconds() -> u32 {
    std::env::var("TOTP_LOCK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(TOTP_LOCK_SECONDS_DEFAULT)
}

/// The default of `TOTP_LOCK_SECONDS` (shared/src/config.rs, docs/channels.md).
const TOTP_LOCK_SECONDS_DEFAULT: u32 = 3_600;

/// A phone number verified by SMS just now: the number and the approved verification's id.
async fn approved_phone(api: &Api) -> (String, String) {
    let phone = unique_phone();
    let (id, code) = sign_up_by_sms(api, &phone).await;
    // By its id, as the demo page checks: only such an approval may enrol an app.
    let ok = api
        .post_json("/verify", &json!({ "verification_id": id, "code": code }))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    (phone, id)
}

/// Enrols an app with a just-approved verification, expecting 201; the secret.
async fn enroll_by_id(api: &Api, id: &str) -> String {
    let r = api
        .post_json("/totp/enroll", &json!({ "verification_id": id }))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    secret_of(&r)
}

fn secret_of(reply: &Reply) -> String {
    reply.json["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("no secret: {reply:?}"))
        .to_owned()
}

/// `POST /verify` with an app's code for `phone`.
async fn check_app(api: &Api, phone: &str, code: &str) -> Reply {
    api.post_json(
        "/verify",
        &json!({ "phone": phone, "channel": "totp", "code": code }),
    )
    .await
}

// ---- authenticator apps ----------------------------------------------------------------

#[tokio::test]
async fn an_app_is_enrolled_once_with_a_just_approved_verification() {
    let api = Api::new();
    let phone = unique_phone();
    let (id, code) = sign_up_by_sms(&api, &phone).await;
    let early = api
        .post_json("/totp/enroll", &json!({ "verification_id": id }))
        .await;
    assert_problem(&early, 409, "not_verified");
    let ok = api
        .post_json("/verify", &json!({ "verification_id": id, "code": code }))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");

    let r = api
        .post_json("/totp/enroll", &json!({ "verification_id": id }))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.header("cache-control").contains("no-store"), "{r:?}");
    assert_eq!(r.json["status"], "pending");
    assert_eq!(r.json["channel"], "totp");
    let secret = secret_of(&r);
    assert!(
        secret.len() == 32
            && secret
                .bytes()
                .all(|b| matches!(b, b'A'..=b'Z' | b'2'..=b'7')),
        "160 bits in base32: {secret}"
    );
    let uri = r.json["uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(!uri.contains(&phone[3..]), "the label is masked: {uri}");
    assert!(
        r.json["qr_svg"]
            .as_str()
            .is_some_and(|s| s.starts_with("<svg")),
        "{r:?}"
    );
    assert!(r.json["activate_before"].is_string(), "{r:?}");
    assert!(!r.json["to"].as_str().unwrap_or("").contains(&phone[3..]));

    let again = api
        .post_json("/totp/enroll", &json!({ "verification_id": id }))
        .await;
    assert_problem(&again, 409, "already_enrolled");
    let unknown = api
        .post_json(
            "/totp/enroll",
            &json!({ "verification_id": "01JD3Z6Q0Y4S8V1M2N3P4Q5R6S" }),
        )
        .await;
    assert_problem(&unknown, 404, "not_found");
    let anonymous = api
        .post_json("/totp/enroll", &json!({ "phone": phone }))
        .await;
    assert_problem(&anonymous, 403, "key_required");

    // A keyed caller names a contact; it must be verified.
    let unverified = unique_phone();
    sign_up_by_sms(&api, &unverified).await;
    let r = keyed_post(&api, "/totp/enroll", &json!({ "phone": unverified })).await;
    assert_problem(&r, 409, "not_verified");
}

#[tokio::test]
async fn a_verification_confirmed_by_phone_enrols_no_app() {
    // Whoever asked for the code holds the id; a check by phone cannot tell who typed it.
    let api = Api::new();
    let phone = unique_phone();
    let (id, code) = sign_up_by_sms(&api, &phone).await;
    let ok = api
        .post_json("/verify", &json!({ "phone": phone, "code": code }))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let refused = api
        .post_json("/totp/enroll", &json!({ "verification_id": id }))
        .await;
    assert_problem(&refused, 409, "not_verified");
    assert!(refused.json.get("secret").is_none(), "{refused:?}");
}

#[tokio::test]
async fn an_app_code_approves_once_within_a_step_either_way() {
    let api = Api::new();
    let (phone, id) = approved_phone(&api).await;
    let secret = enroll_by_id(&api, &id).await;
    let t = now_unix();

    let short = check_app(&api, &phone, "12345").await;
    assert_problem(&short, 400, "invalid_code_format");

    let now_code = app_code(&secret, t);
    let ok = check_app(&api, &phone, &now_code).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json["status"], "approved");
    assert_eq!(ok.json["channel"], "totp");
    assert!(ok.json["verified_at"].is_string(), "{ok:?}");
    let approval = id_of(&ok);
    assert_ne!(approval, id, "a new verification");
    let status = status_of(&api, &approval).await;
    assert_eq!(
        (
            status.json["status"].as_str(),
            status.json["channel"].as_str()
        ),
        (Some("approved"), Some("totp")),
        "{status:?}"
    );
    assert!(!status.text.contains(&secret), "{status:?}");
    let events = events_of(&approval, 1).await;
    assert_eq!(
        kinds(&events),
        [("approved".to_owned(), "totp".to_owned())],
        "{events:?}"
    );
    for event in &events {
        let text = event.to_string();
        assert!(
            !text.contains(&now_code) && !text.contains(&secret),
            "{text}"
        );
    }

    // Replayed: refused like a wrong code, and counted (the short code above was not).
    let replay = check_app(&api, &phone, &now_code).await;
    assert_problem(&replay, 422, "incorrect_code");
    assert_eq!(replay.json["attempts_remaining"], 4, "{replay:?}");

    let next_step = check_app(&api, &phone, &app_code(&secret, t + 30)).await;
    assert_eq!(
        next_step.status, 200,
        "one step ahead is accepted: {next_step:?}"
    );
    assert_ne!(id_of(&next_step), approval);
    let far = check_app(&api, &phone, &app_code(&secret, t + 90)).await;
    assert_problem(&far, 422, "incorrect_code");
    assert_eq!(
        far.json["attempts_remaining"], 4,
        "a success resets: {far:?}"
    );

    let by_id = api
        .post_json(
            "/verify",
            &json!({ "verification_id": id, "channel": "totp", "code": app_code(&secret, t) }),
        )
        .await;
    assert_problem(&by_id, 400, "invalid_field");

    let (other, _) = approved_phone(&api).await;
    let none = check_app(&api, &other, &app_code(&secret, now_unix())).await;
    assert_problem(&none, 404, "not_found");
    let never = check_app(&api, &unique_phone(), &app_code(&secret, now_unix())).await;
    assert_problem(&never, 404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_app_code_sent_four_times_at_once_approves_once() {
    let api = Api::new();
    let (phone, id) = approved_phone(&api).await;
    let secret = enroll_by_id(&api, &id).await;
    let code = app_code(&secret, now_unix());
    let mut checks = JoinSet::new();
    for _ in 0..4 {
        let (phone, code) = (phone.clone(), code.clone());
        checks.spawn(async move { check_app(&Api::new(), &phone, &code).await });
    }
    let mut statuses = Vec::new();
    while let Some(reply) = checks.join_next().await {
        let reply = reply.expect("the check ran");
        if reply.status != 200 {
            assert_problem(&reply, 422, "incorrect_code");
        }
        statuses.push(reply.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "exactly one approval: {statuses:?}"
    );
}

#[tokio::test]
async fn wrong_app_codes_lock_the_app() {
    let api = Api::new();
    let (phone, id) = approved_phone(&api).await;
    let secret = enroll_by_id(&api, &id).await;
    let wrong = wrong_code(&app_code(&secret, now_unix()));
    for remaining in (0..5).rev() {
        let r = check_app(&api, &phone, &wrong).await;
        assert_problem(&r, 422, "incorrect_code");
        assert_eq!(r.json["attempts_remaining"], remaining, "{r:?}");
    }
    let locked = check_app(&api, &phone, &app_code(&secret, now_unix())).await;
    assert_problem(&locked, 429, "too_many_attempts");
    let retry_after: u32 = locked
        .header("retry-after")
        .parse()
        .unwrap_or_else(|_| panic!("a Retry-After: {locked:?}"));
    assert_eq!(locked.json["retry_after"], retry_after, "{locked:?}");
    // Until the end of the failure window, which began moments ago (with the enrolment).
    let window = lock_seconds();
    assert!(
        (window - 60..=window).contains(&retry_after),
        "the window is {window} s: {locked:?}"
    );
    assert_eq!(locked.json["attempts_remaining"], 0, "{locked:?}");
}

#[tokio::test]
async fn the_first_right_code_activates_a_pending_app_and_a_keyed_enrolment_replaces_it() {
    let api = Api::new();
    let (phone, id) = approved_phone(&api).await;
    let first = enroll_by_id(&api, &id).await;

    // Still pending: a keyed enrolment (no `replace` needed) replaces the secret.
    let r = keyed_post(&api, "/totp/enroll", &json!({ "phone": phone })).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.header("cache-control").contains("no-store"), "{r:?}");
    let second = secret_of(&r);
    assert_ne!(second, first);
    let t = now_unix();
    let old = check_app(&api, &phone, &app_code(&first, t)).await;
    assert_problem(&old, 422, "incorrect_code");
    let ok = check_app(&api, &phone, &app_code(&second, t)).await;
    assert_eq!(ok.status, 200, "the first right code activates: {ok:?}");
    for secret in [&first, &second] {
        assert!(!ok.text.contains(secret.as_str()), "{ok:?}");
    }

    // Active: only `replace=true` replaces it, and only with a key; a fresh approval of the
    // number (anyone holding the phone for a moment) does not.
    let r = keyed_post(&api, "/totp/enroll", &json!({ "phone": phone })).await;
    assert_problem(&r, 409, "already_enrolled");
    after_cooldown().await;
    let (again, code) = sign_up_by_sms(&api, &phone).await;
    let ok = api
        .post_json(
            "/verify",
            &json!({ "verification_id": again, "code": code }),
        )
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let r = api
        .post_json("/totp/enroll", &json!({ "verification_id": again }))
        .await;
    assert_problem(&r, 409, "already_enrolled");
    let r = api
        .post_json("/totp/enroll", &json!({ "phone": phone, "replace": true }))
        .await;
    assert_problem(&r, 403, "key_required");
    let r = keyed_post(
        &api,
        "/totp/enroll",
        &json!({ "phone": phone, "replace": true }),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json["status"], "pending");
    let third = secret_of(&r);
    assert!(third != first && third != second);
    let stale = check_app(&api, &phone, &app_code(&second, t + 30)).await;
    assert_problem(&stale, 422, "incorrect_code");
    let ok = check_app(&api, &phone, &app_code(&third, now_unix())).await;
    assert_eq!(ok.status, 200, "{ok:?}");
}

#[tokio::test]
async fn an_email_contact_enrols_and_checks_an_app_too() {
    let api = Api::new();
    let email = unique_email();
    let sent = api.post_json("/signup", &json!({ "email": email })).await;
    assert_eq!(sent.status, 202, "{sent:?}");
    let mail = emails_to(&email).await;
    let code = code_in(&mail[0].1, 6);
    let ok = api
        .post_json(
            "/verify",
            &json!({ "verification_id": id_of(&sent), "code": code }),
        )
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let r = api
        .post_json("/totp/enroll", &json!({ "verification_id": id_of(&sent) }))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let to = r.json["to"].as_str().expect("to");
    assert!(to.ends_with("***@example.com") && to != email, "{to}");
    let secret = secret_of(&r);
    let ok = api
        .post_json(
            "/verify",
            &json!({ "email": email, "channel": "totp", "code": app_code(&secret, now_unix()) }),
        )
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json["channel"], "totp");
    let status = status_of(&api, &id_of(&ok)).await;
    assert_eq!(
        (
            status.json["status"].as_str(),
            status.json["channel"].as_str()
        ),
        (Some("approved"), Some("totp")),
        "{status:?}"
    );
}
