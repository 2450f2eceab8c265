// Drives the dashboard in Debian's Chromium, headless, with playwright-core.
//   node dashboard_test.cjs act URL TOKEN ENV SCREENSHOTS
//     opens the page, says "opened", waits (without a reload) until ENV
//     ("app/env") shows a held release, says "held ID", resumes it with the
//     token and waits on the release's page until it has succeeded: "done".
//   node dashboard_test.cjs readonly URL ENV SCREENSHOTS
//     no token bar, no button, and the API refuses an action: "done".
// Any failure: a line "error: …" and exit code 1.
"use strict";
const { chromium } = require("playwright-core");

const [mode, url, ...rest] = process.argv.slice(2);
const say = (line) => process.stdout.write(line + "\n");

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.PAGODA_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    page.setDefaultTimeout(90000);
    // A script error or a refusal by the page's own security policy fails the test.
    const errors = [];
    page.on("pageerror", (err) => errors.push(err.message));
    page.on("console", (m) => { if (m.type() === "error" && !/401/.test(m.text())) errors.push(m.text()); });
    await page.goto(url + "/");
    if (mode === "act") await act(page, ...rest);
    else await readonly(page, ...rest);
    if (errors.length) throw new Error("the page said: " + errors.join("; "));
  } finally {
    await browser.close();
  }
}

async function act(page, token, env, shots) {
  const row = page.locator(`tr[data-env="${env}"]`);
  await row.waitFor();
  await page.evaluate(() => { window.pagodaNotReloaded = true; });
  await page.screenshot({ path: shots + "/environments.png", fullPage: true });
  say("opened");
  await row.locator(".phase", { hasText: "held" }).waitFor();
  if (!(await page.evaluate(() => window.pagodaNotReloaded === true))) throw new Error("the page reloaded");
  const id = await row.locator("button[data-action=resume]").getAttribute("data-release");
  await page.screenshot({ path: shots + "/held.png", fullPage: true });
  say("held " + id);
  await page.fill("#token", token);
  await page.dispatchEvent("#token", "change");
  await row.locator("button[data-action=resume]").click();
  await page.goto(url + "/#/releases/" + id);
  await page.locator(".outcome", { hasText: "succeeded" }).waitFor();
  const batches = await page.locator(".timeline .lane").count();
  if (batches < 2) throw new Error("the time line shows " + batches + " batches");
  for (const lane of await page.locator(".timeline .lane").all()) {
    let drawn = 0;
    for (const bar of await lane.locator(".bar").all()) drawn += ((await bar.boundingBox()) || { width: 0 }).width;
    if (drawn < 5) throw new Error("a batch's bar is not drawn");
  }
  if (await page.locator("main", { hasText: /\bnull\b/ }).count()) throw new Error("the page says null");
  await page.screenshot({ path: shots + "/release.png", fullPage: true });
  await page.goto(url + "/#/env/" + env);
  await page.locator(`a[href="#/releases/${id}"]`).waitFor();
  await page.screenshot({ path: shots + "/history.png", fullPage: true });
  await page.goto(url + "/#/synclog");
  await page.locator("table tr >> nth=1").waitFor();
  await page.screenshot({ path: shots + "/synclog.png", fullPage: true });
  say("done");
}

async function readonly(page, env, shots) {
  await page.locator(`tr[data-env="${env}"]`).waitFor();
  await page.waitForTimeout(2500);  // a refresh has come and gone
  const buttons = await page.locator("button[data-action]").count();
  if (buttons !== 0) throw new Error(buttons + " action buttons on a read-only dashboard");
  if (await page.locator("#token-bar").isVisible()) throw new Error("the token bar shows");
  const status = await page.evaluate(async () => (await fetch("/api/v1/releases/r-000001/pause", {
    method: "POST", headers: { "X-Pagoda-Dashboard": "1", "Authorization": "Bearer guess" },
  })).status);
  if (status !== 401) throw new Error("an action without a token was answered " + status);
  await page.screenshot({ path: shots + "/read-only.png", fullPage: true });
  say("done");
}

main().catch((err) => { say("error: " + (err && err.message ? err.message : err)); process.exit(1); });
