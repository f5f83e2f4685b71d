//! The console's one script: dialogs, fragment swaps and the event stream.
//! Everything else is server-rendered HTML; the JSON API is documented in
//! console/src/api.rs and served at /api/v1/openapi.json.
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const csrf = $('meta[name="csrf-token"]')?.content ?? '';
const enc = encodeURIComponent;
const collapsed = new Set();
let menuRow = null;
let opener = null;

// Where a set or group lives, under /api/v1/ and /ui/.
const path = (t) => `hosts/${enc(t.host)}/${t.kind}s/${enc(t.name)}`;
const parse = (html) => {
  const t = document.createElement('template');
  t.innerHTML = html.trim();
  return t.content;
};

async function api(method, url, body) {
  const headers = { 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' };
  const r = await fetch(url, { method, headers, body: body && JSON.stringify(body) });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  if (!r.ok) throw new Error(data?.error || `HTTP ${r.status}`);
  return data;
}

async function fragment(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(await r.text());
  return r.text();
}

function toast(msg) {
  $('#toast').textContent = msg;
}

// Shows an error in root's `p.error` (or the toast); '' clears it.
function showError(root, e) {
  const p = root && $('p.error', root);
  const msg = e ? e.message ?? String(e) : '';
  if (p) p.textContent = msg;
  else if (msg) toast(msg);
}

// Runs fn with root's error cleared first; a failure is shown in root.
async function attempt(root, fn) {
  try {
    showError(root, '');
    return await fn();
  } catch (e) {
    showError(root, e);
  }
}

// Asks `text`. With `act`, Yes runs it and the dialog stays open with the
// host's error if it fails. Resolves true when done (or confirmed).
function confirmDialog(text, act) {
  const d = $('#confirm');
  $('#confirm-text').textContent = text;
  $('form', d).onsubmit = (e) => {
    if (!act || e.submitter?.value !== 'yes') return;
    e.preventDefault();
    attempt(d, async () => { await act(); d.close('yes'); });
  };
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'yes'), { once: true });
    d.returnValue = '';
    openDialog(d);
  });
}

function applyView() {
  const f = $('#filter')?.value ?? '';
  for (const tb of $$('#sets section.host')) {
    const tags = (tb.dataset.tags || '').split(' ');
    tb.hidden = f.startsWith('host:') ? tb.dataset.host !== f.slice(5) : f.startsWith('tag:') && !tags.includes(f.slice(4));
  }
  for (const g of $$('#sets tr.group')) {
    const closed = collapsed.has(g.id);
    $('.expand', g)?.setAttribute('aria-expanded', String(!closed));
    for (const m of $$('tr.member', g.closest('tbody'))) {
      if (m.dataset.group === g.dataset.groupname) m.hidden = closed;
    }
  }
}

function swap(id, html) {
  const old = document.getElementById(id);
  const node = parse(html).firstElementChild;
  if (!node) return;
  const refocus = old?.contains(document.activeElement) && document.activeElement.getAttribute('aria-label');
  if (old) old.replaceWith(node);
  else if (node.matches('section.host')) $('#sets')?.append(node);
  else return;
  if (refocus) $$('[aria-label]', node).find((b) => b.getAttribute('aria-label') === refocus)?.focus();
  applyView();
}

async function reload(root, url) {
  root.innerHTML = await fragment(url);
  applyView();
}

async function refreshDialog(rowId) {
  const d = $('#props');
  const box = $('.propsdlg', d);
  if (!d.open || !box || box.dataset.row !== rowId) return;
  const t = parse(await fragment(d.dataset.src));
  const nb = $('.propsdlg', t);
  // A renamed group answers at a new address: take the whole dialog.
  if (nb && nb.dataset.base !== box.dataset.base) return box.replaceWith(nb);
  const fresh = $$('.live', t);
  $$('.live', box).forEach((el, i) => fresh[i] && el.replaceWith(fresh[i]));
}

