// The SFM web client stand-in (HelseID test double, portals.mjs): runs in an iframe of the EPJ.
//
// 1. On load (window `load`) it posts {clientLoaded: "success"} to window.parent, with the embedding page's origin
//    as targetOrigin (location.ancestorOrigins[0], else the origin of document.referrer; never "*").
//    Not embedded, or no origin known: it posts nothing and says so.
// 2. It accepts messages only from window.parent and only from that origin; others are recorded as
//    ignored. {action: "login", code, nonce, apiEndpoint, metadata}: redeems the code at the
//    gateway (POST <gateway>/api/v2/Session/login), answers {login: "success"} or
//    {login: "failed", reason}. {action: "setPatient", ticket, showAllergies?, showLib?,
//    onBehalfOf?, encounterIdentifier?}: only after a successful login; redeems the ticket
//    (POST <gateway>/api/v2/Session/patient), answers {setPatient: "success"} or
//    {setPatient: "failed", reason}. Messages are handled as they come (no queue).
// 3. Every message in and out is shown on the page and recorded at POST /sfm-client/record
//    (read in tests with d.sfmClientMessages()).
(() => {
  const gateway = document.querySelector('meta[name="sfm-gateway"]').content;
  const portal = new URLSearchParams(location.search).get('portal') ?? '';
  const pageId = crypto.randomUUID();
  let seq = 0;
  let session = null; // { clientSession, sessionId, user, metadata } after login
  const $ = (id) => document.getElementById(id);

  const parentOrigin = (() => {
    if (window.parent === window) return null;
    const anc = location.ancestorOrigins;
    if (anc && anc.length > 0 && anc[0] !== 'null') return anc[0];
    try {
      const o = new URL(document.referrer).origin;
      return o === 'null' ? null : o;
    } catch {
      return null;
    }
  })();
  $('portal').textContent = portal ? `(${portal})` : '';
  $('parent-origin').textContent = parentOrigin ?? (window.parent === window ? 'not embedded' : 'unknown');

  const plain = (data) => {
    try {
      return JSON.parse(JSON.stringify(data ?? null));
    } catch {
      return String(data);
    }
  };
  function record(entry) {
    const e = { pageId, seq: ++seq, portal, at: Date.now(), ...entry };
    const li = document.createElement('li');
    const d = e.data && typeof e.data === 'object' ? e.data : { data: e.data };
    const [key] = Object.keys(d);
    const what = e.direction === 'in'
      ? `${d.action ?? key ?? '?'} from ${e.origin}${e.handled === 'ignored' ? ` (ignored: ${e.reason})` : ''}`
      : `${key}: ${d[key]}${d.reason ? ` (${d.reason})` : ''} to ${e.targetOrigin}`;
    li.textContent = `${e.direction === 'in' ? '←' : '→'} ${what}`;
    $('log').append(li);
    fetch('/sfm-client/record', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(e),
    }).catch(() => {});
  }
  function post(data) {
    if (!parentOrigin) return;
    window.parent.postMessage(data, parentOrigin);
    record({ direction: 'out', data, targetOrigin: parentOrigin });
  }
  function status(text, state) {
    $('status').textContent = text;
    $('status').dataset.state = state;
  }

  async function callGateway(path, body) {
    let res;
    let json;
    try {
      res = await fetch(`${gateway}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      json = await res.json().catch(() => ({}));
    } catch (err) {
      return { ok: false, reason: `the SFM gateway could not be reached: ${err.message}` };
    }
    if (!res.ok) return { ok: false, reason: json.error_description ?? json.error ?? `HTTP ${res.status}` };
    return { ok: true, json };
  }

  async function login(msg) {
    if (typeof msg.code !== 'string' || typeof msg.nonce !== 'string') {
      post({ login: 'failed', reason: 'code and nonce must be strings' });
      return;
    }
    const out = await callGateway('/api/v2/Session/login', {
      code: msg.code, nonce: msg.nonce, apiEndpoint: msg.apiEndpoint, metadata: msg.metadata,
    });
    if (!out.ok) {
      status(`Login failed: ${out.reason}`, 'failed');
      post({ login: 'failed', reason: out.reason });
      return;
    }
    session = out.json;
    status(`Logged in as ${session.user.name}`, 'logged-in');
    $('user').textContent = session.user.name;
    $('hpr').textContent = session.user.hpr;
    $('session').textContent = session.sessionId;
    $('metadata').textContent = session.metadata ? JSON.stringify(session.metadata) : 'none';
    post({ login: 'success' });
  }

  async function setPatient(msg) {
    if (!session) {
      post({ setPatient: 'failed', reason: 'not logged in' });
      return;
    }
    if (typeof msg.ticket !== 'string' || !msg.ticket) {
      post({ setPatient: 'failed', reason: 'ticket must be a string' });
      return;
    }
    const body = { clientSession: session.clientSession, ticket: msg.ticket };
    for (const k of ['showAllergies', 'showLib', 'onBehalfOf', 'encounterIdentifier']) if (msg[k] !== undefined) body[k] = msg[k];
    const out = await callGateway('/api/v2/Session/patient', body);
    if (!out.ok) {
      post({ setPatient: 'failed', reason: out.reason });
      return;
    }
    $('patient').textContent = out.json.patientPid;
    $('patient-options').textContent = Object.keys(out.json.options).length ? JSON.stringify(out.json.options) : 'none';
    post({ setPatient: 'success' });
  }

  window.addEventListener('message', (event) => {
    const data = plain(event.data);
    const fromParent = parentOrigin !== null && event.source === window.parent && event.origin === parentOrigin;
    const base = { direction: 'in', origin: event.origin, fromParent, data };
    if (!fromParent) {
      record({ ...base, handled: 'ignored', reason: 'not from the embedding page' });
      return;
    }
    const action = data && typeof data === 'object' ? data.action : undefined;
    if (action === 'login') {
      record({ ...base, handled: 'login' });
      login(data);
    } else if (action === 'setPatient') {
      record({ ...base, handled: 'setPatient' });
      setPatient(data);
    } else {
      record({ ...base, handled: 'ignored', reason: 'unknown action' });
    }
  });

  if (parentOrigin) {
    const loaded = () => post({ clientLoaded: 'success' });
    if (document.readyState === 'complete') loaded();
    else window.addEventListener('load', loaded, { once: true });
  } else {
    status(window.parent === window ? 'Not embedded: open me in an iframe of the EPJ' : 'The embedding page\'s origin is unknown: nothing posted', 'failed');
  }
})();
