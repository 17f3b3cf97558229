// A stand-in for the servers the credential helpers' tools talk to, for the kubectl and docker
// tests: HTTPS on 127.0.0.1 (client-go sends no bearer token over plain HTTP, and docker pings
// registries over https) with the certificate and key given. The manifest is a Docker schema 2
// one (what `docker manifest inspect` reads) whose config digest is that of `{}`.
//   GET /version                      the Kubernetes API: 200 with `Bearer $STANDIN_TOKEN`
//   GET /v2/, GET|HEAD /v2/…/manifests/…  a registry: 401 `WWW-Authenticate: Basic` without
//                                     credentials, 200 with Basic `oauth2:$STANDIN_TOKEN`
// Prints `PORT <n>` when ready, then one line per request: `<method> <path> <authorized|…>`
// (never a credential). Stops when stdin closes.
//   node api-standin.mjs CERT.pem KEY.pem
import { createServer } from "node:https";
import { readFileSync } from "node:fs";

const [cert, key] = process.argv.slice(2).map((p) => readFileSync(p));
const token = process.env.STANDIN_TOKEN;
const bearer = `Bearer ${token}`;
const basic = `Basic ${Buffer.from(`oauth2:${token}`).toString("base64")}`;
const manifest = JSON.stringify({
  schemaVersion: 2,
  mediaType: "application/vnd.docker.distribution.manifest.v2+json",
  config: {
    mediaType: "application/vnd.docker.container.image.v1+json",
    digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    size: 2,
  },
  layers: [],
});

const server = createServer({ cert, key }, (req, res) => {
  const path = req.url.split("?")[0];
  const auth = req.headers.authorization;
  const state = auth === bearer || auth === basic ? "authorized" : auth ? "wrong" : "anonymous";
  process.stdout.write(`${req.method} ${path} ${state}\n`);
  if (path === "/version" && req.method === "GET" && auth === bearer) {
    res.setHeader("content-type", "application/json");
    return res.end(JSON.stringify({ major: "1", minor: "32", gitVersion: "v1.32.0-keyhole" }));
  }
  if (path.startsWith("/v2/")) {
    res.setHeader("docker-distribution-api-version", "registry/2.0");
    if (auth !== basic) {
      res.statusCode = 401;
      res.setHeader("www-authenticate", 'Basic realm="keyhole-standin"');
      return res.end();
    }
    if (path === "/v2/") return res.end("{}");
    if (/^\/v2\/.+\/manifests\/[^/]+$/.test(path)) {
      res.setHeader("content-type", "application/vnd.docker.distribution.manifest.v2+json");
      res.setHeader("content-length", Buffer.byteLength(manifest));
      return res.end(req.method === "HEAD" ? undefined : manifest);
    }
    if (/^\/v2\/.+\/blobs\/sha256:44136fa3/.test(path)) {
      res.setHeader("content-type", "application/octet-stream");
      res.setHeader("content-length", 2);
      return res.end(req.method === "HEAD" ? undefined : "{}");
    }
  }
  res.statusCode = 401;
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code: 401 }));
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
