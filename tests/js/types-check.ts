// Compiled (never run) by types.test.mjs: the package's TypeScript declarations describe the API
// a TypeScript host writes against. A wrong shape here fails the type check.
import { DeviceLogin, Machine, type AccountValue, type Input, type Output } from "../../target/js/keyhole-core/node/keyhole.js";
import { drive, fetchIo, KeyholeError, MemoryStore } from "../../target/js/keyhole-core/driver.mjs";

const login = new DeviceLogin({ client: { client_id: "cli" } }, Date.now());
const start: Input = { type: "start" };
login.handleInput(Date.now(), start);
const output: Output = login.pollOutput();
if (output.type === "wait") {
  const until: number | null = output.until_ms;
  void until;
} else if (output.type === "send") {
  const pairs: [string, string][] = output.headers;
  void pairs;
}
const browser = new Machine("browser_login", {}, 0, new Uint8Array(48));
drive(browser, fetchIo({ store: new MemoryStore() })).catch((e: unknown) => {
  if (e instanceof KeyholeError) console.error(e.code);
});
const account = new Machine("account_call", {}, 0);
drive(account, fetchIo({ store: new MemoryStore() })).then((value) => {
  const result = value as AccountValue;
  if (result.operation === "create_key") {
    const key: string = result.key;
    void key;
  } else if (result.operation === "list_projects") {
    const name: string | null | undefined = result.projects[0]?.name;
    void name;
  }
});
const sent: Output = account.pollOutput();
if (sent.type === "send" && sent.json !== undefined) {
  const text: string = sent.json;
  void text;
}
// @ts-expect-error: not a machine kind
new Machine("kerberos", {}, 0);
