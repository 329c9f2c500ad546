// Kiln web UI: progressive enhancement only. Pages are complete without it;
// with it, parts marked data-live are fetched again when a matching event
// arrives on the live stream, parts marked data-poll are fetched again every
// data-every ms, and the events table gets new rows as they commit. Text
// from events is put in with textContent; fragments come from the server
// already escaped.
'use strict';
(function () {
  const live = Array.from(document.querySelectorAll('[data-live]'));
  const table = document.getElementById('events');
  const pending = new Map();

  async function refresh(el, url) {
    try {
      const res = await fetch(url, { headers: { accept: 'text/html' }, credentials: 'same-origin' });
      if (res.redirected || !res.ok) return;
      el.innerHTML = await res.text();
      el.dataset.refreshed = String(Number(el.dataset.refreshed || '0') + 1);
    } catch (_) {
      // The next event or poll tries again.
    }
  }

  function later(el) {
    if (pending.has(el)) return;
    pending.set(
      el,
      setTimeout(() => {
        pending.delete(el);
        refresh(el, el.dataset.live);
      }, 200),
    );
  }

  function matches(el, ev) {
    const kinds = (el.dataset.kinds || '').split(' ').filter(Boolean);
    const kindOk = kinds.length === 0 || kinds.some((k) => ev.kind.startsWith(k));
    return kindOk && (!el.dataset.host || el.dataset.host === ev.hostId);
  }

  function addRow(ev) {
    const body = table.tBodies[0];
    if (body.querySelector('tr[data-seq="' + ev.seq + '"]')) return;
    const tr = document.createElement('tr');
    tr.dataset.seq = String(ev.seq);
    const cells = [String(ev.seq), ev.at, ev.kind, ev.subject || '', ev.actor, ev.message];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      if (i === 3 && text) {
        const a = document.createElement('a');
        a.href = '/ui/hosts/' + encodeURIComponent(text);
        a.textContent = text;
        td.appendChild(a);
      } else td.textContent = text;
      tr.appendChild(td);
    });
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > 500) body.deleteRow(body.rows.length - 1);
  }

  const streamUrl = table ? table.dataset.stream : live.length ? '/ui/events/stream' : null;
  if (streamUrl && 'EventSource' in window) {
    const es = new EventSource(streamUrl);
    const status = document.querySelector('.live-status');
    es.onopen = () => {
      document.body.dataset.stream = 'open';
      if (status) status.textContent = ' (live)';
    };
    es.onerror = () => {
      document.body.dataset.stream = 'reconnecting';
      if (status) status.textContent = ' (reconnecting)';
    };
    es.onmessage = (m) => {
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch (_) {
        return;
      }
      if (table) addRow(ev);
      for (const el of live) if (matches(el, ev)) later(el);
    };
  }

  for (const el of document.querySelectorAll('[data-poll]')) {
    const every = Math.max(1000, Number(el.dataset.every || '5000'));
    setInterval(() => {
      if (document.visibilityState === 'visible') refresh(el, el.dataset.poll);
    }, every);
  }
})();
