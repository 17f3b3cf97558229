// The JS hosts' I/O against a real local HTTP server (in a child process: the component's imports
// block this thread): redirects are never followed, the size cap holds, transport failures map to
// their kinds; and the loopback callback listener of the component host.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";

import { fetchSend } from "../../js/driver.mjs";
import { keyholeImports } from "../../js/host/imports.mjs";
import { freePort } from "./support.mjs";

const SERVER = `
  const http = require("http");
  http.createServer((req, res) => {
    if (req.url === "/redirect") { res.writeHead(302, { location: "http://127.0.0.1:1/elsewhere" }); return res.end(); }
    if (req.url === "/big") { res.writeHead(200); return res.end("x".repeat(5000)); }
    if (req.url === "/binary") { res.writeHead(200); return res.end(Buffer.from([0xff, 0xfe, 0x00])); }
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => { res.writeHead(200, { "X-Echo": "yes" }); res.end(JSON.stringify({ method: req.method, type: req.headers["content-type"] ?? null, body })); });
  }).listen(0, "127.0.0.1", function () { console.log(this.address().port); });`;

let server;
let base;
before(async () => {
  server = spawn(process.execPath, ["-e", SERVER], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve) => server.stdout.once("data", (d) => resolve(Number(String(d).trim()))));
  base = `http://127.0.0.1:${port}`;
});
after(() => server?.kill());

const request = (path, extra = {}) => ({ type: "send", method: "GET", url: `${base}${path}`, headers: [], max_response_bytes: 1000, ...extra });

describe("the driver's fetchSend", () => {
  test("a form POST arrives encoded, with its content-type; headers come back lower-cased", async () => {
    const answer = await fetchSend(request("/echo", { method: "POST", form: [["grant_type", "x y"], ["a", "é"]] }));
    assert.equal(answer.type, "response");
    assert.equal(answer.status, 200);
    assert.equal(answer.headers["x-echo"], "yes");
    assert.deepEqual(JSON.parse(answer.body), { method: "POST", type: "application/x-www-form-urlencoded", body: "grant_type=x+y&a=%C3%A9" });
  });

  test("a JSON body (account calls) arrives as sent, with its content-type; DELETE goes out as DELETE", async () => {
    const answer = await fetchSend(request("/echo", { method: "POST", json: '{"name":"ci"}' }));
    assert.deepEqual(JSON.parse(answer.body), { method: "POST", type: "application/json", body: '{"name":"ci"}' });
    const deleted = await fetchSend(request("/echo", { method: "DELETE" }));
    assert.deepEqual(JSON.parse(deleted.body), { method: "DELETE", type: null, body: "" });
  });

  test("a redirect is answered as the 3xx itself, never followed", async () => {
    const answer = await fetchSend(request("/redirect"));
    assert.equal(answer.status, 302);
    assert.equal(answer.headers.location, "http://127.0.0.1:1/elsewhere");
  });

  test("a body over max_response_bytes is a too_large transport error", async () => {
    assert.equal((await fetchSend(request("/big"))).error, "too_large");
    assert.equal((await fetchSend(request("/big", { max_response_bytes: 5000 }))).body.length, 5000);
  });

  test("a body that is not UTF-8 comes as body_base64", async () => {
    assert.equal((await fetchSend(request("/binary"))).body_base64, "//4A");
  });

  test("nobody listening is a connect transport error", async () => {
    const answer = await fetchSend({ ...request("/"), url: `http://127.0.0.1:${await freePort()}/` });
    assert.equal(answer.type, "transport_failed");
    assert.equal(answer.error, "connect");
  });
});

describe("the component's http and host imports", () => {
  const imports = keyholeImports();
  const witRequest = (path, extra = {}) => ({
    method: "get",
    url: `${base}${path}`,
    headers: [],
    body: new Uint8Array(),
    maxResponseBytes: 1000n,
    redirectPolicy: { tag: "no-follow" },
    ...extra,
  });

  test("send: a POST body goes out as given; the answer is a WIT response", () => {
    const body = new TextEncoder().encode("a=1");
    const response = imports.http.send(witRequest("/echo", { method: "post", headers: [["content-type", "application/x-www-form-urlencoded"]], body }));
    assert.equal(response.status, 200);
    assert.ok(response.headers.some(([n, v]) => n === "x-echo" && v === "yes"));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(response.body)), { method: "POST", type: "application/x-www-form-urlencoded", body: "a=1" });
  });

  test("send: redirects come back as 3xx; asking to follow them is refused", () => {
    assert.equal(imports.http.send(witRequest("/redirect")).status, 302);
    assert.throws(() => imports.http.send(witRequest("/redirect", { redirectPolicy: { tag: "follow-limit", val: 3 } })), (e) => e.payload?.tag === "other");
  });

  test("send: the size cap and transport errors are WIT errors, not traps", async () => {
    assert.throws(() => imports.http.send(witRequest("/big")), (e) => e.payload?.tag === "too-large");
    const port = await freePort();
    assert.throws(() => imports.http.send({ ...witRequest("/"), url: `http://127.0.0.1:${port}/` }), (e) => e.payload?.tag === "connect");
  });

  test("host: time, sleep, random bytes", () => {
    const before = Date.now();
    const now = imports.host.nowMs();
    assert.equal(typeof now, "bigint");
    assert.ok(now >= BigInt(before));
    const started = Date.now();
    imports.host.sleep(50n);
    assert.ok(Date.now() - started >= 45);
    const bytes = imports.host.randomBytes(70000);
    assert.equal(bytes.length, 70000);
    assert.ok(new Set(bytes.subarray(65536)).size > 100, "the bytes past the first 64 KiB are random too");
  });

  test("host: each loopback request is held until the flow's verdict, also one that arrives between calls", async () => {
    const port = await freePort();
    assert.equal(imports.host.waitCallback(port, 100n), undefined, "a timeout is none");
    // Another process (a forger, then the browser) hits the listener while nobody is waiting...
    const get = (path) => `fetch("http://127.0.0.1:${port}${path}").then(async (r) => [r.status, await r.text()])`;
    const script = `(async () => console.log(JSON.stringify([await ${get("/callback?code=x&state=wrong")}, await ${get("/callback?code=c&state=s")}])))()`;
    const browser = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    browser.stdout.on("data", (d) => (out += d));
    const exited = new Promise((resolve) => browser.once("exit", resolve));
    imports.host.sleep(500n);
    // ...the next call still gets each request, and only the verdict answers it.
    assert.equal(imports.host.waitCallback(port, 5000n), "/callback?code=x&state=wrong");
    imports.host.answerCallback(port, "rejected");
    assert.equal(imports.host.waitCallback(port, 5000n), "/callback?code=c&state=s");
    imports.host.answerCallback(port, "accepted");
    await exited;
    const [[wrongStatus, wrongPage], [status, page]] = JSON.parse(out);
    assert.equal(wrongStatus, 400);
    assert.doesNotMatch(wrongPage, /received/i);
    assert.match(wrongPage, /still waiting/);
    assert.equal(status, 200);
    assert.match(page, /Login received/);
  });
});
