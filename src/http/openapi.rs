//! The admin API's OpenAPI document, served at `/api/v1/openapi.json`: generated from the handlers' own types
//! and their `#[utoipa::path]`s, with the few rules between fields a derive cannot state (`rules`).

use std::sync::OnceLock;

use actix_web::HttpResponse;
use serde_json::{json, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::admin::AdminAuth;
use super::{admin, catalogue, distribution, feed, health, members, messages, till};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cardhook admin API",
        version = "1",
        description = "Channel statistics, card bindings, members, distribution, the till and the activation queue \
                       of cardhook. Every route except /healthz requires `Authorization: Bearer <admin.token>`. Errors \
                       are {\"error\": \"<snake_case reason>\", \"message\": \"...\"}."
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        admin::stats,
        admin::binding,
        admin::user_codes,
        admin::job_list,
        admin::job_retry,
        distribution::list,
        distribution::name,
        distribution::qrcode,
        distribution::qrcode_png,
        distribution::landing_page,
        distribution::deposit,
        distribution::check,
        distribution::mpnews_html,
        distribution::whitelist,
        distribution::card_ext,
        distribution::card_sign,
        distribution::config,
        members::show,
        members::update,
        members::import,
        catalogue::list,
        catalogue::create,
        catalogue::show,
        messages::follow_qrcode,
        messages::send_card,
        messages::mass,
        messages::mass_list,
        feed::list,
        feed::webhooks,
        feed::retry,
        feed::replay,
        till::consume,
        till::check,
    ),
    components(schemas(super::error::ErrorBody)),
    modifiers(&Bearer),
    security(("bearer" = []))
)]
struct ApiDoc;

/// The bearer token every route but `/healthz` takes.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// GET /api/v1/openapi.json
pub async fn serve(_: AdminAuth) -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// The document as served, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        for (schema, rule) in rules() {
            merge(&mut document["components"]["schemas"][schema], rule);
        }
        for (schema, field) in NOT_BLANK_FIELDS {
            document["components"]["schemas"][schema]["properties"][field]["pattern"] =
                NOT_BLANK.into();
        }
        bound_int64(&mut document);
        // A PNG is bytes, not the array of numbers `Vec<u8>` would say.
        document["paths"]["/api/v1/channels/{id}/qrcode.png"]["get"]["responses"]["200"]
            ["content"]["image/png"]["schema"] =
            json!({"type": "string", "contentMediaType": "image/png"});
        document
    })
}

/// A 64-bit integer the code reads as `i64` and no attribute bounds: bounded as one, so that a number past it is not
/// described as accepted.
fn bound_int64(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if object.get("format").and_then(Value::as_str) == Some("int64")
                && !object.contains_key("minimum")
                && !object.contains_key("maximum")
            {
                object.insert("minimum".into(), i64::MIN.into());
                object.insert("maximum".into(), i64::MAX.into());
            }
            object.values_mut().for_each(bound_int64);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_int64),
        _ => {}
    }
}

/// `rule` into `schema`: its keys set, its `properties` merged one property at a time.
fn merge(schema: &mut Value, rule: Value) {
    let Value::Object(rule) = rule else { return };
    for (key, value) in rule {
        match (key.as_str(), value) {
            ("properties", Value::Object(properties)) => {
                for (name, extra) in properties {
                    let Value::Object(extra) = extra else {
                        continue;
                    };
                    for (k, v) in extra {
                        schema["properties"][&name][k] = v;
                    }
                }
            }
            (_, value) => schema[key] = value,
        }
    }
}

/// Not blank as Rust's `trim` sees it (a pattern's `\s` is ECMA's, another set).
const NOT_BLANK: &str = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";

/// One code: no blank inside, blanks around it trimmed.
const ONE_CODE: &str = "^[\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*\
                        [^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+\
                        [\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$";

/// Request fields the code trims and requires (`distribution::required`).
const NOT_BLANK_FIELDS: [(&str, &str); 12] = [
    ("NameChannel", "name"),
    ("QrCodeOrder", "name"),
    ("QrCodeOrder", "card_id"),
    ("LandingPageOrder", "title"),
    ("LandingPageOrder", "banner"),
    ("CardExtOrder", "card_id"),
    ("FollowQrOrder", "card_id"),
    ("FollowQrOrder", "name"),
    ("SendCardOrder", "card_id"),
    ("SendCardOrder", "openid"),
    ("MassOrder", "card_id"),
    ("ConsumeBody", "code"),
];

