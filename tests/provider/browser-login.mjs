// Drive a login in real headless Chromium (Debian's /usr/bin/chromium through playwright-core).
// Given an authorization URL: fill the provider's dev login form, consent, and let the final redirect
// reach the CLI's loopback callback. Given a device verification URL: confirm the code, log in and
// consent until the provider says "Sign-in Success".
//
//   node browser-login.mjs URL [--login NAME] [--deny]
//
// The CLI under test opens the browser as `$BROWSER <url>`; tests/support/browser points BROWSER here.
// Environment: KEYHOLE_E2E_LOGIN (default alice), KEYHOLE_E2E_DENY=1 (abort at consent),
// KEYHOLE_E2E_BROWSER_LOG (append a JSON line per run: url, outcome, final page), CHROMIUM (path).
// Exit 0 when the redirect reached a 127.0.0.1 callback or the device code was approved, 1 otherwise.

import { appendFileSync } from 'node:fs';

import { chromium } from 'playwright-core';

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-default-apps', '--disable-extensions', '--no-default-browser-check',
  '--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider',
];

const STEP_TIMEOUT_MS = 15_000;

function parseArgs(argv) {
  const args = {
    login: process.env.KEYHOLE_E2E_LOGIN || 'alice',
    deny: process.env.KEYHOLE_E2E_DENY === '1',
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--login') args.login = argv[(i += 1)];
    else if (arg === '--deny') args.deny = true;
    else if (!args.url) args.url = arg;
    else throw new Error(`unexpected argument ${arg}`);
  }
  if (!args.url) throw new Error('usage: browser-login.mjs URL [--login NAME] [--deny]');
  return args;
}

const isLoopbackCallback = (url) => {
  try {
    const parsed = new URL(url);
    return parsed.hostname === '127.0.0.1' && parsed.pathname === '/callback';
  } catch {
    return false;
  }
};

export async function browserLogin({ url, login = 'alice', deny = false }) {
  const issuerOrigin = new URL(url).origin;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: STEP_TIMEOUT_MS,
  });
  try {
    const context = await browser.newContext();
    // Only the provider and the loopback callback: nothing else may leave this machine.
    await context.route('**/*', (route) => {
      const target = new URL(route.request().url());
      if (target.origin === issuerOrigin || target.hostname === '127.0.0.1') return route.continue();
      return route.abort('blockedbyclient');
    });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    let callbackUrl = null;
    page.on('request', (request) => {
      if (request.isNavigationRequest() && isLoopbackCallback(request.url())) callbackUrl = request.url();
    });

    await page.goto(url, { waitUntil: 'domcontentloaded' });
    let deviceSuccess = false;
    // Every page this flow can be on; each step first waits until one of them is there, so a page
    // still loading between two navigations is not mistaken for the end of the flow (seen once on
    // a loaded CI machine: the loop stopped on the confirmation page it had not yet recognised).
    const known = page.locator([
      'form[id="op.deviceInputForm"]', 'form[id="op.deviceConfirmForm"]', 'input[name="login"]',
      'input[name="prompt"][value="consent"]', ':text("Sign-in Success")',
    ].join(', ')).first();
    for (let step = 0; step < 8 && !callbackUrl; step += 1) {
      const submit = (selector) => Promise.all([
        page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click(selector),
      ]);
      // A callback page (127.0.0.1) or an error page matches none of them: stop waiting then.
      await known.waitFor({ timeout: 5_000 }).catch(() => {});
      if (callbackUrl) break;
      if (await page.getByText('Sign-in Success').count()) {
        deviceSuccess = true;
        break;
      } else if (await page.locator('form[id="op.deviceInputForm"]').count()) {
        // The device verification page (the code is filled in from verification_uri_complete).
        await submit('button[form="op.deviceInputForm"]');
      } else if (await page.locator('form[id="op.deviceConfirmForm"]').count()) {
        await submit(deny ? 'button[name="abort"]' : 'button[autofocus][form="op.deviceConfirmForm"]');
      } else if (await page.locator('input[name="login"]').count()) {
        await page.fill('input[name="login"]', login);
        await page.fill('input[name="password"]', 'any-password');
        await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('button[type="submit"]')]);
      } else if (await page.locator('input[name="prompt"][value="consent"]').count()) {
        if (deny) {
          await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('a[href*="/abort"]')]);
        } else {
          await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('button[type="submit"]')]);
        }
      } else {
        break;
      }
    }
    const finalText = (await page.locator('body').innerText().catch(() => '')).slice(0, 500);
    return {
      ok: Boolean(callbackUrl) || deviceSuccess,
      callback_reached: Boolean(callbackUrl),
      device_approved: deviceSuccess,
      final_url: page.url(),
      final_text: finalText,
    };
  } finally {
    await browser.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let result;
  try {
    const args = parseArgs(process.argv.slice(2));
    result = { url: args.url, ...(await browserLogin(args)) };
  } catch (error) {
    result = { ok: false, error: String(error.message ?? error) };
  }
  if (process.env.KEYHOLE_E2E_BROWSER_LOG) {
    appendFileSync(process.env.KEYHOLE_E2E_BROWSER_LOG, `${JSON.stringify(result)}\n`);
  }
  process.stderr.write(`browser-login: ${JSON.stringify(result)}\n`);
  process.exit(result.ok ? 0 : 1);
}
