//! One file per route: the request's fields, the call to the service, and the answer's
//! shape, together. The functions' `lib.rs` files route to these.

pub mod cancel;
pub mod contacts;
pub mod signup;
pub mod status;
pub mod totp;
pub mod verify;
