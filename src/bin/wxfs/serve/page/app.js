// The wxfs inspector page. Everything it shows comes from the JSON API of `wxfs serve`, and every
// piece of it is put in the page as text (el() and textContent): no key, value or file name can
// ever become markup. Routes live in the hash: #/, #/storage/<id>, #/files/<id>, #/events.
'use strict';

const TOKEN = new URLSearchParams(location.search).get('token') || '';
const main = document.getElementById('main');

// ---------- helpers ----------

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'data') for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = String(dv);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'style') e.style.cssText = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** Replaces a node's children (null, undefined and false are left out). */
function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

function show(...nodes) {
  fill(main, ...nodes);
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null) q.set(k, String(v));
  return q.toString();
}

async function api(path, params) {
  const res = await fetch(path + '?' + query(params), { headers: { 'X-Wxfs-Token': TOKEN } });
  const body = await res.json().catch(() => ({ error: res.status + ' ' + res.statusText }));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

async function post(path, params, text) {
  const res = await fetch(path + '?' + query(params), {
    method: 'POST',
    headers: { 'X-Wxfs-Token': TOKEN, 'Content-Type': 'application/json' },
    body: text,
  });
  const body = await res.json().catch(() => ({ error: res.status + ' ' + res.statusText }));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

const nf = new Intl.NumberFormat('en-US');

function bytes(n) {
  if (n === null || n === undefined) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? nf.format(n) + ' B' : v.toFixed(v < 10 ? 2 : 1) + ' ' + units[u];
}

function plural(n, word) {
  return `${nf.format(n)} ${word}${n === 1 ? '' : 's'}`;
}

function when(ms) {
  return ms ? new Date(ms).toLocaleString() : '—';
}

/** A usage bar: value against limit, exact figures in data attributes and the tooltip. */
function bar(label, metric, value, limit, fmt) {
  const pct = value === null || value === undefined || !limit ? 0 : Math.min(100, (100 * value) / limit);
  const level = pct >= 90 ? 'full' : pct >= 70 ? 'high' : '';
  return el('div', { class: 'bar-row', data: { metric, value: value ?? '', limit } },
    el('span', { class: 'bar-label' }, label),
    el('span', { class: 'bar', title: `${nf.format(value ?? 0)} of ${nf.format(limit)}` },
      el('span', { class: 'bar-fill ' + level, style: `width:${pct.toFixed(2)}%` })),
    el('span', { class: 'bar-text' }, `${fmt(value)} of ${fmt(limit)}`));
}

function stateText(state) {
  if (state.open === true && state.inspector) return 'open in this inspector (writing)';
  if (state.open === true) return `open in process ${state.pid}`;
  if (state.open === false) return 'idle';
  return 'open state unknown on this system';
}

function stateBadge(state) {
  return el('span', { class: 'state ' + (state.open ? 'open' : 'idle'), data: { open: String(state.open) } }, stateText(state));
}

function sandboxTitle(s) {
  return el('span', { class: 'title' },
    el('span', { class: 'platform' }, s.platform),
    el('span', { class: 'ids' }, s.user, ' / ', s.app),
    s.plugin !== null && s.plugin !== undefined ? el('span', { class: 'plugin' }, 'plugin ', s.plugin) : null);
}

/** Where a sandbox's limits come from: its host's open, as the sandbox recorded it, or defaults. */
function limitsNote(from) {
  return el('p', { class: 'limits-from muted', data: { from } }, from === 'recorded'
    ? 'Limits: as its host configured them at its last open.'
    : 'Limits: the platform\u2019s defaults (no configured limits recorded in this sandbox).');
}

function problem(err) {
  return el('p', { class: 'error' }, err.message || String(err));
}

const enc = encodeURIComponent;

function mode(write) {
  document.getElementById('mode').textContent = write ? 'writes allowed (--write)' : 'read-only';
}

// ---------- overview ----------

async function overview() {
  const started = performance.now();
  const data = await api('/api/overview');
  mode(data.write);
  const cards = data.sandboxes.map((s) => {
    const u = s.usage || {};
    const st = s.storage || {};
    return el('section', { class: 'card', data: { sandbox: s.id } },
      el('div', { class: 'card-head' }, sandboxTitle(s), stateBadge(s.state)),
      el('div', { class: 'bars' },
        bar('User files', 'userFiles', u.userFiles, s.limits.userFiles, bytes),
        bar('Temp', 'temp', u.temp, s.limits.tempRuntime, bytes),
        bar('Storage', 'storage', st.bytes, s.limits.storageTotal, bytes),
        bar('Entries', 'entries', u.entries, s.limits.entries, (n) => nf.format(n ?? 0))),
      el('div', { class: 'card-foot' },
        el('span', { class: 'keys', data: { keys: st.keys ?? '', encrypted: st.encrypted ?? '' } },
          plural(st.keys ?? 0, 'key'), st.encrypted ? ` (${nf.format(st.encrypted)} encrypted)` : ''),
        el('span', { class: 'muted' }, 'last used ', when(s.lastUse)),
        el('a', { href: '#/storage/' + enc(s.id), class: 'go' }, 'Storage'),
        el('a', { href: '#/files/' + enc(s.id), class: 'go' }, 'Files')),
      limitsNote(s.limitsFrom),
      s.readOnly && data.write ? el('p', { class: 'note' }, s.readOnly) : null,
      s.notes.length ? el('ul', { class: 'notes' }, s.notes.map((n) => el('li', {}, n))) : null);
  });
  show(
    el('h2', {}, 'Sandboxes ', el('span', { class: 'muted' }, `under ${data.root}`)),
    cards.length ? el('div', { class: 'cards' }, cards) : el('p', {}, 'No sandbox under this root.'));
  window.__wxfs.overviewMs = performance.now() - started;
  // Since the navigation started: what a person waits for.
  window.__wxfs.overviewReadyAt = performance.now();
  document.body.dataset.ready = 'overview';
}

// ---------- storage ----------

/** Indents stored JSON text without parsing it (a number keeps every digit). */
function pretty(text) {
  let out = '', depth = 0, inString = false, escaped = false;
  const nl = () => '\n' + '  '.repeat(depth);
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') { inString = true; out += c; }
    else if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      if (text[i + 1] === close) { out += c + close; i++; } else { depth++; out += c + nl(); }
    } else if (c === '}' || c === ']') { depth--; out += nl() + c; }
    else if (c === ',') out += c + nl();
    else if (c === ':') out += ': ';
    else if (!/\s/.test(c)) out += c;
  }
  return out;
}

