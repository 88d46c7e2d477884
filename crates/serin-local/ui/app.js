// serin's dashboard: one page per hash route (#/rollouts, #/rollouts/NS/NAME, #/routes,
// #/applications), each drawn from the JSON view the server streams as server-sent events.
// Sections are redrawn only when their data changed, so a live update costs little and keeps
// focus and scroll. Commands go to the JSON API with the token kept in this tab only.
'use strict';

const TOKEN_KEY = 'serin-token';
const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  authorized: false,
  route: null,
  source: null,
  envelope: null,
  receivedAt: 0,
  sections: new Map(),
  filter: '',
  busy: new Set(),
};

// ---------- small DOM helpers ----------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.setAttribute('class', value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'width%') el.style.width = `${value}%`;
    else if (key === 'grow') el.style.flex = `${value} 1 0`;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function announce(text) {
  const region = document.getElementById('announce');
  region.textContent = '';
  setTimeout(() => { region.textContent = text; }, 30);
}

// ---------- time ----------

// The server's clock (it may run faster with --time-scale), estimated between updates.
function serverNow() {
  if (!state.envelope) return Date.now();
  return state.envelope.now + (performance.now() - state.receivedAt) * state.envelope.timeScale;
}

// kubectl's ages: 63s, 2m23s, 14m, 5h3m, 3d.
function age(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60), hr = Math.floor(m / 60), d = Math.floor(hr / 24);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (m < 180) return `${m}m`;
  if (hr < 8) return m % 60 ? `${hr}h${m % 60}m` : `${hr}h`;
  if (hr < 48) return `${hr}h`;
  return hr % 24 && d < 8 ? `${d}d${hr % 24}h` : `${d}d`;
}

function ageCell(at) {
  return at ? h('span', { 'data-age': at }, age(serverNow() - at)) : '-';
}

function countdown(endsAt) {
  return h('span', { 'data-ends': endsAt }, remaining(endsAt));
}

function remaining(endsAt) {
  return age(Math.max(0, endsAt - serverNow()) + 999);
}

// Ages and countdowns move between updates without a redraw.
setInterval(() => {
  for (const el of document.querySelectorAll('[data-age]')) el.textContent = age(serverNow() - Number(el.dataset.age));
  for (const el of document.querySelectorAll('[data-ends]')) el.textContent = remaining(Number(el.dataset.ends));
}, 1000);

// ---------- statuses ----------

const ICONS = {
  Healthy: '✔', Running: '✔', Successful: '✔', Succeeded: '✔', Completed: '✔', Synced: '✔',
  Progressing: '◌', Pending: '◌', ContainerCreating: '◌',
  Paused: '‖', Suspended: '‖',
  Degraded: '✖', Failed: '✖', Error: '✖', CrashLoopBackOff: '✖', Missing: '✖', OutOfSync: '⚠',
  Inconclusive: '?', ScaledDown: '•', Terminating: '•', Unknown: '?',
};

function tone(status) {
  switch (ICONS[status]) {
    case '✔': return 'ok';
    case '◌': case '‖': return 'wait';
    case '✖': case '⚠': return 'bad';
    default: return 'neutral';
  }
}

function badge(status, attrs) {
  return h('span', Object.assign({ class: `badge ${tone(status)}` }, attrs || {}),
    h('span', { 'aria-hidden': 'true' }, ICONS[status] || '•'), ' ', status || 'Unknown');
}

function weightBar(weight, label) {
  const value = Math.max(0, Math.min(100, Number(weight) || 0));
  return h('span', { class: 'bar', role: 'img', 'aria-label': `${label || 'weight'} ${value}%` },
    h('span', { class: 'fill', 'width%': value }));
}

// ---------- routing and streaming ----------

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'rollouts' && parts.length === 3) return { page: 'rollout', namespace: parts[1], name: parts[2] };
  if (parts[0] === 'routes') return { page: 'routes' };
  if (parts[0] === 'applications') return { page: 'applications' };
  return { page: 'rollouts' };
}

