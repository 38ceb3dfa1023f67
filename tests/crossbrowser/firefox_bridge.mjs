// Debian's Firefox ESR, driven over WebDriver BiDi by puppeteer-core (no browser download: executablePath),
// for the Python tests in this folder. One request per line on stdin, {"id", "op", "args"}; one reply per line
// on stdout, {"id", "ok", "value"} or {"id", "ok": false, "error"}. The first line out is {"ready": version}.
//
// Usage: node firefox_bridge.mjs <web/package.json> <firefox executable>
import { createRequire } from 'node:module';
import readline from 'node:readline';

const [packageJson, executablePath] = process.argv.slice(2);
// puppeteer-core is a dev dependency of the web app: resolve it from web/node_modules.
const puppeteer = createRequire(packageJson)('puppeteer-core');

const browser = await puppeteer.launch({
  browser: 'firefox',
  executablePath,
  headless: true,
  // Generations on wasm and model downloads are long single calls; the Python side keeps its own deadline.
  protocolTimeout: 600_000,
  extraPrefsFirefox: {
    // A closed network: no update checks, telemetry or remote settings.
    'app.update.enabled': false,
    'datareporting.policy.dataSubmissionEnabled': false,
    'toolkit.telemetry.reportingpolicy.firstRun': false,
  },
});

/** @type {Map<number, {context: import('puppeteer-core').BrowserContext, page: import('puppeteer-core').Page, errors: string[]}>} */
const pages = new Map();
let nextPage = 1;

function pageOf(id) {
  const entry = pages.get(id);
  if (entry === undefined) throw new Error(`no page ${String(id)}`);
  return entry;
}

const ops = {
  // Each page in its own user context: its own storage, service workers and cookies, like a fresh profile.
  async open({ url }) {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setViewport({ width: 1280, height: 860 }); // as the Chromium canvas tests
    const errors = [];
    page.on('pageerror', (error) => errors.push(error instanceof Error ? error.message : String(error)));
    const id = nextPage++;
    pages.set(id, { context, page, errors });
    await page.goto(url, { waitUntil: 'load' });
    return id;
  },
  async evaluate({ page, expression }) {
    // The expression is a function call built by the Python side; a promise is awaited.
    return await pageOf(page).page.evaluate(expression);
  },
  async reload({ page }) {
    await pageOf(page).page.reload({ waitUntil: 'load' });
    return null;
  },
  async screenshot({ page, path }) {
    await pageOf(page).page.screenshot({ path, fullPage: true });
    return path;
  },
  async errors({ page }) {
    return pageOf(page).errors;
  },
  async close({ page }) {
    const entry = pages.get(page);
    pages.delete(page);
    await entry?.context.close();
    return null;
  },
};

function send(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

send({ ready: await browser.version() });

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const { id, op, args } = JSON.parse(line);
  const run = ops[op];
  Promise.resolve()
    .then(() => {
      if (run === undefined) throw new Error(`unknown op ${String(op)}`);
      return run(args ?? {});
    })
    .then(
      (value) => send({ id, ok: true, value: value ?? null }),
      (error) => send({ id, ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
    );
});
lines.on('close', () => {
  void browser.close().finally(() => process.exit(0));
});
