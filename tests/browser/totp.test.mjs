// The authenticator-app page (GET /totp), as a person uses it after confirming a phone by SMS on
// the demo page: the QR code and the key, then the first code from the "app" (computed here from
// the key the page shows: RFC 6238, HMAC-SHA-1, 6 digits, 30 s), then the same code again,
// which is refused. Screenshots go to target/browser-artifacts/totp-*.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  API, PHONE, DESKTOP, useBrowser, uniquePhone, nthSmsCode, until, newPage, open, settle, visible, text, shot,
  fitsWidth, readQr,
} from "./support.mjs";

useBrowser();

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32Decode(encoded) {
  const bytes = [];
  let bits = 0;
  let value = 0;
  for (const c of encoded.replace(/[\s=]/g, "").toUpperCase()) {
    const index = BASE32.indexOf(c);
    assert.ok(index >= 0, `not base32: ${encoded}`);
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

/** The authenticator app: the code of the time step of `atMs` for `key`. */
function totp(key, atMs = Date.now(), digits = 6) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 1000 / 30)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const number = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(number % 10 ** digits).padStart(digits, "0");
}

test("the test's authenticator computes RFC 6238's SHA-1 test vectors", () => {
  const key = Buffer.from("12345678901234567890");
  assert.equal(totp(key, 59_000, 8), "94287082");
  assert.equal(totp(key, 1_111_111_109_000, 8), "07081804");
  assert.equal(totp(key, 20_000_000_000_000, 8), "65353130");
  assert.deepEqual(base32Decode("GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"), key);
});

/** Signs up `phone` by SMS on the demo page and enters the code: the last step shows. */
async function verifyBySms(page, phone) {
  await open(page, `${API}/`);
  await page.fill("#phone", phone);
  await page.click("#send");
  await page.locator("#step-code").waitFor({ state: "visible" });
  const { code } = await nthSmsCode(phone, 1);
  await page.fill("#code", code);
  await page.locator("#step-done").waitFor({ state: "visible" });
}

/** Opens `url` (or follows the link) to the enrolment page and waits until the key is shown. */
async function enrolmentShown(page, follow) {
  await follow();
  // Never reloaded once it is ours: a second load would enrol again, which the API refuses.
  await settle(page, "#totp-problem");
  await until("the enrolment or its error", async () => (await visible(page, "#totp-enrol")) || (await visible(page, "#totp-problem")));
  assert.equal(await visible(page, "#totp-enrol"), true, await text(page, "#error-enrol"));
}

for (const [name, viewport] of [["phone", PHONE], ["desktop", DESKTOP]]) {
  test(`with JavaScript on a ${name}: SMS, then the authenticator page; its first code sets the app up, the same code again is refused`, async () => {
    const { page, context, problems } = await newPage({ viewport });
    const phone = uniquePhone();
    await verifyBySms(page, phone);
    const href = await page.getAttribute("#totp-link", "href");
    assert.match(href, /^\/totp\?verification_id=[0-9A-Z]{26}&locale=en$/);
    await shot(page, `totp-${name}-0-offer`);

    await enrolmentShown(page, () => Promise.all([page.waitForURL(/\/totp\?/), page.click("#totp-link")]));
    assert.doesNotMatch(page.url(), /secret|otpauth|\+49/i, "the URL holds only the verification id");
    const qr = page.locator("#qr svg");
    assert.equal(await qr.isVisible(), true);
    const box = await qr.boundingBox();
    assert.ok(box.width >= 200 && Math.abs(box.width - box.height) < 1, `the QR code is square and large: ${JSON.stringify(box)}`);
    assert.equal(await qr.getAttribute("aria-label"), "QR code for your authenticator app");
    const shown = await text(page, "#secret");
    assert.match(shown, /^[A-Z2-7]{4}( [A-Z2-7]{4})*$/, "the key in groups of four");
    const key = base32Decode(shown);
    assert.equal(key.length, 20);
    // The QR code as drawn on the screen holds the same key, for this account.
    const scanned = new URL(readQr(await qr.screenshot()));
    assert.equal(scanned.protocol, "otpauth:");
    assert.equal(scanned.host, "totp");
    assert.equal(scanned.searchParams.get("secret"), shown.replaceAll(" ", ""));
    assert.equal(scanned.searchParams.get("issuer"), "twostep");
    assert.match(decodeURIComponent(scanned.pathname), new RegExp(`^/twostep:\\+49\\*+${phone.slice(-4)}$`));
    assert.match(await text(page, "#account"), new RegExp(`^Account: \\+49\\*+${phone.slice(-4)}$`));
    assert.match(await text(page, "#activate-before"), /^Enter the first code from the app before \d{1,2}:\d{2}\s?[AP]M\.$/);
    assert.equal(await visible(page, "#field-contact"), false, "the demo page's tab passed the phone on");
    assert.ok(await fitsWidth(page), "nothing scrolls sideways");
    await shot(page, `totp-enrol-${name}`);

    const code = totp(key);
    await page.fill("#totp-code", code); // a complete code is checked at once
    await page.locator("#totp-done").waitFor({ state: "visible" });
    assert.equal(await text(page, "#title-done"), "Your authenticator app is set up");
    assert.equal(await page.evaluate(() => sessionStorage.getItem("twostep.contact")), null, "the phone is forgotten");
    await shot(page, `totp-done-${name}`);

    // Each code is accepted once: the same code again is refused, with the attempts left.
    await page.fill("#try-code", code);
    await until("the refusal", async () => (await text(page, "#error-try-code")) !== "");
    assert.equal(
      await text(page, "#error-try-code"),
      "That code is not right or was used already: wait for the next code in the app. Attempts left: 4.",
    );
    assert.equal(await page.getAttribute("#try-code", "aria-invalid"), "true");
    assert.equal(await text(page, "#try-ok"), "");
    await shot(page, `totp-replay-${name}`);
    assert.deepEqual(problems, []);
    await context.close();
  });
}

