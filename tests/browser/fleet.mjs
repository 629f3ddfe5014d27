// The fleet page as a teacher sees it when a worker is quarantined:
//   node fleet.mjs BASE_URL ADMIN_TOKEN WORKER SCREENSHOT
// Signs in, opens the fleet page, waits for WORKER's row to say it is quarantined and why,
// and saves a screenshot. Exits non-zero, saying why, on failure.
import { chromium } from "playwright-core";

const [base, admin, worker, shot] = process.argv.slice(2);
const TIMEOUT = 60_000;
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
});
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 600 } })).newPage();
  await page.goto(base + "/");
  await page.fill("#token", admin);
  await page.click("#signin-form button");
  await page.waitForSelector("#nav:not([hidden])", { timeout: TIMEOUT });
  await page.goto(base + "/#/fleet");
  const row = page.locator("tr", { has: page.locator(`td:text-is('${worker}')`) });
  await row.locator("td", { hasText: "quarantined: " }).waitFor({ timeout: TIMEOUT });
  const text = await row.textContent();
  if (!/judge errors/.test(text)) throw new Error("no reason shown: " + text);
  await page.screenshot({ path: shot });
} catch (e) {
  console.error("FAIL: " + (e.stack || e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