function navigate() {
  const route = parseRoute();
  state.route = route;
  state.envelope = null;
  state.sections = new Map();
  if (state.source) state.source.close();
  for (const link of document.querySelectorAll('[data-nav]')) {
    const current = link.dataset.nav === (route.page === 'rollout' ? 'rollouts' : route.page);
    if (current) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
  const main = document.getElementById('main');
  main.replaceChildren(PAGES[route.page].mount(route));
  document.title = `${PAGES[route.page].title(route)} · serin`;
  const query = new URLSearchParams({ page: route.page });
  if (route.namespace) { query.set('namespace', route.namespace); query.set('name', route.name); }
  const source = new EventSource(`api/stream?${query}`);
  state.source = source;
  const live = document.getElementById('live');
  source.addEventListener('open', () => { live.textContent = 'Live'; live.className = 'live on'; });
  source.addEventListener('error', () => { live.textContent = 'Reconnecting…'; live.className = 'live off'; });
  source.addEventListener('view', (event) => {
    if (state.source !== source) return;
    state.envelope = JSON.parse(event.data);
    state.receivedAt = performance.now();
    draw();
  });
}

function draw() {
  const started = performance.now();
  const page = PAGES[state.route.page];
  const main = document.getElementById('main');
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : null;
  page.update(state.envelope.view, main);
  if (focused && (!document.activeElement || document.activeElement === document.body)) {
    const again = main.querySelector(`[data-key="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
  main.dataset.drawnMs = (performance.now() - started).toFixed(1);
  // From the start of the navigation (the browser's clock origin) to the first data drawn.
  if (!main.dataset.loadedMs) main.dataset.loadedMs = performance.now().toFixed(0);
  main.dataset.updates = String(Number(main.dataset.updates || 0) + 1);
}

// Redraws the section `key` inside `parent` only if its data changed since the last draw.
function section(parent, key, data, render) {
  const text = JSON.stringify(data);
  const known = state.sections.get(key);
  if (known && known.text === text && known.node.isConnected) return;
  const node = render(data);
  node.dataset.section = key;
  const old = parent.querySelector(`:scope > [data-section="${CSS.escape(key)}"]`);
  if (old) old.replaceWith(node); else parent.append(node);
  state.sections.set(key, { text, node });
}

// ---------- the token and the commands ----------

async function checkSession() {
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  try {
    const response = await fetch('api/session', { headers });
    const session = await response.json();
    state.authorized = session.authorized;
    if (state.token && !session.authorized) {
      announce('That token is not the server\'s: the dashboard stays read-only.');
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = null;
    }
  } catch (_) {
    state.authorized = false;
  }
  drawSession();
  if (state.envelope) { state.sections = new Map(); document.getElementById('main').replaceChildren(PAGES[state.route.page].mount(state.route)); draw(); }
}

function drawSession() {
  const box = document.getElementById('session');
  if (state.authorized) {
    box.replaceChildren(
      h('span', { class: 'mode act' }, 'Commands enabled'),
      h('button', { type: 'button', class: 'link', onclick: () => { sessionStorage.removeItem(TOKEN_KEY); state.token = null; checkSession(); } }, 'Forget token'));
    return;
  }
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: true, spellcheck: 'false' });
  const form = h('form', {
    class: 'token-form',
    onsubmit: (event) => {
      event.preventDefault();
      state.token = input.value.trim();
      sessionStorage.setItem(TOKEN_KEY, state.token);
      checkSession();
    },
  }, h('label', { for: 'token' }, 'API token'), input, h('button', { type: 'submit' }, 'Use token'),
  h('p', { class: 'hint' }, 'The token is in the server\'s data directory (file token), or run serin dashboard --with-token.'));
  box.replaceChildren(h('details', {},
    h('summary', {}, h('span', { class: 'mode' }, 'Read-only'), ' · enter token'),
    form));
}

async function command(path, body, what, button) {
  if (state.busy.has(path)) return;
  state.busy.add(path);
  if (button) button.setAttribute('aria-busy', 'true');
  try {
    const response = await fetch(path, {
      method: 'POST',
      headers: { Authorization: `Bearer ${state.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
    });
    const answer = await response.json().catch(() => ({}));
    if (response.ok) announce(`${what}: done`);
    else {
      announce(`${what} failed: ${answer.error || response.status}`);
      showError(`${what} failed: ${answer.error || response.status}`);
      if (response.status === 401) checkSession();
    }
  } catch (error) {
    showError(`${what} failed: ${error}`);
  } finally {
    state.busy.delete(path);
    if (button) button.removeAttribute('aria-busy');
  }
}

function showError(text) {
  const box = document.getElementById('problem');
  if (box) { box.textContent = text; box.hidden = false; }
}

// ---------- pages ----------

function pageShell(title, ...intro) {
  return h('div', { class: 'page' },
    h('h1', {}, title), ...intro,
    h('p', { id: 'problem', class: 'problem', role: 'alert', hidden: true }),
    h('div', { id: 'content' }));
}

const rolloutsPage = {
  title: () => 'Rollouts',
  mount() {
    const filter = h('input', {
      type: 'search', id: 'filter', placeholder: 'name or namespace', value: state.filter,
      oninput: (event) => { state.filter = event.target.value; state.sections.delete('table'); if (state.envelope) draw(); },
    });
    return pageShell('Rollouts', h('p', { class: 'filter' }, h('label', { for: 'filter' }, 'Filter'), filter));
  },
  update(view, main) {
    const content = main.querySelector('#content');
    const needle = state.filter.trim().toLowerCase();
    const items = view.rollouts.filter((r) => !needle || `${r.namespace}/${r.name}`.toLowerCase().includes(needle));
    section(content, 'table', { items, total: view.rollouts.length }, ({ items, total }) => {
      if (!total) return h('p', { class: 'empty' }, 'No rollouts yet. Apply one with serin apply -f.');
      const rows = items.map((r) => h('tr', { 'data-rollout': `${r.namespace}/${r.name}` },
        h('th', { scope: 'row' }, h('a', { href: `#/rollouts/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.name)}`, 'data-key': `open:${r.namespace}/${r.name}` }, r.name)),
        h('td', {}, r.namespace),
        h('td', {}, r.strategy),
        h('td', { 'data-field': 'phase' }, badge(r.phase, { title: r.message || r.phase })),
        h('td', { 'data-field': 'step' }, r.step ? `${r.step[0]}/${r.step[1]}` : '-'),
        h('td', { 'data-field': 'weight' }, r.actualWeight === null ? '-' : h('span', { class: 'weights' }, weightBar(r.actualWeight, 'actual weight'),
          h('span', {}, h('span', { 'data-field': 'actual-weight' }, r.actualWeight), r.setWeight !== r.actualWeight ? ` (set ${r.setWeight})` : ''))),
        h('td', { class: 'images' }, r.images.map(imageLine)),
        h('td', { 'data-field': 'ready' }, `${r.ready}/${r.desired}`)));
      return h('div', { class: 'scroll' }, h('table', { class: 'list' },
        h('caption', {}, items.length === total ? `${total} rollout${total === 1 ? '' : 's'}` : `${items.length} of ${total} rollouts`),
        h('thead', {}, h('tr', {}, ['Name', 'Namespace', 'Strategy', 'Status', 'Step', 'Weight %', 'Images', 'Ready'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, rows)));
    });
  },
};

const COMMANDS = [
  { verb: 'promote', label: 'Promote', body: {} },
  { verb: 'promote', label: 'Promote full', body: { full: true }, key: 'promoteFull', confirm: 'Skip every remaining step and send all traffic to the new version?' },
  { verb: 'pause', label: 'Pause', body: {} },
  { verb: 'abort', label: 'Abort', body: {}, confirm: 'Abort the update and send all traffic back to the stable version?', danger: true },
  { verb: 'retry', label: 'Retry', body: {} },
  { verb: 'undo', label: 'Undo', body: {}, confirm: 'Roll back to the previous revision?' },
];

function rolloutActions(route, view) {
  if (!state.authorized) {
    return h('p', { class: 'readonly' }, 'Read-only: enter the API token (top right) to promote, abort, retry, undo or pause.');
  }
  const base = `../api/v1/rollouts/${encodeURIComponent(route.namespace)}/${encodeURIComponent(route.name)}`;
  return h('div', { class: 'actions', role: 'toolbar', 'aria-label': 'Rollout commands' }, COMMANDS.map((c) => {
    const key = c.key || c.verb;
    const enabled = view.actions[key];
    return h('button', {
      type: 'button', class: c.danger ? 'danger' : '', 'data-key': `cmd:${key}`, disabled: !enabled,
      onclick: (event) => {
        if (c.confirm && !window.confirm(c.confirm)) return;
        command(`${base}/${c.verb}`, c.body, `${c.label} ${route.name}`, event.currentTarget);
      },
    }, c.label);
  }));
}

// A revision's roles ("stable, active") as CSS classes and as a tag.
function roleClasses(role) {
  return (role || '').split(', ').join(' ');
}

function roleTag(role) {
  return h('span', { class: `tag ${roleClasses(role)}` }, role);
}

function imageLine(image) {
  return h('div', {}, image.image, image.role ? roleTag(image.role) : '');
}

// A blue-green Service and the revision its selector points at.
function serviceRevision(service) {
  if (!service) return '-';
  return [h('span', { class: 'mono' }, service.name), service.revision ? ` → revision ${service.revision}` : ' (no revision selected yet)'];
}

function summaryList(pairs) {
  return h('dl', { class: 'summary' }, pairs.map(([term, value, field]) => h('div', {}, h('dt', {}, term), h('dd', field ? { 'data-field': field } : {}, value))));
}

function sparkline(values, { label, max, unit, digits }) {
  const width = 132, height = 34;
  const numbers = values.filter((v) => v !== null && v !== undefined);
  const last = numbers.length ? numbers[numbers.length - 1] : null;
  const top = max || Math.max(1, ...numbers);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  let path = '';
  values.forEach((v, i) => {
    if (v === null || v === undefined) return;
    const x = (i * step).toFixed(1), y = (height - 2 - (v / top) * (height - 4)).toFixed(1);
    path += `${path && values[i - 1] !== null && values[i - 1] !== undefined ? 'L' : 'M'}${x},${y}`;
  });
  const now = last === null ? 'no requests' : `${last.toFixed(digits)}${unit}`;
  return h('figure', { class: 'chart' },
    svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': `${label}, last ${Math.round(values.length / 60) || 1} min; now ${now}` },
      svg('path', { d: path || `M0,${height - 2}L${width},${height - 2}`, class: path ? 'line' : 'line none' })),
    h('figcaption', {}, h('span', {}, label), h('strong', {}, now)));
}

function trafficCharts(samples) {
  if (!samples.length) return h('p', { class: 'muted' }, 'No requests through the router in the last minutes.');
  const pick = (f) => samples.map((s) => (s[f] === null || s[f] === undefined ? null : s[f]));
  return h('div', { class: 'charts' },
    sparkline(pick('rate'), { label: 'requests/s', unit: '', digits: 1 }),
    sparkline(samples.map((s) => (s.success === null ? null : s.success * 100)), { label: 'success', max: 100, unit: '%', digits: 1 }),
    sparkline(pick('p50'), { label: 'p50 ≤', unit: ' ms', digits: 0 }),
    sparkline(pick('p99'), { label: 'p99 ≤', unit: ' ms', digits: 0 }));
}

function revisionCard(rev) {
  const rs = rev.replicaSet;
  return h('article', { class: `revision ${roleClasses(rev.role)}`, 'data-revision': rev.revision, 'data-hash': rev.hash, 'aria-labelledby': `rev-${rev.hash}` },
    h('header', {},
      h('h3', { id: `rev-${rev.hash}` }, `Revision ${rev.revision}`, rev.role ? roleTag(rev.role) : ''),
      h('span', { class: 'weights' }, weightBar(rev.weight, `revision ${rev.revision} traffic`), h('span', { 'data-field': 'weight' }, `${rev.weight}%`), ' of traffic')),
    h('p', { class: 'images' }, rev.images.join(', ')),
    h('p', {}, h('span', { class: 'mono' }, rs.name), ' ', badge(rs.state), ` ${rs.available}/${rs.desired} available`,
      rs.scaleDownAt ? h('span', { class: 'muted' }, ' · scales down in ', countdown(rs.scaleDownAt)) : ''),
    rev.pods.length ? h('div', { class: 'scroll' }, h('table', { class: 'pods' },
      h('caption', { class: 'visually-hidden' }, `Pods of revision ${rev.revision}`),
      h('thead', {}, h('tr', {}, ['Pod', 'Status', 'Ready', 'Restarts', 'Age'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rev.pods.map((p) => h('tr', { 'data-pod': p.name },
        h('th', { scope: 'row', class: 'mono' }, p.name), h('td', {}, badge(p.status)), h('td', {}, `${p.ready}/${p.containers}`),
        h('td', {}, p.restarts), h('td', {}, ageCell(p.createdAt))))))) : h('p', { class: 'muted' }, 'No pods.'),
    trafficCharts(rev.traffic),
    rev.analysisRuns.length ? h('p', { class: 'muted' }, 'Analysis: ', rev.analysisRuns.join(', ')) : '');
}

function stepsList(view) {
  const pause = view.pause;
  return h('section', { 'aria-labelledby': 'steps-h' },
    h('h2', { id: 'steps-h' }, view.rollout.strategy === 'BlueGreen' ? 'Stages' : 'Steps'),
    pause ? h('p', { class: 'pause', 'data-field': 'pause' }, badge('Paused'), ` ${pause.reason}`,
      pause.endsAt ? [' · resumes in ', countdown(pause.endsAt)] : ' · until promoted',
      state.envelope.timeScale !== 1 ? h('span', { class: 'muted' }, ` (server time runs ${state.envelope.timeScale}x)`) : '') : '',
    view.steps.length ? h('ol', { class: 'steps' }, view.steps.map((s, i) => h('li', { class: s.state, 'aria-current': s.state === 'current' ? 'step' : null },
      h('span', { class: 'marker', 'aria-hidden': 'true' }, s.state === 'done' ? '✔' : s.state === 'current' ? '▶' : String(i + 1)),
      h('span', {}, s.text), s.state === 'current' ? h('span', { class: 'visually-hidden' }, ' (current step)') : ''))) : h('p', { class: 'muted' }, 'No steps: every update goes straight to 100%.'));
}

function trafficSplit(revisions) {
  const live = revisions.filter((r) => r.weight > 0);
  return h('section', { 'aria-labelledby': 'split-h' },
    h('h2', { id: 'split-h' }, 'Traffic'),
    h('div', { class: 'split', role: 'img', 'aria-label': live.map((r) => `revision ${r.revision} ${r.weight}%`).join(', ') || 'no traffic' },
      live.map((r) => h('span', { class: `part ${roleClasses(r.role)}`, grow: r.weight }, `${r.role || 'rev ' + r.revision} ${r.weight}%`))));
}

function analysisRuns(runs) {
  return h('section', { 'aria-labelledby': 'analysis-h' },
    h('h2', { id: 'analysis-h' }, 'Analysis runs'),
    runs.length ? runs.map((run) => h('article', { class: 'run' },
      h('h3', {}, h('span', { class: 'mono' }, run.name), ' ', badge(run.phase || 'Pending')),
      run.message ? h('p', {}, run.message) : '',
      run.metrics.map((m) => h('div', { class: 'metric' },
        h('p', {}, h('strong', {}, m.name), ' ', badge(m.phase || 'Pending'), ` ${m.successful} successful, ${m.failed} failed, ${m.inconclusive} inconclusive, ${m.error} errors${m.dryRun ? ' (dry run)' : ''}`),
        m.measurements.length ? h('div', { class: 'scroll' }, h('table', { class: 'measurements' },
          h('caption', { class: 'visually-hidden' }, `Measurements of ${m.name}, newest first`),
          h('thead', {}, h('tr', {}, ['Result', 'Value', 'Sample', 'Age', 'Message'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, m.measurements.map((x) => h('tr', {}, h('td', {}, badge(x.phase)), h('td', { class: 'mono' }, x.value),
            h('td', {}, x.sample ?? '-'), h('td', {}, ageCell(x.finishedAt || x.startedAt)), h('td', {}, x.message)))))) : '')))) :
      h('p', { class: 'muted' }, 'No analysis runs.'));
}

function eventsTable(events) {
  return h('section', { 'aria-labelledby': 'events-h' },
    h('h2', { id: 'events-h' }, 'Events'),
    events.length ? h('div', { class: 'scroll' }, h('table', { class: 'events' },
      h('thead', {}, h('tr', {}, ['Age', 'Type', 'Reason', 'Message'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, events.map((e) => h('tr', { class: e.type === 'Warning' ? 'warning' : '' },
        h('td', {}, ageCell(e.time)), h('td', {}, e.type), h('td', {}, e.reason), h('td', {}, e.message)))))) : h('p', { class: 'muted' }, 'No events.'));
}

const rolloutPage = {
  title: (route) => route.name,
  mount(route) {
    return h('div', { class: 'page' },
      h('p', { class: 'crumbs' }, h('a', { href: '#/rollouts' }, 'Rollouts'), ` / ${route.namespace} /`),
      h('h1', {}, route.name),
      h('p', { id: 'problem', class: 'problem', role: 'alert', hidden: true }),
      h('div', { id: 'content' }));
  },
  update(view, main) {
    const content = main.querySelector('#content');
    const route = state.route;
    if (view.missing) {
      section(content, 'missing', {}, () => h('p', { class: 'empty' }, `There is no rollout ${route.name} in namespace ${route.namespace}.`));
      return;
    }
    const r = view.rollout;
    section(content, 'header', { r, actions: view.actions, authorized: state.authorized }, () => h('section', { class: 'head', 'aria-label': 'Summary' },
      h('p', { class: 'status' }, h('span', { 'data-field': 'phase' }, badge(r.phase)), r.message ? h('span', { class: 'message' }, r.message) : ''),
      summaryList([
        ['Strategy', r.strategy],
        ...(r.services ? [
          ['Active', serviceRevision(r.services.active), 'active-service'],
          ['Preview', serviceRevision(r.services.preview), 'preview-service'],
        ] : [
          ['Step', r.step ? `${r.step[0]}/${r.step[1]}` : '-', 'step'],
          ['Set weight', `${r.setWeight}%`, 'set-weight'],
          ['Actual weight', `${r.actualWeight}%`, 'actual-weight'],
        ]),
        ['Replicas', `${r.ready} ready / ${r.desired} desired (${r.updated} updated, ${r.available} available)`, 'replicas'],
        ['Images', r.images.map(imageLine)],
      ]),
      rolloutActions(route, view)));
    section(content, 'steps', { steps: view.steps, pause: view.pause }, () => stepsList(view));
    section(content, 'split', view.revisions.map((rev) => [rev.revision, rev.role, rev.weight]), () => trafficSplit(view.revisions));
    section(content, 'revisions', view.revisions, (revisions) => h('section', { 'aria-labelledby': 'revisions-h' },
      h('h2', { id: 'revisions-h' }, 'Revisions'), h('div', { class: 'revisions' }, revisions.map(revisionCard))));
    section(content, 'analysis', view.analysisRuns, analysisRuns);
    section(content, 'events', view.events, eventsTable);
  },
};

function serviceName(ref) {
  return `${ref.kind === 'TraefikService' ? 'TraefikService ' : ''}${ref.namespace}/${ref.name}`;
}

const routesPage = {
  title: () => 'Routes',
  mount: () => pageShell('Routes'),
  update(view, main) {
    const content = main.querySelector('#content');
    section(content, 'entrypoints', view.entryPoints, (entryPoints) => h('section', { 'aria-labelledby': 'ep-h' },
      h('h2', { id: 'ep-h' }, 'Entry points'),
      h('ul', { class: 'chips' }, entryPoints.map((e) => h('li', {}, h('strong', {}, e.name), ' ', h('span', { class: 'mono' }, e.address))))));
    section(content, 'ingressroutes', view.ingressRoutes, (routes) => h('section', { 'aria-labelledby': 'ir-h' },
      h('h2', { id: 'ir-h' }, 'IngressRoutes'),
      routes.length ? h('div', { class: 'scroll' }, h('table', { class: 'list' },
        h('thead', {}, h('tr', {}, ['IngressRoute', 'Entry points', 'Rule', 'Priority', 'Service'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, routes.flatMap((ir) => ir.routes.map((rule) => h('tr', {},
          h('th', { scope: 'row' }, `${ir.namespace}/${ir.name}`, h('div', { class: 'muted' }, ir.group)),
          h('td', {}, ir.entryPoints.join(', ')),
          h('td', { class: 'mono' }, rule.match, rule.problem ? h('div', { class: 'bad' }, rule.problem) : ''),
          h('td', {}, rule.priority),
          h('td', {}, rule.services.map((s) => h('div', {}, serviceName(s)))))))))) : h('p', { class: 'muted' }, 'No IngressRoutes.')));
    section(content, 'traefikservices', view.traefikServices, (services) => h('section', { 'aria-labelledby': 'ts-h' },
      h('h2', { id: 'ts-h' }, 'TraefikServices'),
      services.length ? services.map((ts) => {
        const id = `${ts.group}/${ts.namespace}/${ts.name}`;
        const total = ts.services.reduce((sum, s) => sum + (s.weight ?? 1), 0) || 1;
        return h('article', { class: 'ts', 'data-traefik-service': id },
          h('h3', {}, `${ts.namespace}/${ts.name}`, ' ', h('span', { class: 'muted' }, `${ts.group} · ${ts.type}`),
            ts.managedBy ? h('span', { class: 'muted' }, ` · weights set by rollout ${ts.managedBy}`) : ''),
          h('div', { class: 'scroll' }, h('table', { class: 'list' },
            h('thead', {}, h('tr', {}, ['Service', ts.type === 'mirroring' ? 'Mirror %' : 'Weight', 'Share'].map((c) => h('th', { scope: 'col' }, c)))),
            h('tbody', {}, ts.services.map((s) => {
              const weight = ts.type === 'mirroring' ? s.percent : (s.weight ?? 1);
              const share = ts.type === 'mirroring' ? (s.percent ?? 100) : Math.round(((s.weight ?? 1) * 100) / total);
              return h('tr', { 'data-service': s.name },
                h('th', { scope: 'row' }, serviceName(s)),
                h('td', { 'data-field': 'weight' }, weight ?? '-'),
                h('td', {}, h('span', { class: 'weights' }, weightBar(share, `${s.name} share`), `${share}%`)));
            })))));
      }) : h('p', { class: 'muted' }, 'No TraefikServices.')));
    section(content, 'services', view.services, (services) => h('section', { 'aria-labelledby': 'svc-h' },
      h('h2', { id: 'svc-h' }, 'Services'),
      services.length ? h('div', { class: 'scroll' }, h('table', { class: 'list' },
        h('thead', {}, h('tr', {}, ['Service', 'Selector', 'Backends', 'Pods'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, services.map((s) => {
          const ready = s.endpoints.filter((e) => e.ready).length;
          return h('tr', { 'data-service': `${s.namespace}/${s.name}` },
            h('th', { scope: 'row' }, `${s.namespace}/${s.name}`),
            h('td', { class: 'mono' }, Object.entries(s.selector).map(([k, v]) => `${k}=${v}`).join(', ') || '-'),
            h('td', {}, badge(ready > 0 ? 'Healthy' : 'Degraded', { title: 'ready pods behind the service' }), ` ${ready}/${s.endpoints.length} ready`),
            h('td', { class: 'pods-cell' }, h('details', {}, h('summary', {}, `${s.endpoints.length} pod${s.endpoints.length === 1 ? '' : 's'}`),
              h('ul', {}, s.endpoints.map((e) => h('li', { class: 'mono' }, `${e.pod} `, e.ready ? '' : h('span', { class: 'bad' }, 'not ready')))))));
        })))) : h('p', { class: 'muted' }, 'No Services.')));
  },
};

function tree(nodes) {
  if (!nodes.length) return '';
  return h('ul', { class: 'tree' }, nodes.map((n) => h('li', {},
    h('span', { class: 'kind' }, n.kind), ' ', h('span', { class: 'mono' }, n.namespace ? `${n.namespace}/${n.name}` : n.name), ' ',
    n.sync ? badge(n.sync) : '', ' ', n.health ? badge(n.health) : '', n.status ? h('span', { class: 'muted' }, ` ${n.status}`) : '',
    n.requiresPruning ? h('span', { class: 'bad' }, ' requires pruning') : '',
    n.healthMessage ? h('span', { class: 'muted' }, ` ${n.healthMessage}`) : '',
    tree(n.children || []))));
}

const applicationsPage = {
  title: () => 'Applications',
  mount: () => pageShell('Applications'),
  update(view, main) {
    const content = main.querySelector('#content');
    section(content, 'apps', { apps: view.applications, authorized: state.authorized }, ({ apps }) => {
      if (!apps.length) return h('p', { class: 'empty' }, 'No Applications. Apply an Argo CD Application to sync from git.');
      return h('div', { class: 'apps' }, apps.map((app) => h('article', { class: 'app', 'data-application': `${app.namespace}/${app.name}` },
        h('header', {}, h('h2', {}, `${app.namespace}/${app.name}`),
          h('span', { 'data-field': 'sync' }, badge(app.sync)), ' ', h('span', { 'data-field': 'health' }, badge(app.health)),
          state.authorized ? h('button', {
            type: 'button', 'data-key': `sync:${app.namespace}/${app.name}`, disabled: app.syncRequested,
            onclick: (event) => command(`../api/v1/applications/${encodeURIComponent(app.namespace)}/${encodeURIComponent(app.name)}/sync`, { prune: false }, `Sync ${app.name}`, event.currentTarget),
          }, app.syncRequested ? 'Syncing…' : 'Sync') : ''),
        summaryList([
          ['Repository', h('span', { class: 'mono' }, app.repo)],
          ['Path', app.path || '.'],
          ['Target', app.targetRevision],
          ['Synced commit', app.revision ? h('span', { class: 'mono', title: app.revision }, app.revision.slice(0, 7)) : '-', 'revision'],
          ['Sync policy', app.automated ? 'Automated' : 'Manual'],
          ['Last sync', app.operation ? [badge(app.operation.phase), app.operation.finishedAt ? [' ', ageCell(app.operation.finishedAt), ' ago'] : ''] : '-'],
          ['Images', app.images.join(', ') || '-'],
        ]),
        app.healthMessage ? h('p', { class: 'muted' }, app.healthMessage) : '',
        app.conditions.length ? h('ul', { class: 'conditions' }, app.conditions.map((c) => h('li', { class: 'bad' }, h('strong', {}, c.type), `: ${c.message}`))) : '',
        h('h3', {}, 'Resources'),
        tree(app.resources))));
    });
  },
};

const PAGES = { rollouts: rolloutsPage, rollout: rolloutPage, routes: routesPage, applications: applicationsPage };

// ---------- start ----------

function start() {
  // `serin dashboard --with-token` opens #token=...: keep it in this tab, out of the address bar.
  const given = location.hash.match(/^#token=([^&]+)/);
  if (given) {
    state.token = decodeURIComponent(given[1]);
    sessionStorage.setItem(TOKEN_KEY, state.token);
    history.replaceState(null, '', `${location.pathname}#/rollouts`);
  }
  document.getElementById('skip').addEventListener('click', (event) => {
    event.preventDefault();
    document.getElementById('main').focus();
  });
  window.addEventListener('hashchange', navigate);
  drawSession();
  navigate();
  checkSession();
}

start();
