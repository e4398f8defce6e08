//! Interactive calls (`channel=call`): how a call handles its code, and what it did so far.

use super::InputError;
use super::echo;

/// What an interactive call does with the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallMode {
    /// The call reads a code, and reads it again when `1` is pressed.
    Read,
    /// The call asks for the code on the keypad and checks it: the person was shown it
    /// (the keyed caller's `custom_code`).
    Input,
}

impl CallMode {
    /// Parses `read` or `input`, ignoring case.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(Self::Read),
            "input" => Ok(Self::Input),
            _ => Err(InputError::InvalidField {
                field: "mode",
                message: format!("'{}' is not one of read, input", echo(raw)),
            }),
        }
    }

    /// The wire and stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Input => "input",
        }
    }
}

/// An interactive call's settings and progress, kept with its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallState {
    /// Read the code, or take it on the keypad.
    pub mode: CallMode,
    /// Whether a call that ends before its code was read or checked is followed by an SMS
    /// with a code.
    pub sms_after_call: bool,
    /// How many codes calls have read for this verification (each reading makes a new one).
    pub reads: u32,
    /// Whether the SMS after the call went out (at most once).
    pub sms_sent: bool,
}

impl CallState {
    /// A new call's state: nothing read, no SMS.
    pub fn new(mode: CallMode, sms_after_call: bool) -> Self {
        Self {
            mode,
            sms_after_call,
            reads: 0,
            sms_sent: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_in_any_case_and_nothing_else_does() {
        assert_eq!(CallMode::parse(" Read "), Ok(CallMode::Read));
        assert_eq!(CallMode::parse("INPUT"), Ok(CallMode::Input));
        for mode in [CallMode::Read, CallMode::Input] {
            assert_eq!(CallMode::parse(mode.as_str()), Ok(mode));
        }
        let refused = CallMode::parse("sing").expect_err("unknown");
        assert_eq!(refused.field(), Some("mode"));
    }
}
