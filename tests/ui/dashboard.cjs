// Drives mailgate's /ui in Debian's Chromium (through playwright-core) as an operator would, and prints on stdout
// one JSON object with what the page showed and what the browser saw; tests/api/ui.rs judges it.
//
// Environment: MAILGATE_UI_BASE (mailgate's base URL), MAILGATE_UI_KEY (a key with Audit.Read),
// MAILGATE_UI_MESSAGE (a message id to look up), MAILGATE_UI_SCREENSHOT (where to save the screenshot),
// CHROMIUM (the browser). Exits non-zero only when the browser could not be driven at all.

const { chromium } = require("playwright-core");

const base = process.env.MAILGATE_UI_BASE;
const key = process.env.MAILGATE_UI_KEY;
const messageId = process.env.MAILGATE_UI_MESSAGE;
const screenshot = process.env.MAILGATE_UI_SCREENSHOT;

// Every failure to wait is a reason in the report rather than a hang: Playwright's own timeouts bound each step.
const STEP_MS = 20000;

async function main() {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true });
  const report = { console: [], csp: [], requests: [], phase: "load" };
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    // Collected from before the page's own scripts run; CSP does not apply to scripts added this way.
    await page.addInitScript(() => {
      window.__csp = [];
      document.addEventListener("securitypolicyviolation", (e) => {
        window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") {
        report.console.push({ phase: report.phase, type: m.type(), text: m.text() });
      }
    });
    page.on("pageerror", (e) => report.console.push({ phase: report.phase, type: "pageerror", text: String(e) }));
    page.on("request", (r) => {
      report.requests.push({ phase: report.phase, url: r.url(), authorization: r.headers().authorization || null });
    });

    const response = await page.goto(`${base}/ui`);
    report.page = { status: response.status(), headers: await response.allHeaders() };

    // Sign in.
    report.phase = "main";
    await page.getByLabel("API key or access token").fill(key);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#status", { hasText: "Updated" }).waitFor();
    report.main = await read(page);

    // One message's timeline, typed in.
    await page.getByLabel("Message id").fill(messageId);
    await page.getByRole("button", { name: "Show" }).click();
    await page.locator("#message-events tbody tr").first().waitFor();
    report.typed = await timeline(page);

    // The timeline of the newest denial, clicked in the table.
    const first = page.locator("#problems tbody tr[data-id] button[data-message]").first();
    report.clickedId = await first.getAttribute("data-message");
    await first.click();
    await page.locator("#message-facts dd", { hasText: report.clickedId }).waitFor();
    report.clicked = await timeline(page);

    // The screenshot shows the whole page as it is now, the clicked timeline included.
    await page.screenshot({ path: screenshot, fullPage: true });

    // Export: a download made from a Blob, not a link that would carry the key.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export CSV" }).click(),
    ]);
    report.download = { url: download.url(), name: download.suggestedFilename() };
    const path = await download.path();
    report.download.csv = require("fs").readFileSync(path, "utf8");

    // Filters: an app's name in the top table narrows the page to it; then one outcome.
    await page.locator("#top-apps tbody th button", { hasText: "logic-app" }).click();
    await page.waitForFunction(() => document.querySelectorAll("#top-apps tbody tr[data-key]").length === 1);
    report.narrowed = await read(page);
    report.narrowed.appFilter = await page.getByLabel("App", { exact: true }).inputValue();
    await page.getByLabel("Outcome", { exact: true }).selectOption("denied");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.locator("#totals li[data-outcome]").first().waitFor();
    await page.waitForFunction(() => document.querySelectorAll("#totals li[data-outcome]").length === 1);
    report.filtered = await read(page);

    // Where the credential might have been left.
    report.stored = await page.evaluate(() => ({
      url: window.location.href,
      localStorage: JSON.stringify(Object.entries(window.localStorage)),
      sessionStorage: JSON.stringify(Object.entries(window.sessionStorage)),
      cookie: document.cookie,
      html: document.documentElement.outerHTML,
      input: document.getElementById("credential").value,
    }));
    report.csp = await page.evaluate(() => window.__csp.slice());

    // Signing out forgets the credential: the next call would have none.
    report.phase = "signed-out";
    await page.getByRole("button", { name: "Sign out" }).click();
    report.signedOut = await page.locator("#sign-in-panel").isVisible();

    // A wrong key is refused, and the page says why (the browser logs the 401 itself).
    report.phase = "wrong-key";
    await page.getByLabel("API key or access token").fill("mg_not_a_key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#sign-in-error", { hasText: "Not accepted" }).waitFor();
    report.wrongKey = await page.locator("#sign-in-error").textContent();

    // The policy is enforced, and this report would see a breach: an inline script must not run.
    report.phase = "probe";
    report.probe = await page.evaluate(async () => {
      const s = document.createElement("script");
      s.textContent = "window.__inline = true;";
      document.body.append(s);
      await new Promise((r) => setTimeout(r, 100));
      return { ran: window.__inline === true, violations: window.__csp.slice() };
    });
  } finally {
    await browser.close();
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

/** What the dashboard shows: totals, the chart, the top tables, denials and failures, drift, unscoped apps. */
function read(page) {
  return page.evaluate(() => {
    const text = (n) => (n ? n.textContent.trim() : null);
    const rows = (selector) => [...document.querySelectorAll(`${selector} tbody tr`)].map((tr) => (
      [...tr.children].map((c) => c.textContent.trim())));
    const totals = {};
    for (const li of document.querySelectorAll("#totals li[data-outcome]")) {
      totals[li.dataset.outcome] = Number(text(li.querySelector(".count")));
    }
    const chart = {};
    for (const rect of document.querySelectorAll("#chart rect[data-outcome]")) {
      chart[rect.dataset.outcome] = (chart[rect.dataset.outcome] || 0) + Number(rect.dataset.count);
    }
    const svg = document.querySelector("#chart svg");
    return {
      status: text(document.getElementById("status")),
      total: Number(document.getElementById("total").dataset.total),
      totals,
      chart,
      chartLabel: svg ? text(svg.querySelector("desc")) : null,
      axisTexts: svg ? [...svg.querySelectorAll("text")].map((t) => t.textContent) : [],
      topApps: rows("#top-apps"),
      topMailboxes: rows("#top-mailboxes"),
      problems: [...document.querySelectorAll("#problems tbody tr[data-id]")].map((tr) => ({
        cells: [...tr.children].map((c) => c.textContent.trim()),
        message: tr.querySelector("button[data-message]")?.dataset.message || null,
      })),
      drift: rows("#drift"),
      scopes: [...document.querySelectorAll("#app-scopes tbody tr[data-app]")].map((tr) => (
        [...tr.children].map((c) => c.textContent.trim()))),
    };
  });
}

function timeline(page) {
  return page.evaluate(() => {
    const facts = {};
    const dl = document.getElementById("message-facts");
    for (const dt of dl.querySelectorAll("dt")) facts[dt.textContent] = dt.nextElementSibling.textContent;
    const events = [...document.querySelectorAll("#message-events tbody tr")].map((tr) => (
      [...tr.children].map((c) => c.textContent.trim())));
    return { facts, events };
  });
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
