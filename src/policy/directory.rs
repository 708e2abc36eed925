//! The recipient directory as decisions read it: every name a mailbox answers to, and the groups that hold it.
//!
//! A mailbox answers to its primary SMTP address, each `smtp:` proxy address, its user principal name and its
//! object id, in any letter case; Graph resolves all of them to the same mailbox. So a decision, a limit or an
//! audit row keyed by the caller's spelling would let one mailbox pass for another. Every name is indexed here,
//! once per snapshot, and a lookup is a hash-map probe whatever the directory's size.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

pub use crate::domain::address::name_key;

/// A mail-enabled security group. `mailboxes` holds its direct members by whichever name they were added.
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub address: String,
    pub display_name: String,
    pub object_id: Option<Uuid>,
    pub mailboxes: HashSet<String>,
    pub subgroups: Vec<Uuid>,
}

/// A mailbox or mail user from the directory, with the properties recipient filters read.
#[derive(Clone, Debug, Default)]
pub struct RecipientEntry {
    /// The primary SMTP address, lower-cased: the canonical name of the mailbox.
    pub address: String,
    pub object_id: Option<Uuid>,
    pub user_principal_name: Option<String>,
    pub recipient_type: String,
    pub recipient_type_details: String,
    pub display_name: String,
    /// OPATH property name → value.
    pub properties: HashMap<String, String>,
    /// Exchange's `EmailAddresses`: `SMTP:`/`smtp:` proxies and other kinds (`X500:`, `SIP:` …).
    pub email_addresses: Vec<String>,
}

impl RecipientEntry {
    /// Every name this mailbox can be sent as, lower-cased: primary address, SMTP proxies, UPN, object id.
    pub fn names(&self) -> Vec<String> {
        mailbox_names(&self.address, &self.email_addresses, self.user_principal_name.as_deref(), self.object_id)
    }
}

/// The names a mailbox answers to, lower-cased and sorted. The `recipient_names` table applies the same rule.
pub fn mailbox_names(address: &str, proxies: &[String], upn: Option<&str>, object_id: Option<Uuid>) -> Vec<String> {
    let mut names = vec![address.to_lowercase()];
    names.extend(proxies.iter().filter_map(|a| smtp_proxy(a)));
    names.extend(upn.map(str::to_lowercase));
    names.extend(object_id.map(|id| id.hyphenated().to_string()));
    names.sort();
    names.dedup();
    names
}

/// The address of an SMTP proxy (`SMTP:a@b`, `smtp:a@b`, or a bare `a@b`), lower-cased; None for other kinds.
pub fn smtp_proxy(proxy: &str) -> Option<String> {
    let address = match proxy.split_once(':') {
        Some((kind, rest)) if kind.eq_ignore_ascii_case("smtp") => rest,
        Some(_) => return None,
        None => proxy,
    };
    let address = address.trim();
    (address.contains('@')).then(|| address.to_lowercase())
}

/// Why an `EmailAddresses` entry cannot be stored: it is empty, or holds whitespace or a control character, which
/// the database's copy of the name rule (`recipient_names_of`) would trim differently from `smtp_proxy`.
pub fn check_proxy(proxy: &str) -> Result<(), String> {
    if proxy.is_empty() || proxy.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{proxy:?} is empty or holds whitespace or a control character"));
    }
    Ok(())
}

/// What a mailbox name stands for in this directory.
#[derive(Clone, Debug)]
pub struct Identity<'a> {
    /// The primary address of a known mailbox; otherwise the name as given, in index form.
    pub canonical: String,
    /// Every name of the mailbox (just `canonical` when unknown).
    pub names: Vec<String>,
    pub entry: Option<&'a RecipientEntry>,
    /// Every group holding the mailbox, directly or through nested groups.
    pub groups: HashSet<Uuid>,
}

impl Identity<'_> {
    pub fn is_known(&self) -> bool {
        self.entry.is_some()
    }
}

/// Groups and recipients, indexed. Group membership is transitive, as Exchange counts members of nested groups.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    groups: HashMap<Uuid, Group>,
    recipients: Vec<RecipientEntry>,
    /// Every name of every recipient → its place in `recipients`.
    by_name: HashMap<String, usize>,
    /// A member's name (as the group lists it) → the groups that list it directly.
    direct_groups: HashMap<String, Vec<Uuid>>,
    /// A group → the groups that hold it.
    parents: HashMap<Uuid, Vec<Uuid>>,
}

impl Directory {
    /// Builds the indexes. When two recipients claim one name (a directory edited by hand), the first keeps it
    /// and the clash is logged: the import and the admin API refuse such clashes before they are stored.
    pub fn new(groups: HashMap<Uuid, Group>, recipients: Vec<RecipientEntry>) -> Self {
        let mut by_name = HashMap::with_capacity(recipients.len() * 2);
        for (i, r) in recipients.iter().enumerate() {
            for name in r.names() {
                if let Some(&first) = by_name.get(&name) {
                    if first != i {
                        let first: &RecipientEntry = &recipients[first];
                        tracing::warn!(%name, kept = %first.address, ignored = %r.address,
                            "two mailboxes claim one name; the first keeps it");
                    }
                    continue;
                }
                by_name.insert(name, i);
            }
        }
        let mut direct_groups: HashMap<String, Vec<Uuid>> = HashMap::new();
        let mut parents: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (id, g) in &groups {
            for m in &g.mailboxes {
                direct_groups.entry(name_key(m)).or_default().push(*id);
            }
            for child in &g.subgroups {
                parents.entry(*child).or_default().push(*id);
            }
        }
        Self { groups, recipients, by_name, direct_groups, parents }
    }

