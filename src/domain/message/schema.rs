//! The send request's schema where a Rust type says less than validation checks: the bounds and patterns of
//! `fields`, and the rules that relate fields (a recipient somewhere, a body, `inline` needing `content_id`),
//! which the document states as `anyOf` alternatives.

use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType,
    Type,
};
use utoipa::openapi::{Components, RefOr};

use super::fields::{MAX_FILE_NAME_CHARS, MAX_NAME_CHARS};
use super::{MAX_HEADERS, MAX_SUBJECT_CHARS};
use crate::domain::schema::{address, one_line};

/// A custom header's name as `fields::headers` takes it: `x-`, then ASCII letters, digits, `-` or `_`, 64 in all, and
/// none of the prefixes Exchange keeps to itself (`x-ms-`, `x-forefront-`, `x-microsoft-antispam`, any case).
pub const HEADER_NAME: &str = r"^(?![xX]-([mM][sS]-|[fF][oO][rR][eE][fF][rR][oO][nN][tT]-|[mM][iI][cC][rR][oO][sS][oO][fF][tT]-[aA][nN][tT][iI][sS][pP][aA][mM]))[xX]-[A-Za-z0-9_-]{1,62}$";
/// A media type as `fields::attachment` takes it: `type/subtype`, then parameters in printable ASCII.
pub const MEDIA_TYPE: &str = r"^[A-Za-z0-9!#$&^_.+-]+/ *[A-Za-z0-9!#$&^_.+-]+ *(;[ -~]*)?$";
/// A Content-ID: printable ASCII without spaces or angle brackets.
pub const CONTENT_ID: &str = r"^[!-;=?-~]+$";
/// Standard, padded base64 whose last symbol carries no bits past the data, as `size::base64_decoded_len` takes it.
pub const BASE64: &str = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$";

pub fn subject() -> Schema {
    one_line(Some(MAX_SUBJECT_CHARS), false)
}

/// A display name: one line of at most 256 characters, or null.
pub fn name() -> Schema {
    one_line(Some(MAX_NAME_CHARS), true)
}

/// A file name: one line, not blank, at most 255 characters.
pub fn file_name() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_FILE_NAME_CHARS))
        .pattern(Some(r"^[^\r\n]*\S[^\r\n]*$"))
        .into()
}

pub fn media_type() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).max_length(Some(255)).pattern(Some(MEDIA_TYPE)).into()
}

pub fn content_id_or_null() -> Schema {
    content_id(true)
}

pub fn content_id(nullable: bool) -> Schema {
    let kind = if nullable { SchemaType::from_iter([Type::String, Type::Null]) } else { Type::String.into() };
    ObjectBuilder::new().schema_type(kind).min_length(Some(1)).max_length(Some(255)).pattern(Some(CONTENT_ID)).into()
}

pub fn base64() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).content_encoding("base64").pattern(Some(BASE64)).into()
}

/// Custom headers: at most five, `x-` names, one-line values.
pub fn headers() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .max_properties(Some(MAX_HEADERS))
        .property_names(Some(ObjectBuilder::new().schema_type(Type::String).pattern(Some(HEADER_NAME))))
        .additional_properties(Some(one_line(None, false)))
        .into()
}

pub fn recipients() -> Schema {
    ArrayBuilder::new().items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("RecipientSchema"))).into()
}

/// `"a@b"` or `{"address": "a@b", "name": "A B"}`, as `fields::recipient` reads it.
pub fn recipient() -> Schema {
    let named = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("address", address())
        .required("address")
        .property("name", name())
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    OneOfBuilder::new()
        .item(address())
        .item(named)
        .description(Some("A recipient: `\"a@b\"` or `{\"address\": \"a@b\", \"name\": \"A B\"}`."))
        .into()
}

/// What one alternative of a rule demands: `name` present and holding `schema`.
fn having(name: &str, schema: impl Into<RefOr<Schema>>) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Object).required(name).property(name, schema)
}

fn non_empty_list() -> ArrayBuilder {
    ArrayBuilder::new().min_items(Some(1))
}

/// At least one recipient in `to`, `cc` or `bcc` (the names as the request spells them).
pub fn some_recipient(lists: [&str; 3]) -> Schema {
    let mut any = AnyOfBuilder::new();
    for list in lists {
        any = any.item(having(list, non_empty_list()));
    }
    any.into()
}

/// `text` or `html`; both are sent as MIME, which Graph always keeps in Sent Items, so then
/// `save_to_sent_items` must not be false.
fn some_body() -> Schema {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let null = || ObjectBuilder::new().schema_type(Type::Null);
    let kept = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null]))
        .enum_values(Some([serde_json::Value::Bool(true), serde_json::Value::Null]));
    AnyOfBuilder::new()
        .item(having("text", string()).property("html", null()))
        .item(having("html", string()).property("text", null()))
        .item(having("text", string()).required("html").property("html", string()).property("save_to_sent_items", kept))
        .into()
}

/// An inline attachment needs a `content_id`.
fn inline_has_id() -> Schema {
    let not_inline = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("inline", ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([false])));
    AnyOfBuilder::new().item(not_inline).item(having("content_id", content_id(false))).into()
}

/// Adds the rules that relate fields to the derived `SendRequest` and `AttachmentInput` schemas.
pub fn add_rules(components: &mut Components) {
    for (name, rules) in [
        ("SendRequest", vec![some_recipient(["to", "cc", "bcc"]), some_body()]),
        ("AttachmentInput", vec![inline_has_id()]),
    ] {
        let Some(RefOr::T(mut fields)) = components.schemas.remove(name) else { continue };
        let description = match &mut fields {
            Schema::Object(o) => o.description.take(),
            _ => None,
        };
        let mut all = AllOfBuilder::new().item(fields).description(description);
        for rule in rules {
            all = all.item(rule);
        }
        components.schemas.insert(name.to_owned(), RefOr::T(all.into()));
    }
}
