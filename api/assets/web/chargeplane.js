// chargeplane: the console's and the app's one script. It fills the pages
// the server renders from /api/v1 with the signed-in token, which it keeps
// in sessionStorage (this tab only; never sent by the browser on its own,
// so no request can be forged from another site). Live updates come as
// server-sent events read from fetch(), which can carry the token.
'use strict';
(() => {
  const body = document.body;
  const site = body.dataset.site;
  const page = body.dataset.page;
  const pageId = body.dataset.id;
  const KEY = site === 'app' ? 'chargeplane.driver' : 'chargeplane.user';
  const $ = (s, r = document) => r.querySelector(s);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'class') e.className = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids.flat()) if (k != null) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  function signedIn() {
    try { return JSON.parse(sessionStorage.getItem(KEY)); } catch { return null; }
  }
  const loginPath = () => (site === 'app' ? '/app/login' : '/console/login');
  function toLogin(expired) {
    sessionStorage.removeItem(KEY);
    const q = new URLSearchParams({ next: location.pathname });
    if (expired) q.set('expired', '1');
    location.assign(`${loginPath()}?${q}`);
  }

  class ApiError extends Error {
    constructor(status, b) {
      super((b && b.message) || `the server answered ${status}`);
      this.status = status;
      this.code = b && b.error;
      this.field = b && b.field;
    }
  }

  async function api(method, path, data, opts = {}) {
    const s = signedIn();
    const headers = { accept: 'application/json' };
    if (s) headers.authorization = `Bearer ${s.token}`;
    if (data !== undefined) headers['content-type'] = 'application/json';
    if (opts.key) headers['idempotency-key'] = opts.key;
    const url = path.startsWith('/api/') ? path : `/api/v1${path}`;
    let res;
    try {
      res = await fetch(url, { method, headers, body: data === undefined ? undefined : JSON.stringify(data) });
    } catch (e) {
      throw new ApiError(0, { error: 'network', message: `the server cannot be reached (${e.message})` });
    }
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    if (res.status === 401 && s && !opts.noRedirect) {
      toLogin(true);
      throw new ApiError(401, json);
    }
    if (!res.ok) throw new ApiError(res.status, json);
    return json;
  }

  // Every item of a paged list ({items, next}).
  async function all(path) {
    const out = [];
    let after = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const p = await api('GET', `${path}${sep}limit=500${after ? `&after=${encodeURIComponent(after)}` : ''}`);
      out.push(...p.items);
      after = p.next;
    } while (after);
    return out;
  }

  function describe(e) {
    let m = e.message || String(e);
    if (e.status === 403) m = `Not allowed: ${m}`;
    if (e.field) m += ` (${e.field})`;
    return m;
  }
  function showError(e, box) {
    box = box || $('.error');
    for (const bad of document.querySelectorAll('[aria-invalid]')) bad.removeAttribute('aria-invalid');
    if (!box) return;
    box.hidden = false;
    box.textContent = describe(e);
    if (e.field) {
      const input = document.querySelector(`[name="${CSS.escape(e.field)}"]`);
      if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
    }
  }
  function clearError(box) {
    box = box || $('.error');
    if (box) { box.hidden = true; box.textContent = ''; }
  }
  const guard = (f) => async (ev) => {
    if (ev && ev.preventDefault) ev.preventDefault();
    clearError();
    try { await f(ev); } catch (e) { showError(e); }
  };
  const key = () => `web-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;

  function setLive(on, text) {
    const l = $('#live');
    if (!l) return;
    l.classList.toggle('on', on);
    l.textContent = text || (on ? 'live' : 'reconnecting');
  }

  // Server-sent events over fetch: reconnects by itself, backing off.
  function stream(path, onEvent, opts = {}) {
    let stopped = false;
    let ctrl = null;
    let delay = 1000;
    (async () => {
      while (!stopped) {
        ctrl = new AbortController();
        try {
          const s = signedIn();
          const res = await fetch(`/api/v1${path}`, {
            headers: { authorization: `Bearer ${s && s.token}`, accept: 'text/event-stream' },
            signal: ctrl.signal,
          });
          if (res.status === 401) return toLogin(true);
          if (!res.ok) {
            const e = new ApiError(res.status, await res.json().catch(() => null));
            if (res.status < 500) { setLive(false, 'ended'); if (opts.onEnd) opts.onEnd(e); return; }
            throw e;
          }
          setLive(true);
          delay = 1000;
          if (opts.onOpen) opts.onOpen();
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += value;
            let i;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              const chunk = buf.slice(0, i);
              buf = buf.slice(i + 2);
              const data = chunk.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
              if (data) onEvent(JSON.parse(data));
            }
          }
          if (opts.ends) { setLive(false, 'ended'); if (opts.onEnd) opts.onEnd(null); return; }
        } catch (e) {
          if (stopped) return;
        }
        setLive(false);
        await sleep(delay);
        delay = Math.min(delay * 2, 15000);
      }
    })();
    return { stop() { stopped = true; if (ctrl) ctrl.abort(); } };
  }

  function debounce(f, ms) {
    let t = null;
    return () => { clearTimeout(t); t = setTimeout(f, ms); };
  }
  const num = (v) => Number(v || 0);
  const kw = (w) => `${(num(w) / 1000).toFixed(2)} kW`;
  const yuan = (v) => `¥${num(v).toFixed(2)}`;
  const when = (t) => (t ? new Date(t).toLocaleString() : '—');
  const day = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

  // ---- charts and bills, shared ----

  function chart(samples) {
    if (!samples.length) return '<p class="muted">No readings yet.</p>';
    const W = 640, H = 240, P = 44;
    const ts = samples.map((s) => new Date(s.at).getTime());
    const t0 = ts[0], t1 = Math.max(ts[ts.length - 1], t0 + 1);
    const pmax = Math.max(1, ...samples.map((s) => num(s.power)));
    const emax = Math.max(0.001, ...samples.map((s) => num(s.kwh)));
    const x = (t) => (P + ((t - t0) / (t1 - t0)) * (W - 2 * P)).toFixed(1);
    const y = (v, max) => (H - P - (v / max) * (H - 2 * P)).toFixed(1);
    const line = (f, max) => samples.map((s, i) => `${x(ts[i])},${y(f(s), max)}`).join(' ');
    return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Power and energy over time">`
      + `<line class="axis" x1="${P}" y1="${H - P}" x2="${W - P}" y2="${H - P}"/>`
      + `<line class="axis" x1="${P}" y1="${P}" x2="${P}" y2="${H - P}"/>`
      + `<polyline class="power" points="${line((s) => num(s.power), pmax)}"/>`
      + `<polyline class="energy" points="${line((s) => num(s.kwh), emax)}"/>`
      + `<text x="4" y="${P - 8}">${esc(pmax.toFixed(0))} W</text>`
      + `<text x="${W - P - 60}" y="${P - 8}">${esc(emax.toFixed(2))} kWh</text>`
      + `<text x="${P}" y="${H - 14}">${esc(new Date(t0).toLocaleTimeString())}</text>`
      + `<text x="${W - P - 60}" y="${H - 14}">${esc(new Date(t1).toLocaleTimeString())}</text>`
      + `<text x="${W / 2 - 80}" y="${H - 14}">— power (W)  - - energy (kWh)</text>`
      + `<desc>${samples.length} readings</desc></svg>`;
  }

  // A station's power samples: limit, allocated and measured, in kW.
  function powerChart(samples) {
    if (!samples.length) return '<p class="muted">No samples yet.</p>';
    const W = 640, H = 240, P = 44;
    const ts = samples.map((s) => new Date(s.at).getTime());
    const t0 = ts[0], t1 = Math.max(ts[ts.length - 1], t0 + 1);
    const max = Math.max(1, ...samples.flatMap((s) => [num(s.limit_w), num(s.allocated_w), num(s.measured_w)]));
    const x = (t) => (P + ((t - t0) / (t1 - t0)) * (W - 2 * P)).toFixed(1);
    const y = (v) => (H - P - (v / max) * (H - 2 * P)).toFixed(1);
    const line = (cls, f) => {
      const pts = samples.map((s, i) => [ts[i], f(s)]).filter(([, v]) => v != null);
      return pts.length ? `<polyline class="${cls}" points="${pts.map(([t, v]) => `${x(t)},${y(num(v))}`).join(' ')}"/>` : '';
    };
    return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Station power over time">`
      + `<line class="axis" x1="${P}" y1="${H - P}" x2="${W - P}" y2="${H - P}"/>`
      + `<line class="axis" x1="${P}" y1="${P}" x2="${P}" y2="${H - P}"/>`
      + line('limit', (s) => s.limit_w) + line('allocated', (s) => s.allocated_w) + line('measured', (s) => s.measured_w)
      + `<text x="4" y="${P - 8}">${esc((max / 1000).toFixed(1))} kW</text>`
      + `<text x="${P}" y="${H - 14}">${esc(new Date(t0).toLocaleTimeString())}</text>`
      + `<text x="${W - P - 60}" y="${H - 14}">${esc(new Date(t1).toLocaleTimeString())}</text>`
      + `<text x="${W / 2 - 110}" y="${H - 14}">- - limit  — allocated  — measured</text>`
      + `<desc>${samples.length} samples</desc></svg>`;
  }

  function lineText(l) {
    switch (l.kind) {
      case 'period': return `${l.period}: ${l.kwh} kWh × (${l.energy_price} + ${l.service_price})`;
      case 'time': return `${Math.round(l.billed_seconds / 60)} min at ${l.per_hour}/h`;
      case 'energy': return `${l.kwh} kWh × ${l.per_kwh}`;
      case 'tier': return `power tier ${l.tier}, ${l.seconds} s`;
      default: return l.kind.replace(/_/g, ' ');
    }
  }

  function bill(b) {
    const rows = (b.lines || []).map((l) => el('tr', {}, el('td', {}, lineText(l)), el('td', {}, yuan(l.amount))));
    const sum = (label, v) => el('tr', {}, el('th', {}, label), el('td', {}, v));
    return el('table', { class: 'bill' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Line'), el('th', {}, 'Amount'))),
      el('tbody', {}, rows,
        sum('Energy', `${b.kwh} kWh`),
        sum('List price', yuan(b.list_total)),
        num(b.discount) ? sum('Discount', yuan(b.discount)) : null,
        el('tr', { class: 'total' }, el('th', {}, 'Total'), el('td', { id: 'bill-total' }, yuan(b.total))),
        b.prepaid != null ? sum('Prepaid', yuan(b.prepaid)) : null,
        num(b.refund) ? sum('Refunded', yuan(b.refund)) : null));
  }

  // ---- the console ----

  const console_ = {
    login() {
      const q = new URLSearchParams(location.search);
      if (q.get('expired')) showError({ message: 'Your session has ended; sign in again.' });
      $('#login-form').addEventListener('submit', guard(async (ev) => {
        const f = new FormData(ev.target);
        const r = await api('POST', '/auth/login', { username: f.get('username'), password: f.get('password') }, { noRedirect: true });
        sessionStorage.setItem(KEY, JSON.stringify({ token: r.token, user: r.user }));
        const next = q.get('next');
        location.assign(next && next.startsWith('/console/') && !next.startsWith('/console/login') ? next : '/console/');
      }));
    },

    async overview() {
      const refresh = async () => {
        try {
          clearError();
          const [piles, stations] = await Promise.all([all('/piles'), all('/stations')]);
          const online = piles.filter((p) => p.online);
          const ports = online.flatMap((p) => p.ports);
          $('#piles-online').textContent = online.length;
          $('#piles-offline').textContent = piles.length - online.length;
          $('#ports-charging').textContent = ports.filter((p) => p.status === 'charging').length;
          $('#power-now').textContent = kw(ports.reduce((a, p) => a + num(p.power_w), 0));
          const now = new Date();
          const tomorrow = new Date(now.getTime() + 864e5);
          api('GET', `/reports/operations?from=${day(now)}&until=${day(tomorrow)}`).then((rows) => {
            $('#energy-today').textContent = `${rows.reduce((a, r) => a + num(r.kwh), 0).toFixed(2)} kWh`;
            $('#revenue-today').textContent = yuan(rows.reduce((a, r) => a + num(r.revenue), 0));
          }, (e) => { $('#energy-today').textContent = '—'; $('#revenue-today').textContent = '—'; showError(e); });
          api('GET', '/alarms?open=true&limit=500').then((a) => { $('#alarms-open').textContent = a.length; },
            () => { $('#alarms-open').textContent = '—'; });
          const tbody = $('#station-load tbody');
          const rows = await Promise.all(stations.map(async (s) => {
            const here = piles.filter((p) => p.station_id === s.id);
            let power = null;
            try { power = await api('GET', `/stations/${s.id}/power`); } catch { power = null; }
            const managed = power && power.managed && num(power.limit_w) > 0;
            const measured = power ? num(power.measured_w) : here.flatMap((p) => p.ports).reduce((a, p) => a + num(p.power_w), 0);
            return el('tr', { 'data-station': s.id },
              el('td', {}, el('a', { href: `/console/stations/${s.id}` }, s.name)),
              el('td', {}, `${here.filter((p) => p.online).length} / ${here.length}`),
              el('td', {}, kw(measured)),
              el('td', {}, managed ? kw(power.limit_w) : 'no limit'),
              el('td', {}, managed ? el('meter', { min: 0, max: num(power.limit_w), high: 0.9 * num(power.limit_w), value: measured }) : '—'));
          }));
          tbody.replaceChildren(...rows);
        } catch (e) { showError(e); }
      };
      const later = debounce(refresh, 250);
      await refresh();
      stream('/events', later, { onOpen: later });
    },

    async stations() {
      try {
        const rows = (await all('/stations')).map((s) => el('tr', {},
          el('td', {}, s.id), el('td', {}, el('a', { href: `/console/stations/${s.id}` }, s.name)),
          el('td', {}, s.in_service ? 'yes' : 'no'), el('td', {}, s.tariff_id ?? '—')));
        $('#stations tbody').replaceChildren(...rows);
      } catch (e) { showError(e); }
    },

    async station() {
      const id = Number(pageId);
      const outPorts = new Set();
      const notes = new Map();
      const portBox = (pile, p) => {
        const box = el('div', { class: 'port', 'data-port': `${pile.id}/${p.port}` });
        if ((pile.ports_out_of_service || []).includes(p.port)) outPorts.add(`${pile.id}/${p.port}`);
        fillPort(box, pile.id, p.port, p.status, p.session_id, p.power_w);
        return box;
      };
      // Takes a station, pile or port out of service, or puts it back.
      const serviceButton = (path, inService, what) => el('button', {
        type: 'button', class: 'secondary service needs-manager', 'data-in-service': String(inService),
        onclick: guard(async () => { await api('PATCH', path, { in_service: !inService }); await refresh(); }),
      }, inService ? `Take ${what} out of service` : `Put ${what} back in service`);
      const commands = (pile) => {
        const list = el('ul', { class: 'plain commands' });
        const show = async () => {
          const cmds = await api('GET', `/piles/${pile.id}/commands`);
          list.replaceChildren(...cmds.slice(-5).reverse().map((c) => el('li', { 'data-command': c.id },
            el('strong', {}, c.command.kind.replace(/_/g, ' ')), ' ',
            el('span', { class: `outcome ${c.outcome}` }, c.outcome), c.detail ? ` (${c.detail})` : '',
            el('span', { class: 'muted' }, ` · ${when(c.requested_at)}`))));
          return cmds;
        };
        const form = el('form', { class: 'inline needs-manager command-form' },
          el('select', { name: 'kind' },
            el('option', { value: 'time_sync' }, 'Time sync'),
            el('option', { value: 'reboot' }, 'Reboot when idle')),
          el('button', { type: 'submit', class: 'secondary' }, 'Send command'));
        form.addEventListener('submit', guard(async () => {
          const kind = new FormData(form).get('kind');
          await api('POST', `/piles/${pile.id}/commands`, kind === 'reboot' ? { kind, when_idle: true } : { kind });
          for (let i = 0; i < 20; i++) {
            const cmds = await show();
            if (!cmds.some((c) => c.outcome === 'pending')) break;
            await sleep(1000);
          }
        }));
        show().catch(() => {});
        return el('div', {}, el('h3', {}, 'Commands'), form, list);
      };
      const fillPort = (box, pile, port, status, session, power) => {
        const start = guard(async () => {
          const r = await api('POST', `/piles/${pile}/ports/${port}/start`, {}, { key: key() });
          const id = r.session_id;
          notes.get(`${pile}/${port}`).replaceChildren(id ? el('a', { href: `/console/sessions/${id}` }, `started ${id}`) : `queued at ${r.position}`);
        });
        const stop = guard(async () => {
          await api('POST', `/piles/${pile}/ports/${port}/stop`, {}, { key: key() });
          notes.get(`${pile}/${port}`).textContent = 'stop sent';
        });
        // What the last start or stop said stays through re-renders.
        const k = `${pile}/${port}`;
        if (!notes.has(k)) notes.set(k, el('div', { class: 'note muted' }));
        const note = notes.get(k);
        box.replaceChildren(
          el('div', {}, `Port ${port} `, el('span', { class: `status ${status}` }, status)),
          session ? el('div', {}, el('a', { href: `/console/sessions/${session}`, class: 'session' }, `session ${session}`)) : null,
          power != null ? el('div', { class: 'muted' }, kw(power)) : null,
          el('div', { class: 'needs-manager' },
            status === 'charging' || session
              ? el('button', { type: 'button', class: 'danger stop', onclick: stop }, 'Stop')
              : el('button', { type: 'button', class: 'start', onclick: start, disabled: status === 'offline' || status === 'fault' }, 'Start')),
          note,
          el('div', {}, outPorts.has(`${pile}/${port}`) ? el('span', { class: 'out' }, 'out of service ') : null,
            serviceButton(`/piles/${pile}/ports/${port}`, !outPorts.has(`${pile}/${port}`), 'port')));
      };
      const refresh = async () => {
        try {
          const s = await api('GET', `/stations/${id}`);
          $('#station-name').firstChild.textContent = `${s.name}${s.in_service ? '' : ' (out of service)'} `;
          $('#station-actions').replaceChildren(serviceButton(`/stations/${id}`, s.in_service, 'station'));
          const fees = $('#fees-form');
          if (!fees.contains(document.activeElement)) {
            for (const k of ['name', 'service_fee', 'minimum_charge']) field(fees, k).value = s[k];
          }
          const piles = (await all('/piles')).filter((p) => p.station_id === id);
          outPorts.clear();
          $('#piles').replaceChildren(...piles.map((p) => el('section', { class: 'card pile', 'data-pile': p.id },
            el('h2', {}, `Pile ${p.id} `, el('span', { class: `status ${p.online ? 'online' : 'offline'}`, 'data-online': String(p.online) }, p.online ? 'online' : 'offline'),
              el('small', { class: 'muted' }, ` ${p.protocol}${p.firmware ? ` · ${p.firmware}` : ''}${p.in_service ? '' : ' · out of service'}`)),
            serviceButton(`/piles/${p.id}`, p.in_service, 'pile'),
            el('div', { class: 'ports' }, p.ports.map((port) => portBox(p, port))),
            commands(p))));
          api('GET', `/stations/${id}/power/history`).then((h) => { $('#power-chart').innerHTML = powerChart(h.samples); }, () => {});
          api('GET', `/stations/${id}/power`).then((pw) => {
            $('#station-power').textContent = pw.managed
              ? `Load ${kw(pw.measured_w)} of ${kw(pw.limit_w)} limit, ${kw(pw.allocated_w)} allocated`
              : `Load ${kw(pw.measured_w)}; no power limit set`;
          }, () => {});
        } catch (e) { showError(e); }
      };
      const fees = $('#fees-form');
      fees.addEventListener('submit', guard(async () => {
        const f = new FormData(fees);
        await api('PATCH', `/stations/${id}`, { name: f.get('name').trim(), service_fee: f.get('service_fee').trim(), minimum_charge: f.get('minimum_charge').trim() });
        $('#fees-saved').hidden = false;
        await refresh();
      }));
      const later = debounce(refresh, 400);
      await refresh();
      setInterval(later, 30000);
      stream(`/events?station_id=${id}`, (ev) => {
        if (ev.kind && ev.kind !== 'port') return;
        const box = document.querySelector(`[data-port="${CSS.escape(`${ev.pile_id}/${ev.port}`)}"]`);
        if (box) fillPort(box, ev.pile_id, ev.port, ev.status, ev.session_id, null);
        later();
      }, { onOpen: later });
    },

    async sessions() {
      $('#session-find').addEventListener('submit', (ev) => {
        ev.preventDefault();
        location.assign(`/console/sessions/${encodeURIComponent(new FormData(ev.target).get('id').trim())}`);
      });
      // The filters, as the API's query; dates are the browser's local days.
      const ff = $('#session-filter');
      const more = $('#sessions-more');
      let next = null;
      const query = () => {
        const f = new FormData(ff);
        const q = new URLSearchParams({ limit: '50' });
        for (const k of ['station', 'pile', 'driver', 'status']) if ((f.get(k) || '').trim()) q.set(k, f.get(k).trim());
        for (const k of ['from', 'until']) if (f.get(k)) q.set(k, new Date(`${f.get(k)}T00:00`).toISOString());
        return q;
      };
      const show = async (append) => {
        const q = query();
        if (append && next) q.set('before', next);
        const page = await api('GET', `/sessions?${q}`);
        const rows = page.items.map((s) => el('tr', { 'data-session': s.id },
          el('td', {}, el('a', { href: `/console/sessions/${encodeURIComponent(s.id)}` }, s.id)),
          el('td', {}, when(s.created_at)), el('td', {}, s.station_id), el('td', {}, `${s.pile_id} / ${s.port}`),
          el('td', {}, el('span', { class: `status ${s.state}` }, s.state)), el('td', {}, `${s.kwh} kWh`)));
        const tbody = $('#sessions tbody');
        if (append) tbody.append(...rows);
        else tbody.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'No sessions match.'))]));
        next = page.next;
        more.hidden = !next;
      };
      ff.addEventListener('submit', guard(() => show(false)));
      more.addEventListener('click', guard(() => show(true)));
      try { await show(false); } catch (e) { showError(e); }
      const refresh = async () => {
        try {
          const [piles, stations] = await Promise.all([all('/piles'), all('/stations')]);
          const names = new Map(stations.map((s) => [s.id, s.name]));
          const rows = piles.flatMap((p) => p.ports.filter((x) => x.session_id).map((x) => el('tr', {},
            el('td', {}, el('a', { href: `/console/sessions/${x.session_id}` }, x.session_id)),
            el('td', {}, names.get(p.station_id) || p.station_id), el('td', {}, p.id), el('td', {}, x.port),
            el('td', {}, x.power_w != null ? kw(x.power_w) : '—'))));
          $('#open-sessions tbody').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'Nothing is charging.'))]));
        } catch (e) { showError(e); }
      };
      await refresh();
      stream('/events', debounce(refresh, 300));
    },

    async session() {
      const id = pageId;
      const refresh = async () => {
        let open = false;
        try {
          const s = await api('GET', `/sessions/${encodeURIComponent(id)}`);
          open = !['finished', 'failed'].includes(s.state);
          const fact = (k, v) => [el('dt', {}, k), el('dd', {}, v)];
          $('#session-facts').replaceChildren(
            ...fact('State', el('span', { id: 'session-state', class: `status ${s.state}` }, s.state)),
            ...fact('Station', el('a', { href: `/console/stations/${s.station_id}` }, s.station_id)),
            ...fact('Pile and port', `${s.pile_id} / ${s.port}`),
            ...fact('Started', when(s.started_at || s.created_at)),
            ...fact('Ended', when(s.ended_at)),
            ...fact('Energy', `${s.kwh} kWh`),
            ...fact('Stop reason', s.stop_reason ? (s.stop_reason.text || JSON.stringify(s.stop_reason)) : '—'),
            ...fact('Payer', s.terms && s.terms.payer ? `driver ${s.terms.payer.driver}` : 'operator'));
          const stop = guard(async () => {
            await api('POST', `/piles/${s.pile_id}/ports/${s.port}/stop`, {}, { key: key() });
          });
          $('#session-actions').replaceChildren(open ? el('button', { type: 'button', class: 'danger stop', onclick: stop }, 'Stop this charge') : '');
          const samples = await api('GET', `/sessions/${encodeURIComponent(id)}/samples`);
          $('#meter-chart').innerHTML = chart(samples);
          if (s.bill) $('#bill').replaceChildren(bill(s.bill));
          const entries = await api('GET', `/sessions/${encodeURIComponent(id)}/entries`);
          $('#entries tbody').replaceChildren(...(entries.length ? entries.map((e) => el('tr', { 'data-entry': e.key },
            el('td', {}, when(e.at)), el('td', { class: 'kind' }, e.kind.replace(/_/g, ' ')),
            el('td', {}, el('ul', { class: 'plain lines' }, e.lines.map((l) => el('li', {}, el('code', {}, l.account), ` ${num(l.amount) > 0 ? 'debit' : 'credit'} ${yuan(Math.abs(num(l.amount)))}`))))))
            : [el('tr', {}, el('td', { colspan: 3, class: 'muted' }, 'Nothing booked: the operator is paid outside the wallet.'))]));
        } catch (e) { showError(e); }
        if (open) setTimeout(refresh, 2000);
      };
      await refresh();
    },

    async alarms() {
      const form = $('#alarm-filter');
      const refresh = guard(async () => {
        const f = new FormData(form);
        const q = new URLSearchParams();
        if (f.get('open')) q.set('open', 'true');
        if (f.get('station_id')) q.set('station_id', f.get('station_id'));
        const list = await api('GET', `/alarms?${q}`);
        const act = (a, what) => guard(async () => { await api('POST', `/alarms/${a.id}/${what}`); await refresh(); });
        const rows = list.map((a) => el('tr', { 'data-alarm': a.id },
          el('td', {}, a.id), el('td', {}, when(a.raised_at)),
          el('td', {}, [a.pile_id || `station ${a.station_id}`, a.port ? ` / ${a.port}` : ''].join('')),
          el('td', { title: a.message }, a.kind, el('div', { class: 'muted' }, a.message)),
          el('td', { class: `severity-${a.severity}` }, a.severity),
          el('td', {}, a.cleared_at ? 'cleared' : a.acknowledged_at ? 'acknowledged' : 'open'),
          el('td', { class: 'needs-manager' },
            !a.acknowledged_at && !a.cleared_at ? el('button', { type: 'button', class: 'secondary ack', onclick: act(a, 'ack') }, 'Acknowledge') : null,
            !a.cleared_at ? el('button', { type: 'button', class: 'secondary clear', onclick: act(a, 'clear') }, 'Clear') : null)));
        $('#alarms tbody').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'No alarms.'))]));
      });
      form.addEventListener('submit', refresh);
      await refresh();
    },
  };

  const PERIODS = ['sharp', 'peak', 'flat', 'valley'];
  // A form's control by name (form.name and form.id are the form's own).
  const field = (form, name) => form.elements.namedItem(name);
  const minutes = (hm) => { const [h, m] = hm.split(':').map(Number); return h * 60 + m; };

  // The 48 half-hours of a day, each in its period.
  function dayStrip(periods) {
    const slots = [];
    for (let i = 0; i < 48; i++) {
      const t = i * 30;
      const r = periods.find((p) => minutes(p.from) <= t && t < minutes(p.to));
      const name = r ? r.period : 'none';
      const hh = `${String(Math.floor(i / 2)).padStart(2, '0')}:${i % 2 ? '30' : '00'}`;
      slots.push(el('span', { class: `slot ${name}`, title: `${hh} ${name}` }));
    }
    return el('div', { class: 'strip', 'aria-label': 'the day by period' }, slots);
  }

  // Bars of one value per label, as SVG.
  function bars(rows, label, value, unit) {
    if (!rows.length) return '';
    const W = 640, H = 200, P = 30;
    const max = Math.max(0.0001, ...rows.map(value));
    const w = (W - 2 * P) / rows.length;
    return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(unit)} per row">`
      + rows.map((r, i) => {
        const h = (value(r) / max) * (H - 2 * P);
        return `<rect class="bar" x="${(P + i * w + 2).toFixed(1)}" y="${(H - P - h).toFixed(1)}" width="${Math.max(1, w - 4).toFixed(1)}" height="${h.toFixed(1)}"><title>${esc(label(r))}: ${esc(value(r).toFixed(2))} ${esc(unit)}</title></rect>`;
      }).join('')
      + `<line class="axis" x1="${P}" y1="${H - P}" x2="${W - P}" y2="${H - P}"/>`
      + `<text x="4" y="${P - 8}">${esc(max.toFixed(2))} ${esc(unit)}</text></svg>`;
  }

  Object.assign(console_, {
    async prices() {
      const plan = $('#plan-form');
      const form = $('#tariff-form');
      // The editable day strip and the periods text say the same: each
      // redraws the other.
      const strip = $('#tariff-strip');
      const slotsOf = (periods) => Array.from({ length: 48 }, (_, i) => {
        const r = periods.find((p) => minutes(p.from) <= i * 30 && i * 30 < minutes(p.to));
        return r ? r.period : 'none';
      });
      const hhmm = (i) => `${String(Math.floor(i / 2)).padStart(2, '0')}:${i % 2 ? '30' : '00'}`;
      const periodsOf = (slots) => {
        const out = [];
        slots.forEach((p, i) => {
          if (p === 'none') return;
          const last = out[out.length - 1];
          if (last && last.period === p && last.to === hhmm(i)) last.to = hhmm(i + 1) === '24:00' ? '24:00' : hhmm(i + 1);
          else out.push({ from: hhmm(i), to: i === 47 ? '24:00' : hhmm(i + 1), period: p });
        });
        return out;
      };
      const parsePeriods = () => field(form, 'periods').value.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
        const m = l.match(/^(\d\d:\d\d)\s*-\s*(\d\d:\d\d)\s+(\w+)$/);
        if (!m) throw new ApiError(422, { message: `"${l}" is not "from-to period", e.g. 08:00-12:00 peak`, field: 'periods' });
        return { from: m[1], to: m[2], period: m[3] };
      });
      let painting = false;
      const paint = (i) => {
        let slots;
        try { slots = slotsOf(parsePeriods()); } catch { slots = Array(48).fill('none'); }
        slots[i] = $('#paint').value;
        field(form, 'periods').value = periodsOf(slots).map((r) => `${r.from}-${r.to} ${r.period}`).join('\n');
        drawStrip();
      };
      const drawStrip = () => {
        let slots;
        try { slots = slotsOf(parsePeriods()); } catch { return; }
        strip.replaceChildren(...slots.map((p, i) => el('span', {
          class: `slot ${p}`, title: `${hhmm(i)} ${p}`, 'data-slot': i,
          onmousedown: (ev) => { ev.preventDefault(); painting = true; paint(i); },
          onmouseenter: () => { if (painting) paint(i); },
        })));
      };
      document.addEventListener('mouseup', () => { painting = false; });
      field(form, 'periods').addEventListener('input', drawStrip);
      const edit = (t) => {
        $('#tariff-form-title').textContent = t ? `Edit tariff ${t.id}` : 'New tariff';
        field(form, 'id').value = t ? t.id : '';
        field(form, 'name').value = t ? t.name : '';
        for (const p of PERIODS) {
          field(form, `${p}-energy`).value = t ? t.prices[p].energy : '0';
          field(form, `${p}-service`).value = t ? t.prices[p].service : '0';
        }
        field(form, 'periods').value = t ? t.periods.map((r) => `${r.from}-${r.to} ${r.period}`).join('\n') : '00:00-24:00 flat';
        drawStrip();
        form.scrollIntoView();
      };
      const load = async () => {
        const tariffs = await all('/tariffs');
        $('#tariffs').replaceChildren(...tariffs.map((t) => el('section', { class: 'card tariff', 'data-tariff': t.id },
          el('h3', {}, `${t.id}. ${t.name}${t.in_service ? '' : ' (retired)'}`),
          dayStrip(t.periods),
          el('p', { class: 'muted' }, PERIODS.filter((p) => num(t.prices[p].energy) || num(t.prices[p].service) || t.periods.some((r) => r.period === p))
            .map((p) => `${p} ${t.prices[p].energy} + ${t.prices[p].service}`).join(' · ')),
          el('button', { type: 'button', class: 'secondary needs-manager edit', onclick: () => edit(t) }, 'Edit'))));
        const plans = await all('/plans');
        const pricing = (p) => (p.kind === 'time' ? `${p.per_hour}/h per ${p.unit_minutes} min`
          : p.kind === 'energy' ? `${p.per_kwh}/kWh` : p.kind.replace(/_/g, ' '));
        $('#plans tbody').replaceChildren(...plans.map((p) => el('tr', { 'data-plan': p.id },
          el('td', {}, p.id), el('td', {}, p.name), el('td', {}, pricing(p.pricing)), el('td', {}, p.in_service ? 'yes' : 'no'),
          el('td', { class: 'needs-manager' }, el('button', { type: 'button', class: 'secondary edit', onclick: () => editPlan(p) }, 'Edit'), ' ',
            el('button', { type: 'button', class: 'secondary', onclick: guard(async () => {
              await api('PATCH', `/plans/${p.id}`, { in_service: !p.in_service });
              await load();
            }) }, p.in_service ? 'Retire' : 'Bring back')))));
        const rules = await all('/rules');
        const ruleText = (r) => (r.kind === 'discount' ? `${r.percent}% off` : r.kind === 'tariff' ? `tariff ${r.tariff_id}` : 'only this class');
        $('#rules tbody').replaceChildren(...(rules.length ? rules.map((r) => el('tr', { 'data-rule': r.id },
          el('td', {}, r.id), el('td', {}, r.name), el('td', {}, r.class), el('td', {}, r.station_id ?? 'every'), el('td', {}, ruleText(r)),
          el('td', { class: 'needs-manager' }, el('button', { type: 'button', class: 'secondary edit', onclick: () => editRule(r) }, 'Edit'))))
          : [el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'No rules.'))]));
      };
      const rf = $('#rule-form');
      const editRule = (r) => {
        $('#rule-form-title').textContent = r ? `Edit rule ${r.id}` : 'New rule';
        rf.reset();
        field(rf, 'id').value = r ? r.id : '';
        if (r) {
          for (const k of ['name', 'class']) field(rf, k).value = r[k];
          field(rf, 'station_id').value = r.station_id ?? '';
          field(rf, 'kind').value = r.kind;
          field(rf, 'value').value = r.kind === 'discount' ? r.percent : r.kind === 'tariff' ? r.tariff_id : '';
          rf.scrollIntoView();
        }
      };
      const editPlan = (p) => {
        $('#plan-form-title').textContent = p ? `Edit plan ${p.id}` : 'New plan';
        field(plan, 'id').value = p ? p.id : '';
        field(plan, 'name').value = p ? p.name : '';
        const pr = p ? p.pricing : { kind: 'time', per_hour: '', unit_minutes: 15 };
        field(plan, 'kind').value = pr.kind === 'energy' ? 'energy' : 'time';
        field(plan, 'price').value = pr.kind === 'energy' ? pr.per_kwh : (pr.per_hour ?? '');
        field(plan, 'unit_minutes').value = pr.unit_minutes ?? 15;
        plan.scrollIntoView();
      };
      $('#tariff-new').addEventListener('click', () => edit(null));
      form.addEventListener('submit', guard(async () => {
        const prices = {};
        for (const p of PERIODS) prices[p] = { energy: field(form, `${p}-energy`).value.trim(), service: field(form, `${p}-service`).value.trim() };
        const periods = parsePeriods();
        const body = { name: field(form, 'name').value.trim(), prices, periods };
        if (field(form, 'id').value) await api('PATCH', `/tariffs/${field(form, 'id').value}`, body);
        else await api('POST', '/tariffs', body);
        edit(null);
        await load();
      }));
      $('#plan-new').addEventListener('click', () => editPlan(null));
      plan.addEventListener('submit', guard(async () => {
        const f = new FormData(plan);
        const pricing = f.get('kind') === 'time'
          ? { kind: 'time', per_hour: f.get('price').trim(), unit_minutes: Number(f.get('unit_minutes')) }
          : { kind: 'energy', per_kwh: f.get('price').trim() };
        const body = { name: f.get('name').trim(), pricing };
        if (f.get('id')) await api('PATCH', `/plans/${f.get('id')}`, body);
        else await api('POST', '/plans', body);
        editPlan(null);
        await load();
      }));
      rf.addEventListener('submit', guard(async () => {
        const f = new FormData(rf);
        const b = { name: f.get('name').trim(), class: f.get('class').trim(), kind: f.get('kind') };
        if ((f.get('station_id') || '').trim()) b.station_id = Number(f.get('station_id'));
        if (b.kind === 'discount') b.percent = f.get('value').trim();
        if (b.kind === 'tariff') b.tariff_id = Number(f.get('value'));
        if (f.get('id')) await api('PUT', `/rules/${f.get('id')}`, b);
        else await api('POST', '/rules', b);
        editRule(null);
        await load();
      }));
      await load();
      drawStrip();
    },

    async reports() {
      const form = $('#report-form');
      const now = new Date();
      field(form, 'from').value = day(new Date(now.getTime() - 6 * 864e5));
      field(form, 'until').value = day(new Date(now.getTime() + 864e5));
      const query = (csv) => {
        const f = new FormData(form);
        const q = new URLSearchParams({ from: f.get('from'), until: f.get('until') });
        if (f.get('station_id')) q.set('station_id', f.get('station_id').trim());
        if (csv) q.set('format', 'csv');
        return `/reports/${f.get('kind')}?${q}`;
      };
      form.addEventListener('submit', guard(async () => {
        const kind = new FormData(form).get('kind');
        const rows = await api('GET', query(false));
        const cols = rows.length ? Object.keys(rows[0]) : [];
        $('#report thead').replaceChildren(el('tr', {}, cols.map((c) => el('th', {}, c.replace(/_/g, ' ')))));
        $('#report tbody').replaceChildren(...(rows.length
          ? rows.map((r) => el('tr', {}, cols.map((c) => el('td', {}, typeof r[c] === 'object' ? JSON.stringify(r[c]) : r[c]))))
          : [el('tr', {}, el('td', { class: 'muted' }, 'Nothing in these days.'))]));
        const label = (r) => `${r.day || ''} ${r.station_id != null ? `station ${r.station_id}` : ''} ${r.period || r.kind || ''}`.trim();
        const value = kind === 'operations' ? (r) => num(r.revenue) : kind === 'energy' ? (r) => num(r.kwh) : (r) => num(r.count ?? r.alarms ?? 1);
        const unit = kind === 'operations' ? 'yuan' : kind === 'energy' ? 'kWh' : 'alarms';
        $('#report-chart').innerHTML = bars(rows, label, value, unit);
      }));
      // The CSV needs the token, so it is fetched and handed over as a file.
      $('#report-csv').addEventListener('click', guard(async () => {
        const s = signedIn();
        const res = await fetch(`/api/v1${query(true)}`, { headers: { authorization: `Bearer ${s.token}` } });
        if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
        const blob = await res.blob();
        const name = (res.headers.get('content-disposition') || '').match(/filename="?([^";]+)"?/);
        const a = $('#csv-link');
        if (a.href) URL.revokeObjectURL(a.href);
        a.href = URL.createObjectURL(blob);
        a.download = name ? name[1] : 'report.csv';
        const rows = (await blob.text()).split('\n').filter(Boolean).length - 1;
        a.textContent = `${a.download} · ${Math.max(rows, 0)} ${rows === 1 ? 'row' : 'rows'}`;
        a.hidden = false;
        a.click();
      }));
      form.requestSubmit();
      const st = $('#statement-form');
      const me = (signedIn() || {}).user || {};
      if (me.merchant_id) field(st, 'merchant_id').value = me.merchant_id;
      field(st, 'day').value = day(new Date(now.getTime() - 864e5));
      st.addEventListener('submit', guard(async () => {
        const f = new FormData(st);
        const s = await api('GET', `/merchants/${encodeURIComponent(f.get('merchant_id').trim())}/statements/${f.get('day')}`);
        $('#statement').replaceChildren(...Object.entries(s).flatMap(([k, v]) => [el('dt', {}, k.replace(/_/g, ' ')), el('dd', {}, typeof v === 'object' ? JSON.stringify(v) : v)]));
      }));
    },

    async users() {
      const load = async () => {
        const users = await all('/users');
        $('#users tbody').replaceChildren(...users.map((u) => el('tr', { 'data-user': u.id },
          el('td', {}, u.id), el('td', {}, u.username), el('td', {}, u.role), el('td', {}, u.operator_id ?? '—'), el('td', {}, u.merchant_id ?? '—'))));
        const ops = await all('/operators');
        const isAdmin = body.dataset.role === 'admin';
        $('#operators tbody').replaceChildren(...ops.map((o) => el('tr', { 'data-operator': o.id },
          el('td', {}, o.id), el('td', {}, o.name), el('td', {}, o.status),
          el('td', { class: 'needs-admin' }, isAdmin ? el('button', { type: 'button', class: 'secondary', onclick: guard(async () => {
            await api('PATCH', `/operators/${o.id}`, { status: o.status === 'active' ? 'frozen' : 'active' });
            await load();
          }) }, o.status === 'active' ? 'Freeze' : 'Unfreeze') : null))));
      };
      const mf = $('#merchant-form');
      const merchants = async () => {
        const list = await all('/merchants');
        $('#merchants tbody').replaceChildren(...list.map((m) => el('tr', { 'data-merchant': m.id },
          el('td', {}, m.id), el('td', {}, m.name), el('td', {}, `${m.commission_percent}%`), el('td', {}, m.in_service ? 'yes' : 'no'),
          el('td', { class: 'needs-manager' }, el('button', { type: 'button', class: 'secondary edit', onclick: () => {
            field(mf, 'id').value = m.id;
            field(mf, 'name').value = m.name;
            field(mf, 'commission_percent').value = m.commission_percent;
            mf.scrollIntoView();
          } }, 'Edit')))));
      };
      mf.addEventListener('submit', guard(async () => {
        const f = new FormData(mf);
        const b = { name: f.get('name').trim(), commission_percent: f.get('commission_percent').trim() };
        if (f.get('id')) await api('PATCH', `/merchants/${f.get('id')}`, b);
        else await api('POST', '/merchants', b);
        mf.reset();
        field(mf, 'id').value = '';
        await merchants();
      }));
      if (body.dataset.role !== 'merchant') merchants().catch(showError);
      const uf = $('#user-form');
      uf.addEventListener('submit', guard(async () => {
        const f = new FormData(uf);
        const b = { username: f.get('username').trim(), password: f.get('password'), role: f.get('role') };
        for (const k of ['operator_id', 'merchant_id']) if ((f.get(k) || '').trim()) b[k] = Number(f.get(k));
        await api('POST', '/users', b);
        uf.reset();
        await load();
      }));
      const of = $('#operator-form');
      of.addEventListener('submit', guard(async () => {
        await api('POST', '/operators', { name: new FormData(of).get('name').trim() });
        of.reset();
        await load();
      }));
      await load();
    },
  });

  // ---- the drivers' app ----

  // Stations on map tiles from the operator's tile server (body's
  // data-tiles; none configured, no map). Web Mercator at the largest zoom
  // that shows the place and every station found.
  function drawMap(box, center, stations) {
    const url = body.dataset.tiles;
    const T = 256;
    const W = box.clientWidth || 340, H = 240;
    const px = (lat, lon, z) => {
      const n = T * 2 ** z, r = (lat * Math.PI) / 180;
      return [((lon + 180) / 360) * n, ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n];
    };
    const points = stations.filter((s) => s.details).map((s) => [s, num(s.details.lat), num(s.details.lon)]);
    let z = 17;
    for (; z > 3; z--) {
      const [cx, cy] = px(center[0], center[1], z);
      if (points.every(([, la, lo]) => { const [x, y] = px(la, lo, z); return Math.abs(x - cx) < W / 2 - 10 && Math.abs(y - cy) < H / 2 - 10; })) break;
    }
    const [cx, cy] = px(center[0], center[1], z);
    const left = cx - W / 2, top = cy - H / 2;
    const kids = [];
    const max = 2 ** z;
    for (let tx = Math.floor(left / T); tx <= Math.floor((left + W) / T); tx++) {
      for (let ty = Math.floor(top / T); ty <= Math.floor((top + H) / T); ty++) {
        if (ty < 0 || ty >= max) continue;
        const x = ((tx % max) + max) % max;
        const img = el('img', { alt: '', src: url.replace('{z}', z).replace('{x}', x).replace('{y}', ty) });
        img.style.left = `${tx * T - left}px`;
        img.style.top = `${ty * T - top}px`;
        kids.push(img);
      }
    }
    const here = el('span', { class: 'marker here', title: 'the place searched' });
    here.style.left = `${W / 2}px`;
    here.style.top = `${H / 2}px`;
    kids.push(here);
    for (const [s, la, lo] of points) {
      const [x, y] = px(la, lo, z);
      const m = el('span', { class: 'marker', 'data-station': s.id, title: s.name });
      m.style.left = `${x - left}px`;
      m.style.top = `${y - top}px`;
      kids.push(m);
    }
    kids.push(el('small', { class: 'credit' }, `tiles: ${new URL(url.replace(/[{}]/g, '')).host}`));
    box.replaceChildren(...kids);
    box.hidden = false;
  }

  const app = {
    login() {
      const q = new URLSearchParams(location.search);
      if (q.get('expired')) showError({ message: 'Your session has ended; sign in again.' });
      let phone = '';
      $('#code-form').addEventListener('submit', guard(async (ev) => {
        phone = new FormData(ev.target).get('phone').trim();
        await api('POST', '/drivers/codes', { phone }, { noRedirect: true });
        $('#signin-form').hidden = false;
        $('#notice').hidden = false;
        $('#notice').textContent = `A code is on its way to ${phone}.`;
        $('#signin-form [name=code]').focus();
      }));
      $('#signin-form').addEventListener('submit', guard(async (ev) => {
        const code = new FormData(ev.target).get('code').trim();
        let r;
        try {
          r = await api('POST', '/drivers', { phone, code }, { noRedirect: true });
        } catch (e) {
          if (e.code !== 'registered') throw e;
          r = await api('POST', '/drivers/login', { phone, code }, { noRedirect: true });
        }
        sessionStorage.setItem(KEY, JSON.stringify({ token: r.token, driver: r.driver }));
        const next = q.get('next');
        location.assign(next && next.startsWith('/app/') && !next.startsWith('/app/login') ? next : '/app/');
      }));
    },

    async home() {
      $('#port-form').addEventListener('submit', (ev) => {
        ev.preventDefault();
        let code = new FormData(ev.target).get('code').trim();
        code = code.slice(code.lastIndexOf('/') + 1);
        location.assign(`/app/q/${encodeURIComponent(code)}`);
      });
      const nearForm = $('#near-form');
      const find = guard(async () => {
        const f = new FormData(nearForm);
        const q = new URLSearchParams({ lat: f.get('lat').trim(), lon: f.get('lon').trim(), radius_km: '20' });
        const found = await api('GET', `/stations/near?${q}`);
        $('#near').replaceChildren(...(found.length ? found.map((s) => {
          const ports = el('ul', { class: 'plain' });
          const open = guard(async () => {
            const st = await api('GET', `/stations/${s.id}/ports`);
            ports.replaceChildren(...st.piles.flatMap((p) => p.ports.map((x) => el('li', {},
              el('a', { href: `/app/q/${x.code}` }, `Port ${x.code}`), ' ', el('span', { class: `status ${x.status}` }, x.in_service ? x.status : 'out of service')))));
          });
          return el('li', { 'data-station': s.id },
            el('button', { type: 'button', class: 'secondary', onclick: open }, s.name),
            el('div', { class: 'muted' }, `${(s.distance_m / 1000).toFixed(1)} km · ${s.ports_free} of ${s.ports_online} ports free${s.details && s.details.address ? ` · ${s.details.address}` : ''}`),
            ports);
        }) : [el('li', { class: 'muted' }, 'No station within 20 km.')]));
        const map = $('#map');
        if (map && body.dataset.tiles) drawMap(map, [num(f.get('lat')), num(f.get('lon'))], found);
      });
      nearForm.addEventListener('submit', find);
      $('#locate').addEventListener('click', () => {
        if (!navigator.geolocation) return showError({ message: 'This browser cannot tell where you are; type a place\'s coordinates.' });
        navigator.geolocation.getCurrentPosition((pos) => {
          nearForm.lat.value = pos.coords.latitude.toFixed(5);
          nearForm.lon.value = pos.coords.longitude.toFixed(5);
          find();
        }, (e) => showError({ message: `Your location is not available (${e.message}); type a place's coordinates.` }));
      });
      try {
        const w = await api('GET', '/me/wallet');
        $('#balance').textContent = yuan(w.balance);
        const charges = await api('GET', '/me/charges?limit=10');
        const open = charges.filter((c) => !['finished', 'failed'].includes(c.session.state));
        $('#open-charges').replaceChildren(...(open.length
          ? open.map((c) => el('li', {}, el('a', { href: `/app/charges/${c.session.id}` }, `${c.session.pile_id} port ${c.session.port}: ${c.session.state}`)))
          : [el('li', { class: 'muted' }, 'Nothing charging.')]));
      } catch (e) { showError(e); }
    },

    async wallet() {
      const load = async () => {
        const w = await api('GET', '/me/wallet');
        $('#balance').textContent = yuan(w.balance);
        $('#held').textContent = num(w.held) ? `${yuan(w.held)} held for charges running` : '';
        $('#entries').replaceChildren(...(w.entries || []).slice().reverse().map((e) => el('li', {},
          el('strong', {}, e.kind.replace(/_/g, ' ')), ' ', el('span', { class: 'muted' }, `${when(e.at)} · ${e.reference}`))));
      };
      $('#topup-form').addEventListener('submit', guard(async (ev) => {
        const amount = new FormData(ev.target).get('amount').trim();
        const r = await api('POST', '/me/orders', { amount });
        const pay = $('#pay');
        pay.hidden = false;
        if (r.pay_url) {
          pay.replaceChildren(el('p', {}, `Order ${r.order.id} for ${yuan(r.order.amount)}.`),
            el('button', { type: 'button', id: 'sandbox-pay', onclick: guard(async () => {
              await api('POST', r.pay_url);
              pay.replaceChildren(el('p', { class: 'notice' }, `Paid ${yuan(r.order.amount)}.`));
              await load();
            }) }, 'Pay (sandbox: no money moves)'));
        } else {
          pay.replaceChildren(el('p', {}, `Order ${r.order.id} for ${yuan(r.order.amount)} is waiting for ${r.order.provider}; your balance updates once it has paid.`));
        }
      }));
      const cards = async () => {
        const me = await api('GET', '/me');
        $('#cards').replaceChildren(...(me.cards.length ? me.cards.map((c) => el('li', {}, el('code', {}, c.number), ` ${c.kind} · ${c.status}`))
          : [el('li', { class: 'muted' }, 'No cards yet.')]));
      };
      const cf = $('#card-form');
      cf.addEventListener('submit', guard(async () => {
        const f = new FormData(cf);
        await api('POST', '/me/cards', { number: f.get('number').trim(), kind: f.get('kind') });
        cf.reset();
        await cards();
      }));
      try { await load(); await cards(); } catch (e) { showError(e); }
    },

    async port() {
      const code = pageId;
      let r;
      try {
        r = await api('GET', `/q/${encodeURIComponent(code)}`);
      } catch (e) { return showError(e); }
      $('#port-station').textContent = `${r.station.name} · pile ${r.pile_id}, port ${r.port}`;
      $('#port-status').textContent = r.online ? (r.status || 'unknown') : 'offline';
      try {
        const st = await api('GET', `/stations/${r.station.id}/ports`);
        const plans = st.plans || [];
        if (plans.length) {
          $('#plan-label').hidden = false;
          $('#plan-label select').replaceChildren(...plans.map((p) => el('option', { value: p.id }, p.name)));
        }
      } catch { /* prices are a nicety; starting still works */ }
      if (!signedIn()) {
        $('#start-form').replaceWith(el('p', {}, el('a', { href: `/app/login?next=${encodeURIComponent(location.pathname)}` }, 'Sign in to charge here')));
        return;
      }
      const form = $('#start-form');
      form.hidden = false;
      form.addEventListener('submit', guard(async (ev) => {
        const f = new FormData(ev.target);
        const b = { ...r.start.body };
        if (f.get('prepaid')) b.prepaid = f.get('prepaid').trim();
        if (f.get('plan_id')) b.plan_id = Number(f.get('plan_id'));
        const started = await api('POST', r.start.path, b, { key: key() });
        location.assign(`/app/charges/${started.session_id}`);
      }));
    },

    async charge() {
      const id = pageId;
      const stopButton = $('#stop-charge');
      stopButton.addEventListener('click', guard(async () => {
        stopButton.disabled = true;
        try {
          await api('POST', `/me/charges/${encodeURIComponent(id)}/stop`);
          $('#c-state').textContent = 'stopping';
        } finally { stopButton.disabled = false; }
      }));
      const show = (c) => {
        stopButton.hidden = !['starting', 'charging'].includes(c.state);
        $('#c-state').textContent = c.state;
        $('#c-kwh').textContent = `${c.kwh} kWh`;
        if (c.power_w != null) $('#c-power').textContent = kw(c.power_w);
        $('#c-amount').textContent = yuan(c.amount);
        if (c.elapsed_s != null) $('#c-elapsed').textContent = `${Math.floor(c.elapsed_s / 60)} min ${c.elapsed_s % 60} s`;
      };
      const billed = async () => {
        for (let i = 0; i < 30; i++) {
          const list = await api('GET', '/me/charges?limit=50');
          const mine = list.find((c) => c.session.id === id);
          if (!mine) throw new ApiError(404, { message: `you have no charge ${id}` });
          $('#c-state').textContent = mine.session.state;
          $('#stop-charge').hidden = true;
          $('#c-kwh').textContent = `${mine.session.kwh || mine.session.meter.kwh} kWh`;
          if (mine.bill) {
            $('#c-amount').textContent = yuan(mine.bill.total);
            $('#bill-card').hidden = false;
            $('#bill').replaceChildren(bill(mine.bill));
            return;
          }
          if (mine.session.state === 'failed') return;
          await sleep(1000);
        }
      };
      stream(`/me/charges/${encodeURIComponent(id)}/events`, show, {
        ends: true,
        onEnd: (e) => { billed().catch(showError); if (e && e.status === 404) showError(e); },
      });
    },

    async history() {
      try {
        const list = await api('GET', '/me/charges?limit=100');
        $('#history').replaceChildren(...(list.length ? list.map((c) => el('li', { 'data-session': c.session.id },
          el('a', { href: `/app/charges/${c.session.id}` }, `${when(c.session.created_at)} · pile ${c.session.pile_id} port ${c.session.port}`),
          el('div', { class: 'muted' }, c.bill ? `${c.bill.kwh} kWh · ${yuan(c.bill.total)}` : c.session.state)))
          : [el('li', { class: 'muted' }, 'No charges yet.')]));
      } catch (e) { showError(e); }
    },
  };

  // ---- start ----

  const pages = site === 'console' ? console_ : site === 'app' ? app : {};
  const run = pages[page];
  if (!run) return;
  const s = signedIn();
  if (page !== 'login' && !(site === 'app' && page === 'port')) {
    if (!s) return toLogin(false);
  }
  if (s) {
    if (s.user) {
      body.dataset.role = s.user.role;
      const who = $('#who');
      if (who) who.textContent = `${s.user.username} (${s.user.role})`;
    }
    const out = $('#signout');
    if (out) {
      out.hidden = false;
      // The server forgets the token too, so a copy of it stops working.
      out.addEventListener('click', async () => {
        await api('POST', '/auth/logout', undefined, { noRedirect: true }).catch(() => {});
        sessionStorage.removeItem(KEY);
        location.assign(loginPath());
      });
    }
  }
  Promise.resolve(run()).catch(showError);
})();
