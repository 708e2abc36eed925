// The dashboard: sign-in, filters, and drawing what api.js fetches. Text from the API is only ever set as text
// (textContent), never parsed as HTML: app names, mailboxes and details come from callers.

import * as api from "/ui/api.js";
import { drawChart } from "/ui/chart.js";

const OUTCOMES = [
  "sent", "queued", "denied", "exchange_denied", "rejected", "throttled", "unavailable", "unknown", "failed",
  "unauthenticated", "forbidden",
];
const COLOURS = {
  sent: "#2e7d32", queued: "#90a4ae", denied: "#c62828", exchange_denied: "#ad1457", rejected: "#ef6c00",
  throttled: "#f9a825", unavailable: "#6d4c41", unknown: "#616161", failed: "#4e342e",
  unauthenticated: "#3949ab", forbidden: "#00838f",
};
// How the top tables group outcomes.
const DENIED = ["denied", "exchange_denied", "forbidden", "unauthenticated"];
const FAILED = ["rejected", "failed", "unknown"];

const $ = (id) => document.getElementById(id);

function node(tag, text = "", attributes = {}) {
  const n = document.createElement(tag);
  if (text !== "") n.textContent = text;
  for (const [key, value] of Object.entries(attributes)) n.setAttribute(key, String(value));
  return n;
}

function when(iso) {
  return iso ? iso.replace("T", " ").replace(/(\.\d+)?(Z|[+-]\d\d:\d\d)$/, "") : "";
}

function cell(row, text, className = "") {
  const td = node("td", text === null || text === undefined ? "" : String(text));
  if (className) td.className = className;
  row.append(td);
  return td;
}

function outcomeBadge(outcome) {
  const badge = node("span", outcome, { class: "badge", "data-outcome": outcome });
  badge.style.setProperty("--c", COLOURS[outcome] || "#555");
  return badge;
}

function emptyRow(tbody, columns, text) {
  const row = node("tr", "", { class: "empty" });
  const td = node("td", text, { colspan: columns });
  row.append(td);
  tbody.replaceChildren(row);
}

function messageButton(id) {
  // Ids are UUIDv7: their start is the time, the same for ids made together; their end tells them apart.
  const button = node("button", `…${id.slice(-8)}`, {
    type: "button", class: "link", "data-message": id, title: `Show the timeline of ${id}`,
  });
  button.addEventListener("click", () => {
    $("message-id").value = id;
    showMessage(id);
  });
  return button;
}

// ---------------------------------------------------------------------------------------------------- sign-in

function showSignedIn(yes) {
  $("sign-in-panel").hidden = yes;
  $("dashboard").hidden = !yes;
  $("session").hidden = !yes;
}

async function signIn(event) {
  event.preventDefault();
  const input = $("credential");
  const value = input.value.trim();
  // The field is emptied at once: the credential stays in api.js alone.
  input.value = "";
  $("sign-in-error").textContent = "";
  if (!value) {
    $("sign-in-error").textContent = "Paste a key or token first.";
    return;
  }
  api.signIn(value);
  try {
    // One small call tells whether the credential works and holds the role.
    await api.stats({ since: new Date(Date.now() - 60000) });
  } catch (e) {
    api.signOut();
    $("sign-in-error").textContent = e.status === 401
      ? `Not accepted: ${e.message}`
      : `Refused (${e.status}): ${e.message}`;
    return;
  }
  showSignedIn(true);
  await refresh();
}

function signOut(reason = "") {
  api.signOut();
  for (const id of ["top-apps", "top-mailboxes", "problems", "drift", "app-scopes", "message-events"]) {
    $(id).tBodies[0].replaceChildren();
  }
  $("totals").replaceChildren();
  $("chart").replaceChildren();
  $("message").hidden = true;
  $("status").textContent = "";
  $("sign-in-error").textContent = reason;
  showSignedIn(false);
  $("credential").focus();
}

// ---------------------------------------------------------------------------------------------------- filters

function filter() {
  const f = {
    app: $("app").value.trim(),
    mailbox: $("mailbox").value.trim(),
    outcome: $("outcome").value,
  };
  const range = $("range").value;
  if (range === "custom") {
    // datetime-local has no zone; the labels say UTC.
    if ($("since").value) f.since = new Date(`${$("since").value}Z`);
    if ($("until").value) f.until = new Date(`${$("until").value}Z`);
  } else {
    f.until = new Date();
    f.since = new Date(f.until.getTime() - Number(range) * 1000);
  }
  return f;
}

