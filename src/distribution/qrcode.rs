//! Card QR codes (reference §8.1): one per channel, carrying its outer_str / outer_id, registered
//! under the channel's name; and the QR image rendered locally from the returned url, for print.

use serde::{Deserialize, Serialize};

use super::channels::{channel_key, Channels};
use super::{required, DistributionError};
use crate::store::channel::{self, ChannelKind, NewChannel};
use crate::wechat::ids::OuterId;
use crate::wechat_api::distribution::{QrCard, QrCards};

/// card_id ("" = every card), outer_id, outer_str.
type ChannelKey = (String, OuterId, String);

/// A QR code to create for a channel.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct QrCodeOrder {
    pub appid: Option<String>,
    /// One card (QR_CARD)…
    pub card_id: Option<String>,
    /// …or several (QR_MULTIPLE_CARD).
    #[serde(default)]
    pub multiple: Vec<String>,
    pub outer_str: Option<String>,
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub outer_id: Option<i64>,
    pub name: String,
    /// 60–1800 s; WeChat's default when absent.
    #[schema(minimum = 60, maximum = 1800)]
    pub expire_seconds: Option<u32>,
    #[serde(default)]
    pub unique_code: bool,
    /// Only for a single use_custom_code card.
    pub code: Option<String>,
    /// Only for a single bind_openid card.
    pub openid: Option<String>,
}

/// A created QR code and the channel it is registered as.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedQrCode {
    pub channel: crate::store::channel::Channel,
    pub ticket: String,
    pub url: String,
    pub show_qrcode_url: Option<String>,
    pub expire_seconds: Option<i64>,
}

impl QrCodeOrder {
    /// The cards of the request, checked; and the channel they are registered as: its card_id
    /// ("" for several cards), outer_id and outer_str.
    fn cards(&self) -> Result<(QrCards, ChannelKey), DistributionError> {
        let (outer_id, outer_str) =
            channel_key(self.outer_id.map(OuterId::from), self.outer_str.as_deref())?;
        if let Some(seconds) = self.expire_seconds {
            if !(60..=1800).contains(&seconds) {
                return Err(DistributionError::Invalid(format!(
                    "expire_seconds must be between 60 and 1800, got {seconds}"
                )));
            }
        }
        let card = |card_id: &str| QrCard {
            card_id: card_id.trim().to_owned(),
            is_unique_code: self.unique_code,
            outer_id: self.outer_id,
            outer_str: (!outer_str.is_empty()).then(|| outer_str.clone()),
            ..QrCard::default()
        };
        match (self.card_id.as_deref(), self.multiple.as_slice()) {
            (Some(card_id), []) => {
                required("card_id", card_id)?;
                let single = QrCard {
                    code: self.code.clone(),
                    openid: self.openid.clone(),
                    ..card(card_id)
                };
                let key = (card_id.trim().to_owned(), outer_id, outer_str);
                Ok((QrCards::Single(single), key))
            }
            (None, [_, _, ..]) if self.code.is_none() && self.openid.is_none() => {
                for card_id in &self.multiple {
                    required("every card_id of multiple", card_id)?;
                }
                let cards = self.multiple.iter().map(|c| card(c)).collect();
                Ok((
                    QrCards::Multiple(cards),
                    (String::new(), outer_id, outer_str),
                ))
            }
            (None, [_, _, ..]) => Err(DistributionError::Invalid(
                "code and openid are for a single card, not for multiple".to_owned(),
            )),
            _ => Err(DistributionError::Invalid(
                "give either card_id or at least two cards in multiple".to_owned(),
            )),
        }
    }
}

