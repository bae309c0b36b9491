// GraphiQL as a person uses it, in Debian's headless Chromium, offline: every request to
// anything but the server is aborted and recorded, and the test fails if there was one.
// Signs in as the demo user alice@acme.test, runs a query, checks acme's rows, opens the
// documentation explorer, switches to globex, checks the result changed, reloads and checks
// the session was kept (and refreshed when its access token expired), signs out, pastes a
// token, and checks a wrong password's error code is shown. Run by tests/it/graphiql.rs, against a server seeded with the demo:
//
//   node tests/js/graphiql.mjs http://127.0.0.1:PORT /path/to/screenshot.png
//
// PASTE_TOKEN is a token of bob@globex.test (pasted instead of signing in); CHROMIUM (default
// /usr/bin/chromium) and DEMO_PASSWORD (default demo-password) adjust it.
import puppeteer from 'puppeteer-core';

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error('usage: node graphiql.mjs BASE_URL SCREENSHOT_PATH');
  process.exit(2);
}
const origin = new URL(base).origin;
const password = process.env.DEMO_PASSWORD || 'demo-password';
const pasteToken = process.env.PASTE_TOKEN; // a demo token of bob@globex.test
if (!pasteToken) {
  console.error('PASTE_TOKEN (a token of bob@globex.test) is not set');
  process.exit(2);
}
const QUERY = `{
  me {
    user { email }
    role
    tenant { slug }
  }
  contacts(first: 5) {
    edges { node { name company } }
  }
}`;

const outside = []; // requests that would have left the server
const problems = []; // page errors, failed same-origin requests, console errors
// The status of the refusals a step provokes (a wrong password is answered 400, as
// application/graphql-response+json; an expired token 401), else false.
let refusalExpected = false;
const step = (text) => console.log(`step: ${text}`);

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  defaultViewport: { width: 1440, height: 900 },
  args: [
    '--no-sandbox', // CI runs as root
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--disable-quic',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-default-apps',
    // Below the page too: no host but the server's resolves.
    `--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE ${new URL(base).hostname}`,
  ],
});

