// Drives serin's dashboard in Debian's headless Chromium for crates/serin/tests/dashboard.rs,
// which starts the server and the scenario and passes what this script needs in the
// environment. `node drive.mjs seed` checks the seed's canary at step 1, promotes and aborts by
// clicking, compares the routes page with `serin get traefikservices` and takes screenshots;
// `node drive.mjs bluegreen` reads a paused blue-green rollout (active and preview Services,
// its stages) and promotes it; `node drive.mjs hundred` measures the rollouts page with 100
// rollouts. The last line printed
// is a JSON object of measured figures; any failed check exits non-zero with the reason.

import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (this script is run by crates/serin/tests/dashboard.rs)`);
  return value;
};
const UI = env('SERIN_UI');
const TOKEN = env('SERIN_TOKEN');
const TIMEOUT = 60_000;
const figures = {};
const problems = [];

function check(condition, message) {
  if (!condition) throw new Error(message);
}

function serin(...args) {
  return execFileSync(env('SERIN_BIN'), args, { env: process.env, encoding: 'utf8' });
}

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1], n: sorted.length };
}

async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

async function newPage(browser, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  // A CSP violation, a script error or a failed request is a failure of the page.
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e}`));
  return page;
}

// Page loads, each a fresh document: `navigation` is the browser's own measure, from the start
// of the navigation to the page's data drawn (the page records it); `wall` is seen from here,
// from asking for the page to `ready` being visible (it adds the driver's round trips).
async function loadTimes(page, url, ready, times = 7) {
  const navigation = [], wall = [];
  await page.goto(url.replace('/ui/#', '/ui/?load=warm-up#'));
  await page.locator(ready).first().waitFor();
  for (let i = 0; i < times; i++) {
    const started = Date.now();
    await page.goto(url.replace('/ui/#', `/ui/?load=${i}#`), { waitUntil: 'commit' });
    await page.locator(ready).first().waitFor();
    wall.push(Date.now() - started);
    navigation.push(Number(await page.locator('#main').getAttribute('data-loaded-ms')));
  }
  return { navigation: stats(navigation), wall: stats(wall) };
}

async function waitText(locator, text, what) {
  try {
    await locator.filter({ hasText: text }).first().waitFor({ timeout: TIMEOUT });
  } catch (e) {
    const seen = await locator.allInnerTexts().catch(() => []);
    throw new Error(`${what}: expected ${JSON.stringify(text)}, page shows ${JSON.stringify(seen)}`);
  }
}

async function signIn(page) {
  await page.goto(`${UI}#/rollouts`);
  await page.locator('#session summary').click();
  await page.locator('#token').fill(TOKEN);
  await page.keyboard.press('Enter');
  await page.getByText('Commands enabled').waitFor();
}

// The routes page shows, for every TraefikService, the weights `serin get` reports.
async function routesMatchCli(page, expected) {
  const listed = JSON.parse(serin('get', 'traefikservices', '-A', '-o', 'json')).items;
  check(listed.length > 0, 'serin get traefikservices lists nothing');
  for (const ts of listed) {
    const id = `${ts.apiVersion.split('/')[0]}/${ts.metadata.namespace}/${ts.metadata.name}`;
    for (const service of ts.spec.weighted.services) {
      check(service.weight === expected[service.name], `${id} ${service.name}: serin get says ${service.weight}, expected ${expected[service.name]}`);
      const cell = page.locator(`[data-traefik-service="${id}"] tr[data-service="${service.name}"] [data-field=weight]`);
      await waitText(cell, new RegExp(`^${service.weight}$`), `routes page weight of ${service.name} in ${id}`);
    }
  }
  return listed.length;
}

