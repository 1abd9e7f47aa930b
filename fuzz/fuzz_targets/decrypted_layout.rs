//! The plaintext layout after AES (random(16) | length(4) | message | AppID | PKCS#7 pad), under
//! the fuzzer's full control: the input, zero-padded to whole blocks, is encrypted with the
//! account's key, so decryption reaches the pad, length, UTF-8 and AppID checks with any bytes.
//! Whatever it accepts must be exactly what the layout says. Never panics.
#![no_main]

use aes::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use cardhook_wechat::crypto::{self, AesKey};
use libfuzzer_sys::fuzz_target;

const ENCODING_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wxdemo0000000001";

fuzz_target!(|plain: &[u8]| {
    let mut key = [0u8; 32];
    // The console's keys may carry non-zero trailing bits (reference §2.1): decode leniently.
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let decoded = lenient
        .decode(format!("{ENCODING_AES_KEY}="))
        .expect("the demo key is base64");
    key.copy_from_slice(&decoded);
    let mut padded = plain.to_vec();
    padded.resize(plain.len().div_ceil(16).max(1) * 16, 0);
    let len = padded.len();
    let mut buf = padded.clone();
    let iv: [u8; 16] = key[..16].try_into().expect("16 bytes");
    cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded_mut::<NoPadding>(&mut buf, len)
        .expect("whole blocks");
    let encrypt = base64::engine::general_purpose::STANDARD.encode(&buf);
    let aes_key = AesKey::from_encoding_aes_key(ENCODING_AES_KEY).expect("valid key");
    if let Ok(message) = crypto::decrypt(&aes_key, &encrypt, APPID) {
        // Accepted: the declared length names exactly the message, followed by the AppID.
        let pad = usize::from(padded[len - 1]);
        let body = &padded[..len - pad];
        let declared = u32::from_be_bytes(body[16..20].try_into().expect("4 bytes")) as usize;
        assert_eq!(&body[20..20 + declared], message.as_bytes());
        assert_eq!(&body[20 + declared..], APPID.as_bytes());
    }
});