    pub fn groups(&self) -> &HashMap<Uuid, Group> {
        &self.groups
    }

    pub fn recipients(&self) -> &[RecipientEntry] {
        &self.recipients
    }

    /// Whether the directory lists any mailbox at all. An empty one (no import, the seed article's setup) cannot
    /// tell a real mailbox from an invented one.
    pub fn has_recipients(&self) -> bool {
        !self.recipients.is_empty()
    }

    /// The directory entry for a mailbox named by any of its names.
    pub fn recipient(&self, name: &str) -> Option<&RecipientEntry> {
        self.by_name.get(&name_key(name)).map(|&i| &self.recipients[i])
    }

    /// The canonical mailbox behind `name`, with all its names and groups.
    pub fn identify(&self, name: &str) -> Identity<'_> {
        let key = name_key(name);
        let entry = self.recipient(&key);
        let (canonical, names) = match entry {
            Some(r) => (r.address.to_lowercase(), r.names()),
            None => (key.clone(), vec![key]),
        };
        let groups = self.groups_of(&names);
        Identity { canonical, names, entry, groups }
    }

    /// Every group holding any of `names`, walking from the member up through nesting; each group once, so a
    /// cycle ends.
    fn groups_of(&self, names: &[String]) -> HashSet<Uuid> {
        let mut seen = HashSet::new();
        let mut stack: Vec<Uuid> = names.iter().filter_map(|n| self.direct_groups.get(n)).flatten().copied().collect();
        while let Some(id) = stack.pop() {
            if seen.insert(id) {
                stack.extend(self.parents.get(&id).into_iter().flatten().copied());
            }
        }
        seen
    }

    pub fn address(&self, group: Uuid) -> &str {
        self.groups.get(&group).map_or("(deleted group)", |g| g.address.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CEO_OID: Uuid = Uuid::from_u128(0xCE0);
    const EXEC: Uuid = Uuid::from_u128(1);
    const BOARD: Uuid = Uuid::from_u128(2);

    fn ceo() -> RecipientEntry {
        RecipientEntry {
            address: "ceo@contoso.test".into(),
            object_id: Some(CEO_OID),
            user_principal_name: Some("Jane.Doe@contoso.onmicrosoft.test".into()),
            email_addresses: vec![
                "SMTP:ceo@contoso.test".into(),
                "smtp:Jane.Doe@Contoso.test".into(),
                "X500:/o=ExchangeLabs/ou=Exchange/cn=Recipients/cn=jane".into(),
                "SIP:jane@contoso.test".into(),
            ],
            ..RecipientEntry::default()
        }
    }

    fn directory() -> Directory {
        let mut groups = HashMap::new();
        // Exec lists the CEO by a proxy address; Board holds Exec, and Exec holds Board: a cycle.
        let exec = Group { address: "exec@contoso.test".into(), ..Group::default() };
        groups.insert(
            EXEC,
            Group { mailboxes: ["JANE.DOE@contoso.test".to_owned()].into(), subgroups: vec![BOARD], ..exec },
        );
        groups.insert(BOARD, Group { address: "board@contoso.test".into(), subgroups: vec![EXEC], ..Group::default() });
        let other = RecipientEntry { address: "ops@contoso.test".into(), ..RecipientEntry::default() };
        Directory::new(groups, vec![ceo(), other])
    }

    #[test]
    fn every_name_of_a_mailbox_resolves_to_its_primary_address() {
        let d = directory();
        for name in [
            "ceo@contoso.test",
            "CEO@Contoso.TEST",
            "jane.doe@contoso.test",
            "JANE.DOE@CONTOSO.TEST",
            "jane.doe@contoso.onmicrosoft.test",
            "00000000-0000-0000-0000-000000000ce0",
            "00000000-0000-0000-0000-000000000CE0",
            "{00000000-0000-0000-0000-000000000ce0}",
        ] {
            let id = d.identify(name);
            assert!(id.is_known(), "{name}");
            assert_eq!(id.canonical, "ceo@contoso.test", "{name}");
            assert_eq!(id.groups, HashSet::from([EXEC, BOARD]), "{name}");
        }
    }

    #[test]
    fn names_other_than_smtp_proxies_are_not_addresses() {
        let d = directory();
        assert!(!d.identify("jane@contoso.test").is_known(), "a SIP address is not a mail address");
        let names = ceo().names();
        assert!(names.iter().all(|n| !n.starts_with("x500") && !n.starts_with("sip")), "{names:?}");
    }

    #[test]
    fn an_unknown_name_stands_for_itself() {
        let d = directory();
        let id = d.identify("Someone@Contoso.test");
        assert!(!id.is_known());
        assert_eq!(id.canonical, "someone@contoso.test");
        assert!(id.groups.is_empty());
        assert!(d.has_recipients());
        assert!(!Directory::default().has_recipients());
    }
}
