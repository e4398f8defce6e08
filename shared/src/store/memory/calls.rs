//! [`CallStore`] in memory, with the DynamoDB store's conditions.

use super::*;

impl Records {
    fn replace_code(&mut self, replacement: &CodeReplacement) -> bool {
        let CodeReplacement {
            code: CodeRef { destination, id },
            hash,
            now,
            reason,
        } = replacement;
        let Some(contact) = self.contacts.get_mut(&destination.key()) else {
            return false;
        };
        let Some(code) = contact.current.as_mut() else {
            return false;
        };
        if code.verification_id != *id || !is_open(code, *now) {
            return false;
        }
        let Some(call) = code.call.as_mut() else {
            return false;
        };
        match reason {
            Replacement::Read { max_reads } if call.reads < *max_reads => call.reads += 1,
            Replacement::SmsAfterCall if !call.sms_sent && call.reads == 0 => call.sms_sent = true,
            _ => return false,
        }
        code.hash = hash.clone();
        contact.version += 1;
        true
    }

    fn count_inbound_call(&mut self, call: &InboundCall) -> bool {
        let count = self
            .callers
            .entry((call.caller.clone(), call.window_start))
            .or_insert(0);
        if *count >= call.max {
            return false;
        }
        *count += 1;
        true
    }
}

#[async_trait]
impl CallStore for MemoryStore {
    async fn replace_code(&self, replacement: &CodeReplacement) -> StoreResult<bool> {
        self.with(None, |r| Ok(r.replace_code(replacement)))
    }

    async fn count_inbound_call(&self, call: &InboundCall) -> StoreResult<bool> {
        self.with(None, |r| Ok(r.count_inbound_call(call)))
    }
}