// The main table follows row swaps; the overflow page re-reads its table.
function connect() {
  const root = $('#table') ?? $('#ovf');
  if (!root) return;
  const es = new EventSource(`/api/v1/events?since=${root.dataset.since}`);
  const on = (name, fn) => es.addEventListener(name, (e) => fn(JSON.parse(e.data || '{}')));
  if (root.id === 'ovf') return ['overflows', 'rows', 'refresh'].forEach((n) => on(n, () => reload(root, '/ui/overflows').catch(() => {})));
  for (const n of ['row', 'rows']) {
    on(n, (d) => {
      swap(d.id, d.html);
      refreshDialog(n === 'rows' ? $('#props .propsdlg')?.dataset.row : d.id).catch(() => {});
    });
  }
  on('remove', (d) => document.getElementById(d.id)?.remove());
  on('refresh', () => reload(root, '/ui/table').catch(() => {}));
}

function target(row) {
  const group = row.dataset.groupname !== undefined;
  const t = { kind: group ? 'group' : 'set', host: row.dataset.host, name: group ? row.dataset.groupname : row.dataset.set };
  return { ...t, base: `/api/v1/${path(t)}` };
}

async function runAction(t, action, dir, root) {
  if (action === 'properties') return openProps(t);
  const group = t.kind === 'group';
  const done = () => toast(`${action} ${dir ?? ''} on ${t.name}: done`);
  if (action === 'delete') {
    const q = group ? `Delete group ${t.name}? Its sets stay enabled.` : `Disable the set ${t.name}? The shadow keeps its data.`;
    if (!(await confirmDialog(q, () => api('DELETE', t.base)))) return;
    root?.closest('dialog')?.close();
    return done();
  }
  const q = group ? 'Overwrite every master in this group with its shadow volume?' : 'Overwrite master with shadow volume?';
  if (dir === 'to-master' && !(await confirmDialog(q))) return;
  await attempt(root, async () => { await api('POST', `${t.base}/${action}`, dir ? { direction: dir } : {}); done(); });
}

function openMenu(row, x, y) {
  const m = $('#menu');
  menuRow = row;
  opener = document.activeElement;
  $('[data-action="delete"]', m).textContent = row.dataset.groupname !== undefined ? 'Delete group' : 'Delete';
  m.hidden = false;
  m.style.left = `${x + window.scrollX}px`;
  m.style.top = `${y + window.scrollY}px`;
  $('button', m).focus();
}

function closeMenu() {
  const m = $('#menu');
  if (m.hidden) return;
  m.hidden = true;
  menuRow = null;
  opener?.focus?.();
}

function wireMenu() {
  const m = $('#menu');
  if (!m) return;
  document.addEventListener('click', (e) => {
    const b = e.target.closest('.menu-btn');
    if (b) {
      const r = b.getBoundingClientRect();
      return openMenu(b.closest('tr'), r.left, r.bottom);
    }
    // An item of the menu acts on the menu's row; a row's own button on its row.
    const item = e.target.closest('#menu [data-action], #sets [data-action]');
    const row = item && (item.closest('#menu') ? menuRow : item.closest('tr'));
    if (row) {
      closeMenu();
      return runAction(target(row), item.dataset.action, item.dataset.dir);
    }
    const g = e.target.closest('#sets .expand')?.closest('tr');
    if (g) {
      collapsed.has(g.id) ? collapsed.delete(g.id) : collapsed.add(g.id);
      applyView();
    }
    if (!e.target.closest('#menu')) closeMenu();
  });
  document.addEventListener('contextmenu', (e) => {
    const row = e.target.closest('#sets tr.set, #sets tr.group');
    if (!row) return;
    e.preventDefault();
    openMenu(row, e.clientX, e.clientY);
  });
  m.addEventListener('keydown', (e) => {
    const items = $$('button', m);
    const i = items.indexOf(document.activeElement);
    if (e.key === 'Escape') closeMenu();
    else if (e.key === 'ArrowDown') items[(i + 1) % items.length].focus();
    else if (e.key === 'ArrowUp') items[(i - 1 + items.length) % items.length].focus();
    else return;
    e.preventDefault();
  });
}