impl Channels<'_> {
    /// Create the QR code with WeChat, then register (or update) its channel.
    pub async fn create_qrcode(
        &self,
        order: QrCodeOrder,
    ) -> Result<CreatedQrCode, DistributionError> {
        required("name", &order.name)?;
        let (cards, (card_id, outer_id, outer_str)) = order.cards()?;
        let appid = self.op.appid(order.appid.as_deref())?;
        let api = self.op.tokens.api();
        let cards_ref = &cards;
        let qr = self
            .op
            .tokens
            .with_token(&appid, self.op.now(), |token| async move {
                api.create_qrcode(&token, cards_ref, order.expire_seconds)
                    .await
            })
            .await?;
        let kind = match cards {
            QrCards::Single(_) => ChannelKind::QrCode,
            QrCards::Multiple(_) => ChannelKind::QrCodeMultiple,
        };
        let new = NewChannel {
            appid,
            card_id,
            outer_id,
            outer_str,
            name: order.name.trim().to_owned(),
            qr_ticket: Some(qr.ticket.clone()),
            qr_url: Some(qr.url.clone()),
            show_qrcode_url: qr.show_qrcode_url.clone(),
            expire_seconds: qr.expire_seconds,
            ..NewChannel::default()
        };
        let channel = channel::register(&self.op.db, kind, new, self.op.now()).await?;
        Ok(CreatedQrCode {
            channel,
            ticket: qr.ticket,
            url: qr.url,
            show_qrcode_url: qr.show_qrcode_url,
            expire_seconds: qr.expire_seconds,
        })
    }
}

/// Pixels per QR module, and the quiet zone around the symbol in modules (ISO/IEC 18004 asks 4).
const MODULE_PIXELS: usize = 8;
const QUIET_ZONE: usize = 4;

/// Render `url` as a printable QR code: an 8-bit greyscale PNG, black on white.
pub fn render_png(url: &str) -> Result<Vec<u8>, DistributionError> {
    let code = ::qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| DistributionError::Invalid(format!("the url cannot be a QR code: {e}")))?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * MODULE_PIXELS;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != ::qrcode::Color::Dark {
            continue;
        }
        let (x0, y0) = (
            (i % modules + QUIET_ZONE) * MODULE_PIXELS,
            (i / modules + QUIET_ZONE) * MODULE_PIXELS,
        );
        for y in y0..y0 + MODULE_PIXELS {
            pixels[y * side + x0..y * side + x0 + MODULE_PIXELS].fill(0);
        }
    }
    let side = u32::try_from(side)
        .map_err(|_| DistributionError::Invalid("the QR code is too large".to_owned()))?;
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&pixels))
        .map_err(|e| DistributionError::Invalid(format!("PNG encoding failed: {e}")))?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> QrCodeOrder {
        QrCodeOrder {
            card_id: Some("pCard".into()),
            outer_str: Some("t12".into()),
            name: "Table 12".into(),
            ..QrCodeOrder::default()
        }
    }

    #[test]
    fn orders_are_checked_before_any_call() {
        let (cards, key) = order().cards().unwrap();
        assert_eq!(key, ("pCard".to_owned(), OuterId::zero(), "t12".to_owned()));
        assert!(matches!(cards, QrCards::Single(c) if c.outer_str.as_deref() == Some("t12")));
        let bad = [
            QrCodeOrder {
                outer_str: None,
                ..order()
            },
            QrCodeOrder {
                expire_seconds: Some(30),
                ..order()
            },
            QrCodeOrder {
                card_id: None,
                ..order()
            },
            QrCodeOrder {
                multiple: vec!["a".into(), "b".into()],
                ..order()
            },
            QrCodeOrder {
                card_id: None,
                multiple: vec!["a".into()],
                ..order()
            },
            QrCodeOrder {
                card_id: None,
                multiple: vec!["a".into(), "b".into()],
                code: Some("1".into()),
                ..order()
            },
        ];
        for order in bad {
            assert!(order.cards().is_err(), "{order:?}");
        }
        let multiple = QrCodeOrder {
            card_id: None,
            multiple: vec!["a".into(), "b".into()],
            ..order()
        };
        assert!(
            matches!(multiple.cards().unwrap(), (QrCards::Multiple(c), (id, outer_id, _)) if c.len() == 2 && id.is_empty() && outer_id.is_zero())
        );
    }
}
