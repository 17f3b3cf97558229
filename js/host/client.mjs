// The component's `operations` export (world `client`) as one method per operation, for Node
//
// The WIT resource `operations.remote-client` takes the remote once and runs every operation but
// `test` through one `run(operation)` (one exported function keeps the component small, see the
// WIT). This wraps it back into typed calls:
//
//   const keyhole = await loadComponent(dir, { secrets: new FileSecrets(path) });
//   const work = remoteClient(keyhole, remote);
//   const login = work.loginDevice(undefined);
//   const token = work.token(login.account, { prefer: "oauth", envApiKey: undefined });
//
// Values are jco's (records in camelCase, u64 as BigInt, options as value-or-undefined). A failed
// operation throws jco's error whose `payload` is the WIT `auth-error` (`test`: `test-failure`).

// jco's resources free their state in the component on this symbol (and when garbage collected).
const dispose = Symbol.dispose ?? Symbol.for("dispose");

/** The operations on `remote` (the WIT `operations.remote` record) in an instantiated component */
export function remoteClient(keyhole, remote) {
  if (!keyhole.operations) {
    throw new Error("keyhole: the component exports no `operations` interface (it is built for the `machines` world, not `client`)");
  }
  return new RemoteClient(new keyhole.operations.RemoteClient(remote));
}

class RemoteClient {
  #resource;

  constructor(resource) {
    this.#resource = resource;
  }

  /** Runs `operation` and returns the value of the outcome case `expected` */
  #run(tag, val, expected) {
    const outcome = this.#resource.run({ tag, val });
    if (outcome.tag !== expected) {
      throw new Error(`keyhole: the component answered \`${tag}\` with a \`${outcome.tag}\` outcome instead of \`${expected}\``);
    }
    return outcome.val;
  }

  /** Device login; the prompt goes to the host's `showPrompt` */
  loginDevice(accountHint) {
    return this.#run("login-device", accountHint, "login");
  }

  /** Browser login with the redirect to http://127.0.0.1:`port`/callback, waited for `timeoutS` (BigInt) seconds */
  loginBrowser(accountHint, port, timeoutS) {
    return this.#run("login-browser", { accountHint, port, timeoutS }, "login");
  }

  /** Stores an API key (checked first when the remote has a key check) */
  loginApiKey(key) {
    return this.#run("login-api-key", key, "login");
  }

  /** Replaces only the API key of `account` */
  setKey(account, key) {
    return this.#run("set-key", { account, key }, "login");
  }

  /** A usable credential, refreshed first when (nearly) expired */
  token(account, options) {
    return this.#run("token", { account, options }, "credential");
  }

  /** The account's login state from the store alone */
  status(account, options) {
    return this.#run("status", { account, options }, "status");
  }

  /** Revokes the account's tokens at the provider, then deletes the local record */
  logout(account) {
    return this.#run("logout", account, "logout");
  }

  /** Deletes the account's local record without contacting the provider */
  forget(account) {
    this.#run("forget", account, "forgotten");
  }

  /**
   * One call to the remote's account API with `account`'s credential (the WIT `account-call`):
   * `operation` is an `account-operation` such as `{ tag: "whoami", val: { method: "get", path:
   * "me", label: ["/email"] } }`; returns the `account-value` (server JSON as JSON text)
   */
  accountCall(account, options, operation) {
    return this.#run("account-call", { account, options, operation }, "account");
  }

  /** Checks a credential; a failure's `payload` keeps the check's URL, status and time */
  test(account, options) {
    return this.#resource.test(account, options);
  }

  /** Frees the remote's state in the component now rather than when garbage collected */
  [dispose]() {
    this.#resource[dispose]?.();
  }
}
