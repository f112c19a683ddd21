// The national portals through the built package in headless Chromium, against the portal
// stand-ins of the HelseID test double (www/dev-idp/portals.mjs, README "Portal stand-ins"):
// client.openSfmSession (create with the nonce hash, the iframe login handshake, PatientTicket,
// refresh after its token's refresh, end at logout and at expiry, refusals) and
// client.openKjernejournalSession (create with the challenge and the claims block, the portal
// URL, refresh, end, argument checks). Contract: API.md "Embedded national portals". Counts
// are read at the stand-ins.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStack, launchBrowser, until, ENGINE } from './harness.mjs';
import { PORTAL_SERVERS } from '../../www/dev-idp/double.mjs';
import { clientOptions, login, openApp, withClient } from './flow.mjs';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'artifacts');

const SFM = 'e-helse:sfm.api';
const OTHER = 'e-helse:other.api';
const KJ = 'nhn:kjernejournal';
const KVART = { pid: '06828399789', hpr: '565501872', name: 'KVART GREVLING' };
const PATIENT = '13116900216';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// The single-tenant test clients name a child organisation; their tokens then carry their own
// organisation as orgnr_parent (README "Context").
const ORG_CONTEXT = { organization: { child: '910000011' } };
const ORGNR_PARENT = '910000001';
// An attest for kvart's organisations (signer.mjs EPJ_USERS), without decision_ref.id: the
// library makes one.
const ATTEST = {
  practitioner: {
    authorization: { code: 'LE', system: 'urn:oid:2.16.578.1.12.4.1.1.9060' },
    legal_entity: { id: '910000001', system: 'urn:oid:2.16.578.1.12.4.1.4.101' },
    point_of_care: { id: '910000011', system: 'urn:oid:2.16.578.1.12.4.1.4.101' },
  },
  care_relationship: {
    healthcare_service: { code: '01', system: 'urn:oid:2.16.578.1.12.4.1.1.8666' },
    purpose_of_use: { code: 'TREAT', system: 'urn:oid:2.16.840.1.113883.1.11.20448' },
    purpose_of_use_details: { code: 'BEHANDLER', system: 'urn:AuditEventHL7Norway/CodeSystem/carerelation' },
    decision_ref: { user_selected: true },
  },
  patients: [{ point_of_care: { id: '910000011', system: 'urn:oid:2.16.578.1.12.4.1.4.101' } }],
};
const BASE_SCOPE = 'openid profile offline_access helseid://scopes/identity/pid helseid://scopes/identity/security_level helseid://scopes/hpr/hpr_number e-helse:sfm.api/sfm.api2';

const sha256hex = (s) => createHash('sha256').update(s).digest('hex');
const sha512b64 = (buf) => createHash('sha512').update(buf).digest('base64');
const s256 = (verifier) => createHash('sha256').update(verifier).digest('base64url');

let stack;
let dbl;
let browser;

