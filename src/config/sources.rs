//! Where a setting's value comes from: the TOML file, then the environment, merged with figment over the declared
//! defaults; and reading it as its declared type, with errors that name the setting.
//!
//! Values stay text until a setting reads them, as they always have: figment's own environment provider would read
//! `[a]` as an array and `"a"` without its quotes (a client secret or a password may look like either) and match
//! names case-insensitively, so the environment is read here, by the declared names only. Any other `MAILGATE_*`
//! variable is no setting and is left alone (the command line's `MAILGATE_CONFIG`, a test's own). An empty value
//! counts as unset, whichever layer gave it.

use std::collections::BTreeMap;
use std::path::Path;

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::ConfigError;
use super::setting::{DefaultIs, Parse, Setting, Spec};

/// The merged text of each setting given, by key.
pub(super) struct Raw {
    values: BTreeMap<String, String>,
}

impl Raw {
    /// The file (when given), then the environment `env` looks up.
    pub(super) fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            figment = figment.merge(file_layer(path)?);
        }
        let figment = figment.merge(Environment { lookup: &env });
        // Both layers are flat tables of checked values by now; a failure here is the file's.
        let merged: BTreeMap<String, Value> = figment.extract().map_err(|e| ConfigError::File {
            path: file.map_or_else(String::new, |p| p.display().to_string()),
            reason: e.to_string(),
        })?;
        Ok(Self { values: merged.into_iter().filter_map(|(k, v)| Some((k, text(&v)?))).collect() })
    }

    /// Nothing given: every setting at its default.
    pub(super) fn defaults() -> Self {
        Self { values: BTreeMap::new() }
    }

    /// The text the file or the environment gave, unless empty.
    pub(super) fn given<T>(&self, s: &Setting<T>) -> Option<&str> {
        self.values.get(s.spec.key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The value given, else the declared literal default; None when neither is there.
    pub(super) fn get<T: Parse>(&self, s: &Setting<T>) -> Result<Option<T>, ConfigError> {
        match self.given(s).or(s.spec.default.literal()) {
            None => Ok(None),
            Some(text) => T::parse(text).map(Some).map_err(|reason| invalid(&s.spec, reason)),
        }
    }

    /// The value given, else the declared default; a setting with neither is missing.
    pub(super) fn value<T: Parse>(&self, s: &Setting<T>) -> Result<T, ConfigError> {
        self.get(s)?.ok_or_else(|| missing(&s.spec))
    }

    /// The value given, else `derived`: for a setting whose default is worked out from others.
    pub(super) fn or<T: Parse>(&self, s: &Setting<T>, derived: T) -> Result<T, ConfigError> {
        debug_assert!(matches!(s.spec.default, DefaultIs::Derived(_)), "{} declares its default", s.spec.key);
        Ok(self.get(s)?.unwrap_or(derived))
    }
}

pub(super) fn invalid(spec: &Spec, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: spec.key, env: spec.env.to_owned(), reason: reason.into() }
}

pub(super) fn missing(spec: &Spec) -> ConfigError {
    ConfigError::Missing { key: spec.key, env: spec.env.to_owned() }
}

/// The TOML file, a flat table keyed by the settings' keys (`listen = "0.0.0.0:8080"`); an unknown key is refused,
/// so that a typo does not pass for a default.
fn file_layer(path: &Path) -> Result<impl Provider, ConfigError> {
    let file_err = |reason: String| ConfigError::File { path: path.display().to_string(), reason };
    let toml = Toml::file_exact(path);
    let data = toml.data().map_err(|e| file_err(e.to_string()))?;
    for (key, value) in data.values().flatten() {
        if super::spec(key).is_none() {
            return Err(file_err(format!("unknown setting `{key}`")));
        }
        if text(value).is_none() {
            let kind = match value {
                Value::Num(..) => "float",
                Value::Array(..) => "array",
                Value::Dict(..) => "table",
                _ => "empty",
            };
            return Err(file_err(format!("`{key}` must be a string, integer or boolean, not {kind}")));
        }
    }
    Ok(toml)
}

/// A value as the text a setting reads: strings as they are, integers and booleans as written.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(_, s) => Some(s.clone()),
        Value::Char(_, c) => Some(c.to_string()),
        Value::Bool(_, b) => Some(b.to_string()),
        Value::Num(_, n) => n.to_i128().map(|i| i.to_string()).or_else(|| n.to_u128().map(|u| u.to_string())),
        Value::Empty(..) | Value::Dict(..) | Value::Array(..) => None,
    }
}

/// The environment variables the declarations name, as text.
struct Environment<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Provider for Environment<'_> {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable(s)")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict: Dict =
            super::all().filter_map(|s| Some((s.key.to_owned(), Value::from((self.lookup)(s.env)?)))).collect();
        Ok(Profile::Default.collect(dict))
    }
}
