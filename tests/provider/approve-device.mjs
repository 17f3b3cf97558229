// Approve (or deny) a device-flow user code on the test provider the way a person would in a
// browser, with plain HTTP and a cookie jar: the verification page, the code form, the dev login
// form, the consent form.
//
//   node approve-device.mjs --issuer URL --user-code CODE [--login NAME] [--deny]
//
// Prints one JSON line: {"ok":true,"outcome":"approved"|"denied","login":…} and exits 0, or
// {"ok":false,"error":…} on stderr and exits 1.

const MAX_STEPS = 20;

class CookieJar {
  #cookies = new Map();

  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/;\s*expires=Thu, 01 Jan 1970/iu.test(line) || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header() {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

const decodeHtml = (text) => text
  .replace(/&quot;/gu, '"').replace(/&#39;/gu, "'").replace(/&#x2F;/giu, '/')
  .replace(/&lt;/gu, '<').replace(/&gt;/gu, '>').replace(/&amp;/gu, '&');

function hiddenInput(html, name) {
  const re = new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`, 'u');
  const alt = new RegExp(`<input[^>]*value="([^"]*)"[^>]*name="${name}"`, 'u');
  const match = re.exec(html) ?? alt.exec(html);
  return match ? decodeHtml(match[1]) : undefined;
}

function formAction(html) {
  const match = /<form[^>]*action="([^"]*)"/u.exec(html);
  return match ? decodeHtml(match[1]) : undefined;
}

class Browser {
  constructor(origin) {
    this.origin = origin;
    this.jar = new CookieJar();
  }

  // One request, then follow redirects (bounded) keeping cookies; returns the final page.
  async request(url, { method = 'GET', form } = {}) {
    let target = new URL(url, this.origin).href;
    let init = { method, body: form ? new URLSearchParams(form).toString() : undefined };
    for (let hop = 0; hop < MAX_STEPS; hop += 1) {
      const headers = { cookie: this.jar.header() };
      if (init.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
      const response = await fetch(target, {
        ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(10_000),
      });
      this.jar.store(response);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        target = new URL(location, target).href;
        if (!target.startsWith(this.origin)) {
          throw new Error(`redirected away from the provider to ${target}`);
        }
        init = { method: 'GET', body: undefined };
        continue;
      }
      return { url: target, status: response.status, html: await response.text() };
    }
    throw new Error(`more than ${MAX_STEPS} redirects`);
  }
}

export async function approveDevice({
  issuer, userCode, login = 'alice', deny = false,
}) {
  const origin = new URL(issuer).origin;
  const browser = new Browser(origin);
  const page = await browser.request(`${issuer}/device`);
  const xsrf = hiddenInput(page.html, 'xsrf');
  if (!xsrf) throw new Error(`no xsrf field on the verification page (status ${page.status})`);

  const decision = deny ? { abort: 'yes' } : { confirm: 'yes' };
  let current = await browser.request(formAction(page.html) ?? '/device', {
    method: 'POST', form: { xsrf, user_code: userCode, ...decision },
  });
  if (deny) {
    if (!/interrupted|aborted/iu.test(current.html)) {
      throw new Error(`denial was not acknowledged (status ${current.status})`);
    }
    return { ok: true, outcome: 'denied', login };
  }

  for (let step = 0; step < MAX_STEPS; step += 1) {
    const prompt = hiddenInput(current.html, 'prompt');
    if (prompt === 'login') {
      current = await browser.request(formAction(current.html), {
        method: 'POST', form: { prompt: 'login', login, password: 'any-password' },
      });
    } else if (prompt === 'consent') {
      current = await browser.request(formAction(current.html), {
        method: 'POST', form: { prompt: 'consent' },
      });
    } else if (/Sign-in Success|successfully/iu.test(current.html)) {
      return { ok: true, outcome: 'approved', login };
    } else {
      const error = /<pre id="error">([^<]*)<\/pre>/u.exec(current.html);
      throw new Error(`unexpected page at ${current.url} (status ${current.status})${error ? `: ${error[1]}` : ''}`);
    }
  }
  throw new Error(`approval did not finish within ${MAX_STEPS} steps`);
}

function parseArgs(argv) {
  const args = { login: 'alice', deny: false };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--deny') args.deny = true;
    else if (arg === '--issuer') args.issuer = argv[(i += 1)];
    else if (arg === '--user-code') args.userCode = argv[(i += 1)];
    else if (arg === '--login') args.login = argv[(i += 1)];
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!args.issuer || !args.userCode) throw new Error('usage: approve-device.mjs --issuer URL --user-code CODE [--login NAME] [--deny]');
  return args;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const result = await approveDevice(parseArgs(process.argv.slice(2)));
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (error) {
    process.stderr.write(`${JSON.stringify({ ok: false, error: String(error.message ?? error) })}\n`);
    process.exit(1);
  }
}
