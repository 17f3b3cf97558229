// The component's `operations` export (world `client`) as one method per operation, for Node
//
// The WIT resource `operations.remote-client` takes the remote once and has one method per
// operation; this keeps the positional arguments of the JS API the component's earlier hosts used
// (`loginBrowser(accountHint, port, timeoutS)`) and frees the resource on `Symbol.dispose`:
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

  /** Device login; the prompt goes to the host's `showPrompt` */
  loginDevice(accountHint) {
    return this.#resource.loginDevice(accountHint);
  }

  /** Browser login with the redirect to http://127.0.0.1:`port`/callback, waited for `timeoutS` (BigInt) seconds */
  loginBrowser(accountHint, port, timeoutS) {
    return this.#resource.loginBrowser({ accountHint, port, timeoutS });
  }

  /** Stores an API key (checked first when the remote has a key check) */
  loginApiKey(key) {
    return this.#resource.loginApiKey(key);
  }

  /** Replaces only the API key of `account` */
  setKey(account, key) {
    return this.#resource.setKey(account, key);
  }

  /** A usable credential, refreshed first when (nearly) expired */
  token(account, options) {
    return this.#resource.token(account, options);
  }

  /** The account's login state from the store alone */
  status(account, options) {
    return this.#resource.status(account, options);
  }

  /** Revokes the account's tokens at the provider, then deletes the local record */
  logout(account) {
    return this.#resource.logout(account);
  }

  /** Deletes the account's local record without contacting the provider */
  forget(account) {
    this.#resource.forget(account);
  }

  /**
   * One call to the remote's account API with `account`'s credential (the WIT `account-call`):
   * `operation` is an `account-operation` such as `{ tag: "whoami", val: { method: "get", path:
   * "me", label: ["/email"] } }`; returns the `account-value` (server JSON as JSON text)
   */
  accountCall(account, options, operation) {
    return this.#resource.accountCall(account, options, operation);
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