async function seed() {
  const shots = env('SCREENSHOTS');
  mkdirSync(shots, { recursive: true });
  const browser = await launch();
  const page = await newPage(browser);

  // Read-only: the rollouts page at step 1, and no commands anywhere.
  await page.goto(`${UI}#/rollouts`);
  const row = page.locator('tr[data-rollout="default/canary-rollout"]');
  await waitText(row.locator('[data-field=phase]'), 'Paused', 'rollouts page status');
  await waitText(row.locator('[data-field=step]'), '1/7', 'rollouts page step');
  await waitText(row.locator('[data-field=actual-weight]'), /^10$/, 'rollouts page actual weight');
  await waitText(row.locator('[data-field=ready]'), /^1[01]\/10$/, 'rollouts page ready');
  await page.getByText('Read-only').first().waitFor();
  await row.getByRole('link', { name: 'canary-rollout' }).click();
  await waitText(page.locator('[data-field=step]'), '1/7', 'rollout page step');
  await page.locator('.readonly').waitFor();
  check(await page.getByRole('button', { name: 'Promote' }).count() === 0, 'a Promote button is shown without the token');
  check(await page.getByRole('button', { name: 'Abort' }).count() === 0, 'an Abort button is shown without the token');
  await waitText(page.locator('[data-field=pause]'), 'resumes in', 'pause countdown');
  const beforeTick = await page.locator('[data-field=pause] [data-ends]').innerText();
  await page.waitForTimeout(2100);
  check(await page.locator('[data-field=pause] [data-ends]').innerText() !== beforeTick, `the pause countdown does not move (${beforeTick})`);

  figures.loadMs = {
    rollouts: await loadTimes(page, `${UI}#/rollouts`, 'tr[data-rollout="default/canary-rollout"]'),
    rollout: await loadTimes(page, `${UI}#/rollouts/default/canary-rollout`, 'article.revision.canary tr[data-pod]'),
    routes: await loadTimes(page, `${UI}#/routes`, '[data-traefik-service] tr[data-service]'),
    applications: await loadTimes(page, `${UI}#/applications`, '[data-application] [data-field=sync]'),
  };

  // With the token: commands shown; screenshots of every page at step 1.
  await signIn(page);
  await page.goto(`${UI}#/rollouts/default/canary-rollout`);
  await page.getByRole('button', { name: 'Promote', exact: true }).waitFor();
  await page.locator('.chart strong').filter({ hasText: /^[0-9.]+$/ }).first().waitFor();
  await page.screenshot({ path: join(shots, 'rollout.png'), fullPage: true });
  await page.goto(`${UI}#/rollouts`);
  await waitText(row.locator('[data-field=step]'), '1/7', 'rollouts page step');
  await page.screenshot({ path: join(shots, 'rollouts.png'), fullPage: true });
  await page.goto(`${UI}#/routes`);
  figures.traefikServicesCompared = await routesMatchCli(page, { 'canary-active': 10, 'canary-preview': 90 });
  await page.screenshot({ path: join(shots, 'routes.png'), fullPage: true });
  await page.goto(`${UI}#/applications`);
  const app = page.locator('[data-application="argocd/canary"]');
  await waitText(app.locator('[data-field=sync]'), 'Synced', 'application sync status');
  await waitText(app.locator('[data-field=health]'), 'Suspended', 'application health');
  await waitText(app.locator('[data-field=revision]'), env('SERIN_COMMIT').slice(0, 7), 'application commit');
  await app.getByText('canary-rollout-95d95c65-').first().waitFor();
  await page.screenshot({ path: join(shots, 'applications.png'), fullPage: true });

  // Phone width: the rollout page fits the screen (tables scroll inside their box).
  const phone = await newPage(browser, { width: 390, height: 844 });
  await phone.goto(`${UI}#/rollouts/default/canary-rollout`);
  await phone.locator('article.revision tr[data-pod]').first().waitFor();
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the rollout page is ${overflow}px wider than a phone screen`);
  await phone.screenshot({ path: join(shots, 'rollout-phone.png'), fullPage: true });

  // Keyboard: the commands are reachable with Tab and work with Enter; no reload.
  await page.goto(`${UI}#/rollouts/default/canary-rollout`);
  await waitText(page.locator('[data-field=step]'), '1/7', 'rollout page step');
  await page.evaluate(() => { window.stillTheSamePage = true; });
  let focused = '';
  for (let i = 0; i < 40 && focused !== 'Promote'; i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => document.activeElement.textContent);
  }
  check(focused === 'Promote', 'Tab never reached the Promote button');
  const promoted = Date.now();
  await page.keyboard.press('Enter');
  await waitText(page.locator('[data-field=actual-weight]'), '30%', 'actual weight after Promote');
  figures.promoteToWeight30Ms = Date.now() - promoted;
  await waitText(page.locator('[data-field=step]'), '3/7', 'step after Promote');
  const canaryPods = page.locator('article.revision.canary tr[data-pod]');
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll('article.revision.canary tr[data-pod]');
    return rows.length === 3 && [...rows].every((r) => r.textContent.includes('Running'));
  }, null, { timeout: TIMEOUT }).catch(async () => {
    throw new Error(`expected 3 Running canary pods, page shows ${JSON.stringify(await canaryPods.allInnerTexts())}`);
  });
  figures.promoteToThreePodsMs = Date.now() - promoted;
  await waitText(page.locator('article.revision.canary [data-field=weight]'), '30%', 'canary revision weight');

  // Abort by mouse, confirmed in the dialog.
  page.once('dialog', (dialog) => dialog.accept());
  const aborted = Date.now();
  await page.getByRole('button', { name: 'Abort' }).click();
  await waitText(page.locator('[data-field=phase]'), 'Degraded', 'status after Abort');
  await waitText(page.locator('[data-field=actual-weight]'), /^0%$/, 'actual weight after Abort');
  figures.abortToDegradedMs = Date.now() - aborted;
  await page.getByRole('button', { name: 'Retry' }).waitFor();
  check(await page.getByRole('button', { name: 'Abort' }).isDisabled(), 'Abort stays enabled after the abort');
  check(await page.evaluate(() => window.stillTheSamePage === true), 'the page was reloaded');
  check(Number(await page.locator('#main').getAttribute('data-updates')) > 3, 'no live updates were drawn');

  await page.goto(`${UI}#/routes`);
  await routesMatchCli(page, { 'canary-active': 0, 'canary-preview': 100 });

  // Sync from the applications page: the server takes it (the page says so) and records it.
  await page.goto(`${UI}#/applications`);
  const before = JSON.parse(serin('get', 'app', 'canary', '-n', 'argocd', '-o', 'json')).status.operationState.finishedAt;
  await page.getByRole('button', { name: 'Sync' }).click();
  await page.locator('#announce').filter({ hasText: 'Sync canary: done' }).waitFor();
  for (let i = 0; ; i++) {
    const after = JSON.parse(serin('get', 'app', 'canary', '-n', 'argocd', '-o', 'json')).status.operationState.finishedAt;
    if (after !== before) break;
    check(i < 100, 'the sync asked for on the applications page never finished');
    await page.waitForTimeout(100);
  }
  await browser.close();
}

