//! Genesys Intelligent Automation's two-factor web services on the local stack
//! (docs/integrations/genesys.md): each XML answer of each service (`success`, `not found`,
//! `incorrect code`, `error`), parameters by query or form in any case, and the key.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use twostep_tests::{
    Api, Reply, api_key, last_sms_code, sms_to, unique_email, unique_phone, wrong_code,
};

/// A Genesys call: `GET` with the query, or `POST` with it as a form.
async fn call(api: &Api, method: Method, service: &str, params: &[(&str, &str)]) -> Reply {
    call_keyed(
        api,
        method,
        service,
        params,
        &format!("Bearer {}", api_key()),
    )
    .await
}

async fn call_keyed(
    api: &Api,
    method: Method,
    service: &str,
    params: &[(&str, &str)],
    authorization: &str,
) -> Reply {
    let query = serde_urlencoded::to_string(params).expect("a query");
    let headers: Vec<(&str, &str)> = if authorization.is_empty() {
        Vec::new()
    } else {
        vec![("authorization", authorization)]
    };
    let reply = if method == Method::GET {
        api.request(
            method,
            &format!("/genesys/{service}?{query}"),
            &headers,
            None,
        )
        .await
    } else {
        let body = Some(("application/x-www-form-urlencoded", query));
        api.request(method, &format!("/genesys/{service}"), &headers, body)
            .await
    };
    assert!(
        reply.header("content-type").starts_with("text/xml"),
        "{reply:?}"
    );
    assert!(
        reply.text.contains(&format!("<{service}>"))
            && reply.text.contains(&format!("</{service}>")),
        "the root element is the service's: {}",
        reply.text
    );
    reply
}

/// The text of the first `<name>` element.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..start + end])
}

fn status(reply: &Reply) -> &str {
    element(&reply.text, "status").unwrap_or_else(|| panic!("no status: {}", reply.text))
}

/// A customer with a verified phone number (and, when given, email address), linked by
/// keyed sign-ups that carry `customer_id`.
async fn customer_with(api: &Api, phone: &str, email: Option<&str>) -> String {
    let customer = format!("ACCT-{}", &phone[phone.len() - 7..]);
    let auth = format!("Bearer {}", api_key());
    let mut destinations = vec![json!({ "phone": phone, "customer_id": customer })];
    if let Some(email) = email {
        destinations.push(json!({ "email": email, "channel": "email", "customer_id": customer }));
    }
    for body in destinations {
        let sent = api
            .request(
                Method::POST,
                "/signup",
                &[("authorization", &auth)],
                Some(("application/json", body.to_string())),
            )
            .await;
        assert_eq!(sent.status, 202, "{sent:?}");
        let id = sent.json["verification_id"].as_str().expect("an id");
        let code = match body["email"].as_str() {
            Some(email) => {
                let mail = twostep_tests::emails_to(email).await;
                twostep_tests::code_in(&mail.last().expect("an email").1, 6)
            }
            None => last_sms_code(phone).await,
        };
        let checked = api
            .post_json("/verify", &json!({ "verification_id": id, "code": code }))
            .await;
        assert_eq!(checked.status, 200, "{checked:?}");
    }
    customer
}

