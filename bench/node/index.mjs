// The Node.js baseline of scripts/bench.sh: what twostep's send function does before its
// first request, written as a Node.js Lambda would be (AWS SDK v3): build the DynamoDB, SNS
// and SES v2 clients, read the code-hash secret from Secrets Manager, then ask the Runtime
// API for work. Each invocation answers a fixed API Gateway response.
//
// The loop speaks the Runtime API itself over node:http (keep-alive), as the Rust runtime
// crate does: no runtime interface client, which would only add to Node's start.
import http from "node:http";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SNSClient } from "@aws-sdk/client-sns";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { SecretsManagerClient, GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";

const dynamodb = new DynamoDBClient({});
const sns = new SNSClient({});
const ses = new SESv2Client({});
const secret = await new SecretsManagerClient({}).send(
  new GetSecretValueCommand({ SecretId: process.env.CODE_HASH_SECRET_ID }),
);
if (!secret.SecretString) throw new Error("the code-hash secret is not a string");
globalThis.clients = { dynamodb, sns, ses };

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const call = (method, path, body) =>
  new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path: `/2018-06-01/runtime${path}`, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });

for (;;) {
  const next = await call("GET", "/invocation/next");
  const id = next.headers["lambda-runtime-aws-request-id"];
  const answer = JSON.stringify({ statusCode: 200, headers: { "content-type": "application/json" }, body: "{}" });
  await call("POST", `/invocation/${id}/response`, answer);
}