async function bluegreen() {
  const shots = env('SCREENSHOTS');
  mkdirSync(shots, { recursive: true });
  const browser = await launch();
  const page = await newPage(browser);
  await signIn(page);
  const row = page.locator('tr[data-rollout="default/bluegreen"]');
  await waitText(row.locator('[data-field=phase]'), 'Paused', 'rollouts page status');
  await waitText(row.locator('[data-field=weight]'), /^-$/, 'rollouts page weight of a blue-green rollout');
  await row.getByRole('link', { name: 'bluegreen' }).click();
  await waitText(page.locator('[data-field=active-service]'), 'bluegreen-active → revision 1', 'active Service');
  await waitText(page.locator('[data-field=preview-service]'), 'bluegreen-preview → revision 2', 'preview Service');
  check(await page.locator('[data-field=step]').count() === 0, 'a blue-green rollout shows a canary step');
  await waitText(page.locator('ol.steps li[aria-current=step]'), 'pause before the switch', 'current stage');
  const stages = await page.locator('ol.steps li').allInnerTexts();
  check(stages.length === 4 && stages[0].includes('preview up behind Service bluegreen-preview'), `stages: ${JSON.stringify(stages)}`);
  await waitText(page.locator('[data-field=pause]'), 'until promoted', 'the pause waits for promotion');
  await waitText(page.locator('.split'), 'stable, active 100%', 'all traffic on the active revision');
  await page.locator('article.revision.active.stable tr[data-pod]').first().waitFor();
  await page.locator('article.revision.preview tr[data-pod]').first().waitFor();
  await page.screenshot({ path: join(shots, 'rollout-bluegreen.png'), fullPage: true });

  const promoted = Date.now();
  await page.getByRole('button', { name: 'Promote', exact: true }).click();
  await waitText(page.locator('[data-field=active-service]'), 'bluegreen-active → revision 2', 'active Service after Promote');
  figures.promoteToSwitchMs = Date.now() - promoted;
  await waitText(page.locator('ol.steps li[aria-current=step]'), 'old version scaled down', 'stage after the switch');
  await waitText(page.locator('[data-field=phase]'), 'Healthy', 'status once promoted');
  await browser.close();
}

