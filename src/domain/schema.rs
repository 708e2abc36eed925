//! Schemas for the strings the domain parses whose rules a Rust type does not state: addresses, mailbox names and
//! single lines of text. The OpenAPI document uses them wherever such a string is taken.

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type};

/// An SMTP address as `EmailAddress::parse` takes it.
pub fn address() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .max_length(Some(254))
        .into()
}

/// One line of text (no CR or LF), at most `max` characters when given, or null when `nullable`.
pub fn one_line(max: Option<usize>, nullable: bool) -> Schema {
    let kind =
        if nullable { SchemaType::Array(vec![Type::String, Type::Null]) } else { SchemaType::Type(Type::String) };
    ObjectBuilder::new().schema_type(kind).max_length(max).pattern(Some(r"^[^\r\n]*$")).into()
}

/// A mailbox as `Mailbox::parse` takes it: its address or its Entra object id.
pub fn mailbox() -> Schema {
    let id = ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
    OneOfBuilder::new().item(address()).item(id).into()
}
