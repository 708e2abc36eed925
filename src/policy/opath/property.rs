//! The recipient properties a filter may read.

use std::fmt;

/// Highest `CustomAttributeN` that Exchange defines.
pub const MAX_CUSTOM_ATTRIBUTE: u8 = 15;

/// A recipient property that a filter can compare.
///
/// `CustomAttribute(n)` is valid for `n` in `1..=15`; other numbers are never produced by
/// [`Property::parse`] and are refused by [`super::Filter::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Property {
    PrimarySmtpAddress,
    Alias,
    DisplayName,
    Department,
    Company,
    Office,
    City,
    StateOrProvince,
    CountryOrRegion,
    Title,
    CustomAttribute(u8),
    RecipientType,
    RecipientTypeDetails,
    MemberOfGroup,
    EmailAddresses,
}

/// Properties with a fixed name, in canonical spelling (custom attributes excluded).
const NAMED: [(Property, &str); 14] = [
    (Property::PrimarySmtpAddress, "PrimarySmtpAddress"),
    (Property::Alias, "Alias"),
    (Property::DisplayName, "DisplayName"),
    (Property::Department, "Department"),
    (Property::Company, "Company"),
    (Property::Office, "Office"),
    (Property::City, "City"),
    (Property::StateOrProvince, "StateOrProvince"),
    (Property::CountryOrRegion, "CountryOrRegion"),
    (Property::Title, "Title"),
    (Property::RecipientType, "RecipientType"),
    (Property::RecipientTypeDetails, "RecipientTypeDetails"),
    (Property::MemberOfGroup, "MemberOfGroup"),
    (Property::EmailAddresses, "EmailAddresses"),
];

const CUSTOM_PREFIX: &str = "customattribute";

impl Property {
    /// Every valid property, custom attributes 1..=15 included.
    pub fn all() -> Vec<Property> {
        let mut out: Vec<Property> = NAMED.iter().map(|(p, _)| *p).collect();
        out.extend((1..=MAX_CUSTOM_ATTRIBUTE).map(Property::CustomAttribute));
        out
    }

    /// Canonical spelling, e.g. `PrimarySmtpAddress`, `CustomAttribute7`.
    pub fn name(&self) -> String {
        match self {
            Property::CustomAttribute(n) => format!("CustomAttribute{n}"),
            other => NAMED.iter().find(|(p, _)| p == other).map(|(_, name)| (*name).to_string()).unwrap_or_default(),
        }
    }

    /// Case-insensitive lookup of a property name. `CustomAttribute1`..`CustomAttribute15`
    /// (no leading zeros) are accepted; anything else gives `None`.
    pub fn parse(name: &str) -> Option<Property> {
        if let Some((p, _)) = NAMED.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)) {
            return Some(*p);
        }
        match custom_attribute_number(name) {
            Some(n) if (1..=u32::from(MAX_CUSTOM_ATTRIBUTE)).contains(&n) => {
                u8::try_from(n).ok().map(Property::CustomAttribute)
            }
            _ => None,
        }
    }

    /// True for a `CustomAttribute(n)` outside 1..=15, which no filter text can name.
    pub(super) fn is_out_of_range(&self) -> bool {
        matches!(self, Property::CustomAttribute(n) if *n == 0 || *n > MAX_CUSTOM_ATTRIBUTE)
    }
}

/// `Some(n)` when `name` is `CustomAttribute<digits>` (any case, no leading zero), even out of range.
pub(super) fn custom_attribute_number(name: &str) -> Option<u32> {
    let prefix = name.get(..CUSTOM_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(CUSTOM_PREFIX) {
        return None;
    }
    let digits = name.get(CUSTOM_PREFIX.len()..)?;
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // Saturate absurdly long numbers instead of failing: the caller only needs "out of range".
    Some(digits.parse::<u32>().unwrap_or(u32::MAX))
}

/// A few valid names, for error messages.
pub(super) fn some_valid_names() -> &'static str {
    "PrimarySmtpAddress, Alias, DisplayName, Department, Company, Office, City, \
     StateOrProvince, CountryOrRegion, Title, CustomAttribute1..CustomAttribute15, \
     RecipientType, RecipientTypeDetails, MemberOfGroup, EmailAddresses"
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}
