//! The README's settings table and the deployment files, checked against the declarations: a setting added,
//! renamed or redescribed in the code and not in the README (or the other way round) fails here, naming it.
//! `UPDATE_SETTINGS_DOCS=1 cargo test --lib config::docs` writes the table anew.

use std::path::Path;

use clap::CommandFactory;

use super::setting::{DefaultIs, Spec};

const HEADER: [&str; 2] = ["| variable | default | |", "|---|---|---|"];

fn row(s: &Spec) -> String {
    let default = match s.default {
        DefaultIs::Required => "required".to_owned(),
        DefaultIs::Unset(None) => "—".to_owned(),
        DefaultIs::Unset(Some(text)) | DefaultIs::Derived(text) => text.to_owned(),
        DefaultIs::Value(v) => format!("`{v}`"),
        DefaultIs::Explained(v, what) => format!("`{v}` ({what})"),
    };
    format!("| `{}` | {default} | {} |", s.env, s.doc.trim())
}

/// The variable a table row is about, when it is one of mailgate's settings.
fn setting_of(line: &str) -> Option<&str> {
    let name = line.strip_prefix("| `")?.split('`').next()?;
    (name == "DATABASE_URL" || name.starts_with("MAILGATE_")).then_some(name)
}

fn readme_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")
}

/// The README's settings table: where its lines start, and the lines.
fn readme_table(readme: &str) -> (usize, Vec<&str>) {
    let lines: Vec<&str> = readme.lines().collect();
    let start = lines.iter().position(|l| *l == HEADER[0]).expect("README.md has the settings table");
    let table = lines[start..].iter().take_while(|l| l.starts_with('|')).copied().collect();
    (start, table)
}

#[test]
fn the_readme_lists_every_setting_as_declared() {
    let expected: Vec<String> = HEADER.iter().map(|h| (*h).to_owned()).chain(super::all().map(row)).collect();
    let readme = std::fs::read_to_string(readme_path()).expect("README.md");
    let (start, table) = readme_table(&readme);
    // Rows about other variables (OpenTelemetry's) follow mailgate's own.
    let others: Vec<&str> = table.iter().skip(2).filter(|l| setting_of(l).is_none()).copied().collect();
    if std::env::var_os("UPDATE_SETTINGS_DOCS").is_some() {
        let mut lines: Vec<String> = readme.lines().map(str::to_owned).collect();
        let new: Vec<String> = expected.iter().cloned().chain(others.iter().map(|l| (*l).to_owned())).collect();
        lines.splice(start..start + table.len(), new);
        std::fs::write(readme_path(), lines.join("\n") + "\n").expect("write README.md");
        return;
    }
    let ours: Vec<&str> = table.iter().filter(|l| setting_of(l).is_some() || !l.starts_with("| `")).copied().collect();
    for (i, want) in expected.iter().enumerate() {
        let named = setting_of(want).unwrap_or("the header");
        match ours.get(i) {
            Some(got) if got == want => {}
            Some(got) => panic!(
                "README.md's settings table disagrees with src/config at {named}:\n  README: {got}\n  code:   {want}\n\
                 (UPDATE_SETTINGS_DOCS=1 cargo test --lib config::docs writes it anew)"
            ),
            None => panic!(
                "README.md's settings table lacks {named} (UPDATE_SETTINGS_DOCS=1 cargo test --lib config::docs)"
            ),
        }
    }
    if let Some(extra) = ours.get(expected.len()) {
        panic!(
            "README.md's settings table lists {}, which src/config does not declare",
            setting_of(extra).unwrap_or(extra)
        );
    }
}

/// Every `MAILGATE_*` name in the deployment files is a setting (or the command line's own, `MAILGATE_CONFIG`), so
/// that a renamed or misspelt one fails here rather than being ignored at start. deploy/check.sh reads the same
/// names from the README's table, which the test above keeps equal to the declarations.
#[test]
fn the_deployment_files_name_only_declared_settings() {
    let mut known: Vec<String> = super::all().map(|s| s.env.to_owned()).collect();
    known.extend(crate::cli::Cli::command().get_arguments().filter_map(|a| Some(a.get_env()?.to_str()?.to_owned())));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut problems = Vec::new();
    let mut files = 0;
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read deploy/") {
            let path = entry.expect("entry").path();
            // exo/ is PowerShell run against Exchange, whose `$env:MAILGATE_AUDIT_KEY` is the operator's own
            // variable; check/ holds the checker itself.
            if path.ends_with("exo") || path.ends_with("check") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            files += 1;
            for name in mailgate_names(&text) {
                if !known.iter().any(|k| k == name) {
                    problems.push(format!("{}: {name} is not a setting mailgate reads", path.display()));
                }
            }
        }
    }
    assert!(files > 10, "found the deployment files");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The whole words `MAILGATE_…` in `text`.
fn mailgate_names(text: &str) -> Vec<&str> {
    let word = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
    let mut names = Vec::new();
    for (at, _) in text.match_indices("MAILGATE_") {
        if text[..at].chars().next_back().is_some_and(|c| word(c) || c.is_ascii_lowercase()) {
            continue;
        }
        let len = text[at..].find(|c: char| !word(c)).unwrap_or(text.len() - at);
        if len > "MAILGATE_".len() {
            names.push(&text[at..at + len]);
        }
    }
    names
}

#[test]
fn declarations_are_unique_and_their_defaults_valid() {
    let all: Vec<&Spec> = super::all().collect();
    for (i, s) in all.iter().enumerate() {
        assert!(all[..i].iter().all(|o| o.key != s.key && o.env != s.env), "{} is declared twice", s.env);
        if let Some(v) = s.default.literal() {
            assert_eq!((s.check)(v), Ok(()), "{}'s default", s.env);
        }
        assert!(!s.doc.contains('|') && !s.doc.trim().is_empty(), "{}'s description fits a table cell", s.env);
    }
    assert_eq!(
        super::telemetry::METRICS_MAX_SERIES.spec.default.literal(),
        Some(crate::metrics::DEFAULT_MAX_SERIES.to_string().as_str())
    );
}
