// Every call the dashboard makes to mailgate's API, and nothing else: when an endpoint's shape changes, this file
// is the one to change. The credential lives in this module's variable only: never in a URL, a cookie or storage.

let credential = null;

export function signIn(value) {
  credential = value;
}

export function signOut() {
  credential = null;
}

/** An answer other than 2xx: `status`, and mailgate's problem+json (`code`, `detail`, `field`) when there is one. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || "";
    this.field = problem.field || "";
  }
}

/** Outcomes that mean a message was not sent, or a caller was refused. */
export const PROBLEM_OUTCOMES = [
  "denied", "exchange_denied", "rejected", "failed", "unknown", "forbidden", "unauthenticated",
];

/** `filter`: { since, until (Date or absent), app, mailbox, outcome (strings, empty = any) }. */
function query(filter, extra = {}) {
  const q = new URLSearchParams();
  const add = (name, value) => {
    if (value instanceof Date) q.set(name, value.toISOString());
    else if (value !== undefined && value !== null && value !== "") q.set(name, String(value));
  };
  for (const name of ["app", "mailbox", "outcome", "since", "until"]) add(name, filter[name]);
  for (const [name, value] of Object.entries(extra)) add(name, value);
  const s = q.toString();
  return s ? `?${s}` : "";
}

async function call(path, accept = "application/json") {
  if (credential === null) throw new ApiError(401, { detail: "not signed in" });
  const response = await fetch(path, {
    headers: { Authorization: `Bearer ${credential}`, Accept: accept },
    credentials: "omit",
    cache: "no-store",
  });
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch {
      // Not problem+json (a proxy's page, say): the status says enough.
    }
    throw new ApiError(response.status, problem);
  }
  return response;
}

async function json(path) {
  return (await call(path)).json();
}

/** Counts by outcome, app and mailbox: `GET /v1/audit/stats`. */
export function stats(filter) {
  return json(`/v1/audit/stats${query(filter)}`);
}

/** Outcomes per time bucket: `GET /v1/audit/timeseries`. */
export function timeseries(filter) {
  return json(`/v1/audit/timeseries${query(filter)}`);
}

/** The newest `limit` events whose outcome is a problem, newest first: one `GET /v1/audit` per such outcome. */
export async function problems(filter, limit = 20) {
  const outcomes = filter.outcome
    ? PROBLEM_OUTCOMES.filter((o) => o === filter.outcome)
    : PROBLEM_OUTCOMES;
  const pages = await Promise.all(
    outcomes.map((outcome) => json(`/v1/audit${query({ ...filter, outcome }, { limit })}`)),
  );
  const events = pages.flatMap((page) => page.events);
  events.sort((a, b) => Date.parse(b.at) - Date.parse(a.at) || b.id - a.id);
  return events.slice(0, limit);
}

/** One message with every event recorded for it: `GET /v1/messages/{id}`. */
export function message(id) {
  return json(`/v1/messages/${encodeURIComponent(id)}`);
}

/** Drift since a time, newest first: `GET /v1/access/drift`. */
export function drift(since, limit = 20) {
  return json(`/v1/access/drift${query({ since }, { limit })}`);
}

/** Every app with what scopes its sending (`scoped`, `unrestricted`, `unscoped`): `GET /v1/access/apps`. */
export function appScopes() {
  return json("/v1/access/apps");
}

/**
 * The filtered audit log as one CSV Blob: `GET /v1/audit/export` streams every matching event (the service holds a
 * batch at a time; the browser holds the file). Fetched, not linked, so that the credential stays in a header.
 */
export async function exportCsv(filter) {
  const response = await call(`/v1/audit/export${query(filter, { format: "csv" })}`, "text/csv");
  return response.blob();
}