let page;
try {
  page = await browser.newPage();
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    const url = request.url();
    if (url.startsWith('data:') || url.startsWith('blob:') || new URL(url).origin === origin) {
      request.continue();
    } else {
      outside.push(url);
      request.abort('blockedbyclient');
    }
  });
  page.on('requestfailed', (request) => {
    if (new URL(request.url()).origin === origin) {
      problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
    }
  });
  page.on('response', (response) => {
    if (response.status() >= 400 && ![refusalExpected].flat().includes(response.status())) {
      // Signed out, GraphiQL's schema introspection is refused (401) under the default
      // introspection policy (members only): expected, not a problem.
      const anonymous = !response.request().headers()['authorization'];
      if (response.status() === 401 && anonymous && (response.request().postData() || '').includes('IntrospectionQuery')) return;
      const sent = (response.request().postData() || '').slice(0, 300);
      response.text().then(
        (text) => problems.push(`HTTP ${response.status()}: ${response.url()} ${sent} -> ${text.slice(0, 500)}`),
        () => problems.push(`HTTP ${response.status()}: ${response.url()} ${sent}`),
      );
    }
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    // A refused request is also logged by the browser; the response handler above has
    // judged every one of them already.
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) return;
    problems.push(`console error: ${message.text()}`);
  });

  // The text of GraphiQL's result pane (CodeMirror keeps all of it, shown or not).
  const result = () =>
    page.evaluate(() => {
      const cm = document.querySelector('.graphiql-response .CodeMirror');
      return cm && cm.CodeMirror ? cm.CodeMirror.getValue() : '';
    });
  // Waits until the result pane shows `needle` (the page's CSP forbids eval, so no predicates).
  const waitForResult = async (what, needle) => {
    try {
      await page.waitForFunction(
        (needle) => {
          const cm = document.querySelector('.graphiql-response .CodeMirror');
          return !!cm && !!cm.CodeMirror && cm.CodeMirror.getValue().includes(needle);
        },
        { timeout: 15000 },
        needle,
      );
    } catch (e) {
      throw new Error(`${what}; the result pane shows: ${await result()}`);
    }
    return JSON.parse(await result());
  };

  step('load /graphiql with a query in the URL');
  await page.goto(`${base}/graphiql?query=${encodeURIComponent(QUERY)}`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('.graphiql-container');
  await page.waitForSelector('#tq-signin:not([hidden])');

  step('sign in as alice@acme.test');
  await page.type('#tq-email', 'alice@acme.test');
  await page.type('#tq-password', password);
  await page.click('#tq-signin-button');
  await page.waitForSelector('#tq-session:not([hidden])');
  await page.waitForFunction(() => document.querySelectorAll('#tq-tenants option').length === 2);
  const who = await page.$eval('#tq-who', (e) => e.textContent);
  if (!who.includes('alice@acme.test') || !who.includes('OWNER')) throw new Error(`signed in as "${who}"`);
  if ((await page.$eval('#tq-tenants', (e) => e.value)) !== 'acme') throw new Error('acme is not the current tenant');
  const stored = await page.evaluate(() => window.localStorage.getItem('tenantry.graphiql.session'));
  if (!stored || !JSON.parse(stored).accessToken) throw new Error(`no token in localStorage: ${stored}`);

  step('run the query');
  await page.click('.graphiql-execute-button');
  let body = await waitForResult('acme\'s contacts never appeared', 'Ada Lovelace');
  if (body.errors) throw new Error(`errors: ${JSON.stringify(body.errors)}`);
  if (body.data.me.tenant.slug !== 'acme') throw new Error(`tenant ${body.data.me.tenant.slug}`);
  const acme = body.data.contacts.edges.map((e) => e.node.name).sort();
  console.log(`acme: ${acme.join(', ')}`);

  step('the documentation explorer shows the schema');
  await page.click('.graphiql-sidebar button[aria-label*="Documentation Explorer"]');
  await page.waitForFunction(
    () => (document.querySelector('.graphiql-doc-explorer')?.textContent || '').includes('Query'),
    { timeout: 15000 },
  );
  await page.click('.graphiql-doc-explorer a.graphiql-doc-explorer-type-name');
  await page.waitForFunction(
    () => (document.querySelector('.graphiql-doc-explorer')?.textContent || '').includes('myTenants'),
    { timeout: 15000 },
  );

  step('switch to globex: the query runs again there');
  await page.select('#tq-tenants', 'globex');
  body = await waitForResult(
    'globex\'s contacts never appeared after switching',
    'Hank Scorpio',
  );
  if (body.errors) throw new Error(`errors: ${JSON.stringify(body.errors)}`);
  if (body.data.me.tenant.slug !== 'globex') throw new Error(`tenant ${body.data.me.tenant.slug}`);
  if (body.data.me.role !== 'MEMBER') throw new Error(`role ${body.data.me.role}`);
  const globex = body.data.contacts.edges.map((e) => e.node.name).sort();
  console.log(`globex: ${globex.join(', ')}`);
  if (globex.some((name) => acme.includes(name))) throw new Error('globex shows acme\'s contacts');
  await page.waitForFunction(() => document.querySelector('#tq-who').textContent.includes('MEMBER'));
  await page.screenshot({ path: screenshot });

  step('a subscription in GraphiQL delivers what another client changes');
  await page.evaluate(() => {
    document
      .querySelector('.graphiql-query-editor .CodeMirror')
      .CodeMirror.setValue('subscription Live {\n  contactChanged { name company }\n}\n');
  });
  // GraphiQL parses the editor's text after a short debounce; run what it has parsed.
  await new Promise((resolve) => setTimeout(resolve, 800));
  await page.click('.graphiql-execute-button');
  // Let the WebSocket connect and subscribe, then change globex from another client.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const created = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${pasteToken}` },
    body: JSON.stringify({ query: 'mutation { createContact(input: {name: "Live Larry", company: "Globex"}) { id } }' }),
  }).then((r) => r.json());
  if (created.errors) throw new Error(`createContact: ${JSON.stringify(created.errors)}`);
  const live = await waitForResult('the subscription delivered nothing', 'Live Larry');
  if (live.data.contactChanged.company !== 'Globex') throw new Error(`event ${JSON.stringify(live)}`);
  console.log(`subscription: ${live.data.contactChanged.name}`);
  await page.screenshot({ path: screenshot.replace(/\.png$/, '') + '-subscription.png' });
  // Stop it (the execute button stops a running subscription).
  await page.click('.graphiql-execute-button');

  step('reload: the session is kept, still in globex');
  await page.reload({ waitUntil: 'networkidle0' });
  await page.waitForSelector('#tq-session:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#tq-tenants').value === 'globex', { timeout: 15000 });

  step('an expired access token is refreshed with the refresh token');
  await page.evaluate(() => {
    const session = JSON.parse(window.localStorage.getItem('tenantry.graphiql.session'));
    session.accessToken = 'expired';
    window.localStorage.setItem('tenantry.graphiql.session', JSON.stringify(session));
  });
  refusalExpected = 401; // the expired token's first answers
  await page.reload({ waitUntil: 'networkidle0' });
  await page.waitForFunction(() => document.querySelector('#tq-who').textContent.includes('MEMBER'), { timeout: 15000 });
  refusalExpected = false;
  const refreshed = await page.evaluate(() => JSON.parse(window.localStorage.getItem('tenantry.graphiql.session')));
  if (refreshed.accessToken === 'expired') throw new Error('the access token was not refreshed');
  if ((await page.$eval('#tq-tenants', (e) => e.value)) !== 'globex') throw new Error('no longer in globex after refreshing');

  step('sign out');
  await page.click('#tq-signout');
  await page.waitForSelector('#tq-signin:not([hidden])');
  const after = await page.evaluate(() => window.localStorage.getItem('tenantry.graphiql.session'));
  if (after) throw new Error('the session is still stored after signing out');
  // The logout request is sent without waiting; let it finish before closing.
  await page.waitForNetworkIdle({ idleTime: 200, timeout: 5000 });

  step('a pasted token signs in too');
  await page.type('#tq-token', pasteToken);
  await page.click('#tq-use-token');
  await page.waitForSelector('#tq-session:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#tq-who').textContent.includes('bob@globex.test · OWNER'), { timeout: 15000 });
  // The tenant list arrives after `me`: wait for it rather than racing it.
  await page
    .waitForFunction(() => document.querySelector('#tq-tenants').value === 'globex', { timeout: 15000 })
    .catch(() => { throw new Error('the pasted token is not in globex'); });
  await page.click('#tq-signout');
  await page.waitForSelector('#tq-signin:not([hidden])');

  step('a wrong password is refused, with the error code shown');
  refusalExpected = 400;
  await page.type('#tq-email', 'alice@acme.test');
  await page.type('#tq-password', 'wrong-password');
  await page.click('#tq-signin-button');
  await page.waitForFunction(() => document.querySelector('#tq-message').textContent.includes('UNAUTHENTICATED'));
} catch (error) {
  if (page) await page.screenshot({ path: screenshot.replace(/\.png$/, '') + '-failed.png' }).catch(() => {});
  console.error(`graphiql: FAILED: ${error.stack || error}`);
  if (outside.length) console.error(`requests outside the server: ${outside.join(' ')}`);
  if (problems.length) console.error(problems.join('\n'));
  await browser.close();
  process.exit(1);
}
await browser.close();

if (outside.length) {
  console.error(`graphiql: FAILED: requests outside the server: ${outside.join(' ')}`);
  process.exit(1);
}
if (problems.length) {
  console.error(`graphiql: FAILED:\n${problems.join('\n')}`);
  process.exit(1);
}
console.log('graphiql: ok (no request left the server)');
