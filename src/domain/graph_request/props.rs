//! One JSON object of a Graph request body, read as Graph reads it: property names in any letter case, OData
//! annotations (`@odata.type`, `name@odata.bind`, …) set aside, and anything mailgate does not model refused.

use serde_json::Value;

use crate::domain::DomainError;

/// The properties of one object, under their Graph spelling.
pub struct Props<'a> {
    path: String,
    found: Vec<(&'static str, &'a Value)>,
    odata_type: Option<&'a str>,
}

/// `message.toRecipients[0]` and `emailAddress` → `message.toRecipients[0].emailAddress`.
pub fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") }
}

/// A property mailgate does not forward: what Graph calls a body it cannot read.
pub fn unsupported(field: &str, detail: String) -> DomainError {
    DomainError::unsupported(field, detail)
}

/// `@odata.type`, `@odata.context`, `attachments@odata.context`: annotations, which say nothing Graph acts on
/// for a send except the type, read separately.
fn annotation(key: &str) -> Option<&str> {
    let (_, term) = key.split_once('@')?;
    term.get(..6).filter(|p| p.eq_ignore_ascii_case("odata.")).map(|_| term)
}

impl<'a> Props<'a> {
    /// Reads `value` (at `path` in the body) as an object whose properties are among `known`.
    pub fn read(value: &'a Value, path: &str, known: &[&'static str]) -> Result<Self, DomainError> {
        let Value::Object(map) = value else {
            return Err(DomainError::invalid(path, format!("`{path}` must be an object")));
        };
        let mut props = Props { path: path.to_owned(), found: Vec::with_capacity(map.len()), odata_type: None };
        for (key, v) in map {
            if let Some(term) = annotation(key) {
                if key.starts_with('@') && term.eq_ignore_ascii_case("odata.type") {
                    let kind = v.as_str().ok_or_else(|| {
                        DomainError::invalid(join(path, key), format!("`{}` must be a string", join(path, key)))
                    })?;
                    props.odata_type = Some(kind);
                }
                continue;
            }
            let Some(name) = known.iter().copied().find(|k| k.eq_ignore_ascii_case(key)) else {
                let field = join(path, key);
                return Err(unsupported(
                    &field,
                    format!(
                        "mailgate does not forward the property `{field}`; leave it out (it reads {})",
                        known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    ),
                ));
            };
            // Two spellings of one name would leave it to chance which one counts.
            if props.found.iter().any(|(n, _)| *n == name) {
                let field = join(path, name);
                return Err(DomainError::invalid(
                    &field,
                    format!("`{field}` appears more than once (property names are read in any letter case)"),
                ));
            }
            props.found.push((name, v));
        }
        Ok(props)
    }

    /// The property's value; `null` counts as absent, as Graph reads it.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.found.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &str) -> Result<Option<&'a str>, DomainError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.wrong(name, "a string")),
        }
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, DomainError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.wrong(name, "a boolean")),
        }
    }

    pub fn field(&self, name: &str) -> String {
        join(&self.path, name)
    }

    fn wrong(&self, name: &str, what: &str) -> DomainError {
        let field = self.field(name);
        DomainError::invalid(&field, format!("`{field}` must be {what}"))
    }

    /// The `@odata.type` annotation, when given, must name `kind` (`microsoft.graph.<kind>`, with or without `#`).
    pub fn expect_type(&self, kind: &str) -> Result<(), DomainError> {
        let Some(given) = self.odata_type else { return Ok(()) };
        let bare = given.strip_prefix('#').unwrap_or(given);
        let matches = bare
            .get(..16)
            .is_some_and(|ns| ns.eq_ignore_ascii_case("microsoft.graph."))
            .then(|| &bare[16..])
            .is_some_and(|t| t.eq_ignore_ascii_case(kind));
        if matches {
            return Ok(());
        }
        let field = self.field("@odata.type");
        Err(unsupported(
            &field,
            format!("`{field}` is `{given}`; mailgate sends only a `#microsoft.graph.{kind}` here"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_in_any_case_and_annotations_aside() {
        let v = json!({"@odata.type": "#Microsoft.Graph.message", "SUBJECT": "x", "subject@odata.etag": "e"});
        let p = Props::read(&v, "message", &["subject"]).expect("reads");
        assert_eq!(p.str("subject").expect("string"), Some("x"));
        p.expect_type("message").expect("its own type");
        assert_eq!(p.expect_type("recipient").expect_err("another type").field(), Some("message.@odata.type"));
    }

    #[test]
    fn refuses_unknown_duplicate_and_foreign_annotations() {
        let field =
            |v: Value| Props::read(&v, "message", &["subject"]).err().and_then(|e| e.field().map(str::to_owned));
        assert_eq!(
            field(json!({"singleValueExtendedProperties": []})).as_deref(),
            Some("message.singleValueExtendedProperties")
        );
        assert_eq!(field(json!({"subject": "a", "Subject": "b"})).as_deref(), Some("message.subject"));
        assert_eq!(
            field(json!({"@microsoft.graph.conflictBehavior": "x"})).as_deref(),
            Some("message.@microsoft.graph.conflictBehavior")
        );
        assert_eq!(field(json!({"@odata.type": 5})).as_deref(), Some("message.@odata.type"));
        assert_eq!(field(json!([])).as_deref(), Some("message"));
    }
}
