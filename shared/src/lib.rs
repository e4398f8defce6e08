//! twostep: self-hosted two-step verification (one-time codes by SMS, voice, email and
//! authenticator apps) on AWS Lambda. This crate holds everything but the wiring of the
//! functions, in layers whose imports go one way (`docs/architecture.md`):
//!
//! ```text
//! domain, time, i18n, messages        values and texts
//!   -> store, channels, events, metrics    records, delivery, outcomes (the adapters)
//!     -> service, config, webhooks         the rules, one file per use case; signed webhooks
//!       -> http, calls                     requests and answers, one file per route; call events
//!         -> aws                           the production wiring
//! ```

pub mod aws;
pub mod calls;
pub mod channels;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod i18n;
pub mod messages;
pub mod metrics;
pub mod service;
pub mod store;
pub mod time;
pub mod webhooks;

pub use config::Config;
