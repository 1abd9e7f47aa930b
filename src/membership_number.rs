//! Membership number templates: literal text with `{code}`, `{openid}` and `{seq:N}` (a card's
//! sequence number, zero-padded to N digits), as `[[cards]] membership_number` spells them.

/// A membership number template: literal text with `{code}`, `{openid}` and `{seq:N}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipTemplate(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Code,
    OpenId,
    Seq(usize),
}

impl MembershipTemplate {
    pub fn parse(template: &str) -> Result<Self, &'static str> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}').ok_or("has an unclosed `{`")? + open;
            let part = match &rest[open + 1..close] {
                "code" => Part::Code,
                "openid" => Part::OpenId,
                "seq" => Part::Seq(0),
                other => match other.strip_prefix("seq:").map(str::parse::<usize>) {
                    Some(Ok(width)) if width <= 32 => Part::Seq(width),
                    _ => return Err("placeholders are {code}, {openid}, {seq} and {seq:N}"),
                },
            };
            parts.push(part);
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        if parts.is_empty() {
            return Err("is empty");
        }
        Ok(Self(parts))
    }

    /// Whether rendering needs the card's next sequence number.
    pub fn needs_sequence(&self) -> bool {
        self.0.iter().any(|p| matches!(p, Part::Seq(_)))
    }

    pub fn render(&self, code: &str, openid: &str, seq: i64) -> String {
        self.0
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.clone(),
                Part::Code => code.to_owned(),
                Part::OpenId => openid.to_owned(),
                Part::Seq(width) => format!("{seq:0width$}"),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render() {
        let t = MembershipTemplate::parse("VIP{seq:8}").unwrap();
        assert!(t.needs_sequence());
        assert_eq!(t.render("c", "o", 42), "VIP00000042");
        assert_eq!(
            MembershipTemplate::parse("{code}")
                .unwrap()
                .render("123", "o", 1),
            "123"
        );
        assert_eq!(
            MembershipTemplate::parse("M-{openid}-{code}")
                .unwrap()
                .render("1", "oX", 1),
            "M-oX-1"
        );
        for bad in ["", "{nope}", "{code", "{seq:x}", "{seq:99}"] {
            assert!(MembershipTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