function formJson(form) {
  const o = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.value === '' || ['submit', 'button'].includes(el.type)) continue;
    if ((el.type === 'radio' || el.type === 'checkbox') && !el.checked) continue;
    const v = el.type === 'number' ? Number(el.value) : el.value;
    if (el.type === 'checkbox') (o[el.name] ??= []).push(v);
    else o[el.name] = v;
  }
  return o;
}

function validate(form) {
  for (const el of form.elements) {
    if (el.willValidate && !el.checkValidity()) {
      const label = el.closest('label')?.firstChild?.textContent?.trim() || el.name;
      const range = el.min !== '' && el.max !== '' ? ` must be between ${el.min} and ${el.max}` : `: ${el.validationMessage}`;
      throw new Error(`${label}${range}`);
    }
  }
}

// The host picker lists the hosts that answer now, keeping the choice.
function hostPickers(dlg) {
  const hosts = $$('#sets section.host:not(.down)').map((tb) => tb.dataset.host);
  const sel = $('.host-pick', dlg);
  const cur = sel.value;
  sel.replaceChildren(...hosts.map((h) => new Option(h, h, false, h === cur)));
}

function bitmapMinimum(masterBytes, compact) {
  // native/FORMAT.md: 2 header pages + 2 bitmap regions (+ index pages when compact).
  const chunks = Math.ceil(masterBytes / 32768);
  const pages = 2 * Math.max(1, Math.ceil(chunks / 32704)) + (compact ? Math.max(1, Math.ceil(chunks / 1022)) : 0);
  return 8192 + pages * 4096;
}

function newSetHints(form) {
  const cap = (name) => Number(form.elements[name].selectedOptions[0]?.dataset.capacity || 0);
  const type = form.elements.type.value;
  const [m, s, b] = [cap('master'), cap('shadow'), cap('bitmap')];
  const hints = [];
  const compact = type === 'dependent' && m && s && s < m;
  $('#overflow-pane').hidden = !compact;
  if (type === 'independent' && m && s && s < m) hints.push('The shadow is smaller than the master: an independent set needs a shadow at least as large.');
  if (m && b && b < bitmapMinimum(m, compact)) hints.push(`The bitmap volume is below its minimum of ${bitmapMinimum(m, compact)} bytes for this master.`);
  $('#newset-hints').textContent = hints.join(' ');
}

// Fills the form's volume pickers with the chosen host's DS_Volumes.
async function loadVolumes(form) {
  const h = form.elements.host.value;
  if (!h || !$('select.vol', form)) return;
  const html = await fragment(`/ui/hosts/${enc(h)}/volume-options`);
  for (const sel of $$('select.vol', form)) sel.innerHTML = html;
  if (form.elements.type) newSetHints(form);
}

// Opens dialog d (focus returns to the opener on close), first loading
// the fragment at `url` into it when given.
async function openDialog(d, url) {
  if (url) $('.content', d).innerHTML = await fragment(url);
  if (d.open) return;
  d.returnFocus = document.activeElement;
  showError(d, '');
  d.showModal();
}

// A create dialog opened by button `btn`: posts its form to the chosen host
// (under `kind`), shows the host's error in the dialog.
function wireCreate(btn, dlg, kind, adjust = () => {}) {
  const form = $('form', dlg);
  const vols = () => attempt(dlg, () => loadVolumes(form));
  btn.addEventListener('click', () => {
    if ($('#sets')) hostPickers(dlg);
    openDialog(dlg);
    vols();
  });
  form.elements.host.addEventListener('change', vols);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const { host, ...body } = formJson(form);
    adjust(body);
    attempt(dlg, async () => {
      validate(form);
      await api('POST', `/api/v1/hosts/${enc(host)}/${kind}`, body);
      dlg.close();
      toast(`${body.name || body.shadow || body.path} created on ${host}`);
    });
  });
}

