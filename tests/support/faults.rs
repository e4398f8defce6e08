//! A fault-injecting HTTP proxy between an AWS SDK client and its emulator: it forwards
//! each request, or answers it with the error an AWS service gives when it throttles or
//! fails, as a rule decides. Counts what it saw, so a test can tell the SDK retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An answer the proxy gives instead of forwarding.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The HTTP status.
    pub status: u16,
    /// The body's content type.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Fault {
    /// DynamoDB's throttling error.
    pub fn dynamodb_throttling() -> Self {
        Self {
            status: 400,
            content_type: "application/x-amz-json-1.0",
            body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#.to_owned(),
        }
    }

    /// SNS's (query protocol) throttling error.
    pub fn sns_throttling() -> Self {
        Self {
            status: 400,
            content_type: "text/xml",
            body: "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
                   <Message>Rate exceeded</Message></Error><RequestId>f</RequestId></ErrorResponse>"
                .to_owned(),
        }
    }

    /// A 500 as any service gives when it fails inside.
    pub fn internal_error() -> Self {
        Self {
            status: 500,
            content_type: "application/json",
            body: r#"{"__type":"InternalFailure","message":"internal failure"}"#.to_owned(),
        }
    }
}

/// What the rule sees of a request: its number (from 0), method, path, `X-Amz-Target`
/// header (DynamoDB's operation) and body.
pub struct Seen<'a> {
    /// The request's number, from 0.
    pub n: usize,
    /// `X-Amz-Target`, if any (`DynamoDB_20120810.TransactWriteItems`).
    pub target: &'a str,
    /// The body as text.
    pub body: &'a str,
}

type Rule = dyn Fn(&Seen<'_>) -> Option<Fault> + Send + Sync;

/// A running proxy.
pub struct FaultProxy {
    /// Its URL, to give the SDK client as its endpoint.
    pub url: String,
    seen: Arc<AtomicUsize>,
    faulted: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` that answers with the fault `rule` returns, if any.
    pub async fn start(
        upstream: &str,
        rule: impl Fn(&Seen<'_>) -> Option<Fault> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let seen = Arc::new(AtomicUsize::new(0));
        let faulted = Arc::new(AtomicUsize::new(0));
        let rule: Arc<Rule> = Arc::new(rule);
        let client = reqwest::Client::new();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let (s, f) = (seen.clone(), faulted.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (rule, client, upstream, s, f) = (
                    rule.clone(),
                    client.clone(),
                    upstream.clone(),
                    s.clone(),
                    f.clone(),
                );
                tokio::spawn(async move {
                    let _ = serve(stream, &*rule, &client, &upstream, &s, &f).await;
                });
            }
        });
        Self { url, seen, faulted }
    }

    /// Requests seen so far.
    pub fn seen(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }

    /// Requests answered with a fault so far.
    pub fn faulted(&self) -> usize {
        self.faulted.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut stream: TcpStream,
    rule: &Rule,
    client: &reqwest::Client,
    upstream: &str,
    seen: &AtomicUsize,
    faulted: &AtomicUsize,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    loop {
        // The head.
        let head_end = loop {
            if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 8192];
            let read = stream.read(&mut chunk).await?;
            if read == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..read]);
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_owned();
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or("GET").to_owned();
        let path = parts.next().unwrap_or("/").to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 8192];
            let read = stream.read(&mut chunk).await?;
            if read == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..read]);
        }
        let body = buffer[head_end..head_end + length].to_vec();
        buffer.drain(..head_end + length);

        let n = seen.fetch_add(1, Ordering::SeqCst);
        let target = headers
            .iter()
            .find(|(k, _)| k == "x-amz-target")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let text = String::from_utf8_lossy(&body);
        let (status, content_type, answer, extra) = match rule(&Seen {
            n,
            target,
            body: &text,
        }) {
            Some(fault) => {
                faulted.fetch_add(1, Ordering::SeqCst);
                (
                    fault.status,
                    fault.content_type.to_owned(),
                    fault.body.into_bytes(),
                    Vec::new(),
                )
            }
            None => {
                let mut forward = client.request(
                    reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET),
                    format!("{upstream}{path}"),
                );
                for (k, v) in &headers {
                    if !matches!(k.as_str(), "host" | "content-length" | "connection") {
                        forward = forward.header(k, v);
                    }
                }
                match forward.body(body).send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let extra: Vec<(String, String)> = response
                            .headers()
                            .iter()
                            .filter(|(k, _)| {
                                !matches!(
                                    k.as_str(),
                                    "content-length"
                                        | "transfer-encoding"
                                        | "connection"
                                        | "content-type"
                                )
                            })
                            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
                            .collect();
                        let content_type = response
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("application/octet-stream")
                            .to_owned();
                        let bytes = response
                            .bytes()
                            .await
                            .map(|b| b.to_vec())
                            .unwrap_or_default();
                        (status, content_type, bytes, extra)
                    }
                    Err(_) => (
                        502,
                        "text/plain".to_owned(),
                        b"upstream down".to_vec(),
                        Vec::new(),
                    ),
                }
            }
        };
        let mut out = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n",
            answer.len()
        );
        for (k, v) in extra {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        stream.write_all(out.as_bytes()).await?;
        stream.write_all(&answer).await?;
        stream.flush().await?;
    }
}
