//! The functions' Lambda adapter: an API Gateway HTTP API (payload 2.0) event in, the
//! handler's response out, as `lambda_http::run` does it but without its body conversion.
//!
//! `lambda_http::run` collects every response body again and decodes it by the charset of
//! its `Content-Type` (with `encoding_rs`, whose decoders for every legacy encoding are then
//! linked into each binary: about 0.3 MB). Every body here is already UTF-8 text, or bytes
//! (the gzipped pages), so it goes out as it is: text as text, bytes base64-encoded, as API
//! Gateway expects them. Set-Cookie headers go to `cookies`, as payload 2.0 requires; the
//! other headers are sent as they are (API Gateway joins repeated ones with commas).

use std::future::Future;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::http::header::SET_COOKIE;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Error, LambdaEvent, Request, RequestExt, Response, service_fn};

/// Runs `handler` for each invocation until the runtime stops.
pub async fn serve<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, Error>>,
{
    lambda_http::lambda_runtime::run(service_fn(|event: LambdaEvent<LambdaRequest>| {
        let LambdaEvent { payload, context } = event;
        let answer = handler(Request::from(payload).with_lambda_context(context));
        async move { answer.await.map(to_payload) }
    }))
    .await
}

/// A response as the HTTP API's payload 2.0.
pub fn to_payload(response: Response<Body>) -> ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let mut headers = parts.headers;
    let cookies = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    headers.remove(SET_COOKIE);
    let (is_base64_encoded, body) = match body {
        Body::Empty => (false, None),
        text @ Body::Text(_) => (false, Some(text)),
        bytes @ Body::Binary(_) => (true, Some(bytes)),
        _ => (false, None),
    };
    let mut payload = ApiGatewayV2httpResponse::default();
    payload.status_code = i64::from(parts.status.as_u16());
    payload.headers = headers;
    payload.cookies = cookies;
    payload.body = body;
    payload.is_base64_encoded = is_base64_encoded;
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::StatusCode;

    #[test]
    fn text_stays_text_bytes_go_base64_and_cookies_move_to_their_field() {
        let response = Response::builder()
            .status(StatusCode::ACCEPTED)
            .header("content-type", "application/json")
            .header("set-cookie", "a=1")
            .header("set-cookie", "b=2")
            .body(Body::Text("{\"é\":1}".to_owned()))
            .expect("response");
        let payload = serde_json::to_value(to_payload(response)).expect("json");
        assert_eq!(payload["statusCode"], 202);
        assert_eq!(payload["body"], "{\"é\":1}");
        assert_eq!(payload["isBase64Encoded"], false);
        assert_eq!(payload["cookies"], serde_json::json!(["a=1", "b=2"]));
        assert_eq!(payload["headers"]["content-type"], "application/json");
        assert!(payload["headers"].get("set-cookie").is_none());
        let gzipped = Response::builder()
            .header("content-encoding", "gzip")
            .body(Body::Binary(vec![0x1f, 0x8b, 0]))
            .expect("response");
        let payload = serde_json::to_value(to_payload(gzipped)).expect("json");
        assert_eq!(
            (
                payload["isBase64Encoded"].as_bool(),
                payload["body"].as_str()
            ),
            (Some(true), Some("H4sA"))
        );
        let empty = serde_json::to_value(to_payload(Response::new(Body::Empty))).expect("json");
        assert_eq!(empty["statusCode"], 200);
        assert!(empty.get("body").is_none() || empty["body"].is_null());
    }
}
