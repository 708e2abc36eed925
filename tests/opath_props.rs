//! Property tests for the OPATH recipient-filter parser and evaluator.

use std::collections::HashMap;

use mailgate::policy::model::{AppGrants, ManagementScope, RoleAssignment, ServicePrincipal};
use mailgate::policy::opath::{CompareOp, Comparison, Expr, Filter, MapRecipient, Property, Recipient, Value};
use mailgate::policy::{Access, Directory, Snapshot, decide};
use proptest::prelude::*;
use uuid::Uuid;

// ---------- generators ----------

/// Short texts over a small alphabet, so that comparisons often hit and wildcards matter.
fn text() -> impl Strategy<Value = String> {
    "[aAbBé É'\"*?.@-]{0,5}"
}

fn group_name() -> impl Strategy<Value = String> {
    prop_oneof![Just("dl-scope@contoso.test"), Just("Finance Team"), Just("g1"), Just("É")].prop_flat_map(|g| {
        // Random casing of the same name.
        proptest::collection::vec(any::<bool>(), g.chars().count()).prop_map(move |flips| {
            g.chars().zip(flips).map(|(c, up)| if up { c.to_ascii_uppercase() } else { c }).collect::<String>()
        })
    })
}

fn single_property() -> impl Strategy<Value = Property> {
    prop_oneof![
        Just(Property::PrimarySmtpAddress),
        Just(Property::Alias),
        Just(Property::DisplayName),
        Just(Property::Department),
        Just(Property::Company),
        Just(Property::Office),
        Just(Property::City),
        Just(Property::StateOrProvince),
        Just(Property::CountryOrRegion),
        Just(Property::Title),
        Just(Property::RecipientType),
        Just(Property::RecipientTypeDetails),
        (1u8..=15).prop_map(Property::CustomAttribute),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop_oneof![Just(CompareOp::Eq), Just(CompareOp::Ne), Just(CompareOp::Like), Just(CompareOp::NotLike)]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => text().prop_map(Value::Str),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ]
}

fn comparison() -> impl Strategy<Value = Expr> {
    prop_oneof![
        4 => (single_property(), op(), value()).prop_map(|(p, o, v)| Expr::compare(p, o, v)),
        1 => (op(), value()).prop_map(|(o, v)| Expr::compare(Property::EmailAddresses, o, v)),
        1 => (prop_oneof![Just(CompareOp::Eq), Just(CompareOp::Ne)], group_name())
            .prop_map(|(o, g)| Expr::compare(Property::MemberOfGroup, o, Value::Str(g))),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    comparison().prop_recursive(6, 48, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
        ]
    })
}

/// Filters that could hold a name only through a pattern or a negation: `-like`, `-notlike` and `-ne` on any
/// property, `-eq` on properties other than the address ones, under any `-not`, `-and` and `-or`.
fn pattern_or_negation() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        (single_property(), prop_oneof![Just(CompareOp::Ne), Just(CompareOp::Like), Just(CompareOp::NotLike)], value())
            .prop_map(|(p, o, v)| Expr::compare(p, o, v)),
        (prop_oneof![Just(CompareOp::Ne), Just(CompareOp::Like), Just(CompareOp::NotLike)], value())
            .prop_map(|(o, v)| Expr::compare(Property::EmailAddresses, o, v)),
        (single_property().prop_filter("not an address", |p| *p != Property::PrimarySmtpAddress), value())
            .prop_map(|(p, v)| Expr::compare(p, CompareOp::Eq, v)),
        group_name().prop_map(|g| Expr::compare(Property::MemberOfGroup, CompareOp::Ne, Value::Str(g))),
    ];
    leaf.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
        ]
    })
}

/// Whether an app whose only grant is a Mail.Send role assignment scoped by `filter` may send as `name`, a name the
/// (empty) directory does not list.
fn rbac_grants_unknown(filter: Filter, name: &str) -> bool {
    const APP: Uuid = Uuid::from_u128(1);
    let (sp, scope) = (Uuid::from_u128(2), Uuid::from_u128(3));
    let entra_app_id = Uuid::from_u128(4);
    let mut s = Snapshot { directory: Directory::new(HashMap::new(), Vec::new()), ..Snapshot::default() };
    s.apps
        .insert(APP, AppGrants { entra_app_id: Some(entra_app_id), has_entra_identity: true, ..AppGrants::default() });
    s.service_principals.push(ServicePrincipal {
        id: sp,
        app_id: entra_app_id,
        object_id: Uuid::from_u128(5),
        display_name: "app".into(),
    });
    s.scopes.insert(scope, ManagementScope { id: scope, name: "scope".into(), filter });
    s.assignments.push(RoleAssignment {
        id: Uuid::from_u128(6),
        name: "send".into(),
        service_principal: sp,
        role: "Application Mail.Send".into(),
        scope: Some(scope),
    });
    decide(&s, APP, "app", name).access == Access::Granted
}