before(async () => {
  [stack, browser] = await Promise.all([startStack({ accessTokenTtl: 600, quiet: true }), launchBrowser()]);
  dbl = stack.double;
  await mkdir(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await stack?.close();
});

beforeEach(() => {
  dbl.reset();
  dbl.setOptions({ accessTokenTtl: 600 });
});


/**
 * Client options for the e2e page (pages/app.html), with `extra` config. apiOrigins lists the
 * stand-ins for their resources (flow.mjs `portals`); `portals: false` lists the API origin only.
 */
function options(extra = {}, { portals = true } = {}) {
  return clientOptions(stack, { portals, extra: { autoRefresh: false, ...extra } });
}

/** A new tab, logged in as kvart with `opts`; returns { page, session }. */
async function loggedIn(opts = options(), loginOptions = {}) {
  const page = await browser.newPage();
  const session = await login(page, stack, opts, loginOptions);
  return { page, session };
}

/** Adds `<iframe id=...>` to the test page (no src). */
function addFrame(page, id = 'sfm') {
  return page.evaluate((frameId) => {
    const f = document.createElement('iframe');
    f.id = frameId;
    f.title = `SFM (${frameId})`;
    f.style.cssText = 'display: block; width: 100%; height: 560px; border: 1px solid #888';
    document.body.append(f);
  }, id);
}

/** openSfmSession in the page; the session object stays on window.sfm. */
function openSfm(page, args = {}) {
  return withClient(page, async (client, a) => {
    window.sfm = await client.openSfmSession(a);
    return window.sfm.info;
  }, { gateway: dbl.sfmGatewayOrigin, ...args });
}

/** sfm.attach(#frameId, opts) in the page. */
function attachSfm(page, frameId = 'sfm', opts) {
  return page.evaluate(({ frameId, opts }) => {
    window.sfm.attach(document.getElementById(frameId), opts);
  }, { frameId, opts });
}

/** Waits until the SFM stand-in in #frameId shows "Logged in as <name>". */
async function waitLoggedIn(page, frameId = 'sfm') {
  await page.frameLocator(`#${frameId}`).locator('#status', { hasText: `Logged in as ${KVART.name}` })
    .waitFor({ timeout: 15_000 });
}

/** The messages the SFM stand-in page recorded (they reach the server asynchronously). */
function sfmMessages(filter = () => true) {
  return dbl.sfmClientMessages().filter(filter);
}

/** Ends the SFM session in the page (a barrier: anything the library sent before has arrived). */
async function endSfm(page) {
  const out = await page.evaluate(() => window.sfm.end().then(() => 'ended', (e) => window.errorInfo(e)));
  assert.equal(out, 'ended', JSON.stringify(out));
}

const KJ_OPTIONS = { resources: [SFM, KJ], scope: `${BASE_SCOPE} nhn:kjernejournal/tillitsrammeverk` };

/** setContext with the attest for nhn:kjernejournal; gives the attest in force (with decision_ref.id). */
async function setAttest(page) {
  const ctx = await withClient(page, (client, a) => client.setContext({ trustFramework: a.attest }, { resource: a.kj }), { attest: ATTEST, kj: KJ });
  assert.equal(ctx.error, undefined, JSON.stringify(ctx.error));
  return ctx.context.trustFramework;
}

/** openKjernejournalSession in the page; the session object stays on window.kj. */
function openKj(page, args = {}) {
  return withClient(page, async (client, a) => {
    window.kj = await client.openKjernejournalSession(a);
    return { url: window.kj.url, sessionId: window.kj.sessionId };
  }, {
    api: dbl.kjApiOrigin,
    web: dbl.kjWebOrigin,
    sourceSystem: 'Test EPJ',
    patient: PATIENT,
    accessBasis: 'SAMTYKKE',
    ...args,
  });
}

// ---------------------------------------------------------------------------------------- SFM

test('openSfmSession + attach: one create (nonce challenge, then ok), info without the code, the exact login message, "Logged in as"', async () => {
  const opts = options({ context: ORG_CONTEXT });
  const { page, session } = await loggedIn(opts);
  assert.equal(session.helseid.orgnrParent, ORGNR_PARENT);
  dbl.reset();

  const info = await openSfm(page);
  assert.equal(info.error, undefined, JSON.stringify(info.error));
  let c = dbl.portalCounts();
  assert.equal(c['sfm-create'], 2, 'the nonce challenge, then the create');
  assert.equal(c.ok['sfm-create'], 1);
  assert.equal(dbl.counts().token, 0, 'the session token served');
  const [s] = dbl.sfmSessions();
  assert.equal(dbl.sfmSessions().length, 1);
  assert.deepEqual(Object.keys(info).sort(), ['apiAddress', 'clientAddress', 'id', 'metadata']);
  assert.equal(info.id, s.id);
  assert.equal(info.clientAddress, s.clientAddress);
  assert.equal(info.clientAddress, `${dbl.sfmClientOrigin}/sfm-client/`);
  assert.equal(info.apiAddress, s.apiAddress);
  assert.equal(info.metadata.patientportal, `${info.clientAddress}?portal=patientportal`);
  assert.ok(!JSON.stringify(info).includes(s.code), 'the one-time code is not shown');
  assert.equal(s.pathForm, 'v2');
  assert.equal(s.user.pid, KVART.pid);
  assert.equal(s.orgnrParent, ORGNR_PARENT);

  await addFrame(page);
  await attachSfm(page, 'sfm', { sfmUserAgent: 'Test EPJ/1.0' });
  await waitLoggedIn(page);
  assert.equal(await page.locator('#sfm').getAttribute('src'), info.clientAddress);
  const frame = page.frameLocator('#sfm');
  assert.equal(await frame.locator('#parent-origin').textContent(), stack.appOrigin);
  assert.equal(await frame.locator('#session').textContent(), info.id);

  // The login message, as the stand-in page received it.
  const [loginMsg] = await until('the login message at the stand-in', () => {
    const m = sfmMessages((e) => e.direction === 'in' && e.handled === 'login');
    return m.length ? m : null;
  });
  const { nonce, ...rest } = loginMsg.data;
  assert.deepEqual(rest, {
    action: 'login',
    code: s.code,
    apiEndpoint: info.apiAddress,
    metadata: {
      'sfm-user-agent': 'Test EPJ/1.0',
      'x-point-of-care': ORGNR_PARENT,
      'x-practitioner-pseudo': sha256hex(KVART.hpr),
    },
  });
  const raw = Buffer.from(nonce, 'base64');
  assert.equal(raw.length, 64);
  assert.equal(raw.toString('base64'), nonce, 'standard base64 with padding');
  assert.equal(sha512b64(raw), s.nonceHash, 'SHA-512 of the nonce is the hash create got');
  assert.equal(loginMsg.origin, stack.appOrigin);
  assert.equal(loginMsg.fromParent, true);

  c = dbl.portalCounts();
  assert.equal(c['sfm-client'], 1);
  assert.equal(c['sfm-login'], 1);
  assert.equal(c.ok['sfm-login'], 1);
  const after = dbl.sfmSessions()[0];
  assert.deepEqual([after.codeRedeemed, after.loggedIn, after.ended], [true, true, false]);

  await page.screenshot({ path: join(ARTIFACTS, `portal-sfm-iframe-${ENGINE}.png`), fullPage: true });
  await page.close();
});

test('messages from another origin or from another window are ignored: one login message only, and setPatient waits for the real client', async () => {
  const { page } = await loggedIn();
  dbl.reset();
  const info = await openSfm(page);
  assert.equal(info.error, undefined, JSON.stringify(info.error));

  // The real SFM client's page load is held until the forged messages have been delivered.
  let release;
  const held = new Promise((ok) => { release = ok; });
  let reached;
  const requested = new Promise((ok) => { reached = ok; });
  await page.route((u) => u.href === info.clientAddress, async (route) => {
    reached();
    await held;
    await route.continue();
  });
  await addFrame(page, 'sfm');
  await attachSfm(page, 'sfm');
  await requested;
  await page.evaluate((pid) => {
    window.seen = [];
    window.addEventListener('message', (e) => window.seen.push({ origin: e.origin, data: e.data }));
    // Asked for before the SFM client has logged in: it must wait, not fail.
    window.patientSettled = false;
    window.patientResult = window.sfm.setPatient(pid, { showAllergies: true })
      .then(() => 'resolved', (e) => window.errorInfo(e))
      .finally(() => { window.patientSettled = true; });
  }, PATIENT);

  // A second SFM client page (same origin, another window): it posts {clientLoaded} to the top
  // page on its own. A page on another origin posts forged answers.
  await addFrame(page, 'decoy-sfm');
  await addFrame(page, 'decoy-other');
  await page.evaluate(([a, b]) => {
    document.getElementById('decoy-sfm').src = a;
    document.getElementById('decoy-other').src = b;
  }, [`${info.clientAddress}?decoy=1`, `${dbl.kjWebOrigin}/loggut`]);
  await page.waitForFunction((o) => window.seen.some((m) => m.origin === o && m.data?.clientLoaded === 'success'),
    dbl.sfmClientOrigin, { timeout: 15_000 });
  const decoySfm = await until('the decoy SFM frame', () => page.frames().find((f) => f.url().includes('decoy=1')));
  const decoyOther = await until('the other-origin frame', () => page.frames().find((f) => f.url().startsWith(dbl.kjWebOrigin)));
  await decoyOther.waitForLoadState('load');
  for (const frame of [decoySfm, decoyOther]) {
    await frame.evaluate(() => {
      window.parent.postMessage({ clientLoaded: 'success' }, '*');
      window.parent.postMessage({ login: 'success' }, '*');
    });
  }
  await page.waitForFunction(() => window.seen.length === 5, null, { timeout: 15_000 });
  const seen = await page.evaluate(() => window.seen.map((m) => `${m.origin} ${JSON.stringify(m.data)}`));
  assert.deepEqual(seen.sort(), [
    `${dbl.kjWebOrigin} {"clientLoaded":"success"}`,
    `${dbl.kjWebOrigin} {"login":"success"}`,
    `${dbl.sfmClientOrigin} {"clientLoaded":"success"}`,
    `${dbl.sfmClientOrigin} {"clientLoaded":"success"}`,
    `${dbl.sfmClientOrigin} {"login":"success"}`,
  ].sort());
  assert.equal(await page.evaluate(() => window.patientSettled), false, 'setPatient still waits');
  assert.equal(dbl.portalCounts()['sfm-ticket'], 0, 'no PatientTicket before the real login');

  // Now the real client loads, logs in, and only then gets its patient.
  release();
  await waitLoggedIn(page);
  const result = await page.evaluate(() => window.patientResult);
  assert.equal(result, 'resolved', JSON.stringify(result));
  const frame = page.frameLocator('#sfm');
  assert.equal(await frame.locator('#patient').textContent(), PATIENT);
  assert.equal(await page.frameLocator('#decoy-sfm').locator('#status').textContent(), 'Waiting for login');

  const c = dbl.portalCounts();
  assert.equal(c['sfm-client'], 2, 'the real client and the decoy');
  assert.equal(c['sfm-login'], 1);
  assert.equal(c['sfm-ticket'], 1);
  assert.equal(c['sfm-patient'], 1);
  const ins = await until('the recorded messages', () => {
    const m = sfmMessages((e) => e.direction === 'in');
    return m.length >= 2 ? m : null;
  });
  assert.deepEqual(ins.map((m) => m.handled), ['login', 'setPatient'], 'one login message, then setPatient; nothing to the decoy');
  assert.equal(ins[0].pageId, ins[1].pageId);
  const loadedPages = new Set(sfmMessages((e) => e.direction === 'out' && e.data?.clientLoaded).map((e) => e.pageId));
  assert.equal(loadedPages.size, 2);
  const [s] = dbl.sfmSessions();
  assert.equal(s.tickets.length, 1);
  assert.ok(s.tickets[0].createdAt >= s.loginAt, 'the ticket was asked for after the real login');
  assert.deepEqual(s.patient.options, { showAllergies: true });
  await page.close();
});

test('a forged {setPatient: "success"} from another origin or another window does not settle setPatient while the real client has not answered', async () => {
  const { page } = await loggedIn();
  dbl.reset();
  const info = await openSfm(page);
  assert.equal(info.error, undefined, JSON.stringify(info.error));
  await addFrame(page, 'sfm');
  await attachSfm(page, 'sfm');
  await waitLoggedIn(page);
  // The real client's Session/patient call never answers, so it never says setPatient: success.
  dbl.failNext({ endpoint: 'sfm-patient', mode: 'hang' });
  await page.evaluate((pid) => {
    window.seen = [];
    window.addEventListener('message', (e) => window.seen.push({ origin: e.origin, data: e.data }));
    window.patientSettled = false;
    window.sfm.setPatient(pid).finally(() => { window.patientSettled = true; }).catch(() => {});
  }, PATIENT);
  await until('the real client\'s Session/patient call', () => dbl.portalCounts()['sfm-patient'] === 1);

  await addFrame(page, 'decoy-sfm');
  await addFrame(page, 'decoy-other');
  await page.evaluate(([a, b]) => {
    document.getElementById('decoy-sfm').src = a;
    document.getElementById('decoy-other').src = b;
  }, [`${info.clientAddress}?decoy=1`, `${dbl.kjWebOrigin}/loggut`]);
  const decoySfm = await until('the decoy SFM frame', () => page.frames().find((f) => f.url().includes('decoy=1')));
  const decoyOther = await until('the other-origin frame', () => page.frames().find((f) => f.url().startsWith(dbl.kjWebOrigin)));
  await decoySfm.waitForLoadState('load');
  await decoyOther.waitForLoadState('load');
  for (const frame of [decoySfm, decoyOther]) {
    await frame.evaluate(() => window.parent.postMessage({ setPatient: 'success' }, '*'));
  }
  await page.waitForFunction(() => window.seen.filter((m) => m.data?.setPatient === 'success').length === 2, null, { timeout: 15_000 });
  // Listeners run in the same task: had the library taken a forged answer, setPatient would
  // have settled before this check.
  assert.equal(await page.evaluate(() => window.patientSettled), false, 'setPatient still waits for the real client');
  const origins = await page.evaluate(() => window.seen.filter((m) => m.data?.setPatient).map((m) => m.origin).sort());
  assert.deepEqual(origins, [dbl.kjWebOrigin, dbl.sfmClientOrigin].sort());
  assert.equal(await page.frameLocator('#sfm').locator('#patient').textContent(), '-', 'the real client shows no patient');
  await page.close();
});

test('setPatient right after attach: waits for the login, one PatientTicket, the stand-in shows the patient; no orgnr_parent, no x-point-of-care', async () => {
  const { page, session } = await loggedIn();
  assert.equal(session.helseid.orgnrParent, undefined, 'no organisation context: no orgnr_parent');
  dbl.reset();
  assert.equal((await openSfm(page)).error, undefined);
  await addFrame(page);
  const out = await page.evaluate(async (pid) => {
    window.sfm.attach(document.getElementById('sfm'));
    try {
      await window.sfm.setPatient(pid, { showLib: true, onBehalfOf: '565501872', encounterIdentifier: 'enc-1' });
      return 'resolved';
    } catch (e) {
      return window.errorInfo(e);
    }
  }, PATIENT);
  assert.equal(out, 'resolved', JSON.stringify(out));
  const frame = page.frameLocator('#sfm');
  assert.equal(await frame.locator('#status').textContent(), `Logged in as ${KVART.name}`);
  assert.equal(await frame.locator('#patient').textContent(), PATIENT);

  const c = dbl.portalCounts();
  assert.equal(c['sfm-ticket'], 1, 'the gateway nonce is known from create: no challenge');
  assert.equal(c.ok['sfm-ticket'], 1);
  assert.equal(c['sfm-patient'], 1);
  assert.equal(c.ok['sfm-patient'], 1);
  const [s] = dbl.sfmSessions();
  assert.deepEqual(s.tickets.map((t) => t.patientPid), [PATIENT]);
  assert.equal(s.patient.patientPid, PATIENT);
  assert.deepEqual(s.patient.options, { showLib: true, onBehalfOf: '565501872', encounterIdentifier: 'enc-1' });
  const ins = await until('the recorded messages', () => {
    const m = sfmMessages((e) => e.direction === 'in');
    return m.length >= 2 ? m : null;
  });
  assert.deepEqual(ins.map((m) => m.handled), ['login', 'setPatient']);
  const { metadata } = ins[0].data;
  assert.deepEqual(Object.keys(metadata).sort(), ['sfm-user-agent', 'x-practitioner-pseudo']);
  assert.equal(typeof metadata['sfm-user-agent'], 'string');
  assert.ok(metadata['sfm-user-agent'].length > 0);
  assert.equal(metadata['x-practitioner-pseudo'], sha256hex(KVART.hpr));
  assert.deepEqual(ins[1].data, { action: 'setPatient', ticket: s.tickets[0].ticket, showLib: true, onBehalfOf: '565501872', encounterIdentifier: 'enc-1' });
  await page.close();
});

test('the SFM client refuses the login: setPatient rejects portal_failed, no PatientTicket', async () => {
  const { page } = await loggedIn();
  dbl.reset();
  assert.equal((await openSfm(page)).error, undefined);
  dbl.failNext({ endpoint: 'sfm-login', mode: 503 });
  await addFrame(page);
  const out = await page.evaluate(async (pid) => {
    window.sfm.attach(document.getElementById('sfm'));
    try {
      await window.sfm.setPatient(pid);
      return 'resolved';
    } catch (e) {
      return window.errorInfo(e);
    }
  }, PATIENT);
  assert.equal(out.code, 'portal_failed', JSON.stringify(out));
  assert.equal(out.isHelseIdError, true);
  await page.frameLocator('#sfm').locator('#status', { hasText: 'Login failed' }).waitFor({ timeout: 15_000 });
  const c = dbl.portalCounts();
  assert.deepEqual([c['sfm-login'], c.ok['sfm-login'], c['sfm-ticket'], c['sfm-patient']], [1, 0, 0, 0]);
  const session = await withClient(page, (client) => client.session() !== null);
  assert.equal(session, true, 'the EPJ session is kept');
  await page.close();
});

// API.md, settled in turn 3: setPatient waits at most 15 s for each answer of the SFM web
// client; silence is portal_failed, and the EPJ session and the portal session are kept.
const SFM_ANSWER_MS = 15_000;

test('setPatient to an SFM client that never answers: portal_failed within 15 s + 1 s, saying what it waited for; the EPJ and the portal session are kept; the next setPatient is answered', async () => {
  const { page } = await loggedIn();
  try {
    dbl.reset();
    assert.equal((await openSfm(page)).error, undefined);
    await addFrame(page);
    await attachSfm(page);
    await waitLoggedIn(page);
    // The client takes the message, and its own call to the gateway never comes back: it never answers.
    dbl.failNext({ endpoint: 'sfm-patient', mode: 'hang' });
    const silent = await page.evaluate(async (pid) => {
      const t0 = performance.now();
      try {
        await window.sfm.setPatient(pid, { showAllergies: true });
        return { resolved: performance.now() - t0 };
      } catch (e) {
        return { ...window.errorInfo(e), ms: performance.now() - t0 };
      }
    }, PATIENT);
    assert.equal(silent.code, 'portal_failed', JSON.stringify(silent));
    assert.equal(silent.isHelseIdError, true);
    assert.equal(silent.message, 'the SFM web client did not answer setPatient within 15 s');
    assert.equal(silent.retryable, false);
    assert.ok(silent.ms >= SFM_ANSWER_MS - 50 && silent.ms < SFM_ANSWER_MS + 1_000, `settled after ${silent.ms} ms`);
    let c = dbl.portalCounts();
    assert.deepEqual([c['sfm-ticket'], c.ok['sfm-ticket'], c['sfm-patient'], c.ok['sfm-patient']], [1, 1, 1, 0]);
    const received = sfmMessages((e) => e.direction === 'in' && e.handled === 'setPatient');
    assert.equal(received.length, 1, 'the client got the message');
    assert.equal(sfmMessages((e) => e.direction === 'out' && e.data?.setPatient !== undefined).length, 0, 'and never answered');

    // Nothing else changed: the EPJ session, its events, the SFM session at the gateway.
    const kept = await withClient(page, (client) => ({ session: client.session() !== null, events: window.events.map((e) => e.name) }));
    assert.deepEqual(kept, { session: true, events: [] });
    let [s] = dbl.sfmSessions();
    assert.deepEqual([s.ended, s.loggedIn], [false, true]);
    assert.deepEqual([c['sfm-end'], c['sfm-create']], [0, 2], 'only openSfmSession\'s create (nonce challenge, then ok)');

    // The client answers again: the next setPatient on the same portal session works.
    const next = await page.evaluate((pid) => window.sfm.setPatient(pid).then(() => 'resolved', (e) => window.errorInfo(e)), PATIENT);
    assert.equal(next, 'resolved', JSON.stringify(next));
    assert.equal(await page.frameLocator('#sfm').locator('#patient').textContent(), PATIENT);
    c = dbl.portalCounts();
    assert.deepEqual([c['sfm-ticket'], c.ok['sfm-ticket'], c['sfm-patient'], c.ok['sfm-patient']], [2, 2, 2, 1]);
    [s] = dbl.sfmSessions();
    assert.equal(s.tickets.length, 2);
    assert.equal(s.patient.patientPid, PATIENT);
  } finally {
    await page.close();
  }
});

test('setPatient on a portal session whose SFM client never logs in (never attached): portal_failed within 15 s + 1 s saying the login never finished; no PatientTicket; the sessions are kept', async () => {
  const { page } = await loggedIn();
  try {
    dbl.reset();
    assert.equal((await openSfm(page)).error, undefined);
    const out = await page.evaluate(async (pid) => {
      const t0 = performance.now();
      try {
        await window.sfm.setPatient(pid);
        return { resolved: performance.now() - t0 };
      } catch (e) {
        return { ...window.errorInfo(e), ms: performance.now() - t0 };
      }
    }, PATIENT);
    assert.equal(out.code, 'portal_failed', JSON.stringify(out));
    assert.equal(out.message, 'the SFM web client did not finish its login within 15 s (attach the iframe first; is the client reachable?)');
    assert.ok(out.ms >= SFM_ANSWER_MS - 50 && out.ms < SFM_ANSWER_MS + 1_000, `settled after ${out.ms} ms`);
    const c = dbl.portalCounts();
    assert.deepEqual([c['sfm-client'], c['sfm-login'], c['sfm-ticket'], c['sfm-end']], [0, 0, 0, 0]);
    assert.equal(await withClient(page, (client) => client.session() !== null), true);
  } finally {
    await page.close();
  }
});

test('refresh: client.refresh() refreshes the SFM session exactly once; a refresh of another resource does not', async () => {
  const { page } = await loggedIn(options({ resources: [SFM, OTHER] }));
  dbl.reset();
  assert.equal((await openSfm(page)).error, undefined);

  const s1 = await withClient(page, (client) => client.refresh());
  assert.equal(s1.error, undefined, JSON.stringify(s1.error));
  await until('the SFM session refresh', () => dbl.portalCounts().ok['sfm-refresh'] === 1);

  const other = await withClient(page, async (client, r) => {
    const token = await client.getAccessToken({ resource: r });
    return window.helseid.decodeJwt(token).claims.aud;
  }, OTHER);
  assert.equal(other, OTHER);
  assert.equal(dbl.counts().token_by_grant.refresh_token, 2, 'one refresh per resource');
  assert.deepEqual(await page.evaluate(() => window.events.map((e) => e.name)), ['tokenRefreshed', 'tokenRefreshed']);
  await endSfm(page);

  const c = dbl.portalCounts();
  assert.equal(c['sfm-refresh'], 1, 'one Session/refresh in all');
  assert.equal(c.ok['sfm-refresh'], 1);
  assert.equal(c['sfm-end'], 1);
  assert.equal(c.ok['sfm-end'], 1);
  const [s] = dbl.sfmSessions();
  assert.deepEqual([s.refreshed, s.ended, s.endedBy], [1, true, 'end']);

  // An ended session is not refreshed any more (a new create is the barrier: it comes after).
  assert.equal((await withClient(page, (client) => client.refresh())).error, undefined);
  assert.equal((await openSfm(page)).error, undefined);
  assert.equal(dbl.portalCounts()['sfm-refresh'], 1);
  await page.close();
});

test('a context switch (setContext, one refresh) refreshes the SFM session once; after end(), setPatient rejects portal_failed without a request', async () => {
  const { page } = await loggedIn(options({ context: ORG_CONTEXT }));
  dbl.reset();
  assert.equal((await openSfm(page)).error, undefined);
  const switched = await withClient(page, (client) => client.setContext({ organization: { child: '910000012' } }));
  assert.equal(switched.error, undefined, JSON.stringify(switched.error));
  assert.equal(switched.helseid.orgnrChild, '910000012');
  await until('the SFM session refresh', () => dbl.portalCounts().ok['sfm-refresh'] === 1);
  assert.equal(dbl.counts().token_by_grant.refresh_token, 1);
  await endSfm(page);
  assert.equal(dbl.portalCounts()['sfm-refresh'], 1);

  const late = await page.evaluate((pid) => window.sfm.setPatient(pid).then(() => 'resolved', (e) => window.errorInfo(e)), PATIENT);
  assert.equal(late.code, 'portal_failed', JSON.stringify(late));
  assert.equal(dbl.portalCounts()['sfm-ticket'], 0);
  await page.close();
});

test('autoRefresh: the timer refresh (tokenRefreshed) refreshes the SFM session exactly once', async () => {
  // Logged in with a 60 s token and a 56 s leeway: the timer refreshes about 4 s later; that
  // refresh gets a 600 s token, so there is no second one during the test.
  dbl.setOptions({ accessTokenTtl: 60 });
  const { page, session } = await loggedIn(options({ autoRefresh: true, refreshLeewaySeconds: 56 }));
  dbl.reset();
  dbl.setOptions({ accessTokenTtl: 600 });
  assert.equal((await openSfm(page)).error, undefined);
  assert.deepEqual(await page.evaluate(() => window.events.map((e) => e.name)), [], 'no refresh yet');
  await page.waitForFunction(() => window.events.some((e) => e.name === 'tokenRefreshed'), null, { timeout: 20_000 });
  const jti = await page.evaluate(() => window.events.find((e) => e.name === 'tokenRefreshed').detail.accessTokenClaims.jti);
  assert.notEqual(jti, session.accessTokenClaims.jti);
  await until('the SFM session refresh', () => dbl.portalCounts().ok['sfm-refresh'] === 1);
  await endSfm(page);
  assert.equal(dbl.counts().token_by_grant.refresh_token, 1);
  const c = dbl.portalCounts();
  assert.equal(c['sfm-refresh'], 1);
  assert.equal(dbl.sfmSessions()[0].refreshed, 1);
  await page.evaluate(() => window.client.dispose());
  await page.close();
});

/** Logged in with an attest (and `extra` config), the double's counts reset, an SFM and a Kjernejournal session open. */
async function bothPortalsOpen(extra = {}) {
  const { page } = await loggedIn(options({ ...KJ_OPTIONS, ...extra }));
  await setAttest(page);
  dbl.reset();
  assert.equal((await openSfm(page)).error, undefined);
  assert.equal((await openKj(page)).error, undefined);
  return page;
}

/**
 * In the double's request log (in arrival order), the refreshes of `resource`'s token (T: a
 * refresh_token grant answered 200) and of its portal session (P: `portal` answered 2xx).
 */
function refreshOrder(log, resource, portal) {
  return log.map((e) => {
    if (e.name === 'token' && e.grant === 'refresh_token' && e.resource === resource && e.status === 200) return 'T';
    if (e.name === portal && e.status >= 200 && e.status < 300) return 'P';
    return '';
  }).join('');
}

test('autoRefresh, no call from the app: the SFM and the Kjernejournal session are each refreshed at least twice within three token lifetimes, each once after its own token\'s refresh; an ended Kjernejournal session and its token are left alone', async () => {
  // 24 s tokens, refreshed 16 s before they expire: each token about every 8 s, by the timer.
  const TTL = 24;
  const PERIOD = 8;
  dbl.setOptions({ accessTokenTtl: TTL });
  const page = await bothPortalsOpen({ autoRefresh: true, refreshLeewaySeconds: TTL - PERIOD });
  try {
    const opened = dbl.requests().filter((e) => !e.preflight);
    const sfmCreated = opened.findIndex((e) => e.name === 'sfm-create' && e.status === 200);
    const kjCreated = opened.findIndex((e) => e.name === 'kj-create' && e.status === 200);
    assert.ok(sfmCreated >= 0 && kjCreated >= 0, JSON.stringify(opened.map((e) => `${e.name}:${e.status}`)));
    const refreshed = () => [dbl.sfmSessions()[0].refreshed, dbl.kjSessions()[0].refreshed];
    await until('two refreshes of each portal session', () => refreshed().every((n) => n >= 2), 3 * TTL * 1000);

    let log = dbl.requests().filter((e) => !e.preflight);
    // After its create, each resource's log reads token refresh, portal refresh, token refresh, ...:
    // every portal refresh follows a refresh of its own token, exactly once each.
    const sfmOrder = refreshOrder(log.slice(sfmCreated + 1), SFM, 'sfm-refresh');
    const kjOrder = refreshOrder(log.slice(kjCreated + 1), KJ, 'kj-refresh');
    assert.match(sfmOrder, /^(TP){2,}T?$/, sfmOrder);
    assert.match(kjOrder, /^(TP){2,}T?$/, kjOrder);
    const [sfmSession] = dbl.sfmSessions();
    const [kjSession] = dbl.kjSessions();
    assert.equal(sfmSession.refreshed, sfmOrder.split('P').length - 1);
    assert.equal(kjSession.refreshed, kjOrder.split('P').length - 1);
    const tokens = log.filter((e) => e.name === 'token');
    assert.deepEqual(tokens.filter((e) => e.status === 200 && e.grant !== 'refresh_token'), [], 'refreshes only');
    assert.deepEqual(tokens.filter((e) => e.error === 'invalid_grant'), [], 'never a refresh token used twice');

    // The Kjernejournal session ends: neither it nor its token is refreshed again.
    const ended = await page.evaluate(() => window.kj.end().then(() => 'ended', (e) => window.errorInfo(e)));
    assert.equal(ended, 'ended', JSON.stringify(ended));
    log = dbl.requests().filter((e) => !e.preflight);
    const kjEnded = log.findIndex((e) => e.name === 'kj-end' && e.status === 204);
    assert.ok(kjEnded > kjCreated);
    const kjRefreshes = dbl.kjSessions()[0].refreshed;
    const sfmRefreshes = dbl.sfmSessions()[0].refreshed;
    // Three more SFM refreshes take at least 2 periods: the kj token would have been due by then.
    await until('three more SFM session refreshes', () => dbl.sfmSessions()[0].refreshed >= sfmRefreshes + 3, 5 * PERIOD * 1000);
    log = dbl.requests().filter((e) => !e.preflight);
    const afterEnd = log.slice(kjEnded + 1);
    assert.deepEqual(afterEnd.filter((e) => e.name === 'token' && e.resource === KJ), [], 'the kj token is no longer kept fresh');
    assert.deepEqual(afterEnd.filter((e) => e.name === 'kj-refresh'), []);
    assert.deepEqual([dbl.kjSessions()[0].refreshed, dbl.kjSessions()[0].ended], [kjRefreshes, true]);
    assert.match(refreshOrder(log.slice(sfmCreated + 1), SFM, 'sfm-refresh'), /^(TP){5,}T?$/);
    assert.equal(afterEnd.filter((e) => e.name === 'token' && e.resource === SFM && e.status === 200).length >= 3, true);
    const events = await page.evaluate(() => window.events.map((e) => e.name));
    assert.ok(!events.includes('sessionExpired') && !events.includes('loggedOut'), events.join());
    await endSfm(page);
  } finally {
    await page.evaluate(() => window.client.dispose()).catch(() => {});
    await page.close();
  }
});

test('logout() ends the SFM and the Kjernejournal session before it leaves for end_session (sfm-end 1, kj-end 1)', async () => {
  const page = await bothPortalsOpen();
  await addFrame(page);
  await attachSfm(page);
  await waitLoggedIn(page);

  const back = page.waitForURL((u) => u.pathname === '/e2e/app.html' && u.searchParams.get('state') === 'bye', { timeout: 20_000 });
  await page.evaluate(() => { window.client.logout({ state: 'bye' }); });
  await back;
  const c = dbl.portalCounts();
  assert.deepEqual([c['sfm-end'], c.ok['sfm-end'], c['kj-end'], c.ok['kj-end']], [1, 1, 1, 1]);
  assert.deepEqual([c['sfm-refresh'], c['kj-refresh']], [0, 0]);
  const [s] = dbl.sfmSessions();
  assert.deepEqual([s.ended, s.endedBy], [true, 'end']);
  assert.equal(dbl.kjSessions()[0].ended, true);
  // In the order the servers saw them: both ends before the browser reached end_session.
  const log = dbl.requests().filter((e) => !e.preflight);
  const at = (pred) => log.findIndex(pred);
  const sfmEnd = at((e) => e.name === 'sfm-end' && e.status === 204);
  const kjEnd = at((e) => e.name === 'kj-end' && e.status === 204);
  const leave = at((e) => e.server === 'op' && e.name === 'end_session');
  assert.ok(sfmEnd >= 0 && kjEnd >= 0 && leave >= 0, JSON.stringify(log.map((e) => `${e.server}:${e.name}:${e.status}`)));
  assert.ok(sfmEnd < leave, 'Session/end before end_session');
  assert.ok(kjEnd < leave, 'api/session/end before end_session');
  assert.equal(dbl.counts().revocation, 1);
  await page.close();
});

test('sessionExpired (grant revoked, then a refresh) ends the SFM and the Kjernejournal session (sfm-end 1, kj-end 1)', async () => {
  const page = await bothPortalsOpen();
  const tokenRequests = dbl.counts().token;
  await page.evaluate(() => { window.events.length = 0; });
  dbl.revokeAllGrants();
  const out = await withClient(page, (client) => client.refresh());
  assert.equal(out.error?.code, 'login_required', JSON.stringify(out));
  // Counted when answered (the double counts a request as it arrives, and `ok` once answered).
  await until('both portal ends answered', () => {
    const c = dbl.portalCounts();
    return c.ok['sfm-end'] + c.ok['kj-end'] >= 2 || c['sfm-end'] + c['kj-end'] > 2;
  });
  const after = await withClient(page, (client) => ({ session: client.session(), events: window.events.map((e) => e.name) }));
  assert.equal(after.session, null);
  assert.deepEqual(after.events, ['sessionExpired']);
  const c = dbl.portalCounts();
  assert.deepEqual([c['sfm-end'], c.ok['sfm-end'], c['kj-end'], c.ok['kj-end']], [1, 1, 1, 1],
    'ended with the tokens they last used, still valid at the portals');
  assert.deepEqual([c['sfm-refresh'], c['kj-refresh']], [0, 0]);
  const [s] = dbl.sfmSessions();
  assert.deepEqual([s.ended, s.endedBy], [true, 'end']);
  assert.equal(dbl.kjSessions()[0].ended, true);
  assert.equal(dbl.counts().token, tokenRequests + 1, 'the refused refresh only');
  await page.close();
});

// A portal that never answers. API.md: "Every promise settles"; logout() "ends every open
// portal session before it leaves", but must still leave. httpTimeoutSeconds bounds the
// authorization server's requests; the guards below give the portal calls six times that.
const HUNG = { httpTimeoutSeconds: 2 };
const HUNG_GUARD_MS = 12_000;

test('a Session/end that never answers does not keep logout() from leaving (revocation, end_session)', async () => {
  const { page } = await loggedIn(options(HUNG));
  dbl.reset();
  assert.equal((await openSfm(page)).error, undefined);
  dbl.failNext({ endpoint: 'sfm-end', mode: 'hang' });
  const left = page.waitForURL((u) => u.pathname === '/e2e/app.html' && u.searchParams.get('state') === 'bye', { timeout: HUNG_GUARD_MS })
    .then(() => true, () => false);
  await page.evaluate(() => { window.client.logout({ state: 'bye' }); });
  const done = await left;
  const c = dbl.counts();
  await page.close();
  assert.equal(dbl.portalCounts()['sfm-end'], 1, 'Session/end was tried');
  assert.equal(done, true, `logout() did not leave within ${HUNG_GUARD_MS} ms`);
  assert.equal(c.revocation, 1);
  assert.equal(c.end_session, 1);
});

test('openSfmSession against a gateway that never answers settles with network_error', async () => {
  const { page } = await loggedIn(options(HUNG));
  dbl.reset();
  dbl.failNext({ endpoint: 'sfm-create', mode: 'hang' });
  const out = await Promise.race([
    openSfm(page).catch((e) => ({ evaluateFailed: e.message })),
    new Promise((ok) => { setTimeout(() => ok('pending'), HUNG_GUARD_MS); }),
  ]);
  await page.close();
  assert.notEqual(out, 'pending', `openSfmSession did not settle within ${HUNG_GUARD_MS} ms`);
  assert.equal(out.error?.code, 'network_error', JSON.stringify(out));
  assert.equal(out.error.retryable, true);
});

test('refusals: a token the gateway refuses is portal_failed 401 invalid_token; an injected 503 is portal_failed 503; a garbled 200 is portal_failed; the EPJ session is kept', async () => {
  const { page } = await loggedIn(options({ resources: [SFM, OTHER] }));
  const tokens = await withClient(page, async (client, r) => ({
    main: await client.getAccessToken(),
    other: await client.getAccessToken({ resource: r }),
  }), OTHER);
  assert.equal(typeof tokens.other, 'string', JSON.stringify(tokens));
  await page.evaluate(() => { window.events.length = 0; });
  dbl.reset();

  // The gateway checks the token of the session's resource: aud e-helse:other.api is refused.
  const wrongAud = await openSfm(page, { resource: OTHER });
  assert.equal(wrongAud.error?.code, 'portal_failed', JSON.stringify(wrongAud));
  assert.equal(wrongAud.error.status, 401);
  assert.equal(wrongAud.error.oauthError, 'invalid_token', 'from WWW-Authenticate');
  assert.equal(wrongAud.error.isHelseIdError, true);
  let c = dbl.portalCounts();
  assert.equal(c['sfm-create'], 1, 'refused at the token check, before the nonce check');
  assert.equal(c.ok['sfm-create'], 0);
  assert.equal(dbl.requests().find((e) => e.name === 'sfm-create' && !e.preflight)?.status, 401);

  dbl.failNext({ endpoint: 'sfm-create', mode: 503 });
  const busy = await openSfm(page);
  assert.equal(busy.error?.code, 'portal_failed', JSON.stringify(busy));
  assert.equal(busy.error.status, 503);
  c = dbl.portalCounts();
  assert.equal(c['sfm-create'], 2);
  assert.equal(c.ok['sfm-create'], 0);
  assert.deepEqual(dbl.sfmSessions(), []);

  // A 200 that is not a session (not JSON): portal_failed too.
  dbl.failNext({ endpoint: 'sfm-create', mode: 'invalid-json' });
  const garbled = await openSfm(page);
  assert.equal(garbled.error?.code, 'portal_failed', JSON.stringify(garbled));
  assert.equal(garbled.error.status, 200);
  assert.equal(dbl.portalCounts()['sfm-create'], 3);

  // The EPJ session is untouched: the same tokens, no token request, no event.
  const kept = await withClient(page, async (client, t) => ({
    session: client.session() !== null,
    main: (await client.getAccessToken()) === t.main,
    other: (await client.getAccessToken({ resource: t.resource })) === t.other,
    events: window.events.map((e) => e.name),
  }), { ...tokens, resource: OTHER });
  assert.deepEqual(kept, { session: true, main: true, other: true, events: [] });
  assert.equal(dbl.counts().token, 0);

  // And the next attempt works (the gateway's nonce is known by now: one request).
  const info = await openSfm(page);
  assert.equal(info.error, undefined, JSON.stringify(info.error));
  c = dbl.portalCounts();
  assert.equal(c['sfm-create'], 4);
  assert.equal(c.ok['sfm-create'], 1);
  await page.close();
});

test('a clientAddress from the gateway that is not https (non-loopback http) is portal_failed: openSfmSession rejects, nothing is loaded in any frame', async () => {
  const { page } = await loggedIn();
  await addFrame(page);
  dbl.reset();
  dbl.answerSfmClientAddress('http://sfm-client.example.test/sfm-client/');
  const out = await openSfm(page);
  assert.equal(out.error?.code, 'portal_failed', JSON.stringify(out));
  assert.equal(out.error.status, 200);
  assert.equal(out.error.message, 'the SFM session gateway\'s clientAddress is not an https URL (http only for loopback hosts with allowInsecureHttp); nothing was loaded');
  const c = dbl.portalCounts();
  assert.deepEqual([c['sfm-create'], c.ok['sfm-create']], [2, 1], 'the nonce challenge, then the create the library refused');
  // window.sfm is still the iframe (named access): openSfmSession gave no session object.
  assert.equal(await page.evaluate(() => window.sfm instanceof HTMLIFrameElement), true, 'no session object');
  assert.equal(await page.locator('#sfm').getAttribute('src'), null, 'the frame loaded nothing');
  assert.deepEqual(dbl.requests().filter((r) => r.server === 'sfm-client'), [], 'the SFM client stand-in saw nothing');
  assert.deepEqual(page.frames().map((f) => f.url()).filter((u) => u.includes('sfm-client')), []);

  // With the stand-in's own (loopback) address the same call works.
  dbl.reset();
  const info = await openSfm(page);
  assert.equal(info.error, undefined, JSON.stringify(info.error));
  assert.equal(info.clientAddress, `${dbl.sfmClientOrigin}/sfm-client/`);
  await page.close();
});

test('a non-loopback http gateway is config_invalid; apiBase "/api" takes the older paths, one that is not a plain path is config_invalid and sends nothing', async () => {
  const { page } = await loggedIn();
  dbl.reset();
  const insecure = await withClient(page, (client) => client.openSfmSession({ gateway: 'http://sfm.example.com' }));
  assert.equal(insecure.error?.code, 'config_invalid', JSON.stringify(insecure));
  // "@host" and "//host" would send the token to another host; a number is no path.
  for (const apiBase of ['api', `@${new URL(dbl.kjApiOrigin).host}`, `//${new URL(dbl.kjApiOrigin).host}/api`, '/api/../x', 2]) {
    const bad = await openSfm(page, { apiBase });
    assert.equal(bad.error?.code, 'config_invalid', `${apiBase}: ${JSON.stringify(bad)}`);
    assert.equal(bad.error.message, 'apiBase must be a path on the gateway, such as "/api/v2" or "/api"');
  }
  assert.deepEqual([dbl.portalCounts().other, dbl.portalCounts().preflight, dbl.portalCounts()['sfm-create']], [0, 0, 0], 'nothing was sent');
  assert.equal(dbl.counts().token, 0);

  const info = await openSfm(page, { apiBase: '/api' });
  assert.equal(info.error, undefined, JSON.stringify(info.error));
  assert.equal(dbl.sfmSessions()[0].pathForm, 'legacy');
  assert.equal(dbl.portalCounts().sfm_legacy_path, 2, 'the nonce challenge and the create, on /api/Session/create');

  // The session's own refresh takes the older path too.
  assert.equal((await withClient(page, (client) => client.refresh())).error, undefined);
  await until('the SFM session refresh', () => dbl.portalCounts().ok['sfm-refresh'] === 1);
  assert.equal(dbl.portalCounts().sfm_legacy_path, 3);
  assert.equal(dbl.portalCounts()['sfm-create'], 2);
  await page.close();
});

/** Every request the portal stand-ins saw (preflights included). */
const portalRequests = () => dbl.requests().filter((r) => PORTAL_SERVERS.includes(r.server));

test('apiOrigins governs the portals (turn 3): a gateway or Kjernejournal api not listed for the portal\'s resource is origin_not_allowed, and the stand-ins see no request', async () => {
  const notListed = (origin, resource) => `${origin} is not in apiOrigins for ${resource}; nothing was sent`;
  // apiOrigins lists the double's API origin only (the second round's "own gateway" rule is gone).
  const { page: plain } = await loggedIn(options(KJ_OPTIONS, { portals: false }));
  // The stand-ins listed, each for its own resource only.
  const { page: listed } = await loggedIn(options(KJ_OPTIONS));
  dbl.reset();
  const cases = [
    [plain, {}, 'sfm', dbl.sfmGatewayOrigin, SFM],
    [plain, {}, 'kj', dbl.kjApiOrigin, KJ],
    // An api listed for nhn:kjernejournal, opened with the SFM resource's token.
    [listed, { resource: SFM }, 'kj', dbl.kjApiOrigin, SFM],
    // The SFM gateway, listed for e-helse:sfm.api, asked to take the nhn:kjernejournal token.
    [listed, { resource: KJ }, 'sfm', dbl.sfmGatewayOrigin, KJ],
    // The Kjernejournal api as an SFM gateway.
    [listed, { gateway: dbl.kjApiOrigin }, 'sfm', dbl.kjApiOrigin, SFM],
  ];
  for (const [page, args, which, origin, resource] of cases) {
    const out = which === 'sfm' ? await openSfm(page, args) : await openKj(page, args);
    const what = `${which} ${JSON.stringify(args)}`;
    assert.equal(out.error?.code, 'origin_not_allowed', `${what}: ${JSON.stringify(out)}`);
    assert.equal(out.error.message, notListed(origin, resource), what);
    assert.equal(out.error.isHelseIdError, true);
  }
  assert.deepEqual(portalRequests(), [], 'no request (nor a preflight) reached a stand-in');
  const c = dbl.portalCounts();
  assert.deepEqual([c['sfm-create'], c['kj-create'], c.other, c.preflight], [0, 0, 0, 0]);
  assert.deepEqual([dbl.counts().token, dbl.counts().api], [0, 0], 'no token was fetched, nothing went to the API');
  await plain.close();

  // Listed for its own resource: the same calls go through.
  assert.equal((await openSfm(listed)).error, undefined);
  assert.equal(dbl.portalCounts().ok['sfm-create'], 1);
  await listed.close();
});

test('without a session, openSfmSession and openKjernejournalSession reject login_required and send nothing', async () => {
  const page = await browser.newPage();
  await openApp(page, stack.appOrigin);
  assert.equal(await page.evaluate((o) => window.attach(o), options(KJ_OPTIONS)), null);
  dbl.reset();
  const sfm = await openSfm(page);
  assert.equal(sfm.error?.code, 'login_required', JSON.stringify(sfm));
  const kj = await openKj(page);
  assert.equal(kj.error?.code, 'login_required', JSON.stringify(kj));
  const c = dbl.portalCounts();
  assert.deepEqual([c['sfm-create'], c['kj-create'], c.preflight], [0, 0, 0]);
  assert.equal(dbl.counts().token, 0);
  await page.close();
});

test('two tabs: follower B opens the SFM session; each refresh of its token (by the holder A, or asked for by B) refreshes it exactly once, by B; A\'s refresh of another resource does not', async () => {
  const opts = options({ resources: [SFM, OTHER] });
  const { page: a } = await loggedIn(opts);
  const b = await browser.newPage();
  await openApp(b, stack.appOrigin);
  const joined = await b.evaluate((o) => window.attach(o), opts);
  assert.equal(joined?.helseid.pid, KVART.pid, 'B follows A\'s session');
  dbl.reset();

  const sent = { a: [], b: [] };
  for (const [name, page] of [['a', a], ['b', b]]) {
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().startsWith(dbl.sfmGatewayOrigin)) sent[name].push(new URL(r.url()).pathname);
    });
  }
  const info = await openSfm(b);
  assert.equal(info.error, undefined, JSON.stringify(info.error));
  assert.equal(dbl.counts().token, 0, 'B used the shared token');
  const refreshedInB = (n) => b.waitForFunction((k) => window.events.filter((e) => e.name === 'tokenRefreshed').length === k, n, { timeout: 15_000 });

  // A refreshes the token of another resource: B hears of it, its SFM session stays as it is.
  const other = await withClient(a, (client, r) => client.getAccessToken({ resource: r }).then(() => 'ok'), OTHER);
  assert.equal(other, 'ok', JSON.stringify(other));
  await refreshedInB(1);

  // The holder refreshes the SFM token: B refreshes its SFM session.
  const refreshed = await withClient(a, (client) => client.refresh());
  assert.equal(refreshed.error, undefined, JSON.stringify(refreshed.error));
  await refreshedInB(2);
  const jtiInB = await b.evaluate(() => window.events.filter((e) => e.name === 'tokenRefreshed')[1].detail.accessTokenClaims.jti);
  assert.equal(jtiInB, refreshed.accessTokenClaims.jti);
  await until('the SFM session refresh', () => dbl.portalCounts().ok['sfm-refresh'] === 1);

  // B asks for a refresh (the holder makes it): once more, by B.
  const asked = await withClient(b, (client) => client.refresh());
  assert.equal(asked.error, undefined, JSON.stringify(asked.error));
  await until('the second SFM session refresh', () => dbl.portalCounts().ok['sfm-refresh'] === 2);
  await endSfm(b);

  assert.equal(dbl.counts().token_by_grant.refresh_token, 3, 'the other resource, A\'s refresh, B\'s refresh');
  const c = dbl.portalCounts();
  assert.equal(c['sfm-refresh'], 2);
  assert.equal(c['sfm-end'], 1);
  assert.deepEqual(sent.a, [], 'A opened no portal session and sends nothing to the gateway');
  assert.deepEqual(sent.b.filter((p) => p.endsWith('/Session/refresh')), ['/api/v2/Session/refresh', '/api/v2/Session/refresh']);
  assert.equal(dbl.sfmSessions()[0].refreshed, 2);
  await a.close();
  await b.close();
});