function toggleCustom() {
  const custom = $("range").value === "custom";
  for (const field of document.querySelectorAll(".field.custom")) field.hidden = !custom;
  if (custom && !$("since").value) {
    const now = new Date();
    $("until").value = now.toISOString().slice(0, 16);
    $("since").value = new Date(now.getTime() - 86400000).toISOString().slice(0, 16);
  }
}

function failed(e) {
  if (e.status === 401) {
    signOut(`Signed out: ${e.message}`);
    return;
  }
  const where = e.field ? ` (${e.field})` : "";
  $("status").textContent = `Could not load${where}: ${e.message}`;
  $("status").classList.add("error");
}

async function refresh(event) {
  if (event) event.preventDefault();
  const f = filter();
  $("status").classList.remove("error");
  $("status").textContent = "Loading…";
  try {
    const [stats, series, problems, drift, scopes] = await Promise.all([
      api.stats(f), api.timeseries(f), api.problems(f), api.drift(f.since), api.appScopes(),
    ]);
    drawTotals(stats);
    drawChart($("chart"), series, OUTCOMES, COLOURS);
    drawTop($("top-apps"), "app", stats.by_app, "No app sent anything in this range.");
    drawTop($("top-mailboxes"), "mailbox", stats.by_mailbox, "No mailbox was used in this range.");
    drawProblems(problems);
    drawDrift(drift);
    drawScopes(scopes);
    const range = f.since ? `${when(f.since.toISOString())} to ${when((f.until || new Date()).toISOString())} UTC` : "";
    $("status").textContent = `${range}. Updated at ${when(new Date().toISOString())} UTC.`;
  } catch (e) {
    failed(e);
  }
}

// ---------------------------------------------------------------------------------------------------- drawing

function drawTotals(stats) {
  $("total").textContent = `· ${stats.total} events`;
  $("total").dataset.total = stats.total;
  const tiles = OUTCOMES.filter((o) => stats.by_outcome[o]).map((outcome) => {
    const li = node("li", "", { "data-outcome": outcome });
    li.style.setProperty("--c", COLOURS[outcome]);
    li.append(node("span", String(stats.by_outcome[outcome]), { class: "count" }));
    li.append(node("span", outcome.replace("_", " "), { class: "name" }));
    return li;
  });
  if (!tiles.length) tiles.push(node("li", "No events in this range.", { class: "none" }));
  $("totals").replaceChildren(...tiles);
  $("legend").replaceChildren(...OUTCOMES.filter((o) => stats.by_outcome[o]).map((outcome) => {
    const li = node("li", outcome.replace("_", " "));
    li.style.setProperty("--c", COLOURS[outcome]);
    return li;
  }));
}

/** `rows`: {key, outcome, count} from /v1/audit/stats, grouped by key; the ten busiest keys. `field`: the filter
 * a key's name sets. */
function drawTop(table, field, rows, none) {
  const groups = new Map();
  for (const { key, outcome, count } of rows) {
    const g = groups.get(key) || { key, total: 0, sent: 0, denied: 0, failed: 0 };
    g.total += count;
    if (outcome === "sent") g.sent += count;
    if (DENIED.includes(outcome)) g.denied += count;
    if (FAILED.includes(outcome)) g.failed += count;
    groups.set(key, g);
  }
  const top = [...groups.values()].sort((a, b) => b.total - a.total || a.key.localeCompare(b.key)).slice(0, 10);
  const tbody = table.tBodies[0];
  if (!top.length) {
    emptyRow(tbody, 5, none);
    return;
  }
  tbody.replaceChildren(...top.map((g) => {
    const row = node("tr", "", { "data-key": g.key });
    // A name narrows the whole page to it.
    const th = node("th", "", { scope: "row" });
    const narrow = node("button", g.key, { type: "button", class: "link plain", title: `Show only ${g.key}` });
    narrow.addEventListener("click", () => {
      $(field).value = g.key;
      refresh();
    });
    th.append(narrow);
    row.append(th);
    cell(row, g.total, "num");
    cell(row, g.sent, "num");
    cell(row, g.denied, "num");
    cell(row, g.failed, "num");
    return row;
  }));
}

/** Why: mailgate's words when it has them, else Graph's code and status. */
function reason(e) {
  const graph = [e.graph_code, e.http_status && e.outcome !== "denied" ? `HTTP ${e.http_status}` : ""];
  return [...graph.filter(Boolean), e.detail].filter(Boolean).join(" · ");
}

