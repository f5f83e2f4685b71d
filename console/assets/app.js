// The console's one script: dialogs, fragment swaps and the event stream.
// Everything else is server-rendered HTML; the JSON API is documented in
// console/src/api.rs and served at /api/v1/openapi.json.
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const csrf = $('meta[name="csrf-token"]')?.content ?? '';
const enc = encodeURIComponent;
const collapsed = new Set();
let menuRow = null;
let opener = null;

async function api(method, url, body) {
  const init = { method, headers: { 'X-CSRF-Token': csrf } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(url, init);
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
  const t = $('#toast');
  if (t) t.textContent = msg;
}

function showError(root, e) {
  const p = root && $('p.error', root);
  if (p) p.textContent = e.message ?? String(e);
  else toast(e.message ?? String(e));
}

function clearError(root) {
  const p = root && $('p.error', root);
  if (p) p.textContent = '';
}

function confirmDialog(text) {
  const d = $('#confirm');
  $('#confirm-text').textContent = text;
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'yes'), { once: true });
    d.returnValue = '';
    d.showModal();
  });
}

// ---- table: filter, group expansion, swaps ----

function applyView() {
  const f = $('#filter')?.value ?? '';
  for (const tb of $$('#sets tbody')) {
    let show = true;
    if (f.startsWith('host:')) show = tb.dataset.host === f.slice(5);
    if (f.startsWith('tag:')) show = (tb.dataset.tags || '').split(' ').includes(f.slice(4));
    tb.hidden = !show;
  }
  for (const g of $$('#sets tr.group')) {
    const closed = collapsed.has(g.id);
    $('.expand', g)?.setAttribute('aria-expanded', String(!closed));
    const tb = g.closest('tbody');
    for (const m of $$('tr.member', tb)) {
      if (m.dataset.group === g.dataset.groupname) m.hidden = closed;
    }
  }
}

function swap(id, html) {
  const old = document.getElementById(id);
  const t = document.createElement('template');
  t.innerHTML = html.trim();
  const node = t.content.firstElementChild;
  if (!node) return;
  const focused = document.activeElement;
  const refocus = old && old.contains(focused) && focused.getAttribute('aria-label');
  if (old) old.replaceWith(node);
  else if (node.tagName === 'TBODY') $('#sets')?.append(node);
  else return;
  if (refocus) $$('[aria-label]', node).find((b) => b.getAttribute('aria-label') === refocus)?.focus();
  applyView();
}

async function refreshTable() {
  const t = $('#table');
  if (!t) return;
  t.innerHTML = await fragment('/ui/table');
  applyView();
}

async function refreshDialog(rowId) {
  const d = $('#props');
  const box = $('.propsdlg', d);
  if (!d.open || !box || box.dataset.row !== rowId) return;
  const t = document.createElement('template');
  t.innerHTML = await fragment(d.dataset.src);
  const fresh = $$('.live', t.content);
  $$('.live', box).forEach((el, i) => fresh[i] && el.replaceWith(fresh[i]));
}

function connect() {
  if (!$('#sets')) return;
  const es = new EventSource(`/api/v1/events?since=${$('#table').dataset.since}`);
  es.addEventListener('row', (e) => {
    const d = JSON.parse(e.data);
    swap(d.id, d.html);
    refreshDialog(d.id).catch(() => {});
  });
  es.addEventListener('rows', (e) => {
    const d = JSON.parse(e.data);
    swap(d.id, d.html);
    const box = $('#props .propsdlg');
    if (box) refreshDialog(box.dataset.row).catch(() => {});
  });
  es.addEventListener('remove', (e) => document.getElementById(JSON.parse(e.data).id)?.remove());
  es.addEventListener('refresh', () => refreshTable().catch(() => {}));
}

// ---- actions ----

