// The demo page's opt-in fallback: with JavaScript, "if a code doesn't arrive, send the next one
// another way" signs up with `channels` (the chosen channel, then the others the form has a
// destination for: sms, voice, email), and each resend goes to the next channel, its button
// saying where. SMS and email come from the SNS/SES emulator, calls from the voice stub.
// Screenshots go to target/browser-artifacts/fallback-*.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  API, PHONE, DESKTOP, useBrowser, uniquePhone, uniqueEmail, until, emailsTo, codeIn, nthSmsCode, nthCallCode,
  smsTo, callsTo, newPage, open, visible, text, shot, fitsWidth,
} from "./support.mjs";

useBrowser();

/** The JSON bodies the page posted to /signup, in order. */
const signupBodies = (page) => {
  const bodies = [];
  page.on("request", (r) => {
    if (r.method() === "POST" && new URL(r.url()).pathname === "/signup") bodies.push(JSON.parse(r.postData()));
  });
  return bodies;
};

const resendWhenReady = async (page) => {
  await until("the resend button", async () => !(await page.isDisabled("#resend-button")), 5_000);
  await page.click("#resend-button");
};

test("with JavaScript at 360 px: SMS, then a call, then an email, each on a resend", async () => {
  const { page, context, problems } = await newPage({ viewport: PHONE });
  const bodies = signupBodies(page);
  await open(page, `${API}/`);
  assert.equal(await visible(page, "#fallback"), true);
  assert.equal(await page.isChecked("#fallback"), false, "opt-in");
  assert.equal(await text(page, "label:has(#fallback)"), "If a code doesn't arrive, send the next one another way");
  assert.equal(await visible(page, "#email"), false, "SMS chosen: only the phone field");
  await page.check("#fallback");
  assert.equal(await visible(page, "#email"), true, "the fallback needs the email address too");
  const phone = uniquePhone();
  const email = uniqueEmail();
  await page.fill("#phone", phone);
  await page.fill("#email", email);
  assert.ok(await fitsWidth(page), "nothing scrolls sideways");
  await shot(page, "fallback-360-1-signup");

  await page.click("#send");
  await page.locator("#step-code").waitFor({ state: "visible" });
  assert.deepEqual(bodies[0].channels, ["sms", "voice", "email"]);
  assert.equal(bodies[0].channel, "sms");
  assert.equal(bodies[0].phone, phone);
  assert.equal(bodies[0].email, email);
  await nthSmsCode(phone, 1);
  assert.match(await text(page, "#sent-to"), new RegExp(`^We sent a code to \\+49\\*+${phone.slice(-4)}\\.`));
  assert.equal(await text(page, "#resend-button"), "Call me instead");
  assert.deepEqual(await callsTo(phone), []);

  // Just over the test stack's cooldown (1 s): the next code is a call.
  await resendWhenReady(page);
  await nthCallCode(phone, 1);
  await until("the calling line", async () => /^We are calling /.test(await text(page, "#sent-to")));
  assert.match(await text(page, "#sent-to"), new RegExp(`^We are calling \\+49\\*+${phone.slice(-4)} to read you a code\\.`));
  assert.equal(await text(page, "#resend-button"), "Email me instead");
  assert.deepEqual(bodies[1], { verification_id: bodies[1].verification_id, locale: "en" });
  await shot(page, "fallback-360-2-calling");

  await resendWhenReady(page);
  const mail = await until("the email", async () => (await emailsTo(email))[0]);
  await until("the email line", async () => (await text(page, "#sent-to")).includes("@"));
  assert.match(await text(page, "#sent-to"), /^We sent a code to p\*+@example\.com\./);
  assert.equal(await text(page, "#resend-button"), "Send a new code", "the last channel: no other way left");
  assert.equal((await smsTo(phone)).length, 1, "one SMS in all");
  await shot(page, "fallback-360-3-email");

  await page.fill("#code", codeIn(mail.body));
  await page.locator("#step-done").waitFor({ state: "visible" });
  assert.equal(await text(page, "#title-done"), "Confirmed");
  await shot(page, "fallback-360-4-verified");
  assert.deepEqual(problems, []);
  await context.close();
});

test("with JavaScript: the option with only one channel's destination sends no channels", async () => {
  const { page, context, problems } = await newPage({ viewport: DESKTOP });
  const bodies = signupBodies(page);
  await open(page, `${API}/`);
  await page.check("#channel-email");
  await page.check("#fallback");
  const email = uniqueEmail();
  await page.fill("#email", email);
  await page.click("#send");
  await page.locator("#step-code").waitFor({ state: "visible" });
  assert.equal("channels" in bodies[0], false);
  assert.equal("phone" in bodies[0], false);
  assert.equal(await text(page, "#resend-button"), "Send a new code");
  await until("the email", async () => (await emailsTo(email))[0]);
  assert.deepEqual(problems, []);
  await context.close();
});

test("without JavaScript: no fallback option, the form is as before", async () => {
  const { page, context } = await newPage({ viewport: PHONE, javaScript: false });
  await open(page, `${API}/?locale=en`);
  assert.equal(await page.locator("#fallback").count(), 1);
  assert.equal(await visible(page, "#field-fallback"), false);
  assert.equal(await page.getAttribute("#fallback", "name"), null, "never posted");
  await context.close();
});