fn recipient() -> impl Strategy<Value = MapRecipient> {
    (
        proptest::collection::vec((single_property(), text()), 0..8),
        proptest::collection::vec(group_name(), 0..3),
        proptest::collection::vec((prop_oneof![Just(""), Just("smtp:"), Just("SMTP:"), Just("x500:")], text()), 0..3),
    )
        .prop_map(|(props, groups, addrs)| {
            let mut r = MapRecipient::new();
            for (p, v) in props {
                r = r.with(p, v);
            }
            for g in groups {
                r = r.in_group(&g);
            }
            for (prefix, a) in addrs {
                r = r.with_address(format!("{prefix}{a}"));
            }
            r
        })
}

/// Token soup: mostly-plausible filter fragments, to reach deep parser paths.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("Department"),
        Just("memberofgroup"),
        Just("EmailAddresses"),
        Just("CustomAttribute7"),
        Just("CustomAttribute16"),
        Just("Nope"),
        Just("-eq"),
        Just("-NE"),
        Just("-like"),
        Just("-notlike"),
        Just("-gt"),
        Just("-and"),
        Just("-or"),
        Just("-not"),
        Just("-not("),
        Just("("),
        Just(")"),
        Just("{"),
        Just("}"),
        Just("'x'"),
        Just("'O''B'"),
        Just("\"q\""),
        Just("'open"),
        Just("$null"),
        Just("$true"),
        Just("$x"),
        Just("a*b?"),
        Just("="),
        Just("-"),
        Just("é"),
    ];
    proptest::collection::vec(token, 0..24).prop_map(|t| t.join(" "))
}

// ---------- reference evaluation, written independently of the crate's ----------

fn lower(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Naive recursive wildcard match (fine for the short strings generated here).
fn ref_like(t: &[char], p: &[char]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some(('*', rest)) => (0..=t.len()).any(|i| ref_like(&t[i..], rest)),
        Some((pc, rest)) => match t.split_first() {
            Some((tc, trest)) => (*pc == '?' || pc == tc) && ref_like(trest, rest),
            None => false,
        },
    }
}

fn ref_text_match(actual: &str, target: &str, wildcard: bool) -> bool {
    let (a, t) = (lower(actual), lower(target));
    if wildcard {
        let a: Vec<char> = a.chars().collect();
        let t: Vec<char> = t.chars().collect();
        ref_like(&a, &t)
    } else {
        a == t
    }
}

