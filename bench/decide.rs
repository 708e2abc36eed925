//! How the allowlist's decision scales with the directory: the same decisions over directories of 10, 1,000 and
//! 100,000 mailboxes (each with a proxy address, a UPN and an object id, a tenth of them in a DenyAccess group),
//! named by every kind of name. Reports nanoseconds per decision and each size's ratio to the 10-mailbox one;
//! a lookup that scanned the directory would grow ten-thousandfold between the first and the last.
//!
//! `cargo bench --bench decide`. `cargo test` runs it too, as a short smoke: 50 ms a size, unoptimised, whose figures
//! mean nothing.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use mailgate::policy::model::{AppGrants, Group, RecipientEntry};
use mailgate::policy::{AccessRight, AppSelector, Directory, Policy, PolicyScope, Snapshot, decide};
use uuid::Uuid;

const APP: Uuid = Uuid::from_u128(1);
const EXEC: Uuid = Uuid::from_u128(2);

fn snapshot(size: usize) -> Snapshot {
    let recipients: Vec<RecipientEntry> = (0..size)
        .map(|i| RecipientEntry {
            address: format!("user{i}@contoso.test"),
            object_id: Some(Uuid::from_u128(0x1000_0000 + i as u128)),
            user_principal_name: Some(format!("u{i}@contoso.onmicrosoft.test")),
            recipient_type: "UserMailbox".into(),
            recipient_type_details: "UserMailbox".into(),
            email_addresses: vec![format!("SMTP:user{i}@contoso.test"), format!("smtp:Alias{i}@Contoso.test")],
            ..RecipientEntry::default()
        })
        .collect();
    let exec = Group {
        address: "exec@contoso.test".into(),
        mailboxes: (0..size).step_by(10).map(|i| format!("user{i}@contoso.test")).collect(),
        ..Group::default()
    };
    let mut snapshot = Snapshot {
        directory: Directory::new(HashMap::from([(EXEC, exec)]), recipients),
        policies: vec![Policy {
            id: Uuid::from_u128(3),
            apps: AppSelector::Apps(vec![APP]),
            scope: PolicyScope::Group(EXEC),
            access_right: AccessRight::DenyAccess,
            description: String::new(),
        }],
        ..Snapshot::default()
    };
    // An app with API keys only, scoped by its own DenyAccess policy.
    snapshot.apps.insert(APP, AppGrants::default());
    snapshot
}

/// Names spread over the whole directory, of every kind.
fn names(size: usize, count: usize) -> Vec<String> {
    (0..count)
        .map(|n| {
            let i = (n * 7919) % size;
            match n % 4 {
                0 => format!("user{i}@contoso.test"),
                1 => format!("ALIAS{i}@contoso.test"),
                2 => format!("u{i}@contoso.onmicrosoft.test"),
                _ => Uuid::from_u128(0x1000_0000 + i as u128).to_string(),
            }
        })
        .collect()
}

fn per_decision(size: usize, budget: Duration) -> f64 {
    let snapshot = snapshot(size);
    let names = names(size, 1024);
    let (mut done, start) = (0u64, Instant::now());
    while start.elapsed() < budget {
        for name in &names {
            black_box(decide(&snapshot, APP, "app", black_box(name)));
        }
        done += names.len() as u64;
    }
    start.elapsed().as_nanos() as f64 / done as f64
}

fn main() {
    let quick = cfg!(debug_assertions) || std::env::args().any(|a| a == "--quick");
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let budget = if quick { Duration::from_millis(50) } else { Duration::from_secs(2) };
    let sizes = [10, 1_000, 100_000];
    let base = per_decision(sizes[0], budget);
    println!("{:>10} {:>14} {:>8}", "mailboxes", "ns/decision", "ratio");
    for size in sizes {
        let ns = if size == sizes[0] { base } else { per_decision(size, budget) };
        println!("{size:>10} {ns:>14.0} {:>8.2}", ns / base);
    }
}
