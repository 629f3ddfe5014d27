// The dashboard in headless Chromium, as a teacher and two students use it:
//   node dashboard.mjs BASE_URL ADMIN_TOKEN STUDENT_TOKEN OTHER_TOKEN HOSTILE_JOB SCREENSHOT_DIR
// Signs in, sees the worker, submits from the form and watches the verdict arrive without a
// reload, sees a rejudge's judgings, checks that a student cannot see another's job, that a hostile compile error and
// output are shown as text (nothing runs), and that the page fits a phone. Saves a
// screenshot of each page. Exits non-zero, saying why, on the first failure.
import { chromium } from "playwright-core";

const [base, admin, student, other, hostileJobs, shots] = process.argv.slice(2);
const TIMEOUT = 60_000;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});

async function signIn(page, token) {
  await page.goto(base + "/");
  await page.fill("#token", token);
  await page.click("#signin-form button");
  await page.waitForSelector("#nav:not([hidden])", { timeout: TIMEOUT });
}

function fail(why) {
  console.error("FAIL: " + why);
  process.exitCode = 1;
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const ran = [];
  page.on("dialog", (d) => { ran.push("dialog: " + d.message()); d.dismiss(); });
  page.on("pageerror", (e) => ran.push("page error: " + e.message));

  // Sign-in page, then a wrong token.
  await page.goto(base + "/");
  await page.screenshot({ path: `${shots}/signin.png` });
  await page.fill("#token", "jdg_wrong");
  await page.click("#signin-form button");
  await page.waitForSelector("#signin-error:not(:empty)", { timeout: TIMEOUT });

  // The teacher sees the fleet.
  await signIn(page, admin);
  await page.goto(base + "/#/fleet");
  await page.waitForSelector("td:text-is('w')", { timeout: TIMEOUT });
  await page.screenshot({ path: `${shots}/fleet.png` });

  // Problems.
  await page.goto(base + "/#/problems");
  await page.waitForSelector("td:text-is('aplusb')", { timeout: TIMEOUT });
  await page.screenshot({ path: `${shots}/problems.png` });

  // A student submits from the form and watches the verdict arrive on the job's page.
  const sp = await context.newPage();
  await signIn(sp, student);
  await sp.goto(base + "/#/submit");
  await sp.waitForSelector("#submit-problem option[value='aplusb']", { timeout: TIMEOUT, state: "attached" });
  await sp.fill("#submit-language", "python3");
  await sp.fill("#submit-source", "a, b = map(int, input().split())\nprint(a + b)\n");
  await sp.screenshot({ path: `${shots}/submit.png` });
  const before = await sp.evaluate(() => performance.navigation.type);
  await sp.click("#submit-form button");
  await sp.waitForURL(/#\/job\/\d+/, { timeout: TIMEOUT });
  await sp.locator("#job-state", { hasText: "AC" }).waitFor({ timeout: TIMEOUT });
  await sp.locator("#job-source", { hasText: "print(a + b)" }).waitFor({ timeout: TIMEOUT, state: "attached" });
  const rows = await sp.locator("#tests tbody tr").count();
  if (rows < 1) fail("no test rows on the job page");
  // Each test says what it used of its limits.
  await sp.locator("#tests td.details", { hasText: "exit code 0" }).first().waitFor({ timeout: TIMEOUT });
  const reloaded = await sp.evaluate(() => performance.navigation.type);
  if (reloaded !== before) fail("the page reloaded");
  await sp.screenshot({ path: `${shots}/job.png` });
  const ownJob = sp.url().split("/").pop();

  // Jobs list, as the student sees it: only their own; and what a waiting job waits for.
  const waiting = await sp.evaluate(async (t) => {
    const r = await fetch("/api/v1/jobs", { method: "POST",
      headers: { Authorization: "Bearer " + t, "Content-Type": "application/json" },
      body: JSON.stringify({ problem: "aplusb", language: "c", source: "int main(){for(;;);}" }) });
    return (await r.json()).job_id;
  }, student);
  await sp.goto(base + "/#/jobs");
  await sp.waitForSelector(`a[href='#/job/${ownJob}']`, { timeout: TIMEOUT });
  await sp.locator(`a[href='#/job/${waiting}']`).waitFor({ timeout: TIMEOUT });
  await sp.waitForSelector("th:text-is('Class')", { timeout: TIMEOUT });
  await sp.screenshot({ path: `${shots}/jobs.png` });

  // The teacher has the student's job judged again: its page shows both judgings, the
  // newest at bulk class, as the new one runs.
  const rejudged = await page.evaluate(async ([t, id]) => {
    const r = await fetch("/api/v1/rejudge", { method: "POST",
      headers: { Authorization: "Bearer " + t, "Content-Type": "application/json" },
      body: JSON.stringify({ problem: "aplusb", jobs: [Number(id)] }) });
    return r.status;
  }, [admin, ownJob]);
  if (rejudged !== 200) fail("the rejudge was refused: " + rejudged);
  await sp.goto(`${base}/#/job/${ownJob}`);
  await sp.locator("#judgings tbody tr:nth-child(2) td:text-is('done')").waitFor({ timeout: TIMEOUT });
  const judged = await sp.locator("#judgings tbody tr").count();
  if (judged !== 2) fail(`the job shows ${judged} judgings, not 2`);
  await sp.locator("#judgings td:text-is('bulk')").first().waitFor({ timeout: TIMEOUT });
  await sp.screenshot({ path: `${shots}/rejudged.png` });

  // Another student cannot see it.
  const op = await (await browser.newContext()).newPage();
  await signIn(op, other);
  await op.goto(`${base}/#/job/${ownJob}`);
  await op.waitForSelector(".error.page", { timeout: TIMEOUT });
  const text = await op.textContent(".error.page");
  if (!/not found/.test(text)) fail("another student's job was not refused: " + text);
  await op.goto(base + "/#/jobs");
  await op.waitForSelector("table", { timeout: TIMEOUT });
  if (await op.locator(`a[href='#/job/${ownJob}']`).count() > 0) fail("another student's job is listed");

  // Hostile jobs: a compile error and an output made of HTML are shown as text. (The
  // teacher's page is brought to the front: a page behind another is not painted, and
  // its screenshot waits for a frame that never comes.)
  await page.bringToFront();
  for (const [i, id] of hostileJobs.split(",").entries()) {
    await page.goto(`${base}/#/job/${id}`);
    await page.waitForSelector("#job-run pre", { timeout: TIMEOUT });
    const shown = await page.textContent("#main");
    if (!shown.includes("<script>") || !shown.includes("<img")) {
      fail(`job ${id}: the hostile text is not shown as text: ${shown}`);
    }
    const injected = await page.locator("#main img, #main script").count();
    if (injected > 0) fail(`job ${id}: ${injected} element(s) from user text became HTML`);
    await page.screenshot({ path: `${shots}/hostile-${i}.png` });
  }
  await page.waitForTimeout(500);
  if (ran.length > 0) fail("something ran: " + ran.join("; "));

  // A live console in the page: a prompt, a name typed, the answer. (The student's page
  // comes to the front first: keys typed go to the page in front.)
  await sp.bringToFront();
  await sp.goto(base + "/#/console");
  await sp.fill("#console-language", "python3");
  await sp.fill("#console-source", "name = input('name? ')\nprint('hello, ' + name)\n");
  await sp.click("#console-form button");
  await sp.locator("#console-screen", { hasText: "name? " }).waitFor({ timeout: TIMEOUT });
  await sp.click("#console-screen");
  await sp.keyboard.type("Ada");
  await sp.keyboard.press("Enter");
  await sp.locator("#console-screen", { hasText: "hello, Ada" }).waitFor({ timeout: TIMEOUT });
  await sp.locator("#console-status", { hasText: "exited with 0" }).waitFor({ timeout: TIMEOUT });
  await sp.screenshot({ path: `${shots}/console.png` });

  // A phone-sized screen.
  const phone = await (await browser.newContext({ viewport: { width: 375, height: 740 } })).newPage();
  await signIn(phone, admin);
  await phone.goto(base + "/#/jobs");
  await phone.waitForSelector("table", { timeout: TIMEOUT });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  if (overflow) fail("the page is wider than a phone");
  await phone.screenshot({ path: `${shots}/phone.png` });
} catch (e) {
  fail(e.stack || String(e));
} finally {
  await browser.close();
}
