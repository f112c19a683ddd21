// The "Organisation, journal and patient context" panel: client.setContext() with one refresh,
// its result, the context in force, and the session events (client.on(...)).
import { $, el, code, shorten, timeNow, claimsView } from '../dom.js';
import { state, update } from '../store.js';
import {
  ATTEST_RESOURCES, ORGNR_SYSTEM, PURPOSE_OF_USE_SYSTEM, HEALTHCARE_SERVICE_SYSTEM,
} from '../constants.js';
import { wireMark, wireSince } from '../wire.js';
import { LOCAL_CLIENTS, epjUserByPid, organisationChoices } from '../local-double.js';
import { currentPreset, readForm } from './config.js';
import { tokenRequestsMadeBy } from './session.js';

/** Fills the context pickers for the logged-in user and client (the local double's allow-lists). */
export function setupContextForm() {
  const cfg = readForm();
  const local = currentPreset() === 'local';
  const user = local ? epjUserByPid(state.session?.helseid?.pid) : undefined;
  const clientInfo = local ? LOCAL_CLIENTS[cfg.clientId] : undefined;
  const tenancy = clientInfo?.tenancy; // undefined: not known here, both fields are offered
  $('ctx-user-label').textContent = user ? `EPJ user ${user.key}` : 'the EPJ user';
  $('ctx-tenancy-label').textContent = tenancy === 'multi' ? '(multi-tenant client: parent, child optional)'
    : tenancy === 'single' ? `(single-tenant client: a child of ${clientInfo.ownOrg})` : '(multi-tenant: parent + child; single-tenant: child only)';
  $('ctx-parent-field').hidden = tenancy === 'single';
  const choices = user ? organisationChoices(user, tenancy ?? 'multi', clientInfo?.ownOrg) : [];
  $('ctx-org').replaceChildren(
    el('option', { value: '', text: choices.length ? 'None: the client’s default' : 'No list here: type the numbers below' }),
    ...choices.map((c) => el('option', { value: `${c.parent}:${c.child}`, text: c.note ? `${c.label}: ${c.note}` : c.label })));
  $('ctx-org').disabled = !choices.length;
  const orgnrs = [...new Set((user?.organizations ?? []).flatMap((o) => [o.parent, ...o.children]))];
  $('ctx-orgnrs').replaceChildren(...orgnrs.map((n) => el('option', { value: n })));
  $('ctx-journals').replaceChildren(...(user?.journalIds ?? []).map((j) => el('option', { value: j })));
  $('ctx-resource').replaceChildren(...cfg.resources.map((r, i) => el('option', { value: r, text: i === 0 ? `${r} (default)` : r })));
  for (const id of ['ctx-parent', 'ctx-child', 'ctx-journal', 'ctx-legal-entity', 'ctx-point-of-care']) $(id).value = '';
  $('ctx-service').value = '01';
  $('ctx-attest-on').checked = false;
  syncAttestFields();
}

function syncAttestFields() {
  const on = $('ctx-attest-on').checked;
  for (const id of ['ctx-legal-entity', 'ctx-point-of-care', 'ctx-purpose', 'ctx-service']) $(id).disabled = !on;
  // The attest is carried only by tokens for the attest resources: refresh one of those.
  const resources = [...$('ctx-resource').options].map((o) => o.value);
  const target = on ? resources.find((r) => ATTEST_RESOURCES.includes(r)) : resources[0];
  if (target) $('ctx-resource').value = target;
}

function pickOrganisation() {
  const [parent = '', child = ''] = $('ctx-org').value.split(':');
  $('ctx-parent').value = parent;
  $('ctx-child').value = child;
  // The attest names the same organisation: legal entity and point of care.
  const own = LOCAL_CLIENTS[readForm().clientId]?.ownOrg;
  $('ctx-legal-entity').value = parent || (child ? own ?? '' : '');
  $('ctx-point-of-care').value = child || parent;
}

/** The HelseIdContext of the form, or null when nothing is chosen. Not validated here: the library does. */
function readContextForm() {
  const ctx = {};
  const parent = $('ctx-parent-field').hidden ? '' : $('ctx-parent').value.trim();
  const child = $('ctx-child').value.trim();
  if (parent) ctx.organization = child ? { parent, child } : { parent };
  else if (child) ctx.organization = { child };
  const journalId = $('ctx-journal').value.trim();
  if (journalId) ctx.journalId = journalId;
  if ($('ctx-attest-on').checked) {
    const service = $('ctx-service').value.trim();
    ctx.trustFramework = {
      practitioner: {
        legal_entity: { id: $('ctx-legal-entity').value.trim(), system: ORGNR_SYSTEM },
        point_of_care: { id: $('ctx-point-of-care').value.trim(), system: ORGNR_SYSTEM },
      },
      care_relationship: {
        purpose_of_use: { code: $('ctx-purpose').value, system: PURPOSE_OF_USE_SYSTEM },
        ...(service ? { healthcare_service: { code: service, system: HEALTHCARE_SERVICE_SYSTEM } } : {}),
      },
    };
  }
  return Object.keys(ctx).length ? ctx : null;
}

