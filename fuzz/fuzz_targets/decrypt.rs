//! An `Encrypt` text as received: base64, AES blocks, padding, declared length, AppID. Never panics.
#![no_main]

use cardhook_wechat::crypto::{self, AesKey};
use libfuzzer_sys::fuzz_target;

const ENCODING_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

fuzz_target!(|encrypt: &str| {
    let key = AesKey::from_encoding_aes_key(ENCODING_AES_KEY).expect("the demo key is valid");
    let _ = crypto::decrypt(&key, encrypt, "wxdemo0000000001");
});
