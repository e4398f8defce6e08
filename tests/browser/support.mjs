// What the browser tests share: the browser, pages as a person sees them, and the local stack's
// outboxes (SMS and email from the SNS/SES emulator, calls from the voice stub).
// Not a test file itself (node --test runs only *.test.mjs here).
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import path from "node:path";

export const API = process.env.TWOSTEP_API_URL;
export const MOTO = process.env.TWOSTEP_MOTO_URL;
export const VOICE = process.env.TWOSTEP_VOICE_URL;
const ROOT = path.resolve(import.meta.dirname, "../..");
const ARTIFACTS = process.env.TWOSTEP_ARTIFACTS || path.join(ROOT, "target/browser-artifacts");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const tools = createRequire(path.join(ROOT, ".tools/node/"));
const { chromium } = tools("playwright-core");
const jsQR = tools("jsqr");
const { PNG } = tools("pngjs");

/** The text of the QR code in a PNG screenshot, as a phone's camera reads it. */
export function readQr(png) {
  const image = PNG.sync.read(png);
  const found = jsQR(new Uint8ClampedArray(image.data), image.width, image.height);
  assert.ok(found, "a QR code is readable in the screenshot");
  return found.data;
}

export const PHONE = { width: 360, height: 740 };
export const DESKTOP = { width: 1280, height: 800 };

let browser;
/** Starts Chromium before the file's tests and closes it after them. */
export function useBrowser() {
  before(async () => {
    assert.ok(API && MOTO, "TWOSTEP_API_URL and TWOSTEP_MOTO_URL are set by scripts/test.sh");
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });
  after(async () => {
    await browser?.close();
  });
}

export const uniquePhone = () => "+49301" + String(Math.floor(Math.random() * 1e7)).padStart(7, "0");
export const uniqueEmail = () => `page${Date.now()}${Math.floor(Math.random() * 1e6)}@example.com`;

export async function until(what, check, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function outbox() {
  const response = await fetch(`${MOTO}/moto-api/data.json`);
  return response.json();
}

export async function smsTo(phone) {
  const data = await outbox();
  return data.sns.SMS.filter((m) => m.phone_number === phone).map((m) => m.message);
}

export async function emailsTo(address) {
  const data = await outbox();
  return data.ses.Message.filter((m) => (m.destinations?.ToAddresses || []).includes(address));
}

/** The calls the voice stub answered for `phone`, oldest first. */
export async function callsTo(phone) {
  assert.ok(VOICE, "TWOSTEP_VOICE_URL is set by scripts/test.sh");
  const response = await fetch(`${VOICE}/calls`);
  const calls = await response.json();
  return calls.filter((c) => c.destination === phone);
}

export const codeIn = (text) => {
  const match = /\b(\d{6})\b/.exec(text);
  assert.ok(match, `no code in ${JSON.stringify(text)}`);
  return match[1];
};

/** The code of the `n`th SMS (1-based) to `phone`, once it has arrived. */
export async function nthSmsCode(phone, n) {
  const all = await until(`SMS #${n} to ${phone}`, async () => {
    const sms = await smsTo(phone);
    return sms.length >= n ? sms : null;
  });
  return { code: codeIn(all[n - 1]), text: all[n - 1] };
}

/**
 * The code a call reads out: the SSML says it digit by digit, then again. Returns the code and
 * the call; fails unless both readings are the same code.
 */
export async function nthCallCode(phone, n) {
  const calls = await until(`call #${n} to ${phone}`, async () => {
    const all = await callsTo(phone);
    return all.length >= n ? all : null;
  });
  const call = calls[n - 1];
  // The digits are <say-as> elements (or plain text between breaks): the rest of the call
  // (the brand name in the intro) may hold digits of its own.
  const spoken = [...call.body.matchAll(/<say-as[^>]*>\s*(\d)\s*<\/say-as>/g)].map((m) => m[1]);
  const digits = spoken.length ? spoken : call.body.replace(/<[^>]*>/g, " ").match(/\d/g) || [];
  assert.equal(digits.length % 2, 0, `the call reads the code twice: ${call.body}`);
  const first = digits.slice(0, digits.length / 2).join("");
  const again = digits.slice(digits.length / 2).join("");
  assert.equal(again, first, `the second reading repeats the first: ${call.body}`);
  assert.match(first, /^\d{6}$/);
  return { code: first, call };
}

export const wrong = (code) => String((Number(code) + 1) % 1e6).padStart(6, "0");

export async function newPage({ viewport, javaScript = true, locale = "en-US" }) {
  const context = await browser.newContext({ viewport, javaScriptEnabled: javaScript, locale });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // The browser logs every 4xx answer as a failed load: those are the API's answers, expected.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  return { page, context, problems };
}

// `cargo lambda watch` (1.9.2) sometimes loses a large response body between the function and
// the browser and answers 500 with its own problem document (its runtime API hands the body
// on without reading it). A page is a GET, safe to load again: reload until it is ours.
export async function settle(page, selector = "#step-signup") {
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await page.locator(selector).count()) return;
    await page.reload();
  }
  throw new Error(`the page did not load: ${await page.content()}`);
}

export async function open(page, url, selector) {
  await page.goto(url);
  await settle(page, selector);
}

/**
 * Submits a form without JavaScript and waits for the page it is redirected to. The local
 * runner now and then never answers the redirect's GET (see `settle`): the 303 has been
 * answered, so the page is loaded again from its `Location`, as a person would reload it.
 */
export async function submitTo(page, urlPattern, click) {
  const redirect = page.waitForResponse((r) => r.request().method() === "POST" && r.status() === 303, { timeout: 30_000 });
  const [, response] = await Promise.all([click(), redirect]);
  try {
    await page.waitForURL(urlPattern, { timeout: 10_000 });
  } catch (e) {
    const location = new URL(response.headers()["location"], response.url()).href;
    if (!urlPattern.test(location)) throw e;
    await page.goto(location, { timeout: 10_000 }).catch(() => page.goto(location));
  }
  await settle(page);
}

export const visible = (page, selector) => page.locator(selector).isVisible();
export const text = async (page, selector) => ((await page.textContent(selector)) || "").trim();
export const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
export const fitsWidth = (page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
