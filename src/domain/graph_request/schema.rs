//! The Graph `sendMail` body as the reader takes it, for the document: the properties it models under Graph's
//! spelling (it also reads them in any letter case, which a schema cannot say), each bounded as `/v1/messages`
//! validation bounds it, and nothing else (`additionalProperties: false`).

use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType,
    Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::message::schema::{base64, content_id, file_name, media_type, name, some_recipient, subject};
use crate::domain::message::{MAX_HEADERS, schema::HEADER_NAME};
use crate::domain::schema::{address, mailbox};

/// The path's mailbox: an address (a user principal name is one) or an object id.
pub struct PathMailbox;

impl PartialSchema for PathMailbox {
    fn schema() -> RefOr<Schema> {
        mailbox().into()
    }
}

impl ToSchema for PathMailbox {}

/// `{"message": {...}, "saveToSentItems": bool}`.
pub struct GraphSendMail;

impl PartialSchema for GraphSendMail {
    fn schema() -> RefOr<Schema> {
        object(None)
            .description(Some(
                "Graph's `sendMail` body. Property names are also read in any letter case and `@odata.*` \
                 annotations are allowed; a property not listed is refused (400 RequestBodyRead).",
            ))
            .property("message", Ref::from_schema_name("GraphMessage"))
            .required("message")
            .property("saveToSentItems", nullable(Type::Boolean))
            .into()
    }
}

impl ToSchema for GraphSendMail {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("GraphMessage".into(), message().into()));
        schemas.push(("GraphRecipient".into(), recipient().into()));
        schemas.push(("GraphFileAttachment".into(), attachment().into()));
    }
}

/// An object of the body: its own properties only, and the `@odata.type` Graph gives it when `kind` is set.
fn object(kind: Option<&str>) -> ObjectBuilder {
    let mut o = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    if let Some(kind) = kind {
        let names = [format!("#microsoft.graph.{kind}"), format!("microsoft.graph.{kind}")];
        o = o.property("@odata.type", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names)));
    }
    o
}

fn nullable(kind: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([kind, Type::Null]))
}

/// A string matching `pattern`, or null (which Graph reads as absent).
fn nullable_pattern(pattern: &str) -> ObjectBuilder {
    nullable(Type::String).pattern(Some(pattern))
}

fn recipient_ref() -> Ref {
    Ref::from_schema_name("GraphRecipient")
}

fn nullable_recipient() -> Schema {
    OneOfBuilder::new().item(recipient_ref()).item(ObjectBuilder::new().schema_type(Type::Null)).into()
}

fn recipients() -> Schema {
    ArrayBuilder::new().schema_type(SchemaType::from_iter([Type::Array, Type::Null])).items(recipient_ref()).into()
}

fn message() -> Schema {
    let headers = ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(RefOr::T(header()))
        .min_items(Some(1))
        .max_items(Some(MAX_HEADERS))
        .description(Some("At most five (a name may repeat); leave it out rather than send it empty"));
    let attachments = ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(Ref::from_schema_name("GraphFileAttachment"));
    let mut subject = match subject() {
        Schema::Object(o) => o,
        other => return other,
    };
    subject.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    let fields = object(Some("message"))
        .property("subject", subject)
        .property("body", item_body())
        .property("toRecipients", recipients())
        .property("ccRecipients", recipients())
        .property("bccRecipients", recipients())
        .property("replyTo", recipients())
        .property("from", nullable_recipient())
        .property("sender", nullable_recipient())
        .property("importance", nullable_pattern("^([lL][oO][wW]|[nN][oO][rR][mM][aA][lL]|[hH][iI][gG][hH])$"))
        .property("internetMessageHeaders", headers)
        .property("attachments", attachments)
        .property("isDeliveryReceiptRequested", nullable(Type::Boolean))
        .property("isReadReceiptRequested", nullable(Type::Boolean))
        .description(Some(
            "The message. At least one recipient in `toRecipients`, `ccRecipients` or `bccRecipients`; \
             `from` and `sender` must be mailboxes the allowlist lets the caller send as.",
        ));
    AllOfBuilder::new().item(fields).item(some_recipient(["toRecipients", "ccRecipients", "bccRecipients"])).into()
}

fn item_body() -> Schema {
    object(Some("itemBody"))
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .property("contentType", nullable_pattern("^([tT][eE][xX][tT]|[hH][tT][mM][lL])$"))
        .property("content", nullable(Type::String))
        .description(Some("`contentType` is `text` (the default) or `html`, in any letter case"))
        .into()
}

fn recipient() -> Schema {
    let email =
        object(Some("emailAddress")).property("address", address()).required("address").property("name", name());
    object(Some("recipient")).property("emailAddress", email).required("emailAddress").into()
}

fn header() -> Schema {
    let value = ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^[^\r\n]*$"));
    object(Some("internetMessageHeader"))
        .property("name", ObjectBuilder::new().schema_type(Type::String).pattern(Some(HEADER_NAME)))
        .required("name")
        .property("value", value)
        .required("value")
        .into()
}

fn attachment() -> Schema {
    let mut content_type = match media_type() {
        Schema::Object(o) => o,
        other => return other,
    };
    content_type.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    let fields = object(Some("fileAttachment"))
        .property("name", file_name())
        .required("name")
        .property("contentType", content_type)
        .property("contentBytes", base64())
        .required("contentBytes")
        .property("isInline", nullable(Type::Boolean))
        .property("contentId", content_id(true))
        .description(Some("A file attachment; an inline one (`isInline`) needs a `contentId`"));
    let not_inline = ObjectBuilder::new().schema_type(Type::Object).property(
        "isInline",
        nullable(Type::Boolean).enum_values(Some([serde_json::Value::Bool(false), serde_json::Value::Null])),
    );
    let with_id =
        ObjectBuilder::new().schema_type(Type::Object).required("contentId").property("contentId", content_id(false));
    AllOfBuilder::new().item(fields).item(AnyOfBuilder::new().item(not_inline).item(with_id)).into()
}
