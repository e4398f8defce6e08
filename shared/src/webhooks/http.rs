//! The HTTP side of a delivery: a POST with the Standard Webhooks headers, over hyper and
//! rustls (ring, the system's root certificates), HTTP/1.1, no redirects followed, with a
//! deadline for the whole exchange.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::delivery::{Answer, SignedRequest, Transport};

/// How long a receiver has to answer (the specification suggests a short timeout; a slow
/// receiver is tried again later, as a failed one is).
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a receiver's answer that is read (it is discarded).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why the client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Not an http(s) URL.
    #[error("WEBHOOK_URL is not an http:// or https:// URL")]
    Url,
    /// The system's root certificates could not be read.
    #[error("the system's root certificates could not be read: {0}")]
    Roots(std::io::Error),
}

/// POSTs deliveries to one URL.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    url: Uri,
    timeout: Duration,
}

impl HttpTransport {
    /// A client for `url` (`https://…`; `http://` for a local receiver), with `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, ClientError> {
        let url: Uri = url.parse().map_err(|_| ClientError::Url)?;
        if !matches!(url.scheme_str(), Some("https" | "http")) || url.host().is_none() {
            return Err(ClientError::Url);
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(ClientError::Roots)?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            url,
            timeout,
        })
    }

    /// The receiver's host, for logs (never its path or query, which may hold a token).
    pub fn host(&self) -> &str {
        self.url.host().unwrap_or_default()
    }

    async fn exchange(&self, request: SignedRequest<'_>) -> Result<Answer, String> {
        let http_request = Request::builder()
            .method(Method::POST)
            .uri(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("twostep-webhooks/", env!("CARGO_PKG_VERSION")),
            )
            .header("webhook-id", request.id)
            .header("webhook-timestamp", request.timestamp.to_string())
            .header("webhook-signature", request.signature)
            .body(Full::new(Bytes::copy_from_slice(request.body)))
            .map_err(|e| format!("request not built: {e}"))?;
        let response = self
            .client
            .request(http_request)
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok());
        // Read (a bounded part of) the answer so the connection can be used again.
        let mut body = response.into_body();
        let mut read = 0;
        while read < MAX_ANSWER_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
                _ => break,
            }
        }
        Ok(Answer {
            status,
            retry_after,
        })
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn post(&self, request: SignedRequest<'_>) -> Result<Answer, String> {
        tokio::time::timeout(self.timeout, self.exchange(request))
            .await
            .map_err(|_| format!("no answer within {} s", self.timeout.as_secs()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(HttpTransport::new("https://hooks.example.com/twostep?token=x", TIMEOUT).is_ok());
        assert!(HttpTransport::new("http://127.0.0.1:9/hook", TIMEOUT).is_ok());
        for bad in ["ftp://example.com/", "hooks.example.com", "", "https://"] {
            assert!(HttpTransport::new(bad, TIMEOUT).is_err(), "{bad}");
        }
        let t = HttpTransport::new("https://hooks.example.com/p?token=secret", TIMEOUT).unwrap();
        assert_eq!(t.host(), "hooks.example.com");
    }
}