function target(row) {
  const host = row.dataset.host;
  if (row.dataset.groupname !== undefined) {
    return { kind: 'group', host, name: row.dataset.groupname,
      base: `/api/v1/hosts/${enc(host)}/groups/${enc(row.dataset.groupname)}` };
  }
  return { kind: 'set', host, name: row.dataset.set,
    base: `/api/v1/hosts/${enc(host)}/sets/${enc(row.dataset.set)}` };
}

async function runAction(t, action, dir, root) {
  if (action === 'properties') return openProps(t);
  if (dir === 'to-master') {
    const q = t.kind === 'group'
      ? 'Overwrite every master in this group with its shadow volume?'
      : 'Overwrite master with shadow volume?';
    if (!(await confirmDialog(q))) return;
  }
  try {
    clearError(root);
    if (action === 'delete') {
      const q = t.kind === 'group'
        ? `Delete group ${t.name}? Its sets stay enabled.`
        : `Disable the set ${t.name}? The shadow keeps its data.`;
      if (!(await confirmDialog(q))) return;
      await api('DELETE', t.base);
      if (root) root.closest('dialog')?.close();
    } else {
      await api('POST', `${t.base}/${action}`, dir ? { direction: dir } : {});
    }
    toast(`${action} ${dir ?? ''} on ${t.name}: done`);
  } catch (e) {
    showError(root, e);
  }
}

function openMenu(row, x, y) {
  const m = $('#menu');
  menuRow = row;
  opener = document.activeElement;
  const isGroup = row.dataset.groupname !== undefined;
  $('[data-action="delete"]', m).textContent = isGroup ? 'Delete group' : 'Delete';
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
      openMenu(b.closest('tr'), r.left, r.bottom);
      e.stopPropagation();
      return;
    }
    const item = e.target.closest('#menu [data-action]');
    if (item && menuRow) {
      const t = target(menuRow);
      closeMenu();
      runAction(t, item.dataset.action, item.dataset.dir);
      return;
    }
    const rowBtn = e.target.closest('#sets [data-action]');
    if (rowBtn) runAction(target(rowBtn.closest('tr')), rowBtn.dataset.action, rowBtn.dataset.dir);
    const ex = e.target.closest('#sets .expand');
    if (ex) {
      const g = ex.closest('tr');
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

// ---- dialogs ----

function formJson(form) {
  const o = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.type === 'submit' || el.type === 'button') continue;
    if ((el.type === 'radio' || el.type === 'checkbox') && !el.checked) continue;
    if (el.value === '') continue;
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

function hostPickers(dlg) {
  const hosts = $$('#sets tbody').filter((tb) => !tb.classList.contains('down')).map((tb) => tb.dataset.host);
  const sel = $('.host-pick', dlg);
  const cur = sel.value;
  sel.replaceChildren(...hosts.map((h) => new Option(h, h)));
  if (hosts.includes(cur)) sel.value = cur;
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

async function loadVolumes(form) {
  const h = form.elements.host.value;
  if (!h) return;
  const html = await fragment(`/ui/hosts/${enc(h)}/volume-options`);
  for (const sel of $$('select.vol', form)) sel.innerHTML = html;
  newSetHints(form);
}

function openDialog(d) {
  opener = document.activeElement;
  clearError(d);
  d.showModal();
}

// New Set and New Group: post the form to the chosen host, show the host's error.
function wireCreate(dlg, kind, adjust) {
  const form = $('form', dlg);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = formJson(form);
    const host = body.host;
    delete body.host;
    adjust(body);
    try {
      clearError(dlg);
      validate(form);
      await api('POST', `/api/v1/hosts/${enc(host)}/${kind}`, body);
      dlg.close();
      toast(`${kind === 'sets' ? 'set' : 'group'} ${body.name || body.shadow} created on ${host}`);
    } catch (err) {
      showError(dlg, err);
    }
  });
}

