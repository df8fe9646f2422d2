// A screenshot of one element of a stress HTML report, in the machine's headless Chromium (how
// the README's docs/img/html-report.png was made):
//
//   node tests/browser/shoot.mjs PAGE.html "details.variant .charts" OUT.png
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [page_path, selector, out] = process.argv.slice(2);
if (!page_path || !selector || !out) {
  console.error('usage: node shoot.mjs PAGE.html SELECTOR OUT.png');
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), "stress-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.STRESS_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1100, height: 800 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = context.pages()[0] || (await context.newPage());
  await page.goto(pathToFileURL(resolve(page_path)).href, { waitUntil: "load" });
  const element = page.locator(selector).first();
  await element.locator("canvas").first().waitFor();
  await element.screenshot({ path: out });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
