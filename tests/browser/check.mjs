// Opens stress HTML reports in the machine's headless Chromium (Debian's `chromium`, driven by
// playwright-core: no browser download) from file:// URLs, and checks each: no console error,
// no page error, no request leaving the file, every chart drawn (a canvas of non-zero size with
// data points) or saying why it has nothing to plot. Screenshots each page beside it
// (PAGE.png). Prints a JSON array of summaries on stdout (charts, problems, drawn_ms: from
// navigation to every chart drawn, pagers: paged tables); exit 1 on any problem.
//
//   node check.mjs PAGE.html [--closed PAGE.html]...
//
// With `--closed` before a page, its variants' sections stay as the page opens them (a
// 1,000-variant page) and the screenshot is its first screen; otherwise every section is
// opened (a variant's charts are drawn when it opens) and the whole page is shot.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const pages = [];
for (let i = 2, closed = false; i < process.argv.length; i++) {
  if (process.argv[i] === "--closed") closed = true;
  else { pages.push({ path: process.argv[i], closed }); closed = false; }
}
if (pages.length === 0) {
  console.error("usage: node check.mjs PAGE.html [--closed PAGE.html]...");
  process.exit(2);
}
const executablePath = process.env.STRESS_CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "stress-chromium-"));

async function check(context, { path, closed }) {
  const problems = [];
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console error: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) problems.push(`request: ${r.url()}`);
  });
  const started = Date.now();
  await page.goto(pathToFileURL(resolve(path)).href, { waitUntil: "load" });
  if (!closed) {
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
    return Array.from(document.querySelectorAll(".chart"))
      .filter((c) => c.closest("details:not([open])") === null)
      .map((el) => {
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
  await page.screenshot({ path: path.replace(/\.html$/, "") + ".png", fullPage: !closed });
  await page.close();
  return { page: path, charts, problems, drawn_ms, pagers };
}

const summaries = [];
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
  for (const p of pages) summaries.push(await check(context, p));
} catch (e) {
  summaries.push({ page: null, charts: [], problems: [`browser: ${e.message}`] });
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(summaries));
process.exit(summaries.some((s) => s.problems.length) ? 1 : 0);
