//! WXBizMsgCrypt: the AES-256-CBC envelope of safe and compatible mode (reference §2).
//!
//! Plaintext layout: `random(16) || msg_len (u32, big-endian) || msg || appid`, PKCS#7-padded
//! to 32-byte blocks, encrypted with AES-256-CBC under key = base64(EncodingAESKey + "="),
//! IV = key[0..16], then base64 (standard alphabet, padded).

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::{alphabet, Engine};

use super::ProtocolError;

type Decryptor = cbc::Decryptor<aes::Aes256>;
type Encryptor = cbc::Encryptor<aes::Aes256>;

/// WXBizMsgCrypt pads to 32-byte blocks (PKCS#7, pad 1..=32); a 16-byte unpadder rejects valid pushes.
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;
const HEADER_LEN: usize = RANDOM_LEN + 4;

/// Real EncodingAESKeys are non-canonical base64: the 43rd character carries trailing bits that a
/// strict decoder rejects (reference §2.1, "Rust pitfall").
const LENIENT_KEY_DECODER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The 32-byte AES key derived from an account's EncodingAESKey. `Debug` never shows it.
#[derive(Clone)]
pub struct AesKey([u8; 32]);

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

impl AesKey {
    /// Derive the key from the 43-character EncodingAESKey shown in the Official Account console.
    pub fn from_encoding_aes_key(encoding_aes_key: &str) -> Result<Self, ProtocolError> {
        let valid_chars = encoding_aes_key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
        if encoding_aes_key.len() != 43 || !valid_chars {
            return Err(ProtocolError::BadAesKey);
        }
        let mut padded = [0u8; 44];
        padded[..43].copy_from_slice(encoding_aes_key.as_bytes());
        padded[43] = b'=';
        let mut key = [0u8; 32];
        match LENIENT_KEY_DECODER.decode_slice_unchecked(padded, &mut key) {
            Ok(32) => Ok(Self(key)),
            _ => Err(ProtocolError::BadAesKey),
        }
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }
}

/// Decrypt the `Encrypt` text of a push and check that it was sealed for `appid`.
///
/// Checks, in order: base64, whole AES blocks, PKCS#7 pad 1..=32 with every pad byte, the declared
/// length against the buffer, UTF-8, and the trailing AppID (reference §2.2; the official sample
/// answers -40005 on a foreign AppID).
pub fn decrypt(key: &AesKey, encrypt: &str, appid: &str) -> Result<String, ProtocolError> {
    let mut buf = STANDARD
        .decode(encrypt.as_bytes())
        .map_err(|_| ProtocolError::BadBase64)?;
    if buf.is_empty() || buf.len() % 16 != 0 {
        return Err(ProtocolError::BadCiphertext);
    }
    Decryptor::new(&key.0.into(), &key.iv().into())
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .map_err(|_| ProtocolError::BadCiphertext)?;

    let pad = usize::from(buf[buf.len() - 1]);
    if !(1..=PAD_BLOCK).contains(&pad) || pad > buf.len() {
        return Err(ProtocolError::BadPadding);
    }
    let content_len = buf.len() - pad;
    if buf[content_len..].iter().any(|&b| usize::from(b) != pad) {
        return Err(ProtocolError::BadPadding);
    }
    if content_len < HEADER_LEN {
        return Err(ProtocolError::BadLength);
    }
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(&buf[RANDOM_LEN..HEADER_LEN]);
    let msg_len = u32::from_be_bytes(len_bytes) as usize;
    let msg_end = HEADER_LEN
        .checked_add(msg_len)
        .filter(|&end| end <= content_len)
        .ok_or(ProtocolError::BadLength)?;
    if &buf[msg_end..content_len] != appid.as_bytes() {
        return Err(ProtocolError::AppIdMismatch);
    }
    buf.truncate(msg_end);
    buf.drain(..HEADER_LEN);
    String::from_utf8(buf).map_err(|_| ProtocolError::BadUtf8)
}