fn ref_compare(c: &Comparison, r: &MapRecipient) -> bool {
    let wildcard = matches!(c.op, CompareOp::Like | CompareOp::NotLike);
    let target: Option<String> = match &c.value {
        Value::Str(s) if s.is_empty() => None,
        Value::Str(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        Value::Null => None,
    };
    let strip = |s: &str| {
        let l = lower(s);
        l.strip_prefix("smtp:").map(str::to_string).unwrap_or(l)
    };
    let positive = match c.property {
        Property::MemberOfGroup => target.is_some_and(|g| r.groups.contains(&lower(&g))),
        Property::EmailAddresses => {
            let addrs: Vec<String> = r.email_addresses().iter().map(|a| strip(a)).filter(|a| !a.is_empty()).collect();
            match target.map(|t| strip(&t)).filter(|t| !t.is_empty()) {
                None => addrs.is_empty(),
                Some(t) => addrs.iter().any(|a| ref_text_match(a, &t, wildcard)),
            }
        }
        p => match (r.properties.get(&p).filter(|v| !v.is_empty()), target) {
            (None, None) => true,
            (Some(a), Some(t)) => ref_text_match(a, &t, wildcard),
            _ => false,
        },
    };
    if matches!(c.op, CompareOp::Ne | CompareOp::NotLike) { !positive } else { positive }
}

fn ref_eval(e: &Expr, r: &MapRecipient) -> bool {
    match e {
        Expr::Compare(c) => ref_compare(c, r),
        Expr::Not(x) => !ref_eval(x, r),
        Expr::And(a, b) => ref_eval(a, r) && ref_eval(b, r),
        Expr::Or(a, b) => ref_eval(a, r) || ref_eval(b, r),
    }
}

// ---------- properties ----------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_on_arbitrary_strings(s in any::<String>()) {
        if let Err(e) = Filter::parse(&s) {
            prop_assert!(e.position <= s.chars().count());
        }
    }

    #[test]
    fn parse_never_panics_on_token_soup(s in token_soup()) {
        match Filter::parse(&s) {
            Ok(f) => {
                // Whatever parses, its canonical form parses back to the same filter.
                let again = Filter::parse(&f.to_string());
                prop_assert_eq!(again, Ok(f));
            }
            Err(e) => prop_assert!(e.position <= s.chars().count()),
        }
    }

    #[test]
    fn display_round_trips(e in expr()) {
        let f = Filter::new(e.clone()).expect("generated filters are expressible");
        let text = f.to_string();
        let back = Filter::parse(&text);
        prop_assert_eq!(back.as_ref().map(Filter::expr), Ok(&e), "text: {}", text);
        let props = f.properties();
        let mut dedup = props.clone();
        dedup.sort();
        dedup.dedup();
        prop_assert_eq!(dedup.len(), props.len());
    }

    #[test]
    fn evaluation_agrees_with_reference(e in expr(), r in recipient()) {
        let f = Filter::new(e.clone()).expect("generated filters are expressible");
        prop_assert_eq!(f.matches(&r), ref_eval(&e, &r), "filter: {}", f);
    }

    #[test]
    fn not_is_negation(e in expr(), r in recipient()) {
        let f = Filter::new(e.clone()).expect("expressible");
        let negated = Filter::new(Expr::Not(Box::new(e))).expect("expressible");
        prop_assert_eq!(negated.matches(&r), !f.matches(&r));
        let textual = Filter::parse(&format!("-not ({f})")).expect("parses");
        prop_assert_eq!(textual.matches(&r), !f.matches(&r));
        let bare = Filter::parse(&format!("-NOT({f})")).expect("parses");
        prop_assert_eq!(bare, negated);
    }

    #[test]
    fn partial_evaluation_with_every_comparison_known_is_evaluation(e in expr(), r in recipient()) {
        let f = Filter::new(e).expect("expressible");
        prop_assert_eq!(f.eval_partial(&|c: &Comparison| Some(c.matches(&r))), Some(f.matches(&r)), "filter: {}", f);
    }

    #[test]
    fn partial_evaluation_holds_whatever_the_unknown_comparisons_are(
        e in expr(),
        r in recipient(),
        other in recipient(),
        hidden in proptest::collection::vec(single_property(), 0..6),
        hide_groups in any::<bool>(),
    ) {
        let f = Filter::new(e).expect("expressible");
        let unknown = |c: &Comparison| {
            hidden.contains(&c.property) || (hide_groups && c.property == Property::MemberOfGroup)
        };
        let partial = f.eval_partial(&|c: &Comparison| if unknown(c) { None } else { Some(c.matches(&r)) });
        if let Some(b) = partial {
            // Any answer for the unknown comparisons, here another recipient's, gives the same result.
            let mixed = f.eval_partial(&|c: &Comparison| Some(if unknown(c) { c.matches(&other) } else { c.matches(&r) }));
            prop_assert_eq!(mixed, Some(b), "filter: {}", f);
            prop_assert_eq!(f.matches(&r), b, "filter: {}", f);
        }
    }

    #[test]
    fn an_unknown_name_passes_no_pattern_or_negation(e in pattern_or_negation(), local in "[a-z]{1,6}") {
        let f = Filter::new(e).expect("expressible");
        let name = format!("{local}@alerts.contoso.test");
        prop_assert!(!rbac_grants_unknown(f.clone(), &name), "{} granted {}", f, name);
        prop_assert!(!rbac_grants_unknown(f.clone(), "00000000-0000-0000-0000-0000000000aa"), "{} granted an object id", f);
        // Named exactly beside it, the name is granted; required beside it, still not.
        let exact = Expr::compare(Property::PrimarySmtpAddress, CompareOp::Eq, Value::Str(name.to_uppercase()));
        let either = Filter::new(Expr::Or(Box::new(f.expr().clone()), Box::new(exact.clone()))).expect("expressible");
        prop_assert!(rbac_grants_unknown(either, &name));
        let both = Filter::new(Expr::And(Box::new(exact), Box::new(f.expr().clone()))).expect("expressible");
        prop_assert!(!rbac_grants_unknown(both, &name));
    }
}
