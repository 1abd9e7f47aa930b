//! A push body and a decrypted message: declaration screening (DOCTYPE/ENTITY), the envelope, and
//! the typed card event, each on every input (the parsers refuse declarations themselves). Never
//! panics.
#![no_main]

use cardhook_wechat::{events, xml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = xml::reject_declarations(text);
    let _ = xml::parse_envelope(text);
    if let Ok(message) = events::parse(text) {
        let _ = (
            message.event.name(),
            message.event.card_id(),
            message.event.code(),
        );
    }
});
