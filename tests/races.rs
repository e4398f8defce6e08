//! Concurrency, the database's own conditions, and delivery failures, driven in-process
//! through the service with the production adapters: DynamoDB Local for the records and the
//! SNS/SES emulator for delivery, over HTTP as in AWS. Each test has its own table, made
//! from template.yaml. (`cargo lambda watch` runs one invocation at a time, so races are
//! driven here.)

use std::collections::HashMap;
use std::sync::Arc;

use rand::RngExt;
use tokio::task::JoinSet;
use twostep::Config;
use twostep::aws;
use twostep::channels::{AwsSender, Sender};
use twostep::domain::{
    CodeHasher, Country, Destination, EmailAddress, PhoneNumber, SubmittedCode, VerificationId,
};
use twostep::metrics::NoMetrics;
use twostep::service::{self, CheckTarget, Core, SendRequest, ServiceError};
use twostep::store::dynamodb::DynamoStore;
use twostep::time::{Clock, SystemClock};
use twostep_tests::*;

struct App {
    core: Core,
    hasher: CodeHasher,
    sender: Arc<dyn Sender>,
}

async fn app(settings: &[(&str, &str)]) -> App {
    let sdk = aws::sdk_config("tests");
    let table = fresh_table(&sdk).await;
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("TABLE_NAME".into(), table.clone());
    for (k, v) in settings {
        vars.insert((*k).into(), (*v).into());
    }
    let config = Config::from_vars(&vars).expect("config");
    let sender = Arc::new(aws::sender(&sdk, &config));
    let hasher = aws::code_hasher(&sdk, &config)
        .await
        .expect("the local secret");
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let core = Core {
        config: Arc::new(config),
        store: Arc::new(store),
        clock: Arc::new(SystemClock),
        metrics: Arc::new(NoMetrics),
    };
    App {
        core,
        hasher,
        sender,
    }
}

impl App {
    /// Checks `digits` against verification `id`.
    async fn check(
        &self,
        id: VerificationId,
        digits: &str,
    ) -> Result<service::Approval, ServiceError> {
        let code = SubmittedCode::parse(digits, 6).expect("a six-digit code");
        service::check(&self.core, &self.hasher, CheckTarget::Id(id), &code).await
    }

    async fn send(&self, to: &Destination) -> Result<service::SendOutcome, ServiceError> {
        self.send_from(to, None).await
    }

    async fn send_from(
        &self,
        to: &Destination,
        client: Option<String>,
    ) -> Result<service::SendOutcome, ServiceError> {
        let request = SendRequest {
            client,
            ..SendRequest::new(to.clone())
        };
        service::send(&self.core, &self.hasher, self.sender.as_ref(), request).await
    }
}

fn sms(phone: &str) -> Destination {
    Destination::Sms(PhoneNumber::parse(phone, Country::parse("DE").expect("DE")).expect("valid"))
}

