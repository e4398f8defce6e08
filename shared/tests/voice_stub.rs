//! A voice call through the real SDK client and the functions' wiring (`Config::from_env`,
//! `aws::sdk_config`, `aws::sender`), through the call recorder (`scripts/aws_calls.py`) to the
//! voice stub (`scripts/voice_stub.py`), as `scripts/stack.sh` wires them: the SDK follows
//! `AWS_ENDPOINT_URL`, the recorder routes the signing name `sms-voice` to the stub, and the
//! stub hears the SSML that `MessageBuilder::voice` wrote. Also checks the stub's protocol
//! answers. Skipped (with a note) when no Python 3 is found.
//!
//! The SDK part runs in a child process of this test binary (the ignored test below), so that
//! it reads its endpoint and credentials from a real environment, as a function does.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use twostep::channels::Sender;
use twostep::domain::{Country, Locale, OtpCode, PhoneNumber};
use twostep::messages::MessageBuilder;
use twostep::{Config, aws};

/// Set in the child's environment: the ignored test runs only then.
const CHILD: &str = "TWOSTEP_VOICE_TEST_CHILD";
const DELIVERED: &str = "+4915112345678";
/// In the stub's `VOICE_STUB_FAIL`: AWS refuses calls to it.
const REFUSED: &str = "+4915112345679";
const ORIGINATION: &str = "+15005550000";

/// A process that is stopped when the test ends, however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The project's venv Python (what stack.sh runs), else `python3` from the PATH.
fn python() -> Option<PathBuf> {
    let venv = root().join(".tools/venv/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    found.then(|| PathBuf::from("python3"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn spawn(command: &mut Command) -> Process {
    Process(
        command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the process starts"),
    )
}

fn wait_for(port: u16) {
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing listens on port {port} after 10 s");
}

/// One HTTP/1.1 exchange: the status and the body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, body.to_owned())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn phone(raw: &str) -> PhoneNumber {
    PhoneNumber::parse(raw, Country::parse("DE").expect("DE")).expect("a valid number")
}

fn message(config: &Config) -> twostep::messages::VoiceMessage {
    let code = OtpCode::custom("482913", "code").expect("a valid code");
    MessageBuilder::new(&config.brand_name, config.code_ttl_seconds, None)
        .voice(&Locale::parse("de").expect("valid"), &code)
}

