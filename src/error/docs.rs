//! docs/errors.md's table of codes, checked against `ErrorCode`: a code added, renamed or redescribed in the code
//! and not in the table (or the other way round) fails here. `UPDATE_ERROR_DOCS=1 cargo test --lib error::docs`
//! writes the table anew.

use std::path::{Path, PathBuf};

use axum::http::StatusCode;

use super::{ErrorCode, GraphCode};
use crate::routes::graph::error::in_graph;

const HEADER: [&str; 2] = ["| code | status | meaning | on the Graph-shaped endpoint |", "|---|---|---|---|"];

fn docs_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/errors.md")
}

fn graph_cell(code: ErrorCode) -> String {
    let said = |field: Option<&str>| {
        let (status, name) = in_graph(code, code.status(), field);
        format!("{} `{name}`", status.as_u16())
    };
    match code.graph() {
        GraphCode::Is(..) => said(None),
        GraphCode::ByField => {
            format!(
                "{} for a recipient, {} for a header, else {}",
                said(Some("to[0]")),
                said(Some("headers")),
                said(None)
            )
        }
        GraphCode::ByStatus => format!("Graph's generic code for the status: {}", said(None)),
    }
}

fn row(code: ErrorCode) -> String {
    let status: StatusCode = code.status();
    format!("| `{code}` | {} {} | {} | {} |", status.as_u16(), code.title(), code.meaning().trim(), graph_cell(code))
}

fn table() -> Vec<String> {
    HEADER.iter().map(|h| (*h).to_owned()).chain(ErrorCode::ALL.iter().copied().map(row)).collect()
}

#[test]
fn docs_list_every_error_code_as_declared() {
    let text = std::fs::read_to_string(docs_path()).expect("docs/errors.md");
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| *l == HEADER[0]).expect("docs/errors.md has the table of codes");
    let len = lines[start..].iter().take_while(|l| l.starts_with('|')).count();
    let expected = table();
    if std::env::var_os("UPDATE_ERROR_DOCS").is_some() {
        let mut new: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        new.splice(start..start + len, expected);
        std::fs::write(docs_path(), new.join("\n") + "\n").expect("write docs/errors.md");
        return;
    }
    let committed = &lines[start..start + len];
    for (i, want) in expected.iter().enumerate() {
        match committed.get(i) {
            Some(got) if got == want => {}
            Some(got) => panic!(
                "docs/errors.md's table disagrees with src/error/code.rs:\n  docs: {got}\n  code: {want}\n\
                 (UPDATE_ERROR_DOCS=1 cargo test --lib error::docs writes it anew)"
            ),
            None => panic!("docs/errors.md's table lacks {want} (UPDATE_ERROR_DOCS=1 cargo test --lib error::docs)"),
        }
    }
    if let Some(extra) = committed.get(expected.len()) {
        panic!("docs/errors.md's table lists {extra}, which src/error/code.rs does not declare");
    }
}
