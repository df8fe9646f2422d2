// Opens a stress HTML report in the machine's headless Chromium (Debian's `chromium`, driven by
// playwright-core: no browser download) from a file:// URL, opens every section, and checks
// that nothing failed: no console error, no page error, no request leaving the file, every
// chart drawn (a canvas of non-zero size with data points) or saying why it has nothing to
// plot. Takes a full-page screenshot. Prints a JSON summary on stdout; exit 1 on a failure.
//
//   node check.mjs PAGE.html SCREENSHOT.png [closed]
//
// With `closed`, the variants' sections stay as the page opens them (a 1,000-variant page).
// The summary also gives the time from navigation to every chart drawn (`drawn_ms`) and the
// number of paged tables (`pagers`).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [page_path, shot, mode] = process.argv.slice(2);
if (!page_path || !shot) {
  console.error("usage: node check.mjs PAGE.html SCREENSHOT.png");
  process.exit(2);
}
const executablePath = process.env.STRESS_CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "stress-chromium-"));
const problems = [];
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console error: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) problems.push(`request: ${r.url()}`);
  });
  const started = Date.now();
  await page.goto(pathToFileURL(resolve(page_path)).href, { waitUntil: "load" });
  if (mode !== "closed") {
    // Open every section (a variant's charts are drawn when it opens).
    await page.evaluate(() => document.querySelectorAll("details").forEach((d) => { d.open = true; }));
  }
  // Every chart outside a closed section is drawn, or says it has nothing to plot.
  await page.waitForFunction(() => Array.from(document.querySelectorAll(".chart"))
    .filter((c) => c.closest("details:not([open])") === null)
    .every((c) => c.classList.contains("empty") || c.querySelector("canvas")),
  null, { timeout: 60000 });
  const drawn_ms = Date.now() - started;
  const pagers = await page.evaluate(() => document.querySelectorAll(".pager").length);
  const charts = await page.evaluate(() => {
    const listed = new Map((window.stressCharts || []).map((c) => [c.el, c.points]));
    const shown = Array.from(document.querySelectorAll(".chart"))
      .filter((c) => c.closest("details:not([open])") === null);
    return shown.map((el) => {
      const canvas = el.querySelector("canvas");
      const box = canvas ? canvas.getBoundingClientRect() : { width: 0, height: 0 };
      return {
        kind: el.dataset.kind,
        empty: el.classList.contains("empty") ? el.textContent : null,
        width: box.width,
        height: box.height,
        points: listed.get(el) || 0,
      };
    });
  });
  for (const c of charts) {
    if (c.empty === null && !(c.width > 0 && c.height > 0 && c.points > 0)) {
      problems.push(`chart ${c.kind} not drawn: ${JSON.stringify(c)}`);
    }
  }
  // The whole page, but for a page kept closed (1,000 variants): its first screen.
  await page.screenshot({ path: shot, fullPage: mode !== "closed" });
  console.log(JSON.stringify({ charts, problems, drawn_ms, pagers }));
} catch (e) {
  problems.push(`browser: ${e.message}`);
  console.log(JSON.stringify({ charts: [], problems }));
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(problems.length ? 1 : 0);
