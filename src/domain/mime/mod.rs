//! A message with both a text and an HTML body as MIME (multipart/alternative), the one form in which Graph's
//! sendMail takes both: `POST …/sendMail` with `Content-Type: text/plain` and the MIME text in base64.
//! `mail-builder` writes the body parts; the message's own header fields are written by [`header`].

pub mod header;

use mail_builder::MessageBuilder;
use mail_builder::headers::HeaderType;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// A recipient as validated: address and optional display name.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub address: &'a str,
    pub name: Option<&'a str>,
}

#[derive(Debug)]
pub struct Attachment<'a> {
    pub name: &'a str,
    pub content_type: &'a str,
    pub content: Vec<u8>,
    pub inline: bool,
    pub content_id: Option<&'a str>,
}

/// Everything the MIME text holds, already validated.
#[derive(Debug, Default)]
pub struct Message<'a> {
    /// The sending mailbox's address; left out for a mailbox named by object id (Graph fills it in).
    pub from: Option<&'a str>,
    pub to: Vec<Recipient<'a>>,
    pub cc: Vec<Recipient<'a>>,
    pub bcc: Vec<Recipient<'a>>,
    pub reply_to: Vec<Recipient<'a>>,
    pub subject: &'a str,
    pub importance: Option<&'a str>,
    pub headers: Vec<(&'a str, &'a str)>,
    pub text: &'a str,
    pub html: &'a str,
    pub attachments: Vec<Attachment<'a>>,
}

/// The MIME text of `m`. Writing into memory cannot fail; the error is kept rather than assumed away.
pub fn build(m: Message<'_>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(from) = m.from {
        header::field(&mut out, "From", header::addresses([(from, None)]));
    }
    for (name, list) in [("To", &m.to), ("Cc", &m.cc), ("Bcc", &m.bcc), ("Reply-To", &m.reply_to)] {
        if !list.is_empty() {
            header::field(&mut out, name, header::addresses(list.iter().map(|r| (r.address, r.name))));
        }
    }
    header::field(&mut out, "Subject", header::unstructured(m.subject));
    if let Some(importance) = m.importance {
        header::field(&mut out, "Importance", [importance.to_owned()]);
    }
    for (name, value) in &m.headers {
        header::field(&mut out, name, header::unstructured(value));
    }
    let domain = m.from.and_then(|f| f.rsplit_once('@')).map_or("mailgate.invalid", |(_, d)| d);
    header::field(&mut out, "Message-ID", [format!("<{}@{domain}>", uuid::Uuid::new_v4().simple())]);
    if let Ok(date) = OffsetDateTime::now_utc().format(&Rfc2822) {
        header::field(&mut out, "Date", [date]);
    }
    header::field(&mut out, "MIME-Version", ["1.0".to_owned()]);

    let mut body = MessageBuilder::new().text_body(m.text).html_body(m.html);
    for a in m.attachments {
        let kind = if a.inline { "inline" } else { "attachment" };
        let mut part = MimePart::new(ContentType::new(a.content_type), a.content)
            .header("Content-Disposition", HeaderType::Raw(Raw::new(header::disposition(kind, a.name))));
        if let Some(cid) = a.content_id {
            part = part.cid(cid);
        }
        body.attachments.get_or_insert_with(Vec::new).push(part);
    }
    body.write_body(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
