// The demo page in headless Chromium, as a person uses it: with and without JavaScript, on a
// phone-sized and a desktop-sized window, reading the codes from the local SNS/SES emulator.
// Run by scripts/test.sh against its local stack; screenshots go to target/browser-artifacts/.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  API, PHONE, DESKTOP, useBrowser, uniquePhone, uniqueEmail, until, outbox, emailsTo, codeIn, nthSmsCode, wrong,
  newPage, open, submitTo, visible, text, shot, fitsWidth,
} from "./support.mjs";

useBrowser();

for (const [size, viewport] of [["360", PHONE], ["1280", DESKTOP]]) {
  test(`with JavaScript at ${size} px: sign up by SMS, a wrong code shows the attempts left, the right one verifies`, async () => {
    const { page, context, problems } = await newPage({ viewport });
    await open(page, `${API}/`);
    await shot(page, `js-${size}-1-signup`);
    assert.ok(await fitsWidth(page), "nothing scrolls sideways");
    await page.evaluate(() => { window.sameDocument = true; });

    const phone = uniquePhone();
    await page.fill("#first_name", "Ada");
    await page.fill("#phone", phone);
    await page.click("#send");
    await page.locator("#step-code").waitFor({ state: "visible" });
    assert.match(await text(page, "#sent-to"), new RegExp(`\\+49\\*+${phone.slice(-4)}`));
    const { code } = await nthSmsCode(phone, 1);

    await page.fill("#code", wrong(code)); // a complete code is checked at once
    await until("the error next to the code", async () => (await text(page, "#error-code")).includes("4"));
    assert.equal(await text(page, "#error-code"), "That code is not right. Attempts left: 4.");
    assert.equal(await page.getAttribute("#code", "aria-invalid"), "true");
    await shot(page, `js-${size}-2-wrong-code`);

    // Pasted as "123 456": a complete code is checked without a click.
    await page.fill("#code", code.slice(0, 3) + " " + code.slice(3));
    await page.locator("#step-done").waitFor({ state: "visible" });
    assert.equal(await text(page, "#title-done"), "Confirmed");
    assert.equal(await page.evaluate(() => window.sameDocument), true, "no full-page reload");
    await shot(page, `js-${size}-3-verified`);
    assert.deepEqual(problems, []);
    await context.close();
  });
}

test("with JavaScript: a field error appears next to that field and nothing is sent", async () => {
  const { page, context, problems } = await newPage({ viewport: PHONE });
  await open(page, `${API}/`);
  const before = (await outbox()).sns.SMS.length;
  await page.fill("#phone", "+1 555");
  await page.click("#send");
  await until("the phone error", async () => (await text(page, "#error-phone")) !== "");
  assert.equal(await text(page, "#error-phone"), "This is not a valid phone number.");
  assert.equal(await page.getAttribute("#phone", "aria-invalid"), "true");
  assert.equal(await visible(page, "#step-signup"), true);
  assert.equal((await outbox()).sns.SMS.length, before);
  await shot(page, "js-360-field-error");
  assert.deepEqual(problems, []);
  await context.close();
});

test("with JavaScript: resend waits for its countdown, then sends a new code that verifies", async () => {
  const { page, context, problems } = await newPage({ viewport: PHONE });
  await open(page, `${API}/`);
  const phone = uniquePhone();
  await page.fill("#phone", phone);
  await page.click("#send");
  await page.locator("#step-code").waitFor({ state: "visible" });
  // The test stack's cooldown is 1 s: the button starts disabled with a visible countdown.
  assert.equal(await page.isDisabled("#resend-button"), true);
  assert.match(await text(page, "#resend-note"), /^New code possible in \d+ s$/);
  const first = await nthSmsCode(phone, 1);
  await until("the resend button", async () => !(await page.isDisabled("#resend-button")), 5_000);
  assert.equal(await text(page, "#resend-note"), "");

  await page.click("#resend-button");
  const second = await nthSmsCode(phone, 2);
  assert.notEqual(second.code, first.code);
  await until("the new countdown", async () => (await page.isDisabled("#resend-button")) || (await text(page, "#resend-note")) === "");
  await page.fill("#code", second.code);
  await page.locator("#step-done").waitFor({ state: "visible" });
  assert.deepEqual(problems, []);
  await context.close();
});

