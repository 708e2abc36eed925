//! Each database function's current definition is in src/db/functions/<name>.sql, as `pg_get_functiondef` prints it
//! after all migrations: a migration that changes a function without its file, or a file changed without a
//! migration, fails here naming the function.

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::PgPool;

/// Lines without trailing spaces, without blank lines at the end: editors and `git` may differ on those.
fn normalise(def: &str) -> String {
    let lines: Vec<&str> = def.lines().map(str::trim_end).collect();
    lines.join("\n").trim_end().to_owned()
}

#[sqlx::test]
async fn every_function_the_migrations_define_has_its_current_definition_in_a_file(pool: PgPool) {
    // The functions of the schema the migrations ran in, not those an extension brought.
    let defined: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.proname::text, pg_get_functiondef(p.oid)
           FROM pg_proc p
          WHERE p.pronamespace = current_schema()::regnamespace
            AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
          ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("functions");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/db/functions");
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("src/db/functions") {
        let path = entry.expect("entry").path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).filter(|_| path.extension() == Some("sql".as_ref()))
        else {
            continue;
        };
        files.insert(name.to_owned(), std::fs::read_to_string(&path).expect("function file"));
    }

    let mut problems = Vec::new();
    let mut names = Vec::new();
    for (name, def) in &defined {
        if names.last() == Some(name) {
            problems.push(format!("{name}: overloaded; one file per function cannot hold both"));
        }
        names.push(name.clone());
        match files.get(name) {
            None => problems.push(format!(
                "{name}: defined by the migrations but src/db/functions/{name}.sql is missing \
                 (psql -AtXc \"SELECT pg_get_functiondef('{name}'::regproc)\" prints it)"
            )),
            Some(file) if normalise(file) != normalise(def) => problems.push(format!(
                "{name}: src/db/functions/{name}.sql differs from the migrated database's definition \
                 (to change a function, edit its file and add a migration carrying a copy)"
            )),
            Some(_) => {}
        }
    }
    for name in files.keys().filter(|f| !names.contains(f)) {
        problems.push(format!("{name}: src/db/functions/{name}.sql names a function no migration defines"));
    }
    assert!(problems.is_empty(), "database functions out of step with src/db/functions:\n{}", problems.join("\n"));
}
