// Twilio Verify's official Node.js library (`npm install twilio`), unmodified, against twostep:
// the same steps as twilio_flow.py. The library wants an account SID that starts with AC;
// with a twostep key, give the key's id and secret as the credentials and any AC SID as the
// accountSid option (Verify's paths carry none):
//
//   const client = twilio(keyId, keySecret, { accountSid: "AC" + "0".repeat(32) });
//   client.verify.baseUrl = "https://<your stack's ApiUrl>";
//
//   TWOSTEP_API_KEY=tsk_... NODE_PATH=.tools/node/node_modules node docs/integrations/twilio_flow.mjs
//
// Environment: TWOSTEP_URL (default http://127.0.0.1:9000), TWOSTEP_API_KEY (required),
// TWOSTEP_MOTO_URL (default http://127.0.0.1:5000), NODE_PATH (where `twilio` is installed).
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH || ".", "noop.js"));
const twilio = require("twilio");

const API = (process.env.TWOSTEP_URL || "http://127.0.0.1:9000").replace(/\/$/, "");
const MOTO = (process.env.TWOSTEP_MOTO_URL || "http://127.0.0.1:5000").replace(/\/$/, "");
const KEY = process.env.TWOSTEP_API_KEY || "";
const SERVICE_SID = "VA" + "0123456789abcdef".repeat(2);

function check(condition, message) {
  if (!condition) {
    console.error(`FAILED: ${message}`);
    process.exit(1);
  }
}

async function outbox(phone) {
  const data = await (await fetch(`${MOTO}/moto-api/data.json`)).json();
  return data.sns.SMS.filter((m) => m.phone_number === phone).map((m) => m.message);
}

async function codeFor(phone, seen) {
  for (let i = 0; i < 50; i++) {
    const texts = await outbox(phone);
    if (texts.length > seen) {
      const found = texts[texts.length - 1].match(/\b\d{6}\b/);
      check(found, `no code in ${texts[texts.length - 1]}`);
      return found[0];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  check(false, `no SMS to ${phone}`);
}

check(KEY.startsWith("tsk_"), "set TWOSTEP_API_KEY");
const [, keyId, secret] = KEY.split("_");
const client = twilio(keyId, secret, { accountSid: "AC" + "0".repeat(32) });
client.verify.baseUrl = API;
const service = client.verify.v2.services(SERVICE_SID);
const phone = `+1415555${2000 + Math.floor(Math.random() * 8000)}`;

const seen = (await outbox(phone)).length;
const v = await service.verifications.create({ to: phone, channel: "sms" });
console.log(`verifications.create -> sid=${v.sid} status=${v.status} channel=${v.channel} valid=${v.valid}`);
check(v.status === "pending" && v.sid.startsWith("VE"), `create: ${v.status}`);
check(v.dateCreated instanceof Date && !Number.isNaN(v.dateCreated.getTime()), `dateCreated: ${v.dateCreated}`);
const code = await codeFor(phone, seen);

const wrong = String((Number(code) + 1) % 1000000).padStart(6, "0");
let c = await service.verificationChecks.create({ to: phone, code: wrong });
console.log(`verificationChecks.create (wrong code) -> status=${c.status} valid=${c.valid}`);
check(c.status === "pending" && c.valid === false, `wrong: ${c.status}`);

c = await service.verificationChecks.create({ verificationSid: v.sid, code });
console.log(`verificationChecks.create (right code) -> status=${c.status} valid=${c.valid}`);
check(c.status === "approved" && c.valid === true, `right: ${c.status}`);

const f = await service.verifications(v.sid).fetch();
console.log(`verifications(sid).fetch -> status=${f.status}`);
check(f.status === "approved", `fetch: ${f.status}`);

try {
  await service.verificationChecks.create({ to: phone, code });
  check(false, "a second check of an approved code was accepted");
} catch (e) {
  console.log(`verificationChecks.create (again) -> RestException status=${e.status} code=${e.code}`);
  check(e.status === 404 && e.code === 20404, `again: ${e.status} ${e.code}`);
}

const second = await service.verifications.create({ to: `+1415555${2000 + Math.floor(Math.random() * 8000)}`, channel: "sms" });
const canceled = await service.verifications(second.sid).update({ status: "canceled" });
console.log(`verifications(sid).update({status: "canceled"}) -> status=${canceled.status}`);
check(canceled.status === "canceled", `cancel: ${canceled.status}`);
console.log("twilio (node): OK");
