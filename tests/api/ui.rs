//! The dashboard at /ui in a real browser: Debian's Chromium driven by playwright-core (tests/ui/dashboard.cjs,
//! installed by scripts/ui-env.sh), against the real binary with audit rows made by real sends and denials and by
//! history written into the log. It checks the figures the page shows against what was seeded, the timelines, the
//! drift, the apps no policy scopes, the filters and the CSV export, and that the policy held: no CSP violation or console error, the key in no
//! URL, storage or cookie. Never skipped: without a browser it fails, saying why.
//!
//! The screenshot goes to the target directory; `UPDATE_SCREENSHOT=1` writes docs/ui.png instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use graph_sim::{AccessRight, Fault, SimPolicy};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::seed::{ALLOWED, OUTSIDE, app_with_roles, message};
use crate::support::server::{TestApp, spawn};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Events written straight into the log, hours back, for the chart.
struct Past {
    hours: i32,
    app: &'static str,
    mailbox: &'static str,
    outcome: &'static str,
    count: i64,
    detail: Option<&'static str>,
}

fn history() -> Vec<Past> {
    let billing = |hours, outcome, count| Past {
        hours,
        app: "billing-batch",
        mailbox: "billing@contoso.test",
        outcome,
        count,
        detail: None,
    };
    let mut rows = Vec::new();
    for h in 2..=23 {
        let n = 1 + (7 * h % 5) as i64;
        rows.push(billing(h, "queued", n));
        rows.push(billing(h, "sent", n));
        if h % 6 == 0 {
            rows.push(billing(h, "throttled", 1));
        }
        if h % 8 == 3 {
            let why = "app hr-sync may not send as hr@contoso.test: a DenyAccess policy covers it";
            rows.push(Past {
                hours: h,
                app: "hr-sync",
                mailbox: "hr@contoso.test",
                outcome: "denied",
                count: 1,
                detail: Some(why),
            });
        }
    }
    rows
}

/// Writes `history()` into the audit log, each hour's rows 20 minutes past that hour.
async fn write_history(pool: &PgPool) {
    for Past { hours, app, mailbox, outcome, count, detail } in history() {
        sqlx::query(
            "INSERT INTO audit_events (at, outcome, app_name, mailbox, http_status, latency_ms, detail)
             SELECT date_trunc('hour', now()) - make_interval(hours => $1) + interval '20 minutes', $2, $3, $4,
                    CASE $2 WHEN 'sent' THEN 202 WHEN 'throttled' THEN 429 END,
                    CASE $2 WHEN 'sent' THEN 180 WHEN 'throttled' THEN 40 END, $6
               FROM generate_series(1, $5)",
        )
        .bind(hours)
        .bind(outcome)
        .bind(app)
        .bind(mailbox)
        .bind(count)
        .bind(detail)
        .execute(pool)
        .await
        .expect("history");
    }
}

/// What was seeded, by the service and as history: (events per outcome, the sent message, the denials' reason).
struct Seeded {
    by_outcome: BTreeMap<String, i64>,
    sent_id: String,
    denial_reason: String,
}

async fn seed(app: &TestApp) -> Seeded {
    write_history(&app.pool).await;
    let mut sent_id = String::new();
    for _ in 0..3 {
        sent_id = app.send(&message(ALLOWED)).await;
        assert_eq!(app.wait_final(&sent_id).await["status"], "sent");
    }
    // Graph refuses one message, and Exchange's own policy another (drift).
    app.sim.sim.add_faults(
        ALLOWED,
        vec![Fault::Status {
            status: 400,
            code: "ErrorInvalidRecipients".into(),
            message: "At least one recipient is not valid.".into(),
        }],
    );
    let id = app.send(&message(ALLOWED)).await;
    assert_eq!(app.wait_final(&id).await["status"], "rejected");
    let sim_app = graph_sim::SimConfig::default().app_id;
    app.sim.sim.set_policies(vec![SimPolicy {
        app_id: sim_app,
        access_right: AccessRight::DenyAccess,
        scope: vec![ALLOWED.into()],
    }]);
    let id = app.send(&message(ALLOWED)).await;
    assert_eq!(app.wait_final(&id).await["status"], "rejected");
    app.sim.sim.set_policies(Vec::new());
    // Two denials by the allowlist, last: the newest problems.
    let mut denial_reason = String::new();
    for _ in 0..2 {
        let (status, body) = app.client().post("/v1/messages", &message(OUTSIDE)).await;
        assert_eq!(status, 403, "{body}");
        denial_reason = body["detail"].as_str().expect("detail").to_owned();
    }

    let mut by_outcome: BTreeMap<String, i64> = BTreeMap::new();
    for past in history() {
        *by_outcome.entry(past.outcome.to_owned()).or_default() += past.count;
    }
    for (outcome, count) in [("queued", 5), ("sent", 3), ("rejected", 1), ("exchange_denied", 1), ("denied", 2)] {
        *by_outcome.entry(outcome.to_owned()).or_default() += count;
    }
    // The log holds exactly that: the service recorded what the plan says.
    let logged: Vec<(String, i64)> =
        sqlx::query_as("SELECT outcome, count(*) FROM audit_events GROUP BY outcome ORDER BY outcome")
            .fetch_all(&app.pool)
            .await
            .expect("counts");
    assert_eq!(logged.into_iter().collect::<BTreeMap<_, _>>(), by_outcome, "the seeded audit log");
    Seeded { by_outcome, sent_id, denial_reason }
}

