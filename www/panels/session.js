// The "Session" panels: the user card (with where the session lives: client.sessionHost()), the
// access token's lifetime and the refresh log (tokenRefreshed with its cause), and the decoded
// tokens.
import { $, el, code, clock, nowSeconds, mmss, audOf, timeNow, claimsView } from '../dom.js';
import { state, update } from '../store.js';
import { REFRESH_LEEWAY_SECONDS } from '../constants.js';
import { wireMark, wireSince } from '../wire.js';
import { readForm } from './config.js';
import { renderChecks } from './checks.js';

/** client.sessionHost() (API.md "Session host"), in words. */
const SESSION_HOSTS = {
  worker: ['Session host (SharedWorker)', 'the session host, a SharedWorker, holds the session for every tab of the app and makes the token requests'],
  'page-holder': ['This tab', 'this tab holds the session and makes the token requests; other tabs follow it'],
  'page-follower': ['Another tab', 'another tab holds the session and makes the token requests; this tab follows it'],
};

/** tokenRefreshed's cause (API.md): the log's tag. */
export const CAUSES = {
  schedule: 'Timer',
  call: 'This tab',
  context: 'Context switch',
  'other-tab': 'Another tab',
};

/** Who made a token request this tab could not see (no wire timing), by client.sessionHost(). */
export function tokenRequestsMadeBy() {
  return {
    worker: 'by the session host',
    'page-holder': 'by this tab',
    'page-follower': 'by the tab that holds the session',
  }[state.client?.sessionHost()] ?? 'elsewhere';
}

/** The whole session view, for state.session. */
export function renderSession() {
  const { session } = state;
  if (!session) return;
  const h = session.helseid ?? {};
  const id = session.idTokenClaims ?? {};
  const name = h.name ?? ([h.givenName, h.familyName].filter(Boolean).join(' ') || id.name || 'Unknown user');
  $('user-name').textContent = name;
  $('avatar').textContent = name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0]).join('').toUpperCase();
  $('user-sub').textContent = `Logged in with ${id.idp ?? 'HelseID'}${h.assuranceLevel ? `, assurance ${h.assuranceLevel}` : ''} · ${session.tokenType} token · client ${h.clientId ?? readForm().clientId}`;
  const facts = [
    ['Personal id (pid)', h.pid, 'pid'],
    ['HPR number', h.hprNumber, 'hpr'],
    ['Security level', h.securityLevel, 'level'],
    ['SFM id', h.sfmId ?? h.journalId, 'sfm'],
  ];
  $('user-facts').replaceChildren(...facts.map(([label, value, key]) => el('div', { class: 'fact' },
    el('dt', { text: label }),
    el('dd', { 'data-fact': key, class: value ? '' : 'muted', text: value ?? 'not in the token' }))));
  renderSessionHost();
  $('tokens-intro').textContent = `Decoded by the library after it verified them; scope granted: ${session.scope.join(' ')}`;
  $('at-aud').textContent = `(aud ${audOf(session.accessTokenClaims ?? {})})`;
  $('id-claims').replaceChildren(...claimsView(session.idTokenClaims));
  $('at-claims').replaceChildren(...claimsView(session.accessTokenClaims));
  tick();
  renderChecks();
}

/**
 * Where the session lives, as client.sessionHost() says now. It can change while the page is
 * open (a follower becomes the holder when the holder's tab closes): the ticker asks every second.
 */
function renderSessionHost() {
  const mode = state.client?.sessionHost();
  const [label, words] = SESSION_HOSTS[mode] ?? [mode ?? 'none', ''];
  const out = $('session-host');
  if (out.dataset.host === mode) return;
  out.dataset.host = mode ?? '';
  out.replaceChildren(el('strong', { text: label }), ' ', code(`sessionHost() = "${mode}"`), words ? `: ${words}.` : '');
}