function wireDialogs() {
  for (const d of $$('dialog')) {
    d.addEventListener('close', () => d.returnFocus?.focus?.());
    d.addEventListener('click', (e) => { if (e.target.closest('.cancel')) d.close(); });
  }
  if ($('#ovf')) return wireOverflows();
  if (!$('#newset')) return;
  $('#newset-form').addEventListener('change', (e) => newSetHints(e.currentTarget));
  wireCreate($('#new-set'), $('#newset'), 'sets', (body) => { if ($('#overflow-pane').hidden) delete body.overflow; });
  wireCreate($('#new-group'), $('#newgroup'), 'groups');
  wireProps();
}

// The overflow-volumes page: initialise one from a volume picker; delete
// one after confirmation; the host's error stays in the dialog.
function wireOverflows() {
  wireCreate($('#new-ovf'), $('#newovf'), 'overflows');
  document.addEventListener('click', async (e) => {
    const b = e.target.closest('[data-delovf]');
    if (!b) return;
    const [host, vol] = [b.closest('tbody').dataset.host, b.dataset.delovf];
    const url = `/api/v1/hosts/${enc(host)}/overflows/${enc(vol)}`;
    if (await confirmDialog(`Delete the overflow volume ${vol} on ${host}?`, () => api('DELETE', url))) toast(`overflow volume ${vol} deleted`);
  });
}

async function openProps(t) {
  const d = $('#props');
  d.dataset.src = `/ui/${path(t)}/properties`;
  await openDialog(d, d.dataset.src);
  $('[role="tab"], button', d)?.focus();
}

function selectTab(tab) {
  for (const t of $$('[role="tab"]', tab.closest('[role="tablist"]'))) {
    t.setAttribute('aria-selected', String(t === tab));
    t.tabIndex = t === tab ? 0 : -1;
    document.getElementById(t.getAttribute('aria-controls')).hidden = t !== tab;
  }
  tab.focus();
}

function wireProps() {
  const d = $('#props');
  d.addEventListener('click', async (e) => {
    const tab = e.target.closest('[role="tab"]');
    if (tab) return selectTab(tab);
    const b = e.target.closest('[data-action]');
    const box = $('.propsdlg', d);
    if (!b || !box) return;
    const t = { kind: box.dataset.host ? 'group' : 'set', name: box.dataset.name, base: box.dataset.base, host: box.dataset.host };
    if (b.dataset.action === 'add') return openDialog($('#available'), `/ui/${path(t)}/available`);
    if (b.dataset.action === 'member') return openProps({ kind: 'set', host: t.host, name: b.dataset.set });
    if (b.dataset.action === 'remove') return attempt(box, () => api('POST', `${t.base}/remove`, { sets: [b.dataset.set] }));
    await runAction(t, b.dataset.action, b.dataset.dir, box);
  });
  d.addEventListener('keydown', (e) => {
    const tab = e.target.closest('[role="tab"]');
    if (!tab || !['ArrowLeft', 'ArrowRight'].includes(e.key)) return;
    const tabs = $$('[role="tab"]', tab.parentElement);
    selectTab(tabs[(tabs.indexOf(tab) + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length]);
  });
  // Forms in fragments post to their box's base (Available Sets: the form's own).
  const submit = (e) => {
    const f = e.target;
    const box = f.closest('[data-base]');
    e.preventDefault();
    attempt(box, async () => {
      validate(f);
      const body = formJson(f);
      if (f.dataset.move !== undefined) {
        await api('POST', '/api/v1/move', { from: f.dataset.move, shadow: f.dataset.shadow, ...body });
        return toast(`shadow ${f.dataset.shadow} exported to ${body.to}`);
      }
      await api('POST', `${box.dataset.base}/${f.dataset.post}`, body);
      toast(`${f.dataset.post}: done`);
      if (f.dataset.close !== undefined) f.closest('dialog').close();
      if (f.dataset.post !== 'rename' || !box.dataset.host) return;
      // Follow the renamed group (now, or when the host's change arrives).
      d.dataset.src = `/ui/${path({ kind: 'group', host: box.dataset.host, name: body.name })}/properties`;
      refreshDialog(box.dataset.row).catch(() => {});
    });
  };
  d.addEventListener('submit', submit);
  $('#available').addEventListener('submit', submit);
}

$('#filter')?.addEventListener('change', applyView);
wireMenu();
wireDialogs();
applyView();
connect();