/// Encrypt `msg` for `appid` as WeChat does, with the caller's 16 random bytes (the sender's side).
pub fn encrypt(key: &AesKey, random: &[u8; 16], msg: &str, appid: &str) -> String {
    let content_len = HEADER_LEN + msg.len() + appid.len();
    let pad = PAD_BLOCK - content_len % PAD_BLOCK;
    let mut buf = Vec::with_capacity(content_len + pad);
    buf.extend_from_slice(random);
    // A push is far below 4 GiB; saturate rather than wrap if someone tries.
    buf.extend_from_slice(&u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes());
    buf.extend_from_slice(msg.as_bytes());
    buf.extend_from_slice(appid.as_bytes());
    // pad is in 1..=32, so it fits a byte.
    buf.resize(content_len + pad, pad as u8);
    let len = buf.len();
    let encrypted = Encryptor::new(&key.0.into(), &key.iv().into())
        .encrypt_padded_mut::<NoPadding>(&mut buf, len)
        .map(|c| STANDARD.encode(c));
    // NoPadding over a whole number of blocks cannot fail.
    encrypted.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors;
    use proptest::prelude::*;

    fn key_of(v: &std::collections::HashMap<&str, &str>) -> AesKey {
        AesKey::from_encoding_aes_key(v["encoding_aes_key"]).unwrap()
    }

    fn random_of(s: &str) -> [u8; 16] {
        s.as_bytes().try_into().unwrap()
    }

    #[test]
    fn non_canonical_keys_decode_with_trailing_bits() {
        let b = vectors::load(vectors::B);
        assert_eq!(hex::encode(key_of(&b).0), b["key_hex"]);
        assert!(
            AesKey::from_encoding_aes_key(vectors::load(vectors::D)["encoding_aes_key"]).is_ok()
        );
        assert_eq!(key_of(&vectors::load(vectors::A)).0, [0u8; 32]);
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            &"A".repeat(42),
            &"A".repeat(44),
            &format!("{}!", "A".repeat(42)),
        ] {
            assert_eq!(
                AesKey::from_encoding_aes_key(bad).unwrap_err(),
                ProtocolError::BadAesKey
            );
        }
    }

    #[test]
    fn key_debug_is_redacted() {
        let key = key_of(&vectors::load(vectors::B));
        assert_eq!(format!("{key:?}"), "AesKey(<redacted>)");
    }

    #[test]
    fn vector_a_official_decrypts_and_encrypts_the_reply() {
        let a = vectors::load(vectors::A);
        let key = key_of(&a);
        assert_eq!(
            decrypt(&key, a["encrypt"], a["appid"]).unwrap(),
            a["plaintext"]
        );
        let reply = encrypt(
            &key,
            &random_of(a["reply_random"]),
            a["reply_plaintext"],
            a["appid"],
        );
        assert_eq!(reply, a["reply_encrypt"]);
    }

    #[test]
    fn vector_b_easywechat_decrypts_and_checks_the_appid() {
        let b = vectors::load(vectors::B);
        let body = include_str!("../../fixtures/vectors/vector_b_body.xml");
        let encrypt = crate::xml::parse_envelope(body).unwrap().encrypt.unwrap();
        assert_eq!(
            decrypt(&key_of(&b), &encrypt, b["appid"]).unwrap(),
            b["plaintext"]
        );
        assert_eq!(
            decrypt(&key_of(&b), &encrypt, "invalid appid").unwrap_err(),
            ProtocolError::AppIdMismatch
        );
    }

    #[test]
    fn vector_c_wxjava_encrypts_deterministically() {
        let c = vectors::load(vectors::C);
        let key = key_of(&c);
        for i in ["1", "2"] {
            let plain = c[format!("plaintext_{i}").as_str()];
            let sealed = encrypt(&key, &random_of(c["random"]), plain, c["appid"]);
            assert_eq!(sealed, c[format!("encrypt_{i}").as_str()]);
            assert_eq!(decrypt(&key, &sealed, c["appid"]).unwrap(), plain);
        }
    }

    #[test]
    fn vector_d_wecom_primitive_decrypts() {
        let d = vectors::load(vectors::D);
        let key = key_of(&d);
        assert_eq!(
            decrypt(&key, d["echostr_encrypted"], d["receive_id"]).unwrap(),
            d["echostr_plain"]
        );
        let msg = decrypt(&key, d["encrypt"], d["receive_id"]).unwrap();
        assert!(msg.contains("<Content><![CDATA[test]]></Content>"), "{msg}");
        assert!(msg.contains("messense"), "{msg}");
    }

    fn craft(key: &AesKey, plain: &[u8]) -> String {
        // Encrypt arbitrary (possibly mis-padded) plaintext blocks, to reach every decrypt check.
        let mut buf = plain.to_vec();
        let len = buf.len();
        let out = Encryptor::new(&key.0.into(), &key.iv().into())
            .encrypt_padded_mut::<NoPadding>(&mut buf, len)
            .unwrap();
        STANDARD.encode(out)
    }

    fn layout(msg: &[u8], declared: u32, appid: &[u8], pad: u8, pad_len: usize) -> Vec<u8> {
        let mut v = vec![7u8; 16];
        v.extend_from_slice(&declared.to_be_bytes());
        v.extend_from_slice(msg);
        v.extend_from_slice(appid);
        v.extend(std::iter::repeat_n(pad, pad_len));
        v
    }

    #[test]
    fn every_malformation_has_its_reason() {
        let b = vectors::load(vectors::B);
        let (key, appid) = (key_of(&b), b["appid"]);
        // 20 + 4 + 18 = 42 bytes of content; 22 bytes of padding make 64.
        let ok = layout(b"abcd", 4, appid.as_bytes(), 22, 22);
        assert_eq!(decrypt(&key, &craft(&key, &ok), appid).unwrap(), "abcd");

        let pad_zero = layout(b"abcd", 4, appid.as_bytes(), 0, 22);
        assert_eq!(
            decrypt(&key, &craft(&key, &pad_zero), appid),
            Err(ProtocolError::BadPadding)
        );
        let mut pad_33 = ok.clone();
        *pad_33.last_mut().unwrap() = 33;
        assert_eq!(
            decrypt(&key, &craft(&key, &pad_33), appid),
            Err(ProtocolError::BadPadding)
        );
        let mut inconsistent = ok.clone();
        inconsistent[50] = 3;
        assert_eq!(
            decrypt(&key, &craft(&key, &inconsistent), appid),
            Err(ProtocolError::BadPadding)
        );

        let too_long = layout(b"abcd", 4000, appid.as_bytes(), 22, 22);
        assert_eq!(
            decrypt(&key, &craft(&key, &too_long), appid),
            Err(ProtocolError::BadLength)
        );
        let huge = layout(b"abcd", u32::MAX, appid.as_bytes(), 22, 22);
        assert_eq!(
            decrypt(&key, &craft(&key, &huge), appid),
            Err(ProtocolError::BadLength)
        );
        let short = vec![16u8; 32];
        assert_eq!(
            decrypt(&key, &craft(&key, &short), appid),
            Err(ProtocolError::BadLength)
        );

        let not_utf8 = layout(&[0xff, 0xfe, 0xfd, 0xfc], 4, appid.as_bytes(), 22, 22);
        assert_eq!(
            decrypt(&key, &craft(&key, &not_utf8), appid),
            Err(ProtocolError::BadUtf8)
        );

        let sealed = craft(&key, &ok);
        assert_eq!(
            decrypt(&key, &sealed[..sealed.len() - 4], appid),
            Err(ProtocolError::BadCiphertext)
        );
        assert_eq!(decrypt(&key, "", appid), Err(ProtocolError::BadCiphertext));
        assert_eq!(
            decrypt(&key, "not base64!", appid),
            Err(ProtocolError::BadBase64)
        );
        assert_eq!(
            decrypt(&key, &format!(" {sealed}"), appid),
            Err(ProtocolError::BadBase64)
        );
        assert_eq!(
            decrypt(&key, &sealed.replace('=', "%3D"), appid),
            Err(ProtocolError::BadBase64)
        );
    }

    proptest! {
        #[test]
        fn seal_then_open_round_trips(msg in "\\PC{0,600}", random in any::<[u8; 16]>(), appid in "wx[0-9a-f]{16}") {
            let key = key_of(&vectors::load(vectors::B));
            let sealed = encrypt(&key, &random, &msg, &appid);
            prop_assert_eq!(decrypt(&key, &sealed, &appid).unwrap(), msg);
        }

        #[test]
        fn decrypt_never_panics(input in "[A-Za-z0-9+/=]{0,200}") {
            let key = key_of(&vectors::load(vectors::B));
            let _ = decrypt(&key, &input, "wxb11529c136998cb6");
        }
    }
}