test('two tabs: the holder A logs out; follower B\'s SFM session (opened in B) is ended by B', async () => {
  const opts = options();
  const { page: a } = await loggedIn(opts);
  const b = await browser.newPage();
  await openApp(b, stack.appOrigin);
  assert.ok(await b.evaluate((o) => window.attach(o), opts));
  dbl.reset();
  const sent = { a: [], b: [] };
  for (const [name, page] of [['a', a], ['b', b]]) {
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().startsWith(dbl.sfmGatewayOrigin)) sent[name].push(new URL(r.url()).pathname);
    });
  }
  assert.equal((await openSfm(b)).error, undefined);

  const back = a.waitForURL((u) => u.pathname === '/e2e/app.html' && u.searchParams.get('state') === 'bye', { timeout: 20_000 });
  await a.evaluate(() => { window.client.logout({ state: 'bye' }); });
  await back;
  await b.waitForFunction(() => window.events.some((e) => e.name === 'loggedOut'), null, { timeout: 15_000 });
  await until('the SFM session end', () => dbl.portalCounts()['sfm-end'] >= 1);
  const c = dbl.portalCounts();
  assert.deepEqual([c['sfm-end'], c.ok['sfm-end']], [1, 1]);
  assert.deepEqual(sent.a, []);
  assert.deepEqual(sent.b, ['/api/v2/Session/create', '/api/v2/Session/create', '/api/v2/Session/end']);
  assert.equal(dbl.sfmSessions()[0].ended, true);
  assert.equal(await withClient(b, (client) => client.session()), null);
  await a.close();
  await b.close();
});

