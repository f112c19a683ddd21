// Small DOM and formatting helpers shared by the panels.
import { shorten } from './wire.js';

export { shorten };

export const $ = (id) => document.getElementById(id);

/** An element with attributes (class, text, data-*, aria-*, role, or properties) and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role') node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children.flat(Infinity)) if (c !== undefined && c !== null && c !== false) node.append(c);
  return node;
}

export const code = (text) => el('code', { text: String(text) });
export const clock = (epochSeconds) => new Date(epochSeconds * 1000).toLocaleTimeString('en-GB', { hour12: false });
export const nowSeconds = () => Date.now() / 1000;
export function mmss(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
export const base64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
/** An access token's `aud` as one string. */
export const audOf = (at) => (Array.isArray(at.aud) ? at.aud.join(' ') : at.aud);

/** A <time> of now, for the logs. */
export function timeNow() {
  const now = new Date();
  return el('time', { text: now.toLocaleTimeString('en-GB', { hour12: false }), dateTime: now.toISOString() });
}

/** An error this page raises (not the library): shown in the error card like a HelseIdError. */
export class PageError extends Error {
  constructor(errorCode, message, extra = {}) {
    super(message);
    this.name = 'DemoPageError';
    this.code = errorCode;
    Object.assign(this, extra);
  }
}

/** `<dl>` rows [label, value, data-field] into `list` (an id), shown. */
export function renderInfo(list, rows) {
  $(list).replaceChildren(...rows.map(([k, v, key]) => el('div', {}, el('dt', { text: k }), el('dd', { 'data-field': key }, v))));
  $(list).hidden = false;
}

const TIME_CLAIMS = new Set(['exp', 'iat', 'nbf', 'auth_time']);
/** Pretty JSON with coloured keys, a clock time beside time claims, long strings shortened. */
export function claimsView(claims, indent = '  ') {
  const prim = (v) => {
    if (typeof v === 'string') return el('span', { class: 's', text: JSON.stringify(v.length > 90 ? shorten(v, 60, 20) : v) });
    if (typeof v === 'number') return el('span', { class: 'n', text: String(v) });
    return JSON.stringify(v);
  };
  const render = (value, pad) => {
    if (Array.isArray(value)) {
      const flat = value.every((v) => v === null || typeof v !== 'object');
      if (flat && JSON.stringify(value).length <= 60) {
        return ['[', ...value.flatMap((v, i) => (i ? [', ', prim(v)] : [prim(v)])), ']'];
      }
      const parts = ['[\n'];
      value.forEach((v, i) => { parts.push(pad + indent, ...render(v, pad + indent), i < value.length - 1 ? ',\n' : '\n'); });
      parts.push(`${pad}]`);
      return parts;
    }
    if (value && typeof value === 'object') {
      const parts = ['{\n'];
      const keys = Object.keys(value);
      keys.forEach((k, i) => {
        const v = value[k];
        parts.push(pad + indent, el('span', { class: 'k', text: JSON.stringify(k) }), ': ', ...render(v, pad + indent));
        if (i < keys.length - 1) parts.push(',');
        if (TIME_CLAIMS.has(k) && typeof v === 'number') parts.push(el('span', { class: 'c', text: `  // ${clock(v)}` }));
        parts.push('\n');
      });
      parts.push(`${pad}}`);
      return parts;
    }
    return [prim(value)];
  };
  return render(claims, '');
}
