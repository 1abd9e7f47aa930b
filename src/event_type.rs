//! The types of domain events (DESIGN §4 "Events out"), by name: what the feed, its filters and
//! the `[[webhooks]]` settings speak of. The events themselves are `store::outbox`'s.

/// The types of domain events, as DESIGN §4 names them. `card.revoked` is named there (a filter may
/// ask for it) though nothing records it yet: it comes with the till's `codes unavailable` (issue 34).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    CardGot,
    CardDeleted,
    CardConsumed,
    CardGifted,
    CardActivated,
    CardRevoked,
    CardReview,
    MemberBound,
    MemberPointsChanged,
    MassFinished,
    /// Any other WeChat card event, with its typed fields.
    CardEvent,
}

impl EventType {
    pub const ALL: [Self; 11] = [
        Self::CardGot,
        Self::CardDeleted,
        Self::CardConsumed,
        Self::CardGifted,
        Self::CardActivated,
        Self::CardRevoked,
        Self::CardReview,
        Self::MemberBound,
        Self::MemberPointsChanged,
        Self::MassFinished,
        Self::CardEvent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CardGot => "card.got",
            Self::CardDeleted => "card.deleted",
            Self::CardConsumed => "card.consumed",
            Self::CardGifted => "card.gifted",
            Self::CardActivated => "card.activated",
            Self::CardRevoked => "card.revoked",
            Self::CardReview => "card.review",
            Self::MemberBound => "member.bound",
            Self::MemberPointsChanged => "member.points_changed",
            Self::MassFinished => "mass.finished",
            Self::CardEvent => "card.event",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// A comma-separated list of types (`card.got,card.consumed`); empty = every type. The first
    /// unknown name is the error.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| Self::parse(name).ok_or_else(|| name.to_owned()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_reads_back_from_its_name() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(
            EventType::parse_list("card.got, card.consumed,"),
            Ok(vec![EventType::CardGot, EventType::CardConsumed])
        );
        assert_eq!(EventType::parse_list(""), Ok(vec![]));
        assert_eq!(
            EventType::parse_list("card.got,card.stolen"),
            Err("card.stolen".to_owned())
        );
    }
}
