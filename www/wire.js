// Demo only: watches the page's fetch() calls so the page can show what the library sent and
// received (the API request headers, the DPoP nonce round trip, how long a refresh took).
// An application does not need any of this. The Authorization header is shortened on capture;
// the rest is kept in memory (the last 200 requests) and never stored.

const entries = [];
const MAX = 200;
let seq = 0;

/** head…tail of a long value. */
export function shorten(value, head = 12, tail = 6) {
  const s = String(value ?? '');
  return s.length <= head + tail + 1 ? s : `${s.slice(0, head)}…${s.slice(-tail)}`;
}

// The access token is shortened as soon as it is seen: the page never keeps it whole.
function headersOf(input, init) {
  const h = new Headers(input instanceof Request ? input.headers : undefined);
  if (init?.headers) new Headers(init.headers).forEach((v, k) => h.set(k, v));
  return [...h.entries()].map(([k, v]) => {
    if (k !== 'authorization') return [k, v];
    const [scheme, token = ''] = v.split(' ');
    return [k, `${scheme} ${shorten(token, 16, 6)}`, { tokenLength: token.length }];
  });
}

export function installWireObserver() {
  if (window.fetch.__wireObserved) return;
  const original = window.fetch.bind(window);
  const observed = async function fetch(input, init) {
    const url = input instanceof Request ? input.url : String(input instanceof URL ? input.href : input);
    const entry = {
      id: (seq += 1),
      url,
      method: (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase(),
      requestHeaders: headersOf(input, init),
      start: performance.now(),
      startedAt: Date.now(),
    };
    entries.push(entry);
    if (entries.length > MAX) entries.shift();
    try {
      const res = await original(input, init);
      entry.end = performance.now();
      entry.status = res.status;
      entry.responseHeaders = [...res.headers.entries()];
      return res;
    } catch (err) {
      entry.end = performance.now();
      entry.error = String(err?.message ?? err);
      throw err;
    }
  };
  observed.__wireObserved = true;
  window.fetch = observed;
}

/** The entries recorded after `mark` (a value from `wireMark()`), optionally filtered. */
export function wireSince(mark, filter = () => true) {
  return entries.filter((e) => e.id > mark && filter(e));
}

export function wireMark() {
  return seq;
}