async fn concurrently<T: Send + 'static>(
    n: usize,
    task: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>,
) -> Vec<T> {
    let mut set = JoinSet::new();
    for _ in 0..n {
        set.spawn(task());
    }
    set.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_right_codes_approve_exactly_once() {
    let app = Arc::new(app(&[]).await);
    let phone = unique_phone();
    let sent = app.send(&sms(&phone)).await.expect("sent");
    let code = SubmittedCode::parse(&last_sms_code(&phone).await, 6).expect("format");
    let results = concurrently(50, || {
        let (app, id, code) = (app.clone(), sent.verification_id.clone(), code.clone());
        Box::pin(
            async move { service::check(&app.core, &app.hasher, CheckTarget::Id(id), &code).await },
        )
    })
    .await;
    let approved = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(approved, 1, "{results:?}");
    assert!(
        results.iter().all(|r| matches!(
            r,
            Ok(_) | Err(ServiceError::AlreadyApproved | ServiceError::TooManyAttempts { .. })
        )),
        "{results:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_wrong_codes_count_no_more_than_the_limit() {
    let app = Arc::new(app(&[("MAX_CHECK_ATTEMPTS", "5")]).await);
    let phone = unique_phone();
    app.send(&sms(&phone)).await.expect("sent");
    let right = last_sms_code(&phone).await;
    let wrong = SubmittedCode::parse(&wrong_code(&right), 6).expect("format");
    let results = concurrently(50, || {
        let (app, wrong, to) = (app.clone(), wrong.clone(), sms(&phone));
        Box::pin(async move {
            service::check(&app.core, &app.hasher, CheckTarget::Destination(to), &wrong).await
        })
    })
    .await;
    let counted = results
        .iter()
        .filter(|r| matches!(r, Err(ServiceError::IncorrectCode { .. })))
        .count();
    assert_eq!(counted, 5, "{results:?}");
    assert!(results.iter().all(|r| matches!(
        r,
        Err(ServiceError::IncorrectCode { .. } | ServiceError::TooManyAttempts { .. })
    )));
    let right = SubmittedCode::parse(&right, 6).expect("format");
    let after = service::check(
        &app.core,
        &app.hasher,
        CheckTarget::Destination(sms(&phone)),
        &right,
    )
    .await;
    assert!(
        matches!(after, Err(ServiceError::TooManyAttempts { .. })),
        "locked, even for the right code: {after:?}"
    );
}

/// A service with no cooldown and a window of three sends per destination.
async fn window_of_three() -> Arc<App> {
    Arc::new(
        app(&[
            ("RESEND_COOLDOWN_SECONDS", "0"),
            ("MAX_SENDS_PER_WINDOW", "3"),
        ])
        .await,
    )
}

/// Twenty sends to one phone at once.
async fn twenty_concurrent_sends_to(
    app: &Arc<App>,
    phone: &str,
) -> Vec<Result<service::SendOutcome, ServiceError>> {
    concurrently(20, || {
        let (app, to) = (app.clone(), sms(phone));
        Box::pin(async move { app.send(&to).await })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_sends_deliver_no_more_than_the_window_allows() {
    let app = window_of_three().await;
    let phone = unique_phone();
    let results = twenty_concurrent_sends_to(&app, &phone).await;
    let sent = results.iter().filter(|r| r.is_ok()).count();
    assert!((1..=3).contains(&sent), "{results:?}");
    assert_eq!(
        sms_to(&phone).await.len(),
        sent,
        "every accepted send was delivered, and no other"
    );
    assert!(results.iter().all(|r| matches!(
        r,
        Ok(_) | Err(ServiceError::TooManySends { .. } | ServiceError::ResendTooSoon { .. })
    )));
}

#[tokio::test]
async fn a_refused_email_leaves_an_unusable_code_no_cooldown_and_a_retry_works() {
    let address = unique_email();
    let to = Destination::Email(EmailAddress::parse(&address).expect("valid"));
    // SES refuses a sender whose identity was never verified.
    let refused = app(&[("EMAIL_FROM", "codes@unverified-sender.example")]).await;
    let r = refused.send(&to).await;
    assert!(matches!(r, Err(ServiceError::DeliveryFailed)), "{r:?}");
    assert!(emails_to(&address).await.is_empty());

    // The same table, now with a verified sender: the retry goes out at once.
    let mut config = (*refused.core.config).clone();
    config.email_from =
        EmailAddress::parse(&std::env::var("EMAIL_FROM").expect("EMAIL_FROM")).expect("valid");
    let sdk = aws::sdk_config("tests");
    let working = App {
        sender: Arc::new(aws::sender(&sdk, &config)),
        core: Core {
            config: Arc::new(config),
            ..refused.core.clone()
        },
        hasher: refused.hasher.clone(),
    };
    let sent = working
        .send(&to)
        .await
        .expect("no cooldown after a failed delivery");
    assert_eq!(emails_to(&address).await.len(), 1);
    let code = code_in(&emails_to(&address).await[0].1, 6);
    working
        .check(sent.verification_id, &code)
        .await
        .expect("the delivered code approves");
}

/// Port 1 on loopback: nothing listens, so every call fails as an outage would. Set on the
/// service's own config, which takes precedence over the `AWS_ENDPOINT_URL*` variables.
const NOWHERE: &str = "http://127.0.0.1:1";

#[tokio::test]
async fn an_unreachable_database_is_a_retryable_503_and_sends_nothing() {
    let mut app = app(&[]).await;
    let sdk = aws::sdk_config("tests");
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(NOWHERE)
        .build();
    let table = app.core.config.table_name.clone();
    app.core.store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        table,
    ));
    let phone = unique_phone();
    let r = app.send(&sms(&phone)).await;
    assert!(matches!(r, Err(ServiceError::Unavailable(_))), "{r:?}");
    let response = twostep::http::ApiError::from(r.expect_err("unavailable")).to_response();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(sms_to(&phone).await.is_empty());
}

#[tokio::test]
async fn an_unreachable_sms_service_fails_the_send_cleanly_and_a_retry_works_at_once() {
    let app = app(&[]).await;
    let sdk = aws::sdk_config("tests");
    let broken = App {
        core: app.core.clone(),
        hasher: app.hasher.clone(),
        sender: Arc::new(AwsSender::new(
            aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(&sdk)
                    .endpoint_url(NOWHERE)
                    .build(),
            ),
            aws_sdk_sesv2::Client::new(&sdk),
            &app.core.config.email_from,
            None,
        )),
    };
    let phone = unique_phone();
    let r = broken.send(&sms(&phone)).await;
    assert!(matches!(r, Err(ServiceError::DeliveryFailed)), "{r:?}");
    assert!(sms_to(&phone).await.is_empty());
    let retried = app
        .send(&sms(&phone))
        .await
        .expect("no cooldown after a failed delivery");
    assert_eq!(sms_to(&phone).await.len(), 1);
    app.check(retried.verification_id, &last_sms_code(&phone).await)
        .await
        .expect("the delivered code approves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_requests_with_one_idempotency_key_send_once() {
    let app = Arc::new(app(&[]).await);
    let key =
        twostep::domain::IdempotencyKey::parse(&format!("race-{}", unique_phone())).expect("key");
    let phone = unique_phone();
    let fingerprint = service::fingerprint([("phone", phone.as_str())]);
    let results = concurrently(20, || {
        let (app, key, fingerprint, phone) =
            (app.clone(), key.clone(), fingerprint.clone(), phone.clone());
        Box::pin(async move {
            match service::claim_idempotency_key(&app.core, None, &key, &fingerprint).await {
                Ok(None) => {
                    let sent = app.send(&sms(&phone)).await.expect("sent");
                    let reply = twostep::store::StoredReply {
                        status: 202,
                        body: sent.verification_id.to_string(),
                    };
                    service::settle_idempotency_key(&app.core, None, &key, Some(&reply)).await;
                    "ran"
                }
                Ok(Some(_)) => "replayed",
                Err(ServiceError::IdempotencyKeyInUse) => "in use",
                Err(e) => panic!("{e:?}"),
            }
        })
    })
    .await;
    assert_eq!(
        results.iter().filter(|r| **r == "ran").count(),
        1,
        "{results:?}"
    );
    assert_eq!(sms_to(&phone).await.len(), 1);
    // Once it has answered, the key replays that answer; another request under it is refused.
    let replay = service::claim_idempotency_key(&app.core, None, &key, &fingerprint).await;
    assert!(
        matches!(replay, Ok(Some(ref r)) if r.status == 202),
        "{replay:?}"
    );
    let other = service::fingerprint([("phone", "+4930123456")]);
    let reused = service::claim_idempotency_key(&app.core, None, &key, &other).await;
    assert!(
        matches!(reused, Err(ServiceError::IdempotencyKeyReused)),
        "{reused:?}"
    );
}

/// Twenty sends at once from `client`, each to a new number: what each answered, how many
/// were accepted, and how many SMS the emulator recorded for those numbers.
async fn twenty_concurrent_sends_from(
    app: &Arc<App>,
    client: &str,
) -> (
    Vec<Result<service::SendOutcome, ServiceError>>,
    usize,
    usize,
) {
    let phones: Vec<String> = (0..20).map(|_| unique_phone()).collect();
    let mut set = JoinSet::new();
    for phone in phones.clone() {
        let (app, client) = (app.clone(), client.to_owned());
        set.spawn(async move { app.send_from(&sms(&phone), Some(client)).await });
    }
    let results = set.join_all().await;
    let sent = results.iter().filter(|r| r.is_ok()).count();
    let mut delivered = 0;
    for phone in &phones {
        delivered += sms_to(phone).await.len();
    }
    (results, sent, delivered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_sends_from_one_client_deliver_no_more_than_its_limit() {
    let app = Arc::new(app(&[("MAX_SENDS_PER_IP", "5")]).await);
    let client = service::client_key(&format!("198.51.100.{}", rand::rng().random_range(0..255)));
    let (results, sent, delivered) = twenty_concurrent_sends_from(&app, &client).await;
    assert!(
        sent <= 5 && delivered == sent,
        "sent {sent}, delivered {delivered}: {results:?}"
    );
    assert!(sent >= 1, "{results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(r, ServiceError::TooManySendsFromClient { .. }),
            "{r:?}"
        );
    }
    // Sequentially, the log fills up to exactly the limit.
    for phone in (0..5 - sent).map(|_| unique_phone()) {
        app.send_from(&sms(&phone), Some(client.clone()))
            .await
            .expect("within the limit");
    }
    let over = app
        .send_from(&sms(&unique_phone()), Some(client.clone()))
        .await;
    assert!(
        matches!(over, Err(ServiceError::TooManySendsFromClient { retry_after }) if retry_after > 3_500),
        "{over:?}"
    );
    // Another client is not affected.
    app.send_from(
        &sms(&unique_phone()),
        Some(service::client_key("203.0.113.9")),
    )
    .await
    .expect("another client");
}

/// The system clock, moved forward.
struct Later(i64);

impl Clock for Later {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn once_a_clients_sends_leave_the_window_twenty_concurrent_sends_take_only_the_freed_slots() {
    let app = app(&[("MAX_SENDS_PER_IP", "2")]).await;
    let client = service::client_key("198.51.100.20");
    for _ in 0..2 {
        app.send_from(&sms(&unique_phone()), Some(client.clone()))
            .await
            .expect("within the limit");
    }
    // A window later, the full log is rewritten with only this send, conditioned on its
    // version: concurrent rewrites must not all succeed.
    let window = i64::from(app.core.config.send_window_seconds) * 1_000;
    let later = Arc::new(App {
        core: Core {
            clock: Arc::new(Later(window + 1_000)),
            ..app.core.clone()
        },
        hasher: app.hasher.clone(),
        sender: app.sender.clone(),
    });
    let (results, sent, delivered) = twenty_concurrent_sends_from(&later, &client).await;
    assert!(
        (1..=2).contains(&sent) && delivered == sent,
        "sent {sent}, delivered {delivered}: {results:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_sends_to_a_verified_contact_deliver_no_more_than_the_window_allows() {
    // A verified contact has no pending code for a send to replace: only the contact's
    // version stands between concurrent sends.
    let app = window_of_three().await;
    let phone = unique_phone();
    let first = app.send(&sms(&phone)).await.expect("sent");
    app.check(first.verification_id, &last_sms_code(&phone).await)
        .await
        .expect("approved");
    let results = twenty_concurrent_sends_to(&app, &phone).await;
    let sent = results.iter().filter(|r| r.is_ok()).count();
    assert!((1..=2).contains(&sent), "{results:?}");
    assert_eq!(sms_to(&phone).await.len(), 1 + sent);
}

// ---- faults: throttling and errors from AWS, through a proxy --------------------------

use twostep_tests::faults::{Fault, FaultProxy};

fn env_url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by scripts/test.sh"))
}

/// `app`'s records, through a proxy to DynamoDB Local.
async fn with_dynamodb_proxy(app: &App, proxy: &FaultProxy) -> App {
    let sdk = aws::sdk_config("tests");
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(&proxy.url)
        .build();
    let mut core = app.core.clone();
    core.store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        app.core.config.table_name.clone(),
    ));
    App {
        core,
        hasher: app.hasher.clone(),
        sender: app.sender.clone(),
    }
}

/// `app` delivering SMS and email through a proxy to the SNS/SES emulator.
async fn with_delivery_proxy(app: &App, proxy: &FaultProxy) -> App {
    let sdk = aws::sdk_config("tests");
    let sender = AwsSender::new(
        aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&sdk)
                .endpoint_url(&proxy.url)
                .build(),
        ),
        aws_sdk_sesv2::Client::from_conf(
            aws_sdk_sesv2::config::Builder::from(&sdk)
                .endpoint_url(&proxy.url)
                .build(),
        ),
        &app.core.config.email_from,
        None,
    );
    App {
        core: app.core.clone(),
        hasher: app.hasher.clone(),
        sender: Arc::new(sender),
    }
}

#[tokio::test]
async fn throttled_sms_is_retried_by_the_sdk_then_a_clean_502_and_a_retry_works() {
    let app = app(&[]).await;
    let proxy = FaultProxy::start(&env_url("AWS_ENDPOINT_URL"), |_| {
        Some(Fault::sns_throttling())
    })
    .await;
    let throttled = with_delivery_proxy(&app, &proxy).await;
    let phone = unique_phone();
    let r = throttled.send(&sms(&phone)).await;
    assert!(matches!(r, Err(ServiceError::DeliveryFailed)), "{r:?}");
    assert!(
        proxy.seen() >= 2,
        "the SDK retried ({} requests)",
        proxy.seen()
    );
    let response = twostep::http::ApiError::from(r.expect_err("failed")).to_response();
    assert_eq!(response.status(), 502);
    assert!(sms_to(&phone).await.is_empty());
    // Consistent: the code is unusable and started no cooldown; a retry works at once.
    let contact = app.core.store.contact(&sms(&phone)).await.expect("read");
    let code = contact.and_then(|c| c.current).expect("a current code");
    assert_eq!(code.state, twostep::domain::CodeState::Failed);
    let retried = app.send(&sms(&phone)).await.expect("no cooldown");
    app.check(retried.verification_id, &last_sms_code(&phone).await)
        .await
        .expect("the delivered code approves");
    // Once the contact has moved on, the failure is on the verification's own record.
    let failed = service::status(&app.core, &code.verification_id)
        .await
        .expect("status");
    assert_eq!(failed.status, twostep::domain::VerificationStatus::Failed);
}

#[tokio::test]
async fn an_email_service_failing_inside_is_retried_then_a_clean_502() {
    let app = app(&[]).await;
    let proxy = FaultProxy::start(&env_url("AWS_ENDPOINT_URL"), |_| {
        Some(Fault::internal_error())
    })
    .await;
    let failing = with_delivery_proxy(&app, &proxy).await;
    let address = unique_email();
    let to = Destination::Email(EmailAddress::parse(&address).expect("valid"));
    let r = failing.send(&to).await;
    assert!(matches!(r, Err(ServiceError::DeliveryFailed)), "{r:?}");
    assert!(
        proxy.seen() >= 2,
        "the SDK retried ({} requests)",
        proxy.seen()
    );
    assert!(emails_to(&address).await.is_empty());
    app.send(&to).await.expect("a retry works at once");
    assert_eq!(emails_to(&address).await.len(), 1);
}

#[tokio::test]
async fn dynamodb_throttling_is_retried_by_the_sdk_without_the_client_noticing() {
    let app = app(&[]).await;
    // Throttle the first write transaction only.
    let proxy = FaultProxy::start(&env_url("AWS_ENDPOINT_URL_DYNAMODB"), {
        let throttled = std::sync::atomic::AtomicBool::new(false);
        move |seen| {
            let first = seen.target.ends_with("TransactWriteItems")
                && !throttled.swap(true, std::sync::atomic::Ordering::SeqCst);
            first.then(Fault::dynamodb_throttling)
        }
    })
    .await;
    let throttled = with_dynamodb_proxy(&app, &proxy).await;
    let phone = unique_phone();
    let sent = throttled
        .send(&sms(&phone))
        .await
        .expect("sent after a retry");
    assert_eq!(proxy.faulted(), 1);
    assert_eq!(sms_to(&phone).await.len(), 1);
    throttled
        .check(sent.verification_id, &last_sms_code(&phone).await)
        .await
        .expect("approved");
}

#[tokio::test]
async fn dynamodb_throttling_past_the_sdk_retries_is_a_503_and_nothing_is_half_written() {
    let app = app(&[]).await;
    let phone = unique_phone();
    let sent = app.send(&sms(&phone)).await.expect("sent");
    let code = last_sms_code(&phone).await;
    // Every write transaction is throttled: sends and approvals.
    let proxy = FaultProxy::start(&env_url("AWS_ENDPOINT_URL_DYNAMODB"), |seen| {
        seen.target
            .ends_with("TransactWriteItems")
            .then(Fault::dynamodb_throttling)
    })
    .await;
    let throttled = with_dynamodb_proxy(&app, &proxy).await;

    let other = unique_phone();
    let r = throttled.send(&sms(&other)).await;
    assert!(matches!(r, Err(ServiceError::Unavailable(_))), "{r:?}");
    assert!(proxy.faulted() >= 2, "the SDK retried");
    let response = twostep::http::ApiError::from(r.expect_err("unavailable")).to_response();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(sms_to(&other).await.is_empty(), "nothing sent");
    assert!(
        app.core
            .store
            .contact(&sms(&other))
            .await
            .expect("read")
            .is_none(),
        "nothing stored"
    );

    // The right code while approvals are throttled: a 503, the code not spent…
    let r = throttled.check(sent.verification_id.clone(), &code).await;
    assert!(matches!(r, Err(ServiceError::Unavailable(_))), "{r:?}");
    let status = service::status(&app.core, &sent.verification_id)
        .await
        .expect("status");
    assert_eq!(status.status, twostep::domain::VerificationStatus::Pending);
    // …and the retry, once DynamoDB answers again, approves it.
    app.check(sent.verification_id, &code)
        .await
        .expect("approved on retry");
}