// ------------------------------------------------------------------------------ Kjernejournal

test('Kjernejournal: setContext with an attest, then openKjernejournalSession: headers, claims block, the portal page shows the patient; refresh once per kj refresh (not per SFM refresh); end()', async () => {
  const { page } = await loggedIn(options(KJ_OPTIONS));
  const attest = await setAttest(page);
  assert.match(attest.care_relationship.decision_ref.id, UUID_RE, 'the library made a decision_ref.id');
  const kjToken = await withClient(page, async (client, r) => window.helseid.decodeJwt(await client.getAccessToken({ resource: r })).claims, KJ);
  assert.equal(kjToken.aud, KJ);
  assert.deepEqual(kjToken['nhn:tillitsrammeverk:parameters'], attest, 'the OP issued the attest claim');
  dbl.reset();

  const kj = await openKj(page);
  assert.equal(kj.error, undefined, JSON.stringify(kj.error));
  let c = dbl.portalCounts();
  assert.equal(c['kj-create'], 2, 'the nonce challenge, then the create');
  assert.equal(c.ok['kj-create'], 1);
  assert.equal(dbl.kjSessions().length, 1);
  const [s] = dbl.kjSessions();
  assert.equal(kj.sessionId, s.sessionId);
  assert.equal(s.sourceSystem, 'Test EPJ');
  assert.match(s.eventId, UUID_RE);
  assert.deepEqual(s.claims, {
    patient_identifier: { id: PATIENT, system: 'urn:oid:2.16.578.1.12.4.1.4.1', authority: 'https://www.skatteetaten.no' },
    practitioner_authorization: { code: 'LE', system: 'urn:oid:2.16.578.1.12.4.1.1.9060', assigner: 'https://www.helsedirektoratet.no/' },
    access_basis: { code: 'SAMTYKKE', system: 'SYSTEM_GRUNNLAG', assigner: 'https://nhn.no' },
  });
  assert.deepEqual([s.patient, s.accessBasis, s.practitionerAuthorization], [PATIENT, 'SAMTYKKE', 'LE']);
  assert.deepEqual(s.attest, attest);
  assert.equal(s.user.pid, KVART.pid);

  const url = new URL(kj.url);
  assert.equal(`${url.origin}${url.pathname}`, `${dbl.kjWebOrigin}/hentpasient.html`);
  assert.deepEqual([...url.searchParams.keys()], ['code', 'ehr_code_verifier']);
  assert.equal(url.searchParams.get('code'), s.code);
  const verifier = url.searchParams.get('ehr_code_verifier');
  assert.match(verifier, /^[A-Za-z0-9._~-]{43,128}$/);
  assert.equal(s256(verifier), s.challenge, 'the verifier matches the challenge create got');

  const portal = await browser.newPage();
  await portal.goto(kj.url);
  assert.equal(await portal.locator('#patient').textContent(), PATIENT);
  assert.equal(await portal.locator('#access-basis').textContent(), 'SAMTYKKE');
  assert.equal(await portal.locator('#source-system').textContent(), 'Test EPJ');
  assert.equal(await portal.locator('#user').textContent(), `${KVART.name} (HPR ${KVART.hpr}, LE)`);
  await portal.close();
  assert.deepEqual(dbl.kjWebVisits().map((v) => [v.ok, v.sessionId]), [[true, s.sessionId]]);

  // An SFM session beside it: each portal follows its own resource's refreshes.
  assert.equal((await openSfm(page)).error, undefined);
  const kjRefresh = await withClient(page, (client, r) => client.refresh({ resource: r }), KJ);
  assert.equal(kjRefresh.error, undefined, JSON.stringify(kjRefresh.error));
  await until('the Kjernejournal session refresh', () => dbl.portalCounts().ok['kj-refresh'] === 1);
  assert.equal(dbl.portalCounts()['sfm-refresh'], 0, 'a kj refresh does not refresh the SFM session');
  const sfmRefresh = await withClient(page, (client) => client.refresh());
  assert.equal(sfmRefresh.error, undefined, JSON.stringify(sfmRefresh.error));
  await until('the SFM session refresh', () => dbl.portalCounts().ok['sfm-refresh'] === 1);

  const ended = await page.evaluate(() => window.kj.end().then(() => 'ended', (e) => window.errorInfo(e)));
  assert.equal(ended, 'ended', JSON.stringify(ended));
  await endSfm(page);
  c = dbl.portalCounts();
  assert.deepEqual([c['kj-refresh'], c.ok['kj-refresh'], c['kj-end'], c.ok['kj-end']], [1, 1, 1, 1]);
  assert.deepEqual([c['sfm-refresh'], c['sfm-end']], [1, 1]);
  const [after] = dbl.kjSessions();
  assert.deepEqual([after.refreshed, after.ended, after.webOpened], [1, true, true]);
  assert.equal(dbl.counts().token_by_grant.refresh_token, 3, 'the SFM token for create, the kj refresh, the SFM refresh');
  await page.close();
});

