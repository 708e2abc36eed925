//! What one setting is: its TOML key, its environment variable, its type, its default, what it does and whether its
//! value is a secret, written once with `settings!` in the module of the area it belongs to. The loader, the errors
//! and the README's settings table all read these declarations.

use std::marker::PhantomData;

use secrecy::SecretString;

/// A setting's declaration, whatever its type. The loader reads its key, variable and default; its description,
/// secrecy and check are read by the tests that hold the README and the types to it (docs.rs, tests.rs).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(test), allow(dead_code))]
pub struct Spec {
    /// The key in the TOML file, and the name errors give in parentheses.
    pub key: &'static str,
    /// The environment variable that overrides the file.
    pub env: &'static str,
    pub default: DefaultIs,
    /// What it does, as the README's table says it.
    pub doc: &'static str,
    /// Whether the value may hold a secret (a password, a client secret): such a value never reaches a log line.
    pub secret: bool,
    /// Whether a text is a valid value of the setting's type (without the checks that span settings).
    pub check: fn(&str) -> Result<(), String>,
}

/// Where a setting's value comes from when neither the file nor the environment gives one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultIs {
    /// Nothing: start-up stops, naming the setting.
    Required,
    /// Unset; the text says what that means when it is not simply "none".
    Unset(Option<&'static str>),
    /// This value, written as it would be in the environment.
    Value(&'static str),
    /// This value, and what it amounts to (`36700160`, 35 MiB).
    Explained(&'static str, &'static str),
    /// Worked out from other settings at start; the text says how.
    Derived(&'static str),
}

impl DefaultIs {
    /// The literal value, when there is one.
    pub fn literal(self) -> Option<&'static str> {
        match self {
            Self::Value(v) | Self::Explained(v, _) => Some(v),
            Self::Required | Self::Unset(_) | Self::Derived(_) => None,
        }
    }
}

/// A setting of type `T`: its declaration, with the type the loader reads it as.
pub struct Setting<T> {
    pub spec: Spec,
    _type: PhantomData<fn() -> T>,
}

impl<T> Setting<T> {
    pub const fn new(spec: Spec) -> Self {
        Self { spec, _type: PhantomData }
    }
}

/// How a setting's text becomes its value. The reason of an error is shown after the setting's name; a secret's
/// value is never repeated in it.
pub trait Parse: Sized {
    const SECRET: bool = false;
    fn parse(text: &str) -> Result<Self, String>;
}

/// Whether `text` parses as `T`; a declaration keeps this to check its own default.
pub fn check<T: Parse>(text: &str) -> Result<(), String> {
    T::parse(text).map(drop)
}

macro_rules! from_str {
    ($($t:ty),*) => {$(
        impl Parse for $t {
            fn parse(text: &str) -> Result<Self, String> {
                text.parse().map_err(|e: <$t as std::str::FromStr>::Err| e.to_string())
            }
        }
    )*};
}
from_str!(u32, u64, i32, i64, usize, String, std::net::SocketAddr, reqwest::Url);

impl Parse for bool {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!("`{other}`: expected true or false")),
        }
    }
}

impl Parse for SecretString {
    const SECRET: bool = true;
    fn parse(text: &str) -> Result<Self, String> {
        Ok(text.into())
    }
}

/// A comma-separated list; blank items are dropped.
impl Parse for Vec<String> {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
    }
}

impl Parse for axum::http::HeaderName {
    fn parse(text: &str) -> Result<Self, String> {
        Self::from_bytes(text.as_bytes()).map_err(|_| format!("`{text}` is not a header name"))
    }
}

/// Declares an area's settings, each with its description as a doc comment, and `SETTINGS`, the area's list:
///
/// ```ignore
/// settings! {
///     /// what it does, as the README says it
///     WORKERS: usize = "workers", "MAILGATE_WORKERS", DefaultIs::Value("32");
/// }
/// ```
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident: $ty:ty = $key:literal, $env:literal, $default:expr;
    )+) => {
        $(
            $(#[doc = $doc])+
            pub(super) const $name: $crate::config::setting::Setting<$ty> =
                $crate::config::setting::Setting::new($crate::config::setting::Spec {
                    key: $key,
                    env: $env,
                    default: $default,
                    doc: concat!($($doc),+),
                    secret: <$ty as $crate::config::setting::Parse>::SECRET,
                    check: $crate::config::setting::check::<$ty>,
                });
        )+
        /// This area's settings, in the order the README lists them.
        pub(super) const SETTINGS: &[$crate::config::setting::Spec] = &[$($name.spec),+];
    };
}
pub(super) use settings;