/// The browser and the driver, installed when missing; a failure says why and fails the test.
fn browser(root: &Path) -> BTreeMap<String, String> {
    let out = Command::new("bash")
        .arg(root.join("scripts/ui-env.sh"))
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("run scripts/ui-env.sh: {e}"));
    assert!(
        out.status.success(),
        "scripts/ui-env.sh could not provide Chromium and playwright-core (the test is never skipped):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn screenshot_path(root: &Path) -> PathBuf {
    if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        root.join("docs/ui.png")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui.png")
    }
}

/// The page's files carry the policy and the headers, and are revalidated rather than cached blindly.
async fn check_headers(app: &TestApp) {
    for (path, content_type) in [
        ("/ui", "text/html; charset=utf-8"),
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/api.js", "text/javascript; charset=utf-8"),
        ("/ui/chart.js", "text/javascript; charset=utf-8"),
        ("/ui/app.css", "text/css; charset=utf-8"),
    ] {
        let r = app.http.get(app.url(path)).send().await.expect("get");
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        assert_eq!(h["content-type"], content_type, "{path}");
        assert_eq!(h["content-security-policy"], CSP, "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["cache-control"], "no-cache", "{path}");
        let again = app.http.get(app.url(path)).header("if-none-match", &h["etag"]).send().await.expect("get");
        assert_eq!(again.status(), 304, "{path}");
    }
    let r = app.http.get(app.url("/ui/secrets.js")).send().await.expect("get");
    assert_eq!(r.status(), 404);
}

#[sqlx::test]
async fn the_dashboard_shows_the_audit_log_in_a_browser(pool: PgPool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_owned();
    let tools = tokio::task::spawn_blocking({
        let root = root.clone();
        move || browser(&root)
    })
    .await
    .expect("ui-env");
    let app = spawn().start(pool).await;
    let auditor = app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await;
    // One sending app an admin marked unrestricted, one nothing scopes; the auditor sends nothing and needs no scope.
    app_with_roles(&app.pool, "legacy-relay", &["Mail.Send"]).await;
    sqlx::query("UPDATE apps SET unrestricted = true WHERE name = 'legacy-relay'")
        .execute(&app.pool)
        .await
        .expect("app");
    app_with_roles(&app.pool, "new-job", &["Mail.Send"]).await;
    let seeded = seed(&app).await;
    check_headers(&app).await;

    let shot = screenshot_path(&root);
    let mut cmd = Command::new("node");
    cmd.arg(root.join("tests/ui/dashboard.cjs"))
        .env("NODE_PATH", &tools["node_modules"])
        .env("CHROMIUM", &tools["chromium"])
        .env("MAILGATE_UI_BASE", &app.base)
        .env("MAILGATE_UI_KEY", &auditor)
        .env("MAILGATE_UI_MESSAGE", &seeded.sent_id)
        .env("MAILGATE_UI_SCREENSHOT", &shot);
    // The simulator answers in this process: wait for the browser off the runtime's thread.
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("join").expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the browser script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    eprintln!("screenshot: {}", shot.display());

    // The figures.
    let main = &report["main"];
    let shown: BTreeMap<String, i64> = serde_json::from_value(main["totals"].clone()).expect("totals");
    assert_eq!(shown, seeded.by_outcome, "the outcome counts");
    assert_eq!(main["total"], seeded.by_outcome.values().sum::<i64>(), "the total");
    let charted: BTreeMap<String, i64> = serde_json::from_value(main["chart"].clone()).expect("chart");
    assert_eq!(charted, seeded.by_outcome, "the chart's bars, summed per outcome");
    assert!(main["chartLabel"].as_str().expect("label").contains("bars of 15 minutes each"), "{}", main["chartLabel"]);
    assert!(
        main["axisTexts"]
            .as_array()
            .expect("texts")
            .iter()
            .any(|t| t == "time (UTC), each bar the start of its bucket")
    );
    let billing: i64 = history().iter().filter(|r| r.app == "billing-batch").map(|r| r.count).sum();
    assert_eq!(main["topApps"][0], json!(["billing-batch", billing.to_string(), "67", "0", "0"]), "top app");
    assert_eq!(main["topApps"][1], json!(["logic-app", "12", "3", "3", "1"]), "second app");
    assert_eq!(main["topMailboxes"][0][0], "billing@contoso.test");

    // Denials and failures, newest first, with their reasons.
    let problems = main["problems"].as_array().expect("problems");
    let outcomes: Vec<&str> = problems.iter().map(|p| p["cells"][1].as_str().expect("outcome")).collect();
    assert_eq!(outcomes, ["denied", "denied", "exchange_denied", "rejected", "denied", "denied", "denied"]);
    assert_eq!(problems[0]["cells"][2], "logic-app");
    assert_eq!(problems[0]["cells"][3], OUTSIDE);
    assert_eq!(problems[0]["cells"][4], seeded.denial_reason.as_str(), "the denial's reason");
    assert!(problems[3]["cells"][4].as_str().expect("reason").starts_with("ErrorInvalidRecipients · HTTP 400"));
    assert!(problems[4]["cells"][4].as_str().expect("reason").contains("DenyAccess policy covers it"));

    // Drift: the one pair Exchange refused.
    let drift = main["drift"].as_array().expect("drift");
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(
        (&drift[0][1], &drift[0][2], &drift[0][3]),
        (&json!("logic-app"), &json!(ALLOWED), &json!("ErrorAccessDenied"))
    );
    assert!(drift[0][4].as_str().expect("rule").contains("RestrictAccess"), "{}", drift[0][4]);

    // The sending apps no policy scopes: the unrestricted one first in name order, then the unscoped one.
    let scopes: Vec<Vec<String>> = serde_json::from_value(main["scopes"].clone()).expect("scopes");
    assert_eq!(
        scopes,
        [
            ["legacy-relay", "unrestricted", "may send as every mailbox no access policy denies it"],
            [
                "new-job",
                "unscoped",
                "sends as no mailbox until an access policy or role assignment of its own names it"
            ],
        ]
    );

    // Timelines: typed in, and clicked from the newest denial.
    let typed = &report["typed"];
    assert_eq!(typed["facts"]["Message"], seeded.sent_id.as_str());
    assert_eq!(typed["facts"]["Status"], "sent");
    let events: Vec<(&str, &str)> = typed["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (e[1].as_str().expect("outcome"), e[3].as_str().expect("http")))
        .collect();
    assert_eq!(events, [("queued", ""), ("sent", "202")], "the sent message's timeline");
    assert_eq!(report["clickedId"], problems[0]["message"]);
    assert_eq!(report["clicked"]["facts"]["Status"], "denied");
    assert_eq!(report["clicked"]["events"][0][1], "denied");
    assert_eq!(report["clicked"]["events"][0][6], seeded.denial_reason.as_str());

    // The export: every event in the range, downloaded from a Blob.
    let download = &report["download"];
    assert!(download["url"].as_str().expect("url").starts_with("blob:"), "{download}");
    let csv = download["csv"].as_str().expect("csv");
    assert!(csv.starts_with("id,at,outcome,app,mailbox"), "{csv}");
    assert_eq!(csv.lines().count() as i64, 1 + seeded.by_outcome.values().sum::<i64>(), "CSV rows");

    // The filters: one app (by a click on its name), then one outcome.
    assert_eq!(report["narrowed"]["appFilter"], "logic-app");
    assert_eq!(report["narrowed"]["topApps"], json!([["logic-app", "12", "3", "3", "1"]]));
    assert_eq!(report["narrowed"]["total"], 12);
    assert_eq!(report["filtered"]["totals"], json!({"denied": 2}));
    assert_eq!(report["filtered"]["topApps"], json!([["logic-app", "2", "0", "2", "0"]]));

    // The credential: in the Authorization header of every API call, and nowhere else.
    for r in report["requests"].as_array().expect("requests") {
        let url = r["url"].as_str().expect("url");
        assert!(!url.contains(&auditor), "the key in a URL: {url}");
        if url.contains("/v1/") {
            let want = match r["phase"].as_str() {
                Some("main") => format!("Bearer {auditor}"),
                Some("wrong-key") => "Bearer mg_not_a_key".to_owned(),
                phase => panic!("an API call in phase {phase:?}: {url}"),
            };
            assert_eq!(r["authorization"], want.as_str(), "{url}");
        }
    }
    let stored = &report["stored"];
    assert_eq!(stored["url"], app.url("/ui"));
    assert_eq!(
        (&stored["localStorage"], &stored["sessionStorage"], &stored["cookie"]),
        (&json!("[]"), &json!("[]"), &json!(""))
    );
    assert!(!stored["html"].as_str().expect("html").contains(&auditor), "the key in the page");
    assert_eq!(stored["input"], "");
    assert_eq!(report["signedOut"], true);
    assert!(report["wrongKey"].as_str().expect("text").starts_with("Not accepted:"), "{}", report["wrongKey"]);

    // The policy held, and would have been seen breaking: the probe's inline script was refused and reported.
    assert_eq!(report["csp"], json!([]), "CSP violations");
    for c in report["console"].as_array().expect("console") {
        let allowed =
            c["phase"] == "wrong-key" && c["text"].as_str().is_some_and(|t| t.contains("401")) || c["phase"] == "probe";
        assert!(allowed, "a console error or warning: {c}");
    }
    assert_eq!(report["probe"]["ran"], false, "an inline script ran");
    assert!(report["probe"]["violations"].as_array().is_some_and(|v| !v.is_empty()), "{}", report["probe"]);
    assert_eq!(report["page"]["headers"]["content-security-policy"], CSP);
    assert!(shot.exists(), "no screenshot at {}", shot.display());
}
