//! `/cgi-bin/ticket/getticket` (reference §5.4): the card `api_ticket` (type=wx_card) signs
//! `cardExt` and `cardSign`; the `jsapi_ticket` (type=jsapi) signs `wx.config`. Both are cached and
//! shared like the access_token: WeChat limits how often they may be fetched.

use serde::Deserialize;

use super::token::FetchedToken;
use super::{ApiCallError, WechatApi};

/// Which ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketKind {
    /// `type=wx_card`: the card api_ticket.
    Card,
    /// `type=jsapi`: the JS-SDK jsapi_ticket.
    JsApi,
}

impl TicketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Card => "wx_card",
            Self::JsApi => "jsapi",
        }
    }
}

#[derive(Deserialize)]
struct TicketAnswer {
    ticket: String,
    expires_in: i64,
}

impl WechatApi {
    pub async fn fetch_ticket(
        &self,
        access_token: &str,
        kind: TicketKind,
    ) -> Result<FetchedToken, ApiCallError> {
        let request = self
            .http
            .get(self.url("/cgi-bin/ticket/getticket"))
            .query(&[("access_token", access_token), ("type", kind.as_str())]);
        let answer: TicketAnswer = self.call(request).await?;
        Ok(FetchedToken {
            value: answer.ticket,
            expires_in: answer.expires_in,
        })
    }
}
