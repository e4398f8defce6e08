// "Call me" on the demo page, with and without JavaScript: the code comes by a phone call, read
// from the local voice stub's record (scripts/voice_stub.py, GET /calls), where the SSML says
// it digit by digit, twice. Screenshots go to target/browser-artifacts/voice-*.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  API, PHONE, DESKTOP, useBrowser, uniquePhone, nthCallCode, smsTo, wrong, until, newPage, open, settle,
  submitTo, visible, text, shot, fitsWidth,
} from "./support.mjs";

useBrowser();

test("with JavaScript at 360 px: sign up with Call me, enter the code the call reads out", async () => {
  const { page, context, problems } = await newPage({ viewport: PHONE });
  await open(page, `${API}/`);
  assert.equal(await text(page, 'label:has(#channel-voice)'), "Call me");
  await page.check("#channel-voice");
  assert.equal(await visible(page, "#phone"), true);
  assert.equal(await visible(page, "#email"), false);
  const phone = uniquePhone();
  await page.fill("#phone", phone);
  assert.ok(await fitsWidth(page), "nothing scrolls sideways with three choices");
  await shot(page, "voice-360-1-signup");

  await page.click("#send");
  await page.locator("#step-code").waitFor({ state: "visible" });
  assert.match(
    await text(page, "#sent-to"),
    new RegExp(`^We are calling \\+49\\*+${phone.slice(-4)} to read you a code\\. It expires in 15 s\\.$`),
  );
  assert.equal(await text(page, "#resend-button"), "Call me again");
  const { code, call } = await nthCallCode(phone, 1);
  assert.equal(call.voice_id, "JOANNA");
  assert.equal(call.body_type, "SSML");
  assert.deepEqual(await smsTo(phone), [], "a call, not an SMS");
  await shot(page, "voice-360-2-calling");

  await page.fill("#code", wrong(code));
  await until("the error next to the code", async () => (await text(page, "#error-code")) !== "");
  assert.equal(await text(page, "#error-code"), "That code is not right. Attempts left: 4.");
  await page.fill("#code", code);
  await page.locator("#step-done").waitFor({ state: "visible" });
  assert.equal(await text(page, "#title-done"), "Confirmed");
  await shot(page, "voice-360-3-verified");
  assert.deepEqual(problems, []);
  await context.close();
});

test("with JavaScript: Call me again places a second call with a new code", async () => {
  const { page, context, problems } = await newPage({ viewport: DESKTOP });
  await open(page, `${API}/`);
  await page.check("#channel-voice");
  const phone = uniquePhone();
  await page.fill("#phone", phone);
  await page.click("#send");
  await page.locator("#step-code").waitFor({ state: "visible" });
  const first = await nthCallCode(phone, 1);
  await until("the resend button", async () => !(await page.isDisabled("#resend-button")), 5_000);
  await page.click("#resend-button");
  const second = await nthCallCode(phone, 2);
  assert.notEqual(second.code, first.code);
  assert.match(await text(page, "#sent-to"), /^We are calling /);
  await page.fill("#code", second.code);
  await page.locator("#step-done").waitFor({ state: "visible" });
  assert.deepEqual(problems, []);
  await context.close();
});

test("without JavaScript at 1280 px: Call me posts and redirects; the code from the call verifies", async () => {
  const { page, context } = await newPage({ viewport: DESKTOP, javaScript: false });
  await open(page, `${API}/?locale=en`);
  await page.check("#channel-voice");
  const phone = uniquePhone();
  await page.fill("#phone", phone);
  await submitTo(page, /status=pending/, () => page.click("#send"));
  assert.match(page.url(), /[?&]channel=voice(&|$)/);
  assert.match(await text(page, "#sent-to"), /^We are calling \+49\*+\d{4} to read you a code\./);
  assert.equal(await text(page, "#resend-button"), "Call me again");
  await shot(page, "voice-nojs-1280-1-calling");
  const { code } = await nthCallCode(phone, 1);

  await page.fill("#code", code);
  await submitTo(page, /status=approved/, () => page.click("#check"));
  assert.equal(await text(page, "#title-done"), "Confirmed");
  // The authenticator page needs JavaScript, and says so.
  assert.match(await page.getAttribute("#totp-link", "href"), /^\/totp\?verification_id=[0-9A-Z]{26}&locale=en$/);
  await shot(page, "voice-nojs-1280-2-verified");
  await Promise.all([page.waitForURL(/\/totp\?/), page.click("#totp-link")]);
  await settle(page, "#totp-problem");
  await page.locator("#totp-nojs").waitFor({ state: "visible" });
  assert.match(await text(page, "#totp-nojs"), /This step needs JavaScript\./);
  assert.equal(await visible(page, "#totp-enrol"), false);
  await shot(page, "totp-nojs-desktop");
  await context.close();
});