#[test]
fn a_voice_call_goes_through_the_sdk_and_the_recorder_to_the_stub() {
    let Some(python) = python() else {
        eprintln!("skipped: no python3 to run scripts/voice_stub.py");
        return;
    };
    let (voice_port, calls_port) = (free_port(), free_port());
    let log = std::env::temp_dir().join(format!(
        "twostep-voice-test-{}-{calls_port}.jsonl",
        std::process::id()
    ));
    let voice_url = format!("http://127.0.0.1:{voice_port}");
    let _stub = spawn(
        Command::new(&python)
            .arg(root().join("scripts/voice_stub.py"))
            .arg(voice_port.to_string())
            .env("VOICE_STUB_FAIL", format!("+15005550001, {REFUSED}")),
    );
    // Nothing else is called: DynamoDB and moto may be absent.
    let nowhere = "http://127.0.0.1:9";
    let _recorder = spawn(
        Command::new(&python)
            .arg(root().join("scripts/aws_calls.py"))
            .args([&calls_port.to_string(), nowhere, nowhere])
            .arg(&log)
            .args(["--voice", &voice_url]),
    );
    wait_for(voice_port);
    wait_for(calls_port);

    let child = Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "child_places_the_calls",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{calls_port}"))
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("TABLE_NAME", "twostep-voice-test")
        .env("EMAIL_FROM", "codes@example.com")
        .env("CODE_HASH_SECRET_ID", "unused")
        .env("VOICE_ORIGINATION_IDENTITY", ORIGINATION)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2")
        .env_remove("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .output()
        .expect("the child test runs");
    assert!(
        child.status.success(),
        "the SDK side failed:\n{}\n{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(
        String::from_utf8_lossy(&child.stdout).contains("1 passed"),
        "the child test did not run"
    );

    // The stub heard one call: the refused one is not a call.
    let (status, body) = http(voice_port, "GET", "/calls", &[], "");
    assert_eq!(status, 200);
    let calls = json(&body);
    let calls = calls.as_array().expect("a list");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    let config = Config::from_vars(
        &[
            ("TABLE_NAME", "t"),
            ("EMAIL_FROM", "codes@example.com"),
            ("CODE_HASH_SECRET_ID", "k"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
    )
    .expect("config");
    let expected = message(&config);
    assert_eq!(call["destination"], DELIVERED);
    assert_eq!(call["origination"], ORIGINATION);
    assert_eq!(call["voice_id"], "VICKI");
    assert_eq!(call["body_type"], "SSML");
    assert_eq!(call["body"], expected.ssml.as_str());
    assert_eq!(
        twostep::messages::spoken_digits(call["body"].as_str().unwrap_or_default()),
        "482913482913"
    );
    assert_eq!(call["message_id"].as_str().map(str::len), Some(36));
    assert!(call["at"].as_str().is_some_and(|at| at.ends_with('Z')));

    // The recorder saw both requests, signed for `sms-voice`, by the named function.
    let records = std::fs::read_to_string(&log).expect("the recorder's log");
    let _ = std::fs::remove_file(&log);
    let records: Vec<Value> = records.lines().map(json).collect();
    assert_eq!(records.len(), 2, "{records:?}");
    for (record, status) in records.iter().zip([200, 400]) {
        assert_eq!(record["app"], "twostep-voice-test");
        assert_eq!(record["service"], "sms-voice");
        assert_eq!(record["operation"], "SendVoiceMessage");
        assert_eq!(record["actions"][0]["action"], "sms-voice:SendVoiceMessage");
        assert_eq!(record["status"], status);
    }

    let (status, _) = http(voice_port, "POST", "/reset", &[], "");
    assert_eq!(status, 204);
    assert_eq!(
        json(&http(voice_port, "GET", "/calls", &[], "").1),
        json("[]")
    );
}

#[test]
fn the_stub_answers_like_the_service() {
    let Some(python) = python() else {
        eprintln!("skipped: no python3 to run scripts/voice_stub.py");
        return;
    };
    let port = free_port();
    let _stub = spawn(
        Command::new(&python)
            .arg(root().join("scripts/voice_stub.py"))
            .arg(port.to_string()),
    );
    wait_for(port);
    let send = |target: &str, body: &str| {
        let (status, text) = http(
            port,
            "POST",
            "/",
            &[
                ("X-Amz-Target", target),
                ("Content-Type", "application/x-amz-json-1.0"),
            ],
            body,
        );
        (status, json(&text))
    };
    let target = "PinpointSMSVoiceV2.SendVoiceMessage";
    let ok = r#"{"DestinationPhoneNumber":"+12025550123","OriginationIdentity":"+15005550000","MessageBody":"<speak>Hi</speak>","MessageBodyTextType":"SSML","VoiceId":"JOANNA"}"#;
    let (status, answer) = send(target, ok);
    assert_eq!(status, 200, "{answer}");
    assert!(answer["MessageId"].is_string());

    let (status, answer) = send(target, r#"{"DestinationPhoneNumber":"+12025550123"}"#);
    assert_eq!(status, 400);
    assert_eq!(answer["__type"], "ValidationException");
    assert_eq!(answer["Reason"], "MISSING_PARAMETER");
    assert_eq!(answer["Fields"][0]["Name"], "OriginationIdentity");

    for bad in [
        ok.replace("+12025550123", "12 34"),
        ok.replace("JOANNA", "LAURA"),
        ok.replace("SSML\"", "HTML\""),
        ok.replace("<speak>Hi</speak>", "<speak>Tom & Jerry</speak>"),
        ok.replace("<speak>Hi</speak>", "   "),
    ] {
        let (status, answer) = send(target, &bad);
        assert_eq!(
            (status, &answer["__type"]),
            (400, &json("\"ValidationException\"")),
            "{bad}"
        );
    }
    let (status, answer) = send("PinpointSMSVoiceV2.SendTextMessage", ok);
    assert_eq!(
        (status, &answer["__type"]),
        (400, &json("\"UnknownOperationException\""))
    );
    let (status, answer) = send(target, "[1]");
    assert_eq!(
        (status, &answer["__type"]),
        (400, &json("\"SerializationException\""))
    );

    let calls = json(&http(port, "GET", "/calls", &[], "").1);
    assert_eq!(calls.as_array().map(Vec::len), Some(1), "{calls}");
}

/// The SDK side of the first test, in a child process with the stack's environment.
#[tokio::test]
#[ignore = "run by a_voice_call_goes_through_the_sdk_and_the_recorder_to_the_stub"]
async fn child_places_the_calls() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let config = Config::from_env().expect("the child's configuration");
    assert_eq!(
        config.voice_origination_identity.as_deref(),
        Some(ORIGINATION)
    );
    let sdk = aws::sdk_config("voice-test");
    let sender = aws::sender(&sdk, &config);
    let call = message(&config);
    sender
        .send_voice(&phone(DELIVERED), &call)
        .await
        .expect("the call is placed");
    let refused = sender
        .send_voice(&phone(REFUSED), &call)
        .await
        .expect_err("the stub refuses this number")
        .to_string();
    assert!(refused.contains("ValidationException"), "{refused}");
    assert!(!refused.contains("15112345679"), "the number in {refused}");

    // Without an origination identity nothing is sent.
    let off = Config {
        voice_origination_identity: None,
        ..config
    };
    let e = aws::sender(&sdk, &off)
        .send_voice(&phone(DELIVERED), &call)
        .await
        .expect_err("voice is off");
    assert!(e.to_string().contains("VOICE_ORIGINATION_IDENTITY"), "{e}");
}
