// A consumer test in another language: Node's built-in test runner and global fetch drive
// langdock-mock over HTTP only (no Python in the test itself).
//
//   node --test                         # starts `python3 -m mockserver serve` on a free port
//   LANGDOCK_MOCK_URL=http://127.0.0.1:8080 node --test   # or uses a running server / container
//
// PYTHON names the interpreter that has langdock-mock installed (default: python3);
// LANGDOCK_MOCK_ADMIN_TOKEN is sent to /__admin when the server requires one.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import { after, before, beforeEach, test } from "node:test";

const KEY = process.env.LANGDOCK_API_KEY ?? "sk-ld-mock";
const COMPLETIONS = "/assistant/v1/chat/completions";
let baseUrl = process.env.LANGDOCK_MOCK_URL;
let server;

async function freePort() {
  const probe = net.createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address();
  probe.close();
  await once(probe, "close");
  return port;
}

async function startServer() {
  const port = await freePort();
  const python = process.env.PYTHON ?? "python3";
  server = spawn(python, ["-m", "mockserver", "serve", "--port", String(port)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  // `serve` prints one line with the URL and the key once it is listening.
  await new Promise((resolve, reject) => {
    server.stdout.on("data", (chunk) => {
      if (String(chunk).includes("listening on")) resolve();
    });
    server.once("exit", (code) => reject(new Error(`langdock-mock exited with ${code}`)));
  });
  return `http://127.0.0.1:${port}`;
}

async function call(method, path, body, key = KEY) {
  const response = await fetch(baseUrl + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

// With LANGDOCK_MOCK_ADMIN_TOKEN set (shared networks), the admin API wants it instead of a key.
const ADMIN_KEY = process.env.LANGDOCK_MOCK_ADMIN_TOKEN || KEY;
const admin = (method, path, body) => call(method, `/__admin${path}`, body, ADMIN_KEY);

// What a client of the Assistants API sends: an inline assistant and one user message.
const ask = (content, key) =>
  call(
    "POST",
    COMPLETIONS,
    {
      assistant: { name: "Node client", instructions: "Answer briefly." },
      messages: [{ role: "user", content }],
    },
    key,
  );

before(async () => {
  baseUrl ??= await startServer();
});

after(async () => {
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    const [code] = await once(server, "exit");
    assert.equal(code, 0, "SIGTERM stops the server cleanly");
  }
});

beforeEach(async () => {
  assert.equal((await admin("POST", "/reset")).status, 200);
});

test("a key without the AGENT_API scope is refused with 403", async () => {
  const created = await admin("POST", "/keys", { scopes: ["KNOWLEDGE_FOLDER_API"] });
  assert.equal(created.status, 201);
  const answer = await ask("Hello", created.body.key);
  assert.equal(answer.status, 403);
  assert.match(answer.body.message, /AGENT_API/);
});

test("a scripted reply is what the assistant says", async () => {
  const text = "Scripted answer for the Node client";
  assert.equal((await admin("POST", "/replies", { text, match: { contains: "status" } })).status, 201);
  const answer = await ask("What is the status?");
  assert.equal(answer.status, 200);
  assert.equal(answer.body.result.at(-1).content[0].text, text);
  assert.deepEqual((await admin("GET", "/replies")).body.replies, []); // consumed
});

test("the workspace's rate limit answers 429", async () => {
  const limits = await admin("PUT", "/limits", { workspace: "default", rpm: 1 });
  assert.equal(limits.status, 200);
  assert.equal((await ask("first")).status, 200);
  const refused = await ask("second");
  assert.equal(refused.status, 429);
  assert.match(refused.body.message, /Rate limit exceeded/);
});

test("an injected 503 reaches the client once, then the service recovers", async () => {
  const rule = { match: { path: COMPLETIONS }, action: { status: 503 }, times: 1 };
  const added = await admin("POST", "/faults", rule);
  assert.equal(added.status, 201);
  const failed = await ask("Hello");
  assert.equal(failed.status, 503);
  assert.deepEqual(failed.body, { message: "Service Unavailable" });
  assert.equal((await ask("Hello again")).status, 200);
  const journal = await admin("GET", `/requests?path=${encodeURIComponent(COMPLETIONS)}`);
  assert.deepEqual(
    journal.body.requests.map((entry) => entry.status),
    [503, 200],
  );
});