async function switchContext(ctx, { showError, clearError }) {
  clearError();
  const resource = $('ctx-resource').value || undefined;
  update({ switchRun: { t0: performance.now(), mark: wireMark(), resource } });
  const buttons = [$('ctx-switch'), $('ctx-clear')];
  for (const b of buttons) b.disabled = true;
  $('ctx-switch').setAttribute('aria-busy', 'true');
  try {
    const s = await state.client.setContext(ctx, resource ? { resource } : undefined);
    renderSwitchResult({ s });
  } catch (err) {
    renderSwitchResult({ err });
    showError(err);
  } finally {
    for (const b of buttons) b.disabled = false;
    $('ctx-switch').removeAttribute('aria-busy');
  }
}

function renderSwitchResult({ s, err }) {
  const run = state.switchRun;
  const calls = wireSince(run.mark, (e) => /\/connect\/token$/.test(new URL(e.url).pathname));
  // This tab's token requests are on its wire; the session host's, or the holder's a follower
  // asks, are not (client.sessionHost() says which). context_invalid: the library checked the
  // context and sent nothing (API.md).
  const requests = err?.code === 'context_invalid' || state.client.sessionHost() === 'page-holder'
    ? String(calls.length)
    : `made ${tokenRequestsMadeBy()}`;
  const ms = Math.round(performance.now() - run.t0);
  const rows = err
    ? [
      ['Result', `refused: ${err.code ?? err.name}`, 'result'],
      ['Claim', err.claim, 'claim'],
      ['HelseID said', [err.oauthError, err.oauthErrorDescription].filter(Boolean).join(': ') || undefined, 'description'],
      ['Token requests', requests, 'token-requests'],
      ['In force', 'the previous context, with its tokens', 'kept'],
    ]
    : [
      ['Result', `switched in ${ms} ms`, 'result'],
      ['Token requests', `${requests} (${run.resource ?? 'default resource'})`, 'token-requests'],
      ['Rejected scope', s.rejectedScope?.length ? s.rejectedScope.join(' ') : 'none', 'rejected-scope'],
      ['Decision id', s.context?.trustFramework?.care_relationship?.decision_ref?.id, 'decision-id'],
    ];
  $('ctx-result').replaceChildren(...rows.filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v, key]) => el('div', {}, el('dt', { text: k }), el('dd', { 'data-field': key, text: v }))));
  $('ctx-result').dataset.outcome = err ? 'refused' : 'switched';
  $('ctx-result').hidden = false;
  $('ctx-result-empty').hidden = true;
}

/** One line for a context: "organisation 920000001 › 920000011 · journal 5f0c…5e01 · attest TREAT". */
function contextSummary(ctx) {
  if (!ctx) return 'none';
  const parts = [];
  const o = ctx.organization;
  if (o) parts.push(`organisation ${[o.parent, o.child].filter(Boolean).join(' › ')}`);
  if (ctx.journalId) parts.push(`journal ${shorten(ctx.journalId, 8, 4)}`);
  if (ctx.trustFramework) parts.push(`attest ${ctx.trustFramework.care_relationship?.purpose_of_use?.code ?? ''}`.trim());
  return parts.join(' · ') || 'none';
}

/** The context in force (Session.context). */
export function renderContext() {
  const ctx = state.session?.context ?? null;
  $('ctx-summary').replaceChildren('In force: ', el('strong', { 'data-context': 'summary', text: contextSummary(ctx) }));
  $('ctx-current').replaceChildren(...(ctx ? claimsView(ctx) : ['null (no context: the client’s defaults)']));
}

const ORIGIN_TEXT = {
  'this-tab': 'this tab', 'other-tab': 'from another tab', timer: 'the refresh timer', 'every-tab': 'every tab', unknown: 'origin not said',
};

/** One entry in the session events log; `origin`: a key of ORIGIN_TEXT. */
export function logEvent(name, origin, detail, attrs = {}) {
  const item = el('li', { 'data-event': name, 'data-origin': origin, ...attrs },
    el('div', { class: 'log-head' },
      el('code', { text: name }),
      el('span', { class: `tag ${origin}`, text: ORIGIN_TEXT[origin] }),
      timeNow()),
    el('p', { class: 'log-body' }, detail));
  $('event-log').prepend(item);
  $('event-empty').hidden = true;
}

/** contextChanged: the new Session with its cause, "context" where this tab's setContext made the switch. */
export function onContextChanged(s) {
  const origin = s.cause === 'context' ? 'this-tab' : s.cause === 'other-tab' ? 'other-tab' : 'unknown';
  logEvent('contextChanged', origin, [contextSummary(s.context), ` (cause "${s.cause}")`]);
  update({ session: s });
}

export function onContextExpired() {
  logEvent('contextExpired', 'every-tab', ['the patient attest is too old: nhn:kjernejournal tokens reject context_expired until the context is switched again']);
}

/** After logout: the logs and the last result go. */
export function resetContextPanel() {
  $('event-log').replaceChildren();
  $('event-empty').hidden = false;
  $('ctx-result').hidden = true;
  $('ctx-result-empty').hidden = false;
  update({ switchRun: null });
}

export function wireContextPanel(messages) {
  $('context-form').addEventListener('submit', (e) => { e.preventDefault(); switchContext(readContextForm(), messages); });
  $('ctx-clear').addEventListener('click', () => switchContext(null, messages));
  $('ctx-org').addEventListener('change', pickOrganisation);
  $('ctx-attest-on').addEventListener('change', syncAttestFields);
}
