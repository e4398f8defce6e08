//! The HTTP edge: request bodies (JSON and forms) into fields, fields into domain
//! requests, and every outcome into a response (JSON, problem+json, or a form's 303
//! redirect), with CORS. [`error`] is the one place that maps errors to HTTP; each route is
//! a file of [`routes`]. [`twilio`] speaks Twilio Verify v2 over the same service.

use std::sync::Arc;

use crate::channels::authenticator::TotpCipher;
use crate::domain::CodeHasher;
use crate::service::Core;
use crate::service::deferred::Deferred;
use crate::service::keys::KeyRing;

pub mod auth;
pub mod connector;
pub mod cors;
pub mod error;
pub mod fields;
pub mod genesys;
pub mod lambda;
pub mod page;
pub mod redirect;
pub mod reply;
pub mod routes;
pub mod twilio;

pub use error::{ApiError, ErrorCode};
pub use fields::{Fields, MAX_BODY_BYTES};
pub use reply::{Reply, respond_with};

/// The key that seals authenticator-app secrets, read from the start of the verify
/// function's init.
pub type TotpKey = Deferred<TotpCipher>;

/// What every route needs, held by a function between invocations.
pub struct App {
    /// Configuration, records and clock.
    pub core: Core,
    /// The code-hash key(s), read from the start of the function's init.
    pub hasher: Arc<Deferred<CodeHasher>>,
    /// The API keys, cached.
    pub keys: KeyRing,
}