const PAGE = 100;

async function storage(id) {
  const st = { id, offset: 0, q: '', data: null };
  const list = el('div', { class: 'list' });
  const detail = el('div', { class: 'detail' }, el('p', { class: 'muted' }, 'Click a key to see its whole value.'));
  const head = el('div', { class: 'view-head' });
  const filter = el('input', { type: 'search', placeholder: 'Filter keys', class: 'filter', 'aria-label': 'Filter keys' });
  let timer = 0;
  filter.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { st.q = filter.value; st.offset = 0; load(); }, 200);
  });
  show(head, el('div', { class: 'split' }, el('div', {}, filter, list), detail));

  async function load() {
    let d;
    try {
      d = await api('/api/storage', { sandbox: id, offset: st.offset, limit: PAGE, q: st.q });
    } catch (e) { fill(list, problem(e)); return; }
    st.data = d;
    mode(d.write);
    const writable = !d.readOnly;
    fill(head, 
      el('h2', {}, 'Storage ', el('span', { class: 'muted' }, id), ' ', stateBadge(d.state)),
      bar('Storage', 'storage', d.bytes, d.limit, bytes),
      limitsNote(d.limitsFrom),
      el('p', { class: 'summary', data: { keys: d.keys, encrypted: d.encrypted, bytes: d.bytes } },
        plural(d.keys, 'key'), d.encrypted ? `, ${nf.format(d.encrypted)} of them encrypted (never shown)` : '',
        `; ${nf.format(d.bytes)} bytes of keys, values and dataTypes`),
      d.readOnly ? el('p', { class: 'banner readonly' }, d.readOnly) : null,
      d.notes.length ? el('ul', { class: 'notes' }, d.notes.map((n) => el('li', {}, n))) : null,
      writable ? el('div', { class: 'actions' },
        el('button', { onclick: () => edit(null), id: 'add-key' }, 'Add key'),
        d.plugin ? el('span', { class: 'muted' }, 'A plugin has no clearStorage.')
          : el('button', { class: 'danger', onclick: confirmClear, id: 'clear-storage' }, 'Clear storage…')) : null);
    const rows = d.items.map((it) => it.encrypted
      ? el('tr', { class: 'sealed', data: { index: it.index } },
          el('td', { class: 'key' }, '\u{1F512} encrypted item'), el('td', {}, 'encrypted'),
          el('td', { class: 'num' }, nf.format(it.size)), el('td', { class: 'muted' }, 'sealed: name and value are not shown'))
      : el('tr', { class: 'item', data: { key: it.key }, onclick: () => open(it.key) },
          el('td', { class: 'key' }, it.key),
          el('td', { class: it.typeSet ? 'type' : 'type muted', title: it.typeSet ? 'dataType' : 'JSON type (no dataType set)' }, it.type),
          el('td', { class: 'num' }, nf.format(it.size)),
          el('td', { class: 'value' }, it.preview, it.more ? '…' : '')));
    const last = Math.min(d.offset + d.items.length, d.matched);
    fill(list, 
      el('table', { class: 'keys' },
        el('thead', {}, el('tr', {}, el('th', {}, 'Key'), el('th', {}, 'Type'), el('th', { class: 'num' }, 'Size'), el('th', {}, 'Value'))),
        el('tbody', {}, rows)),
      el('div', { class: 'pager' },
        el('button', { disabled: d.offset === 0, onclick: () => { st.offset = Math.max(0, st.offset - PAGE); load(); } }, '‹ Previous'),
        el('span', { class: 'range' }, d.matched ? `${nf.format(d.offset + 1)}–${nf.format(last)} of ${nf.format(d.matched)}` : 'no keys'),
        el('button', { disabled: last >= d.matched, onclick: () => { st.offset += PAGE; load(); } }, 'Next ›')));
    document.body.dataset.ready = 'storage';
  }

  async function open(key) {
    let v;
    try { v = await api('/api/storage/item', { sandbox: id, key }); } catch (e) { fill(detail, problem(e)); return; }
    const writable = st.data && !st.data.readOnly;
    fill(detail, 
      el('h3', { class: 'detail-key' }, v.key),
      el('p', { class: 'muted' }, v.dataType ? `dataType ${v.dataType} · ` : '', `${nf.format(v.size)} bytes`),
      el('pre', { class: 'json', id: 'value' }, pretty(v.text)),
      writable ? el('div', { class: 'actions' },
        el('button', { onclick: () => edit(v), id: 'edit-key' }, 'Edit'),
        el('button', { class: 'danger', onclick: () => remove(v.key), id: 'delete-key' }, 'Delete')) : null);
    document.body.dataset.ready = 'value';
  }

  function edit(v) {
    const key = el('input', { id: 'edit-name', value: v ? v.key : '', disabled: !!v, 'aria-label': 'Key' });
    const type = el('input', { id: 'edit-type', value: v && v.dataType ? v.dataType : '', placeholder: 'none', 'aria-label': 'dataType' });
    const asText = el('input', { type: 'checkbox', id: 'edit-as-text' });
    const text = el('textarea', { id: 'edit-value', rows: 14, spellcheck: 'false', 'aria-label': 'Value' });
    text.value = v ? pretty(v.text) : '';
    const msg = el('p', { class: 'error', id: 'edit-error' });
    const save = async () => {
      msg.textContent = '';
      let data = text.value;
      if (asText.checked) data = JSON.stringify(data);
      else {
        try { JSON.parse(data); } catch (e) { msg.textContent = `Not JSON (${e.message}); tick “a string” to store the text as it is.`; return; }
      }
      // The value goes as the JSON text typed, never re-serialised here: the library checks and
      // stores it as setStorageSync does.
      let body = '{"key":' + JSON.stringify(key.value) + ',"data":' + data;
      if (type.value !== '') body += ',"dataType":' + JSON.stringify(type.value);
      body += '}';
      try {
        await post('/api/storage/set', { sandbox: id }, body);
      } catch (e) { msg.textContent = e.message; return; }
      await load();
      await open(key.value);
    };
    fill(detail, 
      el('h3', {}, v ? 'Edit value' : 'Add key'),
      el('label', {}, 'Key ', key),
      el('label', {}, 'dataType ', type),
      el('label', { class: 'inline' }, asText, ' a string: store the text below as it is'),
      text, msg,
      el('div', { class: 'actions' },
        el('button', { onclick: save, id: 'edit-save', class: 'primary' }, 'Save'),
        el('button', { onclick: () => (v ? open(v.key) : fill(detail)) }, 'Cancel')));
    (v ? text : key).focus();
  }

  async function remove(key) {
    try { await post('/api/storage/remove', { sandbox: id }, JSON.stringify({ key })); } catch (e) { detail.append(problem(e)); return; }
    fill(detail, el('p', { class: 'muted' }, `Deleted ${key}.`));
    await load();
  }

  function confirmClear() {
    const n = st.data ? st.data.keys : 0;
    const msg = el('p', { class: 'error' });
    fill(detail, 
      el('h3', {}, 'Clear storage?'),
      el('p', {}, `Every one of the ${nf.format(n)} keys of ${id} is removed, encrypted items included. This cannot be undone.`),
      msg,
      el('div', { class: 'actions' },
        el('button', { class: 'danger', id: 'clear-confirm', onclick: async () => {
          try { await post('/api/storage/clear', { sandbox: id }, JSON.stringify({ confirm: true })); } catch (e) { msg.textContent = e.message; return; }
          fill(detail, el('p', { class: 'muted' }, 'Storage cleared.'));
          st.offset = 0;
          await load();
        } }, 'Clear storage'),
        el('button', { onclick: () => fill(detail) }, 'Cancel')));
  }

  await load();
}

