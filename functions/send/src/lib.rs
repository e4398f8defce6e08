//! The send function's routes: `POST /signup` (register a contact and send it a code),
//! `GET /` (the demo page), `GET /totp` (the page that sets up an authenticator app) and
//! Twilio Verify's `POST /v2/Services/{ServiceSid}/Verifications`, Genesys IA's
//! `/genesys/sendAuthenticationCode` and the workflow connector's `POST /connector/send` and
//! `POST /connector/resend`.

use std::sync::Arc;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use twostep::channels::Sender;
use twostep::http::routes::signup;
use twostep::http::twilio::{self, Path};
use twostep::http::{ApiError, connector, cors, genesys, page};

/// What the send function holds between invocations.
pub struct App {
    /// What every route needs.
    pub http: twostep::http::App,
    /// SMS, voice and email delivery.
    pub sender: Arc<dyn Sender>,
}

/// Handles one request; every outcome is a response.
pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let config = &app.http.core.config;
    let twilio_route = Path::of(&request).map(|p| p.rest);
    if genesys::service(&request) == Some("sendAuthenticationCode") {
        return Ok(genesys::send_code(&app.http, app.sender.as_ref(), &request).await);
    }
    match connector::route(&request) {
        Some("send") if request.method() == Method::POST => {
            return Ok(connector::send(&app.http, app.sender.as_ref(), &request).await);
        }
        Some("resend") if request.method() == Method::POST => {
            return Ok(connector::resend(&app.http, app.sender.as_ref(), &request).await);
        }
        _ => {}
    }
    let response = match *request.method() {
        // Keyed, for servers: no CORS, no preflight.
        Method::POST if twilio_route.as_deref() == Some("Verifications") => {
            return Ok(
                twilio::verifications::create(&app.http, app.sender.as_ref(), &request).await,
            );
        }
        Method::OPTIONS => cors::preflight(config, &request),
        Method::GET | Method::HEAD if is_totp_page(&request) => page::totp_page(config, &request),
        Method::GET | Method::HEAD => page::page(config, &request),
        Method::POST => signup::post(&app.http, app.sender.as_ref(), &request).await,
        ref other => ApiError::MethodNotAllowed(other.to_string()).to_response(),
    };
    Ok(cors::with_cors(config, &request, response))
}

/// Whether a GET asks for the authenticator-app page (`/totp`, also under a stage prefix).
fn is_totp_page(request: &Request) -> bool {
    request
        .uri()
        .path()
        .trim_end_matches('/')
        .ends_with("/totp")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Request {
        lambda_http::http::Request::builder()
            .uri(path)
            .body(Body::Empty)
            .expect("request")
    }

    #[test]
    fn the_authenticator_page_is_found_with_or_without_a_stage_prefix() {
        for path in ["/totp", "/totp/", "/prod/totp", "/totp?verification_id=x"] {
            assert!(is_totp_page(&get(path)), "{path}");
        }
        for path in ["/", "/?locale=de", "/totp/enroll", "/nototp"] {
            assert!(!is_totp_page(&get(path)), "{path}");
        }
    }
}
