//! SHA-1 signatures of the callback protocol (reference §1.1, §1.2, §2.5).
//!
//! Every signature is `hex(sha1(concat(sort(parts))))`, sorted byte-wise, joined without separator.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use super::ProtocolError;

const MAX_PARTS: usize = 8;

/// Lowercase hex of the SHA-1 of the byte-wise sorted, concatenated parts.
pub fn sign(parts: &[&str]) -> [u8; 40] {
    // At most seven parts (cardSign's, reference §8.5; a push has four): sort a copy on the stack.
    debug_assert!(
        parts.len() <= MAX_PARTS,
        "a signature has at most {MAX_PARTS} parts"
    );
    let mut sorted: [&str; MAX_PARTS] = [""; MAX_PARTS];
    let n = parts.len().min(MAX_PARTS);
    sorted[..n].copy_from_slice(&parts[..n]);
    sorted[..n].sort_unstable();
    let mut hasher = Sha1::new();
    for part in &sorted[..n] {
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut out = [0u8; 40];
    // hex::encode_to_slice only fails on a wrong output length, which is fixed here.
    let _ = hex::encode_to_slice(digest, &mut out);
    out
}

/// The signature as a `String`, for the sender's side.
pub fn sign_string(parts: &[&str]) -> String {
    String::from_utf8_lossy(&sign(parts)).into_owned()
}

/// Compare a received signature with the expected one in constant time.
///
/// WeChat sends lowercase hex; anything else (wrong length, uppercase) does not match.
pub fn matches(received: &str, parts: &[&str]) -> bool {
    let expected = sign(parts);
    received.len() == expected.len() && bool::from(received.as_bytes().ct_eq(&expected))
}

/// `signature = sha1(sort(token, timestamp, nonce))`, on the GET handshake and every POST.
pub fn verify_signature(
    received: &str,
    token: &str,
    timestamp: &str,
    nonce: &str,
) -> Result<(), ProtocolError> {
    if matches(received, &[token, timestamp, nonce]) {
        Ok(())
    } else {
        Err(ProtocolError::BadSignature)
    }
}

/// `msg_signature = sha1(sort(token, timestamp, nonce, Encrypt))` on encrypted pushes (reference §1.2).
pub fn verify_msg_signature(
    received: &str,
    token: &str,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
) -> Result<(), ProtocolError> {
    if matches(received, &[token, timestamp, nonce, encrypt]) {
        Ok(())
    } else {
        Err(ProtocolError::BadMsgSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors;

    #[test]
    fn official_signature_examples() {
        for line in vectors::SIGNATURES.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(verify_signature(f[3], f[0], f[1], f[2]), Ok(()), "{line}");
        }
    }

    #[test]
    fn official_safe_push_msg_signature() {
        let a = vectors::load(vectors::A);
        let r = verify_msg_signature(
            a["msg_signature"],
            a["token"],
            a["timestamp"],
            a["nonce"],
            a["encrypt"],
        );
        assert_eq!(r, Ok(()));
        let b = vectors::load(vectors::B);
        let body = include_str!("../../fixtures/vectors/vector_b_body.xml");
        let encrypt = crate::xml::parse_envelope(body).unwrap().encrypt.unwrap();
        let r = verify_msg_signature(
            b["msg_signature"],
            b["token"],
            b["timestamp"],
            b["nonce"],
            &encrypt,
        );
        assert_eq!(r, Ok(()));
    }

    #[test]
    fn reply_and_derived_signatures() {
        let a = vectors::load(vectors::A);
        let parts = [
            a["token"],
            a["reply_timestamp"],
            a["reply_nonce"],
            a["reply_encrypt"],
        ];
        assert_eq!(sign_string(&parts), a["reply_msg_signature"]);
        let c = vectors::load(vectors::C);
        for i in ["1", "2"] {
            let parts = [
                c["token"],
                c["timestamp"],
                c["nonce"],
                c[format!("encrypt_{i}").as_str()],
            ];
            assert_eq!(
                sign_string(&parts),
                c[format!("msg_signature_{i}").as_str()]
            );
        }
    }

    #[test]
    fn wrong_case_length_or_nonce_does_not_match() {
        let parts = ["AAAAA", "1714036504", "1514711492"];
        let good = "f464b24fc39322e44b38aa78f5edd27bd1441696";
        assert!(matches(good, &parts));
        assert!(!matches(&good.to_uppercase(), &parts));
        assert!(!matches(&good[..39], &parts));
        assert!(!matches(&format!("{good}0"), &parts));
        assert!(!matches("", &parts));
        let r = verify_signature(good, "AAAAA", "1714036504", "1514711493");
        assert_eq!(r, Err(ProtocolError::BadSignature));
    }

    #[test]
    fn order_of_parts_does_not_matter() {
        assert_eq!(sign(&["b", "a", "c"]), sign(&["c", "b", "a"]));
    }
}
