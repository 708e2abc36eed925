//! What a filter needs to know about a recipient, and a map-backed implementation.

use std::collections::{HashMap, HashSet};

use super::property::Property;

/// A recipient as seen by a filter.
pub trait Recipient {
    /// Single-valued property value, None if unset. Not called for MemberOfGroup / EmailAddresses.
    fn property(&self, p: Property) -> Option<&str>;
    /// Whether the recipient is a (transitive) member of the named group.
    fn member_of(&self, group: &str) -> bool;
    /// All proxy addresses, including the primary one.
    fn email_addresses(&self) -> Vec<&str>;
}

/// A recipient held in plain collections: property values, the lower-cased names / addresses /
/// identities of every group it is a transitive member of, and its proxy addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapRecipient {
    pub properties: HashMap<Property, String>,
    /// Lower-cased group names, addresses or identities.
    pub groups: HashSet<String>,
    /// Proxy addresses (`smtp:` prefixes allowed). `PrimarySmtpAddress` is added by
    /// [`Recipient::email_addresses`] when missing here.
    pub addresses: Vec<String>,
}

impl MapRecipient {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a property value (builder style).
    pub fn with(mut self, p: Property, value: impl Into<String>) -> Self {
        self.properties.insert(p, value.into());
        self
    }

    /// Adds a group the recipient belongs to (lower-cased here).
    pub fn in_group(mut self, group: &str) -> Self {
        self.groups.insert(group.to_lowercase());
        self
    }

    /// Adds a proxy address.
    pub fn with_address(mut self, address: impl Into<String>) -> Self {
        self.addresses.push(address.into());
        self
    }
}

impl Recipient for MapRecipient {
    fn property(&self, p: Property) -> Option<&str> {
        self.properties.get(&p).map(String::as_str)
    }

    fn member_of(&self, group: &str) -> bool {
        self.groups.contains(&group.to_lowercase())
    }

    fn email_addresses(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.addresses.iter().map(String::as_str).collect();
        if let Some(primary) = self.property(Property::PrimarySmtpAddress) {
            let known = out.iter().any(|a| super::eval::eq_ignore_case(super::eval::strip_smtp(a), primary));
            if !known && !primary.is_empty() {
                out.push(primary);
            }
        }
        out
    }
}
