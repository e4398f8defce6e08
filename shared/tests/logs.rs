//! What the service logs, formatted as the functions print it: no code and no full phone
//! number or email address, on every path. `scripts/test.sh` checks the functions' log too,
//! but only for what the integration tests make the functions do, and a delivery never
//! fails there. A test binary of its own, so that its global subscriber sees every event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use lambda_http::tracing::subscriber::fmt::MakeWriter;
use twostep::Config;
use twostep::channels::memory::RecordingSender;
use twostep::domain::{CodeHasher, Country, Destination, EmailAddress, PhoneNumber, SubmittedCode};
use twostep::metrics::NoMetrics;
use twostep::service::{self, CheckTarget, Core, SendRequest, ServiceError};
use twostep::store::memory::MemoryStore;
use twostep::time::SystemClock;

/// Everything logged, in memory.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn the_log_names_no_destination_and_no_code() {
    let log = LogBuffer::default();
    let subscriber = lambda_http::tracing::subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .with_writer(log.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let vars: HashMap<String, String> = [
        ("TABLE_NAME", "t"),
        ("EMAIL_FROM", "codes@example.com"),
        ("CODE_HASH_SECRET_ID", "k"),
        ("RESEND_COOLDOWN_SECONDS", "0"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let store = Arc::new(MemoryStore::new());
    let core = Core {
        config: Arc::new(Config::from_vars(&vars).expect("config")),
        store: store.clone(),
        clock: Arc::new(SystemClock),
        metrics: Arc::new(NoMetrics),
    };
    let hasher = CodeHasher::new(&[42u8; 32], None);
    let sender = RecordingSender::new();
    let us = Country::parse("US").expect("US");
    let phone = Destination::Sms(PhoneNumber::parse("+4989202451100", us).expect("valid"));
    let email = Destination::Email(EmailAddress::parse("ada@example.com").expect("valid"));
    let (core, hasher, sender) = (&core, &hasher, &sender);
    let send = |to: &Destination| service::send(core, hasher, sender, SendRequest::new(to.clone()));
    let check = |to: &Destination, digits: &str| {
        let code = SubmittedCode::parse(digits, 6).expect("format");
        let target = CheckTarget::Destination(to.clone());
        async move { service::check(core, hasher, target, &code).await }
    };

    // Every path that logs: a failed delivery, a send, a wrong code and the right one.
    let mut codes = Vec::new();
    for to in [&phone, &email] {
        sender.set_failing(true);
        let failed = send(to).await;
        assert!(
            matches!(failed, Err(ServiceError::DeliveryFailed)),
            "{failed:?}"
        );
        sender.set_failing(false);
        send(to).await.expect("sent");
        let code = sender.last_code(6).expect("a code was sent");
        let wrong = format!(
            "{:06}",
            (code.parse::<u32>().expect("digits") + 1) % 1_000_000
        );
        let r = check(to, &wrong).await;
        assert!(
            matches!(r, Err(ServiceError::IncorrectCode { .. })),
            "{r:?}"
        );
        check(to, &code).await.expect("approved");
        codes.push(code);
    }
    // The events function's lines: the events of every change, refused by the bus once,
    // then published.
    let events = twostep::events::memory::RecordingEvents::default();
    events.set_failing(true);
    let changes = store.changes();
    service::outcomes::publish(&core.config, &NoMetrics, &events, &changes).await;
    events.set_failing(false);
    service::outcomes::publish(&core.config, &NoMetrics, &events, &changes).await;
    assert_eq!(events.events().len(), 10, "{:?}", events.kinds());

    let text = log.text();
    for line in [
        "delivery failed",
        "code sent",
        "incorrect code",
        "approved",
        "event not published yet",
        "event published",
    ] {
        assert!(text.contains(line), "no '{line}' in the log:\n{text}");
    }
    let words: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphanumeric() && !"@.+".contains(c))
        .map(|word| word.trim_matches('.'))
        .collect();
    for secret in ["+4989202451100", "4989202451100", "ada@example.com"]
        .into_iter()
        .chain(codes.iter().map(String::as_str))
    {
        assert!(!words.contains(&secret), "{secret} is in the log:\n{text}");
    }
}