test('Kjernejournal: a bad sourceSystem, patient, accessBasis or web URL (a query, a fragment, non-loopback http) rejects config_invalid before any request', async () => {
  const { page } = await loggedIn(options(KJ_OPTIONS));
  await setAttest(page);
  dbl.reset();
  const cases = [
    ['sourceSystem of 2 characters', { sourceSystem: 'ab' }],
    ['sourceSystem of 513 characters', { sourceSystem: 'x'.repeat(513) }],
    ['sourceSystem missing', { sourceSystem: undefined }],
    ['patient of 10 digits', { patient: '1311690021' }],
    ['patient with a letter', { patient: '1311690021a' }],
    ['accessBasis unknown', { accessBasis: 'NYSGJERRIG' }],
    ['accessBasis lower case', { accessBasis: 'samtykke' }],
    ['web with a query', { web: `${dbl.kjWebOrigin}/hpp-webapp?next=https://evil.test` }],
    ['web with a fragment', { web: `${dbl.kjWebOrigin}/#x` }],
    ['web on non-loopback http', { web: 'http://kj.example.test/hpp-webapp' }],
    ['api with a query', { api: `${dbl.kjApiOrigin}?x=` }],
  ];
  const urlMessage = (name) => `${name} must be an https URL (http only for loopback hosts with allowInsecureHttp): an origin and a path, no query or fragment`;
  for (const [why, args] of cases) {
    const out = await openKj(page, args);
    assert.equal(out.error?.code, 'config_invalid', `${why}: ${JSON.stringify(out)}`);
    assert.equal(out.error.isHelseIdError, true, why);
    if (args.web || args.api) assert.equal(out.error.message, urlMessage(args.web ? 'web' : 'api'), why);
  }
  const c = dbl.portalCounts();
  assert.equal(c['kj-create'], 0);
  assert.equal(c.preflight, 0, 'not even a preflight');
  assert.equal(dbl.counts().token, 0);
  assert.deepEqual(dbl.kjSessions(), []);
  // Good arguments go through (here with another access basis and authorisation).
  assert.equal((await openKj(page, { accessBasis: 'AKUTT', practitionerAuthorization: 'SP' })).error, undefined);
  assert.equal(dbl.portalCounts().ok['kj-create'], 1);
  const [s] = dbl.kjSessions();
  assert.deepEqual([s.accessBasis, s.practitionerAuthorization], ['AKUTT', 'SP']);
  assert.deepEqual(s.claims.access_basis, { code: 'AKUTT', system: 'SYSTEM_GRUNNLAG', assigner: 'https://nhn.no' });
  await page.close();
});
