//! Schemas for strings whose rules the document states but a Rust type does not: app names, policy apps, RBAC
//! names and directory entries. Those of the domain's strings (addresses, mailboxes, lines) are `domain::schema`'s,
//! re-exported here so every schema has one place to be named from.

use crate::admin::directory::KNOWN_TYPES;
pub use crate::domain::schema::{address, mailbox, one_line};
use crate::policy::model::RBAC_ROLES;
use crate::policy::opath::Property;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};

/// A policy's apps: `["*"]`, or app names and Entra app ids.
pub fn policy_apps() -> Schema {
    let every = ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["*"])))
        .min_items(Some(1))
        .max_items(Some(1));
    let named = ArrayBuilder::new().items(utoipa::openapi::RefOr::T(app())).min_items(Some(1));
    OneOfBuilder::new().item(every).item(named).into()
}

/// An app's name or its Entra app id.
pub fn app() -> Schema {
    let id = ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
    // anyOf: a lower-case id also fits the name pattern.
    AnyOfBuilder::new().item(app_name()).item(id).into()
}

pub fn app_name() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(APP_NAME)).into()
}

pub const APP_NAME: &str = r"^[a-z0-9][a-z0-9._-]{0,62}$";

/// A management scope's or role assignment's name: one non-empty line of at most 256 characters.
pub fn rbac_name() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(256))
        .pattern(Some(r"^[^\r\n]*\S[^\r\n]*$"))
        .into()
}

pub fn rbac_role() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(RBAC_ROLES)).into()
}

/// `recipient_type_details`, absent for UserMailbox.
pub fn recipient_type() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::String, Type::Null]))
        .enum_values(Some(KNOWN_TYPES.iter().map(|t| Some(*t)).chain([None])))
        .into()
}

/// A directory entry's filterable properties: the ones set through their own fields are not among them.
pub fn properties() -> Schema {
    let own_field = ["MemberOfGroup", "EmailAddresses", "PrimarySmtpAddress", "RecipientType", "RecipientTypeDetails"];
    let names: Vec<String> = Property::all()
        .iter()
        .map(|p| p.name())
        .filter(|n| !own_field.contains(&n.as_str()) && n != "DisplayName")
        .collect();
    let one_line = ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^[^\r\n]*$"));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names))))
        .additional_properties(Some(one_line))
        .into()
}