export function tick() {
  const { session, sessionStart } = state;
  if (!session) return;
  const now = nowSeconds();
  const left = session.expiresAt - now;
  const total = Math.max(1, session.expiresAt - sessionStart);
  $('countdown').textContent = left > 0 ? mmss(left) : 'expired';
  $('countdown').dataset.low = String(left < REFRESH_LEEWAY_SECONDS);
  $('expiry-at').textContent = `at ${clock(session.expiresAt)}`;
  $('meter-fill').style.width = `${Math.max(0, Math.min(100, (left / total) * 100))}%`;
  const nextRefresh = session.expiresAt - REFRESH_LEEWAY_SECONDS - now;
  $('next-refresh').textContent = nextRefresh > 0
    ? `Automatic refresh in about ${mmss(nextRefresh)} (${REFRESH_LEEWAY_SECONDS} s before expiry).`
    : 'Automatic refresh due now.';
  renderSessionHost();
}

export function startTicker() {
  stopTicker();
  update({ ticker: setInterval(tick, 1000) });
}

export function stopTicker() {
  clearInterval(state.ticker);
  update({ ticker: 0 });
}

/**
 * tokenRefreshed: one entry in the refresh log, tagged with the library's cause. The token
 * requests are timed from the wire when this tab made them (page-holder); otherwise the entry
 * says who made them (client.sessionHost()).
 */
export function logRefresh(detail) {
  const previous = state.session;
  const since = detail.cause === 'context' && state.switchRun ? state.switchRun.mark : state.refreshMark;
  const tokenCalls = wireSince(since, (e) => /\/connect\/token$/.test(new URL(e.url).pathname) && e.end !== undefined);
  const wireMs = tokenCalls.length ? Math.max(...tokenCalls.map((e) => e.end)) - Math.min(...tokenCalls.map((e) => e.start)) : undefined;
  const now = nowSeconds();
  const count = state.refreshCount + 1;
  const left = previous ? previous.expiresAt - now : undefined;
  const aud = audOf(detail.accessTokenClaims ?? {});
  const item = el('li', { 'data-cause': detail.cause, 'data-token-requests': String(tokenCalls.length) },
    el('div', { class: 'log-head' },
      el('span', { class: `tag ${detail.cause}`, text: CAUSES[detail.cause] ?? detail.cause }),
      el('code', { class: 'cause', text: `cause: "${detail.cause}"` }),
      el('strong', { text: `#${count}` }),
      timeNow()),
    el('p', { class: 'log-body' },
      wireMs !== undefined
        ? `Token endpoint ${Math.round(wireMs)} ms (${tokenCalls.length} request${tokenCalls.length === 1 ? '' : 's'}${tokenCalls.length > 1 ? ', DPoP nonce retry' : ''})`
        : `Token endpoint, ${tokenRequestsMadeBy()}`,
      ` · token for ${aud}`,
      left !== undefined ? ` · old token had ${Math.max(0, Math.round(left))} s left` : '',
      ` · new token valid ${Math.round(detail.expiresAt - now)} s, until ${clock(detail.expiresAt)}`));
  $('refresh-log').prepend(item);
  $('refresh-empty').hidden = true;
  update({ refreshCount: count, refreshMark: wireMark(), session: detail, sessionStart: now });
}

/** "Refresh now": client.refresh(); the log entry comes from tokenRefreshed (cause "call"). */
async function refreshNow({ showError, clearError }) {
  clearError();
  const button = $('refresh');
  const status = $('refresh-status');
  button.disabled = true;
  status.textContent = '';
  const t0 = performance.now();
  try {
    await state.client.refresh();
    status.textContent = `client.refresh() resolved in ${Math.round(performance.now() - t0)} ms.`;
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
  }
}

/** Empties the logs (after logout). */
export function resetSessionPanels() {
  stopTicker();
  $('refresh-log').replaceChildren();
  $('refresh-empty').hidden = false;
  $('refresh-status').textContent = '';
  delete $('session-host').dataset.host;
  update({ refreshCount: 0 });
}

export function wireSessionPanel(messages) {
  $('refresh').addEventListener('click', () => refreshNow(messages));
}
