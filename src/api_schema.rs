//! Schemas of the admin API's document that a derive cannot see: an `OuterId` is a JSON number of up to 60 digits
//! (beyond 64 bits too), and in a request a string of digits as well (`http::openapi` puts the document together).

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::RefOr;

const OUTER_ID: &str =
    "up to 60 digits: a JSON number with exactly its digits (beyond 64 bits too)";

/// An outer_id in an answer.
pub fn outer_id() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .description(Some(OUTER_ID))
}

/// An outer_id in a request: a positive number, or a string of up to 60 digits; null for none.
pub fn outer_id_given() -> RefOr<utoipa::openapi::schema::Schema> {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::SchemaType::from_iter([Type::Integer, Type::Null]))
                .minimum(Some(1)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^0*[1-9][0-9]*$"))
                .max_length(Some(60)),
        )
        .description(Some(
            "the channel's integer id: up to 60 digits, as a number or (beyond 64 bits) a string of digits",
        ))
        .into()
}