#[tokio::test]
async fn the_verified_methods_of_a_customer_are_listed_masked_and_an_unknown_one_is_not_found() {
    let api = Api::new();
    let unknown = call(
        &api,
        Method::GET,
        "checkVerifiedContactMethods",
        &[("customer_id", "nobody-here-7")],
    )
    .await;
    assert_eq!((unknown.status, status(&unknown)), (200, "not found"));
    assert!(unknown.text.contains("<methods/>"), "{}", unknown.text);

    let (phone, email) = (unique_phone(), unique_email());
    let customer = customer_with(&api, &phone, Some(&email)).await;
    // Any case of the names, by form.
    let found = call(
        &api,
        Method::POST,
        "checkVerifiedContactMethods",
        &[("CustomerId", &customer)],
    )
    .await;
    assert_eq!(
        (found.status, status(&found)),
        (200, "success"),
        "{}",
        found.text
    );
    assert!(
        found.text.contains(r#"<method name="SMS" value="+49"#)
            && found.text.contains(r#"<method name="email" value="u"#),
        "{}",
        found.text
    );
    assert!(
        !found.text.contains(&phone) && !found.text.contains(&email),
        "masked: {}",
        found.text
    );
    let missing = call(&api, Method::GET, "checkVerifiedContactMethods", &[]).await;
    assert_eq!(
        (status(&missing), element(&missing.text, "reason")),
        ("error", Some("missing_customer_id"))
    );
}

#[tokio::test]
async fn a_code_goes_by_the_selected_method_and_each_answer_of_the_check_is_its_status() {
    let api = Api::new();
    let phone = unique_phone();
    let customer = customer_with(&api, &phone, None).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let sent = call(
        &api,
        Method::GET,
        "sendAuthenticationCode",
        &[
            ("customer_id", &customer),
            ("TwoFactorAuthSelectedMethod", "SMS"),
        ],
    )
    .await;
    assert_eq!(
        (sent.status, status(&sent)),
        (200, "success"),
        "{}",
        sent.text
    );
    assert_eq!(element(&sent.text, "method"), Some("SMS"));
    assert!(element(&sent.text, "to").is_some_and(|to| to.contains('*')));
    assert_eq!(
        sms_to(&phone).await.len(),
        2,
        "the customer's phone got a code"
    );
    let code = last_sms_code(&phone).await;

    // Again at once: the cooldown, as an error with the wait.
    let early = call(
        &api,
        Method::POST,
        "sendAuthenticationCode",
        &[
            ("customer_id", &customer),
            ("twofactorauthselectedmethod", "sms"),
        ],
    )
    .await;
    assert_eq!(
        (status(&early), element(&early.text, "reason")),
        ("error", Some("resend_too_soon")),
        "{}",
        early.text
    );
    assert!(
        element(&early.text, "retryAfter").is_some(),
        "{}",
        early.text
    );

    let wrong = call(
        &api,
        Method::POST,
        "codeAuthentication",
        &[
            ("customer_id", &customer),
            ("TwoFactorAuthSelectedMethod", "SMS"),
            ("authCode_nbest1", &wrong_code(&code)),
        ],
    )
    .await;
    assert_eq!((wrong.status, status(&wrong)), (200, "incorrect code"));
    assert_eq!(element(&wrong.text, "attemptsRemaining"), Some("4"));

    // A recogniser's spaced digits are the code.
    let spoken: String = code.chars().flat_map(|c| [c, ' ']).collect();
    let right = call(
        &api,
        Method::GET,
        "codeAuthentication",
        &[
            ("CUSTOMER_ID", &customer),
            ("TwoFactorAuthSelectedMethod", "SMS"),
            ("authCode_nbest1", spoken.trim()),
        ],
    )
    .await;
    assert_eq!(
        (right.status, status(&right)),
        (200, "success"),
        "{}",
        right.text
    );
    assert!(element(&right.text, "verificationId").is_some());

    // Spent: nothing pending for the customer's phone any more.
    let again = call(
        &api,
        Method::GET,
        "codeAuthentication",
        &[
            ("customer_id", &customer),
            ("TwoFactorAuthSelectedMethod", "SMS"),
            ("authCode_nbest1", &code),
        ],
    )
    .await;
    assert_eq!(
        (status(&again), element(&again.text, "reason")),
        ("error", Some("not_found")),
        "{}",
        again.text
    );

    let no_email = call(
        &api,
        Method::GET,
        "sendAuthenticationCode",
        &[
            ("customer_id", &customer),
            ("TwoFactorAuthSelectedMethod", "email"),
        ],
    )
    .await;
    assert_eq!(
        (status(&no_email), element(&no_email.text, "reason")),
        ("error", Some("not_found")),
        "the customer has no verified email: {}",
        no_email.text
    );
    let unknown_method = call(
        &api,
        Method::GET,
        "sendAuthenticationCode",
        &[
            ("customer_id", &customer),
            ("TwoFactorAuthSelectedMethod", "pigeon"),
        ],
    )
    .await;
    assert_eq!(
        element(&unknown_method.text, "reason"),
        Some("unknown_method")
    );
    assert_eq!(
        sms_to(&phone).await.len(),
        2,
        "no refused call sent anything"
    );
}

#[tokio::test]
async fn the_services_need_a_key() {
    let api = Api::new();
    for service in [
        "checkVerifiedContactMethods",
        "sendAuthenticationCode",
        "codeAuthentication",
    ] {
        let params = [
            ("customer_id", "123456"),
            ("TwoFactorAuthSelectedMethod", "SMS"),
        ];
        let unkeyed = call_keyed(&api, Method::GET, service, &params, "").await;
        assert_eq!(
            (
                unkeyed.status,
                status(&unkeyed),
                element(&unkeyed.text, "reason")
            ),
            (403, "error", Some("key_required"))
        );
        let made_up = format!("Bearer tsk_{}_{}", "0".repeat(12), "0".repeat(64));
        let wrong = call_keyed(&api, Method::POST, service, &params, &made_up).await;
        assert_eq!(
            (wrong.status, element(&wrong.text, "reason")),
            (401, Some("invalid_key"))
        );
    }
}