// ---------- files ----------

const AREAS = [['usr', 'User files'], ['store', 'Saved files'], ['tmp', 'Temp files']];
const FILE_PAGE = 200;

async function files(id) {
  const preview = el('div', { class: 'detail' }, el('p', { class: 'muted' }, 'Click a file to preview it.'));
  const tree = el('div', { class: 'tree' });
  const head = el('div', { class: 'view-head' }, el('h2', {}, 'Files ', el('span', { class: 'muted' }, id)));
  show(head, el('div', { class: 'split' }, tree, preview));
  try {
    const a = await api('/api/areas', { sandbox: id });
    mode(a.write);
    head.append(stateBadge(a.state),
      bar('usr', 'usr', a.usr, a.userFilesLimit, bytes),
      bar('store', 'store', a.store, a.userFilesLimit, bytes),
      bar('tmp', 'tmp', a.tmp, a.tempLimit, bytes),
      bar('Entries', 'entries', a.entries, a.entriesLimit, (n) => nf.format(n ?? 0)),
      el('p', { class: 'muted' }, 'usr and store share one quota.'), limitsNote(a.limitsFrom));
  } catch (e) { head.append(problem(e)); }
  for (const [area, label] of AREAS) {
    const node = dirNode(id, area, '', label);
    tree.append(node);
  }
  document.body.dataset.ready = 'files';

  function dirNode(sb, area, path, label) {
    const children = el('ul', { class: 'children', hidden: true });
    let loaded = 0;
    const toggle = el('button', { class: 'dir', data: { area, path }, onclick: async () => {
      if (!children.hidden) { children.hidden = true; toggle.classList.remove('expanded'); return; }
      children.hidden = false;
      toggle.classList.add('expanded');
      if (loaded === 0) await more();
    } }, label);
    async function more() {
      let d;
      try {
        d = await api('/api/files', { sandbox: sb, area, path, offset: loaded, limit: FILE_PAGE });
      } catch (e) { children.append(el('li', {}, problem(e))); return; }
      children.querySelector(':scope > li.more')?.remove();
      for (const e of d.entries) {
        const p = path ? path + '/' + e.name : e.name;
        if (e.kind === 'dir') children.append(el('li', {}, dirNode(sb, area, p, e.name)));
        else children.append(el('li', {},
          el('button', { class: 'file ' + e.kind, data: { area, path: p }, onclick: () => show1(area, p, e) },
            el('span', { class: 'name' }, e.name),
            el('span', { class: 'size' }, e.kind === 'file' ? bytes(e.size) : e.kind === 'link' ? 'symbolic link' : e.kind),
            el('span', { class: 'mtime' }, when(e.mtime)))));
      }
      loaded = d.offset + d.entries.length;
      if (loaded < d.total) {
        children.append(el('li', { class: 'more' },
          el('button', { onclick: more, class: 'more-button' }, `Show ${nf.format(Math.min(FILE_PAGE, d.total - loaded))} more (${nf.format(d.total - loaded)} not shown)`)));
      }
      if (d.entries.length === 0 && d.total === 0) children.append(el('li', { class: 'muted' }, 'empty'));
      if (!d.stable) children.append(el('li', { class: 'note' }, 'this directory changed while it was read'));
      document.body.dataset.ready = 'files';
    }
    return el('div', { class: 'node' }, toggle, children);
  }

  async function show1(area, path, entry) {
    const params = { sandbox: id, area, path };
    const download = el('a', { href: '/api/file?' + query({ ...params, as: 'download', token: TOKEN }), id: 'download', download: entry.name }, 'Download');
    fill(preview, el('h3', {}, entry.name),
      el('p', { class: 'muted' }, `${area} · ${nf.format(entry.size ?? 0)} bytes · modified ${when(entry.mtime)} · `, download));
    if (entry.kind !== 'file') return;
    const res = await fetch('/api/file?' + query({ ...params, as: 'preview' }), { headers: { 'X-Wxfs-Token': TOKEN } });
    if (!res.ok) {
      const body = await res.json().catch(() => ({ error: res.statusText }));
      preview.append(el('p', { class: 'muted', id: 'no-preview' }, body.error));
      return;
    }
    const type = res.headers.get('Content-Type') || '';
    if (type.startsWith('image/')) {
      const url = URL.createObjectURL(await res.blob());
      preview.append(el('img', { src: url, class: 'preview-image', id: 'preview-image', alt: entry.name }));
    } else {
      preview.append(el('pre', { class: 'preview-text', id: 'preview-text' }, await res.text()));
      if (res.headers.get('X-Wxfs-Cut') === '1') preview.append(el('p', { class: 'muted' }, 'Only the start is shown; download it for the rest.'));
    }
    document.body.dataset.ready = 'preview';
  }
}

