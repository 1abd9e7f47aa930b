//! The query string of a push: parsing, `signature` check, timestamp window. Never panics.
#![no_main]

use cardhook_wechat::{query, signature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    if let Ok(q) = query::parse(raw) {
        let _ = signature::verify_signature(&q.signature, "demo-token", &q.timestamp, &q.nonce);
        let _ = query::check_freshness(q.timestamp_secs, 1_700_000_000, 300);
        if let Some(msg_signature) = &q.msg_signature {
            let _ = signature::verify_msg_signature(
                msg_signature,
                "demo-token",
                &q.timestamp,
                &q.nonce,
                raw,
            );
        }
    }
});
