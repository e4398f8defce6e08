//! twostep: self-hosted two-step verification (one-time codes by SMS and email) on AWS
//! Lambda. This crate holds everything but the wiring of the three functions.

pub mod aws;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod dynamodb;
pub mod events;
pub mod factors;
pub mod http;
pub mod i18n;
pub mod keyring;
pub mod messages;
pub mod metrics;
pub mod page;
pub mod redirect;
pub mod service;
pub mod store;
pub mod totp;

pub use config::Config;
