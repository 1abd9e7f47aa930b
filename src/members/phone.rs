//! Phone numbers as members are found by them: a mainland China mobile number, stored and compared as
//! its 11 digits (spaces, dashes and brackets ignored, a leading `+86` / `86` dropped).

/// Why a phone number was refused (shown to the customer and in import reports; never the number).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the phone number is empty")]
    Empty,
    #[error("the phone number has characters other than digits")]
    NotDigits,
    #[error("the phone number is not an 11-digit mobile number starting with 1")]
    NotMobile,
}

/// `input` as stored: 11 digits.
pub fn normalise(input: &str) -> Result<String, PhoneError> {
    let kept: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '\u{3000}'))
        .collect();
    if kept.is_empty() {
        return Err(PhoneError::Empty);
    }
    let digits = kept.strip_prefix('+').unwrap_or(&kept);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PhoneError::NotDigits);
    }
    let national = match digits.strip_prefix("86") {
        Some(rest) if rest.len() == 11 => rest,
        _ => digits,
    };
    if national.len() != 11 || !national.starts_with('1') {
        return Err(PhoneError::NotMobile);
    }
    Ok(national.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_stored_as_eleven_digits() {
        for written in [
            "13800138000",
            "+8613800138000",
            "8613800138000",
            "+86 138-0013-8000",
            "138 0013 8000",
            "(+86) 138.0013.8000",
        ] {
            assert_eq!(
                normalise(written).as_deref(),
                Ok("13800138000"),
                "{written}"
            );
        }
    }

    #[test]
    fn anything_else_is_refused_with_its_reason() {
        assert_eq!(normalise(""), Err(PhoneError::Empty));
        assert_eq!(normalise("  "), Err(PhoneError::Empty));
        assert_eq!(normalise("138OO138000"), Err(PhoneError::NotDigits));
        assert_eq!(normalise("++8613800138000"), Err(PhoneError::NotDigits));
        assert_eq!(normalise("1380013800"), Err(PhoneError::NotMobile));
        assert_eq!(normalise("23800138000"), Err(PhoneError::NotMobile));
        assert_eq!(normalise("008613800138000"), Err(PhoneError::NotMobile));
        // 86 is dropped only in front of a whole number.
        assert_eq!(normalise("86138001380"), Err(PhoneError::NotMobile));
    }
}