test("with JavaScript: in another tab (nothing remembered) the page asks for the phone number, then sets the app up", async () => {
  const first = await newPage({ viewport: PHONE });
  const phone = uniquePhone();
  await verifyBySms(first.page, phone);
  const href = await first.page.getAttribute("#totp-link", "href");
  await first.context.close();

  const { page, context, problems } = await newPage({ viewport: PHONE });
  await enrolmentShown(page, () => page.goto(`${API}${href}`));
  assert.equal(await visible(page, "#field-contact"), true);
  assert.equal(await text(page, "#contact-label"), "Phone number");
  assert.match(await text(page, "#hint-contact"), new RegExp(`^The one you just confirmed: \\+49\\*+${phone.slice(-4)}$`));
  assert.equal(await page.getAttribute("#contact", "type"), "tel");
  const key = base32Decode(await text(page, "#secret"));

  // A code without the phone: the error is at the phone field.
  await page.fill("#totp-code", totp(key));
  await until("the phone error", async () => (await text(page, "#error-contact")) !== "");
  assert.equal(await page.getAttribute("#contact", "aria-invalid"), "true");
  await shot(page, "totp-phone-ask");

  await page.fill("#contact", phone);
  await page.click("#activate-button");
  await page.locator("#totp-done").waitFor({ state: "visible" });
  assert.deepEqual(problems, []);
  await context.close();
});

test("with JavaScript: the key is shown once; the page opened again says the confirmation was used", async () => {
  const { page, context, problems } = await newPage({ viewport: DESKTOP });
  await verifyBySms(page, uniquePhone());
  const href = await page.getAttribute("#totp-link", "href");
  await enrolmentShown(page, () => page.goto(`${API}${href}`));
  assert.ok((await text(page, "#secret")).length > 0);

  await page.goto(`${API}${href}`);
  await settle(page, "#totp-problem");
  await page.locator("#totp-problem").waitFor({ state: "visible" });
  assert.match(await text(page, "#error-enrol"), /^This confirmation was already used to set up an app/);
  assert.equal(await visible(page, "#totp-enrol"), false);
  assert.equal(await page.locator("#qr svg").count(), 0, "no QR code");
  await shot(page, "totp-used-desktop");
  assert.deepEqual(problems, []);
  await context.close();
});

test("without a verification id the page says what is missing, with or without JavaScript", async () => {
  for (const javaScript of [true, false]) {
    const { page, context, problems } = await newPage({ viewport: PHONE, javaScript, locale: "de-DE" });
    await open(page, `${API}/totp`, "#totp-problem");
    assert.equal(await page.getAttribute("html", "lang"), "de");
    assert.equal(await visible(page, "#totp-problem"), true);
    assert.match(await text(page, "#error-enrol"), /^Dieser Link ist unvollständig\./);
    assert.equal(await visible(page, "#totp-nojs"), false);
    assert.deepEqual(problems, []);
    await context.close();
  }
});