test("with JavaScript: an email sign-up is verified with the code from the email", async () => {
  const { page, context, problems } = await newPage({ viewport: DESKTOP });
  await open(page, `${API}/`);
  const email = uniqueEmail();
  await page.check("#channel-email");
  assert.equal(await visible(page, "#phone"), false);
  await page.fill("#email", email);
  await page.click("#send");
  await page.locator("#step-code").waitFor({ state: "visible" });
  assert.match(await text(page, "#sent-to"), /p\*\*\*@example\.com/);
  const mail = await until("the email", async () => (await emailsTo(email))[0]);
  await page.fill("#code", codeIn(mail.body));
  await page.locator("#step-done").waitFor({ state: "visible" });
  await shot(page, "js-1280-email-verified");
  assert.deepEqual(problems, []);
  await context.close();
});

test("in German: the page and the SMS speak the visitor's language", async () => {
  const { page, context, problems } = await newPage({ viewport: PHONE, locale: "de-AT" });
  await open(page, `${API}/`);
  assert.equal(await page.getAttribute("html", "lang"), "de");
  const phone = uniquePhone();
  await page.fill("#phone", phone);
  await page.click("#send");
  await page.locator("#step-code").waitFor({ state: "visible" });
  const { text: sms, code } = await nthSmsCode(phone, 1);
  assert.match(sms, /ist Ihr .*-Code/);
  await page.fill("#code", wrong(code));
  await until("the German error", async () => (await text(page, "#error-code")) !== "");
  assert.match(await text(page, "#error-code"), /4/);
  assert.doesNotMatch(await text(page, "#error-code"), /That code/);
  await shot(page, "js-360-german");
  assert.deepEqual(problems, []);
  await context.close();
});

for (const [size, viewport] of [["360", PHONE], ["1280", DESKTOP]]) {
  test(`without JavaScript at ${size} px: form posts and redirects sign up, show a wrong code, resend and verify`, async () => {
    const { page, context } = await newPage({ viewport, javaScript: false });
    await open(page, `${API}/?locale=en`);
    const phone = uniquePhone();
    await page.check("#channel-sms");
    await page.fill("#phone", phone);
    await submitTo(page, /status=pending/, () => page.click("#send"));
    assert.equal(await visible(page, "#step-code"), true);
    assert.equal(await visible(page, "#step-signup"), false);
    assert.match(await text(page, "#sent-to"), /\+49\*+/);
    await shot(page, `nojs-${size}-1-code`);
    const first = await nthSmsCode(phone, 1);

    await page.fill("#code", wrong(first.code));
    await submitTo(page, /error=incorrect_code/, () => page.click("#check"));
    assert.equal(await text(page, "#error-code"), "That code is not right. Attempts left: 4.");
    await shot(page, `nojs-${size}-2-wrong-code`);

    // Resend by the verification id the page carries, once the 1 s cooldown has passed.
    await new Promise((r) => setTimeout(r, 1_200));
    await submitTo(page, /status=pending/, () => page.click("#resend-button"));
    const second = await nthSmsCode(phone, 2);
    assert.notEqual(second.code, first.code);

    await page.fill("#code", second.code);
    await submitTo(page, /status=approved/, () => page.click("#check"));
    assert.equal(await visible(page, "#step-done"), true);
    assert.equal(await text(page, "#title-done"), "Confirmed");
    await shot(page, `nojs-${size}-3-verified`);
    await context.close();
  });
}

test("without JavaScript: a bad number comes back as an error on the sign-up form", async () => {
  const { page, context } = await newPage({ viewport: PHONE, javaScript: false });
  await open(page, `${API}/`);
  await page.check("#channel-sms");
  await page.fill("#phone", "12");
  await submitTo(page, /error=invalid_phone/, () => page.click("#send"));
  assert.equal(await visible(page, "#step-signup"), true);
  assert.equal(await text(page, "#error-phone"), "This is not a valid phone number.");
  await shot(page, "nojs-360-field-error");
  await context.close();
});