// ---------- events ----------

const events = [];
let eventsSeen = 0;

async function listen() {
  let last = 0;
  for (;;) {
    try {
      const d = await api('/api/events', { after: last, wait: 1 });
      for (const e of d.events) events.push(e);
      if (events.length > 1000) events.splice(0, events.length - 1000);
      last = d.last;
      const unseen = events.length - eventsSeen;
      document.getElementById('event-count').textContent = unseen > 0 ? String(unseen) : '';
      if (location.hash === '#/events') renderEvents();
    } catch (e) {
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

function renderEvents() {
  eventsSeen = events.length;
  document.getElementById('event-count').textContent = '';
  const rows = events.slice().reverse().map((e) =>
    el('tr', { class: 'event ' + e.level, data: { id: e.id } },
      el('td', {}, new Date(e.time).toLocaleTimeString()),
      el('td', {}, e.source), el('td', { class: 'level' }, e.level),
      el('td', {}, e.sandbox), el('td', { class: 'message' }, e.message)));
  show(
    el('h2', {}, 'Events'),
    el('p', { class: 'muted' }, 'Live while this page is open: the warnings and errors host processes heard through their log callback (recovery at open, calls refused by a limit, repairs), as each sandbox records its recent ones; what the library reports in this inspector; and what the inspector did or was refused.'),
    rows.length ? el('table', { class: 'events' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Time'), el('th', {}, 'From'), el('th', {}, 'Level'), el('th', {}, 'Sandbox'), el('th', {}, 'Message'))),
      el('tbody', {}, rows)) : el('p', { class: 'muted', id: 'no-events' }, 'No event yet.'));
  document.body.dataset.ready = 'events';
}

// ---------- routing ----------

async function route() {
  const h = location.hash || '#/';
  delete document.body.dataset.ready;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('href') === h);
  try {
    let m;
    if (h === '#/events') renderEvents();
    else if ((m = h.match(/^#\/storage\/(.+)$/))) await storage(decodeURIComponent(m[1]));
    else if ((m = h.match(/^#\/files\/(.+)$/))) await files(decodeURIComponent(m[1]));
    else await overview();
  } catch (e) {
    show(problem(e));
  }
}

window.__wxfs = {};
window.addEventListener('hashchange', route);
route();
listen();
