// status_page.js URL OUTDIR NAME OWNER - the status page in a real browser
// (Debian's chromium, driven by playwright-core): it must show the holder
// of NAME with OWNER, its waiter, the cluster's members, and charts that
// drew; screenshots go to OUTDIR. Then, with the server stopped by the
// caller (it waits for a line on stdin), the page must say the server does
// not answer. Prints what it checked as JSON lines; exits non-zero on a
// failure.
"use strict";

const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");
const readline = require("readline");

const [url, outdir, name, owner] = process.argv.slice(2);

// A failed check: thrown, so that the browser is closed before the exit.
function fail(msg) {
  throw new Error(msg);
}

function say(what) {
  console.log(JSON.stringify(what));
}

// Pixels of a canvas that are neither white nor the grid's grey: its lines.
async function inkOf(page, id) {
  return page.evaluate((canvasId) => {
    const c = document.getElementById(canvasId);
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    for (let i = 0; i < d.length; i += 4) {
      const [r, g, b, a] = [d[i], d[i + 1], d[i + 2], d[i + 3]];
      if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 60) ink++;
    }
    return ink;
  }, id);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    await page.goto(url);
    // The holder, by its name, with its owner and a waiter.
    const row = page.locator("#busiest tbody tr", { hasText: name });
    await row.first().waitFor({ timeout: 15000 });
    const cells = await row.first().locator("td").allTextContents();
    if (cells[0] !== name || cells[4] !== owner) fail("the holder's row: " + JSON.stringify(cells));
    if (cells[7] !== "1") fail("the waiters: " + JSON.stringify(cells));
    say({ holder_row: cells });
    const members = await page.locator("#members tbody tr").count();
    if (members !== 3) fail("members shown: " + members);
    const ready = await page.locator("#ready").textContent();
    if (ready !== "ready") fail("the ready badge: " + ready);
    // Charts draw from the second read on: wait for grants to be counted.
    await page.waitForFunction(() => /^[0-9]+\/s$/.test(document.getElementById("grants-now").textContent),
                               null, { timeout: 15000 });
    await page.waitForTimeout(2500);
    const grantsInk = await inkOf(page, "grants-chart");
    const commitInk = await inkOf(page, "commit-chart");
    if (grantsInk < 20 || commitInk < 20) fail("charts not drawn: ink " + grantsInk + ", " + commitInk);
    say({ grants_now: await page.locator("#grants-now").textContent(),
          commit_now: await page.locator("#commit-now").textContent(),
          grants_ink: grantsInk, commit_ink: commitInk });
    fs.mkdirSync(outdir, { recursive: true });
    await page.screenshot({ path: path.join(outdir, "status-page.png"), fullPage: true });
    await row.first().screenshot({ path: path.join(outdir, "holder-row.png") });
    if (errors.length > 0) fail("errors in the page: " + errors.join("; "));
    // The caller stops the server, then says so.
    say({ waiting_for: "the server to stop" });
    const rl = readline.createInterface({ input: process.stdin });
    await new Promise((resolve) => rl.once("line", resolve));
    rl.close();
    await page.locator("#error").waitFor({ state: "visible", timeout: 15000 });
    const error = await page.locator("#error").textContent();
    if (!error.startsWith("The server does not answer")) fail("the error shown: " + error);
    await page.screenshot({ path: path.join(outdir, "status-page-down.png") });
    say({ error_shown: error });
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error("status_page.js: " + (e.message || String(e)));
  process.exitCode = 1;
});