async function hundred() {
  const browser = await launch();
  const page = await newPage(browser);
  const rows = 'tr[data-rollout]';
  figures.rolloutsPageLoadMs = await loadTimes(page, `${UI}#/rollouts`, 'tr[data-rollout="default/load-099"]');
  check(await page.locator(rows).count() === 100, `expected 100 rows, found ${await page.locator(rows).count()}`);

  // A change to one rollout reaches the page; time from the API call to the row.
  const row = page.locator('tr[data-rollout="default/load-042"]');
  await waitText(row.locator('[data-field=phase]'), 'Healthy', 'load-042 before the update');
  const started = Date.now();
  const response = await fetch(`${new URL('/api/v1/rollouts/default/load-042/set-image', UI)}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ container: '*', image: 'ikubernetes/myapp:v2' }),
  });
  check(response.ok, `set-image answered ${response.status}`);
  await row.locator('[data-field=phase]').filter({ hasNotText: 'Healthy' }).waitFor();
  figures.liveUpdateMs = Date.now() - started;
  await waitText(row.locator('[data-field=phase]'), 'Paused', 'load-042 paused at its first pause');

  // Redraw cost of the whole table, and the page answering typing while updates stream in.
  const redraws = [];
  for (let i = 0; i < 5; i++) {
    const before = Number(await page.locator('#main').getAttribute('data-updates'));
    await fetch(`${new URL(`/api/v1/rollouts/default/load-0${10 + i}/restart`, UI)}`, {
      method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: '{}',
    });
    await page.waitForFunction((n) => Number(document.getElementById('main').dataset.updates) > n, before);
    redraws.push(Number(await page.locator('#main').getAttribute('data-drawn-ms')));
  }
  figures.redrawMs = stats(redraws);
  const typed = Date.now();
  await page.locator('#filter').fill('load-05');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-rollout]').length === 10);
  figures.filterMs = Date.now() - typed;
  await page.locator('#filter').fill('');
  await page.locator('tr[data-rollout="default/load-099"]').waitFor();

  figures.rolloutPageLoadMs = await loadTimes(page, `${UI}#/rollouts/default/load-042`, 'article.revision tr[data-pod]');
  await browser.close();
}

const phases = { seed, bluegreen, hundred };
const phase = phases[process.argv[2]];
if (!phase) {
  console.error(`usage: node drive.mjs ${Object.keys(phases).join('|')}`);
  process.exit(2);
}
try {
  await phase();
  check(problems.length === 0, `the browser reported problems:\n${problems.join('\n')}`);
  console.log(JSON.stringify(figures));
} catch (error) {
  console.error(`dashboard check failed: ${error.message}`);
  if (problems.length) console.error(`browser problems:\n${problems.join('\n')}`);
  process.exit(1);
}