/// The rules between fields of a request (the code's checks in `distribution/` and `members/sync.rs`), and
/// patterns of array items, which a derive does not state: merged into the component schema of that name.
fn rules() -> Vec<(&'static str, Value)> {
    let outer_key = |outer_id: Value| {
        json!([
            {"required": ["outer_id"], "properties": {"outer_id": outer_id}},
            {"required": ["outer_str"], "properties": {"outer_str": {"type": "string", "pattern": NOT_BLANK}}}
        ])
    };
    let not_given =
        |name: &str| json!({"not": {"required": [name], "properties": {name: {"type": "string"}}}});
    vec![
        (
            "NameChannel",
            json!({"anyOf": outer_key(json!({"type": ["integer", "string"]}))}),
        ),
        (
            "QrCodeOrder",
            json!({
                "anyOf": outer_key(json!({"type": "integer"})),
                "oneOf": [
                    {"required": ["card_id"], "properties": {"card_id": {"type": "string"}, "multiple": {"maxItems": 0}}},
                    {"required": ["multiple"], "properties": {"multiple": {"minItems": 2}},
                     "allOf": [not_given("card_id"), not_given("code"), not_given("openid")]}
                ],
                "properties": {"multiple": {"items": {"type": "string", "pattern": NOT_BLANK}}}
            }),
        ),
        (
            "LandingPageOrder",
            json!({"anyOf": [
                not_given("outer_str"),
                {"required": ["outer_id"], "properties": {"outer_id": {"type": "integer"}}},
                {"properties": {"outer_str": {"pattern": NOT_BLANK}}}
            ]}),
        ),
        (
            "FollowQrOrder",
            json!({"not": {"required": ["permanent", "expire_seconds"],
                           "properties": {"permanent": {"enum": [true]}, "expire_seconds": {"type": "integer"}}}}),
        ),
        (
            "CodesBody",
            json!({"properties": {"codes": {"items": {"type": "string", "pattern": ONE_CODE}}}}),
        ),
        (
            "Channel",
            json!({"properties": {"kind": {"enum": ["qrcode", "qrcode_multiple", "landingpage", "named", "follow_qrcode"]}}}),
        ),
        (
            "Job",
            json!({"properties": {"state": {"enum": ["pending", "running", "done", "dead"]}}}),
        ),
        (
            "FeedEvent",
            json!({"properties": {"type": {"enum": crate::event_type::EventType::ALL.map(|t| t.as_str())}}}),
        ),
        (
            "FollowQrOrder",
            json!({"properties": {"scene": {"pattern": format!(
                "^{blank}*{NOT_BLANK}([\\s\\S]{{0,62}}{NOT_BLANK})?{blank}*$",
                blank = NOT_BLANK.replacen("[^", "[", 1)
            ), "description": "1-64 characters once trimmed"}}}),
        ),
        (
            "LandingPageOrder",
            json!({"properties": {"scene": {"enum": crate::distribution::channels::SCENES}}}),
        ),
        (
            "ConfigOrder",
            json!({"properties": {"url": {"format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+",
                                          "description": "the http(s) page that calls wx.config"}}}),
        ),
        (
            "MassTarget",
            json!({"oneOf": [
                {"type": "object", "required": ["tag"], "additionalProperties": false,
                 "properties": {"tag": {"type": "integer", "format": "int64", "description": "a WeChat user tag id"}}},
                {"type": "object", "required": ["open_ids"], "additionalProperties": false,
                 "properties": {"open_ids": {"type": "array", "minItems": 2, "items": {"type": "string"}}}},
                {"type": "string", "enum": ["all"]},
                {"type": "object", "required": ["preview"], "additionalProperties": false,
                 "properties": {"preview": {"type": "string", "pattern": NOT_BLANK, "description": "the operator's OpenID"}}}
            ]}),
        ),
        (
            "NewValues",
            json!({"anyOf": [
                {"required": ["bonus"], "properties": {"bonus": {"type": "integer"}}},
                {"required": ["balance"], "properties": {"balance": {"type": "integer"}}}
            ]}),
        ),
        (
            "Whitelist",
            json!({"allOf": [
                {"anyOf": [
                    {"required": ["openid"], "properties": {"openid": {"minItems": 1}}},
                    {"required": ["username"], "properties": {"username": {"minItems": 1}}}
                ]},
                {"anyOf": (0..=10)
                    .map(|k| json!({"properties": {"openid": {"maxItems": k}, "username": {"maxItems": 10 - k}}}))
                    .collect::<Vec<_>>()}
            ]}),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule for a schema or field the derive does not produce would add a schema of its own and state nothing.
    #[test]
    fn every_rule_names_a_schema_and_field_the_handlers_produce() {
        let generated = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        let schemas = &generated["components"]["schemas"];
        for (schema, rule) in rules() {
            assert!(schemas[schema].is_object(), "{schema}");
            let mut named = Vec::new();
            fields_named(&rule, &mut named);
            for field in named {
                assert!(
                    schemas[schema]["properties"][&field].is_object(),
                    "{schema}.{field}"
                );
            }
        }
        for (schema, field) in NOT_BLANK_FIELDS {
            assert!(
                schemas[schema]["properties"][field].is_object(),
                "{schema}.{field}"
            );
        }
    }

    /// The fields of its schema a rule names: in its `properties` and `required` and in every branch of its
    /// `anyOf`, `oneOf`, `allOf` and `not`, but for a branch that is an object of its own (`MassTarget`'s).
    fn fields_named(rule: &Value, named: &mut Vec<String>) {
        if rule["type"] == "object" {
            return;
        }
        let properties = rule["properties"].as_object().into_iter().flatten();
        named.extend(properties.map(|p| p.0.clone()));
        let required = rule["required"].as_array().into_iter().flatten();
        named.extend(required.filter_map(|f| f.as_str().map(str::to_owned)));
        for key in ["anyOf", "oneOf", "allOf"] {
            for branch in rule[key].as_array().into_iter().flatten() {
                fields_named(branch, named);
            }
        }
        if rule["not"].is_object() {
            fields_named(&rule["not"], named);
        }
    }

    #[test]
    fn a_64_bit_integer_without_bounds_gets_them_and_bounded_ones_keep_theirs() {
        let mut value = json!({"a": {"type": "integer", "format": "int64"},
                               "b": {"type": "integer", "format": "int64", "minimum": 1},
                               "c": {"type": "integer", "format": "int32"}});
        bound_int64(&mut value);
        assert_eq!(value["a"]["maximum"], json!(i64::MAX));
        assert_eq!(value["a"]["minimum"], json!(i64::MIN));
        assert_eq!(
            value["b"],
            json!({"type": "integer", "format": "int64", "minimum": 1})
        );
        assert!(value["c"].get("maximum").is_none());
    }
}
