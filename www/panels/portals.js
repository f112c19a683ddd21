// The national portal panels: SFM (client.openSfmSession + attach + setPatient, in an iframe)
// and Kjernejournal (client.openKjernejournalSession, in a new tab).
import { $, code, PageError, renderInfo } from '../dom.js';
import { state, update } from '../store.js';
import { KJ_RESOURCE, SOURCE_SYSTEM } from '../constants.js';

function setPortalState(which, portalState, text) {
  const badge = $(`${which}-state`);
  badge.dataset.state = portalState;
  badge.textContent = text;
}

function portalAddress(id, what) {
  const value = $(id).value.trim().replace(/\/+$/, '');
  if (!value) {
    $(id).setAttribute('aria-invalid', 'true');
    throw new PageError('portal_not_configured', `Fill in ${what}.`);
  }
  $(id).removeAttribute('aria-invalid');
  return value;
}

// ------------------------------------------------------------------ SFM
async function openSfm({ showError, clearError }) {
  clearError();
  const button = $('sfm-open');
  try {
    const gateway = portalAddress('sfm-gateway', 'the SFM session gateway');
    button.disabled = true;
    setPortalState('sfm', 'busy', 'Opening…');
    if (state.sfm) await state.sfm.end().catch(() => {}); // the gateway would replace it anyway
    const sfm = await state.client.openSfmSession({ gateway });
    update({ sfm });
    const { id, clientAddress, apiAddress, metadata } = sfm.info;
    renderInfo('sfm-info', [
      ['Session id', code(id), 'id'],
      ['Client address', code(clientAddress), 'client-address'],
      ['API address', code(apiAddress), 'api-address'],
      ['Portals', Object.keys(metadata ?? {}).join(', ') || 'none', 'metadata'],
    ]);
    const frame = $('sfm-frame');
    frame.hidden = false;
    sfm.attach(frame, { sfmUserAgent: SOURCE_SYSTEM });
    setPortalState('sfm', 'open', 'Open');
    $('sfm-patient-row').hidden = false;
    $('sfm-patient-status').textContent = '';
    $('sfm-end').disabled = false;
  } catch (err) {
    setPortalState('sfm', 'error', 'Failed');
    showError(err);
  } finally {
    button.disabled = false;
  }
}

async function setSfmPatient({ showError, clearError }) {
  clearError();
  const status = $('sfm-patient-status');
  const button = $('sfm-set-patient');
  const pid = $('sfm-patient').value.trim();
  button.disabled = true;
  status.dataset.state = 'busy';
  status.textContent = 'Asking SFM for a patient ticket…';
  const t0 = performance.now();
  try {
    if (!state.sfm) throw new PageError('sfm_not_open', 'No SFM session is open.');
    await state.sfm.setPatient(pid); // waits for the SFM client's login, then its "setPatient: success"
    status.dataset.state = 'ok';
    status.textContent = `SFM shows patient ${pid} (${Math.round(performance.now() - t0)} ms).`;
  } catch (err) {
    status.dataset.state = 'error';
    status.textContent = `Set patient failed: ${err.code ?? err.name}.`;
    showError(err);
  } finally {
    button.disabled = false;
  }
}

function closeSfmView(text) {
  $('sfm-end').disabled = true;
  $('sfm-patient-row').hidden = true;
  $('sfm-frame').hidden = true;
  $('sfm-frame').removeAttribute('src');
  setPortalState('sfm', 'closed', text);
}

async function endSfm({ showError, clearError }) {
  clearError();
  try {
    await state.sfm?.end();
    update({ sfm: null });
    closeSfmView('Ended');
  } catch (err) {
    showError(err);
  }
}

// ------------------------------------------------------------------ Kjernejournal
async function openKj({ showError, clearError }) {
  clearError();
  const status = $('kj-status');
  const button = $('kj-open');
  // Kjernejournal takes only tokens with a patient attest: the context must carry one.
  if (!state.client.context()?.trustFramework) {
    status.dataset.state = 'error';
    status.replaceChildren('No patient attest in the context: tick “Patient: trust-framework attest” above and switch (the token for ', code(KJ_RESOURCE), ' must carry it).');
    return;
  }
  try {
    const api = portalAddress('kj-api', 'the Kjernejournal innlogging API');
    const web = portalAddress('kj-web', 'the Kjernejournal web address');
    button.disabled = true;
    status.dataset.state = 'busy';
    status.textContent = 'Creating the Kjernejournal session…';
    const kj = await state.client.openKjernejournalSession({
      api, web, sourceSystem: SOURCE_SYSTEM, patient: $('kj-patient').value.trim(), accessBasis: $('kj-basis').value,
    });
    update({ kj });
    // The URL carries a one-time code and the PKCE verifier: shown shortened only.
    const url = new URL(kj.url);
    const cut = (name) => `${(url.searchParams.get(name) ?? '').slice(0, 6)}…`;
    const shown = `${url.origin}${url.pathname}?code=${cut('code')}&ehr_code_verifier=${cut('ehr_code_verifier')}`;
    renderInfo('kj-info', [['Session id', code(kj.sessionId), 'session-id'], ['Opened', code(shown), 'url']]);
    window.open(kj.url, '_blank', 'noopener');
    setPortalState('kj', 'open', 'Open');
    status.dataset.state = 'ok';
    status.textContent = 'Kjernejournal opened in a new tab (the code in its address works once).';
    $('kj-end').disabled = false;
  } catch (err) {
    setPortalState('kj', 'error', 'Failed');
    status.dataset.state = 'error';
    status.textContent = `Kjernejournal could not be opened: ${err.code ?? err.name}.`;
    showError(err);
  } finally {
    button.disabled = false;
  }
}

async function endKj({ showError, clearError }) {
  clearError();
  try {
    await state.kj?.end();
    update({ kj: null });
    $('kj-end').disabled = true;
    $('kj-status').textContent = 'The Kjernejournal session has ended.';
    setPortalState('kj', 'closed', 'Ended');
  } catch (err) {
    showError(err);
  }
}

/** After logout or expiry: the library has ended the portal sessions; the page forgets them. */
export function resetPortals() {
  update({ sfm: null, kj: null });
  closeSfmView('Closed');
  $('sfm-info').hidden = true;
  $('kj-info').hidden = true;
  $('kj-status').textContent = '';
  $('kj-end').disabled = true;
  setPortalState('kj', 'closed', 'Closed');
}

export function wirePortalPanels(messages) {
  $('sfm-open').addEventListener('click', () => openSfm(messages));
  $('sfm-set-patient').addEventListener('click', () => setSfmPatient(messages));
  $('sfm-end').addEventListener('click', () => endSfm(messages));
  $('kj-open').addEventListener('click', () => openKj(messages));
  $('kj-end').addEventListener('click', () => endKj(messages));
}