function wireDialogs() {
  for (const d of $$('dialog')) {
    d.addEventListener('close', () => opener?.focus?.());
    d.addEventListener('click', (e) => { if (e.target.closest('.cancel')) d.close(); });
  }
  const ns = $('#newset');
  if (!ns) return;
  const nsf = $('#newset-form');
  $('#new-set').addEventListener('click', () => {
    hostPickers(ns);
    openDialog(ns);
    loadVolumes(nsf).catch((e) => showError(ns, e));
  });
  nsf.elements.host.addEventListener('change', () => loadVolumes(nsf).catch((e) => showError(ns, e)));
  nsf.addEventListener('change', () => newSetHints(nsf));
  wireCreate(ns, 'sets', (body) => { if ($('#overflow-pane').hidden) delete body.overflow; });
  const ng = $('#newgroup');
  $('#new-group').addEventListener('click', () => { hostPickers(ng); openDialog(ng); });
  wireCreate(ng, 'groups', () => {});
  wireProps();
}

async function openProps(t) {
  const d = $('#props');
  const kind = t.kind === 'group' ? 'groups' : 'sets';
  const src = `/ui/hosts/${enc(t.host)}/${kind}/${enc(t.name)}/properties`;
  d.dataset.src = src;
  $('.content', d).innerHTML = await fragment(src);
  if (!d.open) openDialog(d);
  $('[role="tab"], button', d)?.focus();
}

function selectTab(tab) {
  const list = tab.closest('[role="tablist"]');
  for (const t of $$('[role="tab"]', list)) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    document.getElementById(t.getAttribute('aria-controls')).hidden = !on;
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
    const t = { kind: box.dataset.host ? 'group' : 'set', name: '', base: box.dataset.base, host: box.dataset.host };
    t.name = $('h2', box).textContent.replace(/^[^:]*: /, '');
    if (b.dataset.action === 'add') return openAvailable(t);
    if (b.dataset.action === 'member') return openProps({ kind: 'set', host: t.host, name: b.dataset.set });
    if (b.dataset.action === 'remove') {
      try { await api('POST', `${t.base}/remove`, { sets: [b.dataset.set] }); } catch (err) { showError(box, err); }
      return;
    }
    await runAction(t, b.dataset.action, b.dataset.dir, box);
  });
  d.addEventListener('keydown', (e) => {
    const tab = e.target.closest('[role="tab"]');
    if (!tab || !['ArrowLeft', 'ArrowRight'].includes(e.key)) return;
    const tabs = $$('[role="tab"]', tab.parentElement);
    selectTab(tabs[(tabs.indexOf(tab) + 1) % tabs.length]);
  });
  d.addEventListener('submit', async (e) => {
    const f = e.target;
    const box = $('.propsdlg', d);
    e.preventDefault();
    try {
      clearError(box);
      validate(f);
      if (f.dataset.move !== undefined) {
        const body = { from: f.dataset.move, shadow: f.dataset.shadow, ...formJson(f) };
        await api('POST', '/api/v1/move', body);
        toast(`shadow ${body.shadow} exported to ${body.to}`);
      } else {
        await api('POST', `${box.dataset.base}/${f.dataset.post}`, formJson(f));
        toast(`${f.dataset.post}: done`);
      }
    } catch (err) {
      showError(box, err);
    }
  });
  const av = $('#available');
  av.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = e.target;
    try {
      clearError(av);
      const sets = formJson(f).sets ?? [];
      if (!sets.length) throw new Error('Choose at least one set.');
      await api('POST', `${f.dataset.base}/add`, { sets });
      av.close();
    } catch (err) {
      showError(av, err);
    }
  });
}

async function openAvailable(t) {
  const av = $('#available');
  $('.content', av).innerHTML = await fragment(`/ui/hosts/${enc(t.host)}/groups/${enc(t.name)}/available`);
  av.showModal();
}

$('#filter')?.addEventListener('change', applyView);
wireMenu();
wireDialogs();
applyView();
connect();