function drawProblems(events) {
  const tbody = $("problems").tBodies[0];
  if (!events.length) {
    emptyRow(tbody, 6, "No denials or failures in this range.");
    return;
  }
  tbody.replaceChildren(...events.map((e) => {
    const row = node("tr", "", { "data-id": e.id });
    cell(row, when(e.at), "time");
    cell(row, "").append(outcomeBadge(e.outcome));
    cell(row, e.app_name);
    cell(row, e.mailbox);
    cell(row, reason(e), "reason");
    const m = cell(row, "");
    if (e.message_id) m.append(messageButton(e.message_id));
    return row;
  }));
}

function drawDrift(events) {
  const tbody = $("drift").tBodies[0];
  if (!events.length) {
    emptyRow(tbody, 6, "No drift in this range: Exchange agreed with the mirror.");
    return;
  }
  tbody.replaceChildren(...events.map((d) => {
    const row = node("tr", "", { "data-id": d.id });
    cell(row, when(d.at), "time");
    cell(row, d.app_name);
    cell(row, d.mailbox);
    cell(row, d.graph_code);
    cell(row, d.local_rule || d.detail, "reason");
    const m = cell(row, "");
    if (d.message_id) m.append(messageButton(d.message_id));
    return row;
  }));
}

const SCOPE_WORDS = {
  unrestricted: ["#c62828", "may send as every mailbox no access policy denies it"],
  unscoped: ["#616161", "sends as no mailbox until an access policy or role assignment of its own names it"],
};

function drawScopes(apps) {
  const tbody = $("app-scopes").tBodies[0];
  // Apps that cannot send at all (no Mail.Send role) need no scope.
  const outside = apps.filter((a) => a.scope !== "scoped" && a.roles.includes("Mail.Send"));
  if (!outside.length) {
    emptyRow(tbody, 3, "Every sending app is scoped by an access policy or role assignment of its own.");
    return;
  }
  tbody.replaceChildren(...outside.map((a) => {
    const [colour, words] = SCOPE_WORDS[a.scope] || ["#555", a.scope];
    const row = node("tr", "", { "data-app": a.app, "data-scope": a.scope });
    cell(row, a.app);
    const badge = node("span", a.scope, { class: "badge" });
    badge.style.setProperty("--c", colour);
    cell(row, "").append(badge);
    cell(row, words, "reason");
    return row;
  }));
}

async function showMessage(id) {
  $("message-error").textContent = "";
  id = id.trim();
  if (!id) {
    $("message-error").textContent = "Enter a message id.";
    return;
  }
  try {
    const m = await api.message(id);
    const facts = [
      ["Message", m.id], ["Status", m.status], ["From", m.from], ["Subject", m.subject],
      ["Recipients", m.recipients], ["Created", `${when(m.created_at)} UTC`],
      ["Last change", `${when(m.updated_at)} UTC`], ["Last error", m.last_error || "—"],
    ];
    $("message-facts").replaceChildren(...facts.flatMap(([k, v]) => [node("dt", k), node("dd", String(v))]));
    $("message-facts").dataset.status = m.status;
    const tbody = $("message-events").tBodies[0];
    tbody.replaceChildren(...m.events.map((e) => {
      const row = node("tr", "", { "data-outcome": e.outcome });
      cell(row, when(e.at), "time");
      cell(row, "").append(outcomeBadge(e.outcome));
      cell(row, e.attempt, "num");
      cell(row, e.http_status, "num");
      cell(row, e.graph_code);
      cell(row, e.latency_ms === null ? "" : `${e.latency_ms} ms`, "num");
      cell(row, e.detail, "reason");
      return row;
    }));
    $("message").hidden = false;
    $("timeline").scrollIntoView({ block: "start" });
  } catch (e) {
    $("message").hidden = true;
    if (e.status === 401) signOut(`Signed out: ${e.message}`);
    else $("message-error").textContent = e.status === 404 ? `No message ${id}.` : e.message;
  }
}

async function exportCsv() {
  $("status").classList.remove("error");
  $("status").textContent = "Exporting…";
  try {
    const blob = await api.exportCsv(filter());
    const url = URL.createObjectURL(blob);
    const a = node("a", "", { href: url, download: `mailgate-audit-${new Date().toISOString().slice(0, 19)}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    $("status").textContent = "Exported.";
  } catch (e) {
    failed(e);
  }
}

// ---------------------------------------------------------------------------------------------------- wiring

for (const outcome of OUTCOMES) $("outcome").append(node("option", outcome, { value: outcome }));
$("sign-in").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", () => signOut());
$("filters").addEventListener("submit", refresh);
$("range").addEventListener("change", toggleCustom);
$("export").addEventListener("click", exportCsv);
$("message-form").addEventListener("submit", (event) => {
  event.preventDefault();
  showMessage($("message-id").value);
});
