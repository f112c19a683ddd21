// Organisation, journal and patient context (API.md "Organisation, journal and patient
// context"; shared/helseid/README.md "Context") through the built package in real Chromium
// against the HelseID test double: the details on the code exchange and on setContext's
// refresh (never on PAR), the tokens of the old context dropped for every resource, the
// switch across two tabs, multi- and single-tenant forms, the journal id, clearing, malformed
// contexts (nothing sent), HelseID's HID refusals, tokens that do not match, rejected_scope,
// the trust-framework attest and its age, authorization_details, and assertion_provider's ctx.
// Counts are read at the double: counts().token, detailsSeen(), signerLog().
import { test, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, launchBrowser } from './harness.mjs';
import { clientOptions, login, openApp } from './flow.mjs';
import { TEST_JOURNALS } from '../../www/dev-idp/signer.mjs';

const SFM = 'e-helse:sfm.api';
const OTHER = 'e-helse:other.api';
const KJ = 'nhn:kjernejournal';
const SFM_SCOPE = 'e-helse:sfm.api/sfm.api2';
const KJ_SCOPE = 'nhn:kjernejournal/tillitsrammeverk';
const BASE_SCOPE = 'openid profile offline_access helseid://scopes/identity/pid helseid://scopes/identity/security_level helseid://scopes/hpr/hpr_number e-helse:sfm.api/sfm.api2';
const PARENT = 'helseid://claims/client/claims/orgnr_parent';
const CHILD = 'helseid://claims/client/claims/orgnr_child';
const JOURNAL = 'nhn:sfm:journal-id';
const ATTEST = 'nhn:tillitsrammeverk:parameters';
const SFM_ID = 'e-helse:sfm.api/client/claims/sfm-id';
const MULTI_SYSTEM = 'urn:oid:1.0.6523';
const SINGLE_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.4.101';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const WAIT = { timeout: 15_000 };

let stack;
let d;
let browser;
let pages = [];

before(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
  d = stack.double;
});

after(async () => {
  await browser?.close();
  await stack?.close();
});

beforeEach(() => {
  d.reset();
  d.setOptions({ accessTokenTtl: 300 });
});

// Every tab of a test is closed after it, so that no holder of an earlier test answers a
// later test's new tab.
afterEach(async () => {
  await Promise.all(pages.map((p) => p.close().catch(() => {})));
  pages = [];
});

async function newPage() {
  const page = await browser.newPage();
  pages.push(page);
  return page;
}

// ---------------------------------------------------------------- contexts and details
const single = (child) => ({ organization: { child } });
const multi = (parent, child) => ({ organization: child === undefined ? { parent } : { parent, child } });

/** The trust-framework attest as NHN's EPJ samples send it, without "type" (API.md). */
function attest({ legalEntity = '910000001', pointOfCare = '910000011', purpose = 'TREAT', decisionId } = {}) {
  return {
    practitioner: {
      authorization: { code: 'LE', system: 'urn:oid:2.16.578.1.12.4.1.1.9060' },
      legal_entity: { id: legalEntity, system: SINGLE_SYSTEM },
      point_of_care: { id: pointOfCare, system: SINGLE_SYSTEM },
      department: { id: '123', system: 'urn:oid:2.16.578.1.12.4.1.4.102' },
    },
    care_relationship: {
      healthcare_service: { code: '01', system: 'urn:oid:2.16.578.1.12.4.1.1.8666' },
      purpose_of_use: { code: purpose, system: 'urn:oid:2.16.840.1.113883.1.11.20448' },
      purpose_of_use_details: { code: 'BEHANDLER', system: 'urn:AuditEventHL7Norway/CodeSystem/carerelation' },
      decision_ref: decisionId === undefined ? { user_selected: true } : { id: decisionId, user_selected: true },
    },
    patients: [{ point_of_care: { id: pointOfCare, system: SINGLE_SYSTEM } }],
  };
}

/** `obj` without the member at `path` (a list of names). */
function without(obj, path) {
  const copy = structuredClone(obj);
  const [last, ...rest] = [...path].reverse();
  let node = copy;
  for (const p of rest.reverse()) node = node[p];
  delete node[last];
  return copy;
}

/** The organisation detail of the multi-tenant form, exactly as API.md spells it. */
const multiDetail = (parent, child = '') => ({
  type: 'helseid_authorization',
  practitioner_role: { organization: { identifier: { system: MULTI_SYSTEM, type: 'ENH', value: `NO:ORGNR:${parent}:${child}` } } },
});
const journalDetail = (id) => ({ type: 'nhn:sfm:journal-id', value: { journal_id: id } });

/**
 * Checks that `details` is exactly one single-tenant organisation detail for `child`. API.md:
 * system + value; HelseID's README says `type` is not needed there, so "ENH" is allowed.
 */
function assertSingleDetails(details, child) {
  assert.ok(Array.isArray(details), `details are an array: ${JSON.stringify(details)}`);
  assert.equal(details.length, 1, JSON.stringify(details));
  const id = details[0]?.practitioner_role?.organization?.identifier;
  assert.deepEqual(Object.keys(details[0]).sort(), ['practitioner_role', 'type']);
  assert.equal(details[0].type, 'helseid_authorization');
  assert.deepEqual({ system: id.system, value: id.value }, { system: SINGLE_SYSTEM, value: child });
  assert.ok(id.type === undefined || id.type === 'ENH', JSON.stringify(id));
  assert.deepEqual(Object.keys(id).filter((k) => !['system', 'type', 'value'].includes(k)), []);
}

// ---------------------------------------------------------------- page helpers
const decodePayload = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

/**
 * Runs `fn(client, arg)` in the page (like flow.mjs withClient); a rejection comes back as
 * `{ error }` with `oauthErrorDescription` too.
 */
async function run(page, fn, arg) {
  return page.evaluate(async ({ src, arg }) => {
    // eslint-disable-next-line no-new-func
    const f = new Function(`return (${src})`)();
    try {
      return await f(window.client, arg);
    } catch (e) {
      return { error: { ...window.errorInfo(e), oauthErrorDescription: e?.oauthErrorDescription } };
    }
  }, { src: fn.toString(), arg });
}

/** Every PAR and token request the page sends: { ep, grant, resource, assertion (claims) }. */
/**
 * The PAR and token requests made from now on, as the double received them: a function that
 * returns them (the double reads the bodies; Firefox's request interception carries none).
 */
function captureAssertions() {
  const since = Date.now();
  return () => d.formsSeen().filter((x) => x.t >= since).map((x) => ({
    ep: x.ep, grant: x.grant, resource: x.resource, raw: x.clientAssertion,
    assertion: x.clientAssertion ? decodePayload(x.clientAssertion) : null,
  }));
}

const names = (page) => page.evaluate(() => window.events.map((e) => e.name));
const count = async (page, name) => (await names(page)).filter((n) => n === name).length;
const clearEvents = (page) => page.evaluate(() => { window.events = []; });
const successes = () => d.detailsSeen().filter((e) => e.status === 200);

/** The tab's state: the context in force, the session's token jti and context. */
const snapshot = (page) => run(page, (c) => {
  const s = c.session();
  return { context: c.context(), jti: s?.accessTokenClaims.jti, sessionContext: s?.context ?? null };
});

function opts(extra, more = {}) {
  return clientOptions(stack, { ...more, extra: { autoRefresh: false, ...extra } });
}
const multiOpts = (extra, more) => opts({ requireSfmId: false, ...extra }, { clientId: 'helseid-wasm-multi', ...more });

// ================================================================ at login

test('the config context goes on the code exchange only: detailsSeen, the token\'s claims and Session.context; PAR carries none', async () => {
  const page = await newPage();
  const seen = captureAssertions();
  const o = opts({ context: single('910000011') });
  const s = await login(page, stack, o);

  const ok = successes();
  assert.equal(ok.length, 1, JSON.stringify(d.detailsSeen()));
  const { t, details, ...rest } = ok[0];
  assert.deepEqual(rest, {
    clientId: 'helseid-wasm-rs256', grant: 'authorization_code', claim: 'assertion_details', status: 200,
    orgnrParent: '910000001', orgnrChild: '910000011',
  });
  assertSingleDetails(details, '910000011');
  // Every token request (a DPoP nonce retry too) carried the same details.
  for (const e of d.detailsSeen()) assert.deepEqual(e.details, details);

  assert.equal(s.accessTokenClaims[PARENT], '910000001');
  assert.equal(s.accessTokenClaims[CHILD], '910000011');
  assert.equal(s.idTokenClaims[CHILD], undefined, 'never in the ID token');
  assert.deepEqual([s.helseid.orgnrParent, s.helseid.orgnrChild], ['910000001', '910000011']);
  assert.deepEqual(s.context, single('910000011'));
  assert.deepEqual(s.rejectedScope, []);
  assert.deepEqual(await run(page, (c) => c.context()), single('910000011'));

  const par = seen().filter((x) => x.ep === 'par');
  const token = seen().filter((x) => x.ep === 'token');
  assert.ok(par.length >= 1 && token.length >= 1, JSON.stringify(seen().map((x) => x.ep)));
  for (const p of par) {
    assert.equal(p.assertion.assertion_details, undefined, 'no details on the PAR assertion');
    assert.equal(p.assertion.authorization_details, undefined, 'no details on the PAR assertion');
  }
  for (const x of token) {
    assert.equal(x.grant, 'authorization_code');
    assert.deepEqual(x.assertion.assertion_details, details);
    assert.equal(x.assertion.authorization_details, undefined);
  }
  assert.equal(d.counts().token_by_grant.refresh_token, 0);
});

test('loginWithRedirect({context}) overrides the config\'s context for the code exchange', async () => {
  const page = await newPage();
  const seen = captureAssertions();
  const o = opts({ context: single('910000011') });
  const s = await login(page, stack, o, { context: single('910000012') });
  assert.ok(seen().some((x) => x.ep === 'par'));
  for (const x of seen()) {
    const sent = x.assertion.assertion_details;
    if (x.ep === 'par') assert.equal(sent, undefined, 'no details on the PAR assertion');
    else assertSingleDetails(sent, '910000012');
  }
  const ok = successes();
  assert.equal(ok.length, 1, JSON.stringify(d.detailsSeen()));
  assert.equal(ok[0].grant, 'authorization_code');
  assertSingleDetails(ok[0].details, '910000012');
  assert.equal(ok[0].orgnrChild, '910000012');
  for (const e of d.detailsSeen()) assert.deepEqual(e.details, ok[0].details, 'the config\'s context never went out');
  assert.equal(s.accessTokenClaims[CHILD], '910000012');
  assert.deepEqual(s.context, single('910000012'));
  assert.deepEqual(await run(page, (c) => c.context()), single('910000012'));
});

// ================================================================ switching in one tab

test('setContext in one tab: 1 token request, tokenRefreshed + contextChanged, and no token of the old context for any resource afterwards', async () => {
  const page = await newPage();
  const o = opts({ resources: [SFM, OTHER], context: single('910000011') });
  const first = await login(page, stack, o);
  const old = await run(page, async (c) => ({ other: await c.getAccessToken({ resource: 'e-helse:other.api' }), sfm: await c.getAccessToken() }));
  assert.equal(old.error, undefined, JSON.stringify(old.error));
  assert.equal(decodePayload(old.other)[CHILD], '910000011');
  d.reset();
  await clearEvents(page);

  const sw = await run(page, (c) => c.setContext({ organization: { child: '910000012' } }));
  assert.equal(sw.error, undefined, JSON.stringify(sw.error));
  assert.equal(d.counts().token, 1);
  assert.equal(d.counts().token_by_grant.refresh_token, 1);
  const seen = d.detailsSeen();
  assert.equal(seen.length, 1);
  assert.equal(seen[0].grant, 'refresh_token');
  assert.equal(seen[0].orgnrChild, '910000012');
  assertSingleDetails(seen[0].details, '910000012');
  assert.equal(sw.accessTokenClaims.aud, SFM);
  assert.equal(sw.accessTokenClaims[CHILD], '910000012');
  assert.equal(sw.accessTokenClaims[PARENT], '910000001');
  assert.deepEqual(sw.context, single('910000012'));

  const ev = await page.evaluate(() => window.events.map((e) => ({ name: e.name, jti: e.detail?.accessTokenClaims?.jti, context: e.detail?.context })));
  assert.deepEqual(ev.map((e) => e.name).sort(), ['contextChanged', 'tokenRefreshed']);
  const changed = ev.find((e) => e.name === 'contextChanged');
  assert.equal(changed.jti, sw.accessTokenClaims.jti);
  assert.deepEqual(changed.context, single('910000012'));

  // The default resource: the switch's token, no request.
  const sfm = await run(page, (c) => c.getAccessToken());
  assert.notEqual(sfm, old.sfm);
  assert.equal(decodePayload(sfm).jti, sw.accessTokenClaims.jti);
  assert.equal(d.counts().token, 1);
  // client.fetch sends it too: the API sees the new organisation.
  const who = await run(page, async (c, api) => (await c.fetch(`${api}/api/whoami`)).json(), d.apiOrigin);
  assert.deepEqual([who.orgnr_child, who.aud], ['910000012', SFM], JSON.stringify(who));
  assert.equal(d.counts().token, 1);

  // The second resource: its old token is gone; one new request with the new details.
  const other = await run(page, (c) => c.getAccessToken({ resource: 'e-helse:other.api' }));
  assert.equal(typeof other, 'string', JSON.stringify(other));
  assert.notEqual(other, old.other);
  assert.equal(d.counts().token, 2);
  const otherSeen = d.detailsSeen()[1];
  assert.equal(otherSeen.status, 200);
  assertSingleDetails(otherSeen.details, '910000012');
  assert.equal(decodePayload(other).aud, OTHER);
  assert.equal(decodePayload(other)[CHILD], '910000012');

  // Switching back is a new refresh: the first context's tokens were dropped too.
  const back = await run(page, (c) => c.setContext({ organization: { child: '910000011' } }));
  assert.equal(back.error, undefined, JSON.stringify(back.error));
  assert.equal(d.counts().token, 3);
  assert.equal(back.accessTokenClaims[CHILD], '910000011');
  assert.notEqual(back.accessTokenClaims.jti, first.accessTokenClaims.jti);
  assert.notEqual(back.accessTokenClaims.jti, decodePayload(old.sfm).jti);
  const again = await run(page, async (c) => ({ sfm: await c.getAccessToken(), other: await c.getAccessToken({ resource: 'e-helse:other.api' }) }));
  assert.equal(decodePayload(again.sfm).jti, back.accessTokenClaims.jti);
  assert.notEqual(again.other, old.other, 'not the first context\'s other.api token');
  assert.notEqual(again.other, other, 'not the second context\'s other.api token');
  assert.equal(decodePayload(again.other)[CHILD], '910000011');
  assert.equal(d.counts().token, 4);
  assert.equal(await count(page, 'contextChanged'), 2);
});

// ================================================================ two tabs

/** A holder tab logged in with `o`, and a follower tab that joined its session. */
async function holderAndFollower(o) {
  const a = await newPage();
  await login(a, stack, o);
  const b = await newPage();
  await openApp(b, stack.appOrigin);
  const joined = await b.evaluate((x) => window.attach(x), o);
  assert.ok(joined, 'the follower has the session');
  return { a, b, joined };
}

test('two tabs: a follower\'s setContext is 1 token request in all; the holder adopts it without a request, and the other way round', async () => {
  const o = opts({ context: single('910000011') });
  const { a, b, joined } = await holderAndFollower(o);
  assert.deepEqual(joined.context, single('910000011'));
  d.reset();
  await clearEvents(a);
  await clearEvents(b);

  // The follower switches.
  const sw = await run(b, (c) => c.setContext({ organization: { child: '910000012' } }));
  assert.equal(sw.error, undefined, JSON.stringify(sw.error));
  assert.equal(sw.accessTokenClaims[CHILD], '910000012');
  assert.equal(d.counts().token, 1);
  assert.equal(d.counts().token_by_grant.refresh_token, 1);
  assertSingleDetails(successes()[0].details, '910000012');
  await a.waitForFunction(() => window.events.some((e) => e.name === 'contextChanged'), null, WAIT);
  const inA = await run(a, async (c) => ({ token: await c.getAccessToken(), context: c.context() }));
  assert.equal(decodePayload(inA.token).jti, sw.accessTokenClaims.jti, 'the holder returns the new context\'s token');
  assert.deepEqual(inA.context, single('910000012'));
  assert.equal(d.counts().token, 1, 'no further request');
  // Both tabs: one contextChanged and one tokenRefreshed (API.md: fired after every refresh).
  await b.waitForFunction(() => window.events.some((e) => e.name === 'tokenRefreshed'), null, WAIT);
  await a.waitForFunction(() => window.events.some((e) => e.name === 'tokenRefreshed'), null, WAIT);
  assert.deepEqual((await names(a)).sort(), ['contextChanged', 'tokenRefreshed']);
  assert.deepEqual((await names(b)).sort(), ['contextChanged', 'tokenRefreshed']);
  // contextChanged's cause: "context" in the tab that switched, "other-tab" in the other.
  const causes = (p) => p.evaluate(() => window.events.filter((e) => e.name === 'contextChanged').map((e) => e.detail.cause));
  assert.deepEqual([await causes(a), await causes(b)], [['other-tab'], ['context']]);

  // The holder switches; the follower adopts.
  d.reset();
  const sw2 = await run(a, (c) => c.setContext({ organization: { child: '910000011' } }));
  assert.equal(sw2.error, undefined, JSON.stringify(sw2.error));
  assert.equal(d.counts().token, 1);
  await b.waitForFunction(() => window.events.filter((e) => e.name === 'contextChanged').length === 2, null, WAIT);
  const inB = await run(b, async (c) => ({ token: await c.getAccessToken(), context: c.context() }));
  assert.equal(decodePayload(inB.token).jti, sw2.accessTokenClaims.jti);
  assert.equal(decodePayload(inB.token)[CHILD], '910000011');
  assert.deepEqual(inB.context, single('910000011'));
  assert.equal(d.counts().token, 1, 'the follower made no request');
  assert.equal(await count(a, 'contextChanged'), 2);
  assert.deepEqual([await causes(a), await causes(b)], [['other-tab', 'context'], ['context', 'other-tab']]);
});

// ================================================================ forms

test('multi-tenant client: parent + child, parent alone (empty child), parent + journal id, then setContext(null) clears', async () => {
  const page = await newPage();
  const s = await login(page, stack, multiOpts({ context: multi('920000001', '920000011') }));
  let ok = successes();
  assert.equal(ok.length, 1);
  assert.deepEqual(ok[0].details, [multiDetail('920000001', '920000011')]);
  assert.deepEqual([ok[0].orgnrParent, ok[0].orgnrChild], ['920000001', '920000011']);
  assert.equal(s.accessTokenClaims[PARENT], '920000001');
  assert.equal(s.accessTokenClaims[CHILD], '920000011');
  assert.equal(s.accessTokenClaims[SFM_ID], undefined, 'the multi-tenant client has no SFM id');
  assert.deepEqual(s.context, multi('920000001', '920000011'));
  d.reset();

  const p2 = await run(page, (c) => c.setContext({ organization: { parent: '920000002' } }));
  assert.equal(p2.error, undefined, JSON.stringify(p2.error));
  assert.deepEqual(d.detailsSeen().map((e) => e.details), [[multiDetail('920000002')]]);
  assert.equal(p2.accessTokenClaims[PARENT], '920000002');
  assert.equal(p2.accessTokenClaims[CHILD], undefined);
  assert.deepEqual(p2.context, multi('920000002'));
  assert.equal(d.counts().token, 1);

  const j = TEST_JOURNALS.kvart1;
  const p3 = await run(page, (c, id) => c.setContext({ organization: { parent: '920000001' }, journalId: id }), j);
  assert.equal(p3.error, undefined, JSON.stringify(p3.error));
  assert.equal(d.counts().token, 2);
  const sent = d.detailsSeen()[1].details;
  assert.equal(sent.length, 2, JSON.stringify(sent));
  assert.deepEqual(sent.find((x) => x.type === 'helseid_authorization'), multiDetail('920000001'));
  assert.deepEqual(sent.find((x) => x.type === 'nhn:sfm:journal-id'), journalDetail(j));
  assert.deepEqual(p3.accessTokenClaims[JOURNAL], { journal_id: j });
  assert.equal(p3.helseid.journalId, j);
  assert.equal(p3.accessTokenClaims[PARENT], '920000001');
  assert.deepEqual(p3.context, { organization: { parent: '920000001' }, journalId: j });

  const cleared = await run(page, (c) => c.setContext(null));
  assert.equal(cleared.error, undefined, JSON.stringify(cleared.error));
  assert.equal(d.counts().token, 3);
  const last = d.detailsSeen()[2];
  assert.deepEqual([last.status, last.grant, last.claim, last.details], [200, 'refresh_token', null, null]);
  for (const claim of [PARENT, CHILD, JOURNAL]) assert.equal(cleared.accessTokenClaims[claim], undefined, claim);
  assert.equal(cleared.context, null);
  assert.equal(await run(page, (c) => c.context()), null);
  assert.equal(await count(page, 'contextChanged'), 3);
});

test('single-tenant client: the child alone; setContext(null) clears (no details, no organisation claims)', async () => {
  const page = await newPage();
  await login(page, stack, opts({ context: single('910000012') }));
  d.reset();
  const cleared = await run(page, (c) => c.setContext(null));
  assert.equal(cleared.error, undefined, JSON.stringify(cleared.error));
  assert.equal(d.counts().token, 1);
  const [e] = d.detailsSeen();
  assert.deepEqual([e.status, e.claim, e.details], [200, null, null]);
  assert.equal(cleared.accessTokenClaims[CHILD], undefined);
  assert.equal(cleared.accessTokenClaims[PARENT], undefined);
  assert.equal(typeof cleared.accessTokenClaims[SFM_ID], 'string', 'the single-tenant SFM id stays');
  assert.equal(cleared.context, null);
  // The next request carries no details either.
  const next = await run(page, (c) => c.refresh());
  assert.equal(next.error, undefined, JSON.stringify(next.error));
  assert.deepEqual(d.detailsSeen().map((x) => x.details), [null, null]);
  assert.equal(next.context, null);
});

test('a journal id satisfies requireSfmId on the multi-tenant client (nhn:sfm:journal-id); without it the token is refused', async () => {
  const page = await newPage();
  const j = TEST_JOURNALS.kvart2;
  const s = await login(page, stack, multiOpts({ requireSfmId: true, context: { organization: { parent: '920000001' }, journalId: j } }));
  assert.deepEqual(s.accessTokenClaims[JOURNAL], { journal_id: j });
  assert.equal(s.accessTokenClaims[SFM_ID], undefined);
  assert.equal(s.helseid.journalId, j);
  assert.equal(successes()[0].journalId, j);
  d.reset();
  await clearEvents(page);
  // Control: the same client without the journal id has no SFM claim at all.
  const bad = await run(page, (c) => c.setContext({ organization: { parent: '920000001' } }));
  assert.equal(bad.error?.code, 'missing_sfm_id', JSON.stringify(bad));
  assert.equal(d.counts().token, 1);
  const kept = await run(page, async (c) => ({ token: await c.getAccessToken(), context: c.context() }));
  assert.equal(decodePayload(kept.token).jti, s.accessTokenClaims.jti);
  assert.deepEqual(kept.context, { organization: { parent: '920000001' }, journalId: j });
  assert.equal(d.counts().token, 1);
  assert.deepEqual(await names(page), []);
});

// ================================================================ malformed contexts

const GOOD_ATTEST = attest();
const MALFORMED = [
  [{ organization: { parent: '92000000' } }, 'organization.parent'],
  [{ organization: { parent: '9200000011' } }, 'organization.parent'],
  [{ organization: { child: '91000001x' } }, 'organization.child'],
  [{ organization: { child: 910000011 } }, 'organization.child'],
  [{ organization: {} }, 'organization'],
  [{ journalId: 'not-a-uuid' }, 'journalId'],
  [{ journalId: '5f0c3b8e2d4a4c1e9b7a1a2b3c4d5e01' }, 'journalId'],
  [{ journalId: '5f0c3b8e-2d4a-4c1e-9b7a-1a2b3c4d5e0g' }, 'journalId'],
  [{ trustFramework: without(GOOD_ATTEST, ['practitioner', 'legal_entity']) }, 'trustFramework.practitioner.legal_entity'],
  [{ trustFramework: without(GOOD_ATTEST, ['practitioner', 'point_of_care']) }, 'trustFramework.practitioner.point_of_care'],
  [{ trustFramework: without(GOOD_ATTEST, ['care_relationship', 'purpose_of_use']) }, 'trustFramework.care_relationship.purpose_of_use'],
  [{ trustFramework: attest({ purpose: 'CURIOUS' }) }, 'trustFramework.care_relationship.purpose_of_use.code'],
  [{ trustFramework: attest({ legalEntity: '12345678' }) }, 'trustFramework.practitioner.legal_entity.id'],
  [{ trustFramework: attest({ pointOfCare: '1234567890' }) }, 'trustFramework.practitioner.point_of_care.id'],
  [{ organisation: { child: '910000011' } }, 'organisation'],
  [{ organization: { child: '910000011', unit: '1' } }, 'organization.unit'],
  [{ organization: { child: '910000011' }, patient: '06828399789' }, 'patient'],
  ['910000011', 'context'],
  [{ organization: '910000011' }, 'organization'],
  [{ trustFramework: [] }, 'trustFramework'],
  // Only the members HelseID's attest defines reach the signer (finding 13).
  [{ trustFramework: { ...GOOD_ATTEST, practitioner: { ...GOOD_ATTEST.practitioner, nickname: 'Doc' } } }, 'trustFramework.practitioner.nickname'],
  [{ trustFramework: { ...GOOD_ATTEST, note: 'x'.repeat(300) } }, 'trustFramework.note'],
];

test('every malformed context in setContext rejects context_invalid with the exact claim, sends nothing, and changes nothing', async () => {
  const page = await newPage();
  // The backend signs (assertion_provider), so that a signer call would show too.
  const s = await login(page, stack, opts({ context: single('910000011') }, { assertion: true }));
  const token = await run(page, (c) => c.getAccessToken());
  d.reset();
  await clearEvents(page);
  const got = [];
  for (const [ctx, claim] of MALFORMED) {
    const r = await run(page, (c, x) => c.setContext(x), ctx);
    got.push([JSON.stringify(ctx), r.error?.code, r.error?.claim]);
    assert.deepEqual([r.error?.code, r.error?.claim, r.error?.isHelseIdError], ['context_invalid', claim, true], JSON.stringify({ ctx, r }));
  }
  assert.equal(d.counts().token, 0, 'no token request');
  assert.equal(d.counts().assertion, 0, 'no signer call');
  assert.deepEqual(d.signerLog(), []);
  assert.deepEqual(d.detailsSeen(), []);
  const after = await snapshot(page);
  assert.deepEqual(after, { context: single('910000011'), jti: s.accessTokenClaims.jti, sessionContext: single('910000011') });
  assert.equal(await run(page, (c) => c.getAccessToken()), token, 'the same token, no request');
  assert.equal(d.counts().token, 0);
  assert.deepEqual(await names(page), [], 'no event');
});

test('a malformed context in create() is context_invalid with the exact claim, before any token request', async () => {
  const page = await newPage();
  await openApp(page, stack.appOrigin);
  const base = opts({}, { assertion: true });
  const cases = MALFORMED.filter((_, i) => i % 3 === 0).concat([[{ trustFramework: attest({ purpose: 'BTGX' }) }, 'trustFramework.care_relationship.purpose_of_use.code']]);
  d.reset();
  for (const [ctx, claim] of cases) {
    const r = await page.evaluate(async ({ o, ctx }) => {
      try {
        await window.makeClient({ ...o, extra: { ...o.extra, context: ctx } });
        return { created: true };
      } catch (e) {
        return { error: window.errorInfo(e) };
      }
    }, { o: base, ctx });
    assert.deepEqual([r.error?.code, r.error?.claim], ['context_invalid', claim], JSON.stringify({ ctx, r }));
  }
  const c = d.counts();
  assert.deepEqual([c.par, c.token, c.assertion], [0, 0, 0]);
});

test('a malformed context in loginWithRedirect is context_invalid with the exact claim: no signer call, no PAR, no redirect', async () => {
  const page = await newPage();
  await openApp(page, stack.appOrigin);
  const o = opts({ context: single('910000011') }, { assertion: true });
  d.reset();
  for (const [ctx, claim] of [MALFORMED[0], MALFORMED[7], MALFORMED[12], MALFORMED[15]]) {
    const r = await page.evaluate(async ({ o, ctx }) => {
      try {
        const client = await window.makeClient(o);
        await client.loginWithRedirect({ context: ctx });
        return { redirected: true };
      } catch (e) {
        return { error: window.errorInfo(e) };
      }
    }, { o, ctx });
    assert.deepEqual([r.error?.code, r.error?.claim], ['context_invalid', claim], JSON.stringify({ ctx, r }));
    assert.equal(new URL(page.url()).search, '', 'still on the app page, no redirect');
  }
  const c = d.counts();
  assert.deepEqual([c.par, c.authorize, c.token, c.assertion], [0, 0, 0, 0]);
  assert.deepEqual(d.signerLog(), []);
});

// ================================================================ HelseID refuses

test('HID-1001 / HID-1002 / HID-1004 come back as token_request_failed with the HID code intact; the previous context and token stay, no contextChanged', async () => {
  const page = await newPage();
  // kvart's EPJ allow-list has 920000003 and 920000001:920000099 on purpose (the OP refuses them).
  const o = multiOpts({ context: multi('920000001', '920000011') }, { assertion: true });
  const s = await login(page, stack, o);
  const t0 = await run(page, (c) => c.getAccessToken());
  d.reset();
  await clearEvents(page);

  const cases = [
    [multi('920000003'), 'HID-1001: the parent organization 920000003 is not allowed for this client'],
    [multi('920000001', '920000099'), 'HID-1002: the child organization 920000099 is not allowed for this client'],
  ];
  for (const [ctx, description] of cases) {
    const r = await run(page, (c, x) => c.setContext(x), ctx);
    assert.deepEqual(
      [r.error?.code, r.error?.oauthError, r.error?.status, r.error?.oauthErrorDescription],
      ['token_request_failed', 'invalid_request', 400, description],
      JSON.stringify(r),
    );
  }
  // HID-1004: the library never sends a number that is not 9 digits, so a (faulty) backend
  // rewrites the child in what it signs (in-process signer), and the OP refuses that.
  // The page's calls to the signer go to this faulty one instead (engine-neutral: Firefox's
  // request interception carries no request bodies).
  await page.exposeFunction('faultySigner', (text) => {
    const body = JSON.parse(text);
    const details = body.assertionDetails?.map((x) => (x.type === 'helseid_authorization'
      ? multiDetail('920000001', '92000001')
      : x));
    return d.signAssertion({ clientId: body.clientId, audience: body.audience, assertionDetails: details, detailsClaim: body.detailsClaim });
  });
  await page.evaluate((url) => {
    window.realFetch = window.fetch;
    window.fetch = async (input, init) => (String(input) === url
      ? Response.json({ assertion: await window.faultySigner(init.body) })
      : window.realFetch(input, init));
  }, `${d.apiOrigin}/assertion`);
  const r4 = await run(page, (c) => c.setContext({ organization: { parent: '920000001', child: '920000012' } }));
  await page.evaluate(() => { window.fetch = window.realFetch; });
  assert.deepEqual(
    [r4.error?.code, r4.error?.oauthError, r4.error?.status, r4.error?.oauthErrorDescription],
    ['token_request_failed', 'invalid_request', 400, 'HID-1004: the child organization number "92000001" is not 9 digits'],
    JSON.stringify(r4),
  );

  assert.equal(d.counts().token, 3, 'one request per refused switch');
  assert.deepEqual(d.detailsSeen().map((e) => [e.status, e.error_description?.slice(0, 8)]), [[400, 'HID-1001'], [400, 'HID-1002'], [400, 'HID-1004']]);
  const kept = await run(page, async (c) => ({ token: await c.getAccessToken(), context: c.context(), jti: c.session().accessTokenClaims.jti }));
  assert.equal(kept.token, t0, 'the previous context\'s token, no new request');
  assert.equal(kept.jti, s.accessTokenClaims.jti);
  assert.deepEqual(kept.context, multi('920000001', '920000011'));
  assert.equal(d.counts().token, 3);
  assert.deepEqual(await names(page), [], 'no contextChanged, no tokenRefreshed');

  // The refused requests did not use up the refresh token: a good switch works.
  const ok = await run(page, (c) => c.setContext({ organization: { parent: '920000001', child: '920000012' } }));
  assert.equal(ok.error, undefined, JSON.stringify(ok.error));
  assert.equal(ok.accessTokenClaims[CHILD], '920000012');
  assert.equal(d.counts().token, 4);
});

test('a token whose orgnr_child does not match the context: claim_invalid naming the full claim; the old context and token are kept, and the session still switches later', async () => {
  const page = await newPage();
  const s = await login(page, stack, opts({ context: single('910000011') }));
  const t0 = await run(page, (c) => c.getAccessToken());
  d.reset();
  await clearEvents(page);
  await d.setFault({ grant: 'refresh_token', accessToken: { set: { [CHILD]: '910000011' } } });
  const r = await run(page, (c) => c.setContext({ organization: { child: '910000012' } }));
  assert.deepEqual([r.error?.code, r.error?.claim], ['claim_invalid', CHILD], JSON.stringify(r));
  assert.equal(d.counts().token, 1);
  const kept = await run(page, async (c) => ({ token: await c.getAccessToken(), context: c.context(), session: c.session().context }));
  assert.equal(kept.token, t0);
  assert.deepEqual(kept.context, single('910000011'));
  assert.deepEqual(kept.session, single('910000011'));
  assert.equal(d.counts().token, 1);
  assert.deepEqual(await names(page), []);

  // Nothing of the session is lost: once HelseID answers right, the switch goes through.
  d.clearFault();
  const ok = await run(page, (c) => c.setContext({ organization: { child: '910000012' } }));
  assert.equal(ok.error, undefined, JSON.stringify(ok.error));
  assert.equal(ok.accessTokenClaims[CHILD], '910000012');
  assert.notEqual(ok.accessTokenClaims.jti, s.accessTokenClaims.jti);
  assert.equal(d.counts().token, 2);
});

test('a token whose nhn:sfm:journal-id or orgnr_parent does not match: claim_invalid naming the full claim; the old context is kept', async () => {
  const page = await newPage();
  const j1 = TEST_JOURNALS.kvart1;
  const j2 = TEST_JOURNALS.kvart2;
  const start = { organization: { parent: '920000001' }, journalId: j1 };
  const s = await login(page, stack, multiOpts({ requireSfmId: true, context: start }));
  const t0 = await run(page, (c) => c.getAccessToken());
  d.reset();
  await clearEvents(page);

  await d.setFault({ grant: 'refresh_token', accessToken: { set: { [JOURNAL]: { journal_id: j1 } } } });
  const r = await run(page, (c, j) => c.setContext({ organization: { parent: '920000001' }, journalId: j }), j2);
  assert.deepEqual([r.error?.code, r.error?.claim], ['claim_invalid', JOURNAL], JSON.stringify(r));

  await d.setFault({ grant: 'refresh_token', accessToken: { set: { [PARENT]: '920000001' } } });
  const p = await run(page, (c, j) => c.setContext({ organization: { parent: '920000002' }, journalId: j }), j1);
  assert.deepEqual([p.error?.code, p.error?.claim], ['claim_invalid', PARENT], JSON.stringify(p));
  d.clearFault();

  assert.equal(d.counts().token, 2);
  const kept = await run(page, async (c) => ({ token: await c.getAccessToken(), context: c.context() }));
  assert.equal(kept.token, t0);
  assert.equal(decodePayload(kept.token).jti, s.accessTokenClaims.jti);
  assert.deepEqual(kept.context, start);
  assert.equal(d.counts().token, 2);
  assert.deepEqual(await names(page), []);
});

test('rejected_scope: switching to a parent that has not accepted the terms resolves, and Session.rejectedScope lists the refused scope', async () => {
  const page = await newPage();
  await login(page, stack, multiOpts({ context: multi('920000001') }));
  d.reset();
  await clearEvents(page);
  const r = await run(page, (c) => c.setContext({ organization: { parent: '920000009' } }));
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  assert.deepEqual(r.rejectedScope, [SFM_SCOPE]);
  assert.ok(!r.scope.includes(SFM_SCOPE), JSON.stringify(r.scope));
  assert.equal(r.accessTokenClaims[PARENT], '920000009');
  assert.deepEqual(r.context, multi('920000009'));
  assert.equal(d.counts().token, 1);
  assert.deepEqual(successes()[0].rejectedScope, [SFM_SCOPE]);
  assert.deepEqual(await run(page, (c) => c.session().rejectedScope), [SFM_SCOPE]);
  assert.equal(await count(page, 'contextChanged'), 1);

  // Another organisation gets the scope back, and the list is empty again.
  const back = await run(page, (c) => c.setContext({ organization: { parent: '920000001' } }));
  assert.equal(back.error, undefined, JSON.stringify(back.error));
  assert.deepEqual(back.rejectedScope, []);
  assert.ok(back.scope.includes(SFM_SCOPE), JSON.stringify(back.scope));
});

// ================================================================ trust-framework attest

const KJ_EXTRA = { scope: `${BASE_SCOPE} ${KJ_SCOPE}`, resources: [SFM, KJ] };

test('attest: setContext({trustFramework}, {resource: nhn:kjernejournal}) gives a token with the attest; a missing decision_ref.id is a fresh UUID v4, the same as sent', async () => {
  const page = await newPage();
  await login(page, stack, opts(KJ_EXTRA));
  d.reset();
  const given = attest();
  const r = await run(page, (c, a) => c.setContext({ trustFramework: a }, { resource: 'nhn:kjernejournal' }), given);
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  assert.equal(d.counts().token, 1);
  assert.equal(r.accessTokenClaims.aud, KJ);
  const id = r.context.trustFramework.care_relationship.decision_ref.id;
  assert.match(id, UUID_V4);
  const expected = structuredClone(given);
  expected.care_relationship.decision_ref.id = id;
  assert.deepEqual(r.context, { trustFramework: expected });
  assert.deepEqual(r.accessTokenClaims[ATTEST], expected, 'the token carries the attest as sent (no type)');

  const [seen] = d.detailsSeen();
  assert.equal(seen.attest, true);
  assert.equal(seen.details.length, 1);
  assert.deepEqual(seen.details[0], { type: ATTEST, ...expected }, 'the same id went out in the assertion');
  assert.deepEqual(await run(page, (c) => c.context()), { trustFramework: expected });

  // While the attest is young, a token for another resource is asked for with it too.
  const sfm = await run(page, (c) => c.getAccessToken());
  assert.equal(decodePayload(sfm).aud, SFM);
  assert.equal(decodePayload(sfm)[ATTEST], undefined, 'the double puts the attest into nhn:kjernejournal tokens only');
  assert.equal(d.counts().token, 2);
  assert.deepEqual(d.detailsSeen()[1].details, [{ type: ATTEST, ...expected }]);

  // Another switch makes another id.
  const r2 = await run(page, (c, a) => c.setContext({ trustFramework: a }, { resource: 'nhn:kjernejournal' }), given);
  const id2 = r2.context?.trustFramework?.care_relationship?.decision_ref?.id;
  assert.match(id2, UUID_V4);
  assert.notEqual(id2, id);
  // A given id is kept as it is.
  const r3 = await run(page, (c, a) => c.setContext({ trustFramework: a }, { resource: 'nhn:kjernejournal' }), attest({ decisionId: 'my-decision-1' }));
  assert.equal(r3.context?.trustFramework?.care_relationship?.decision_ref?.id, 'my-decision-1');
  assert.equal(d.detailsSeen()[3].details[0].care_relationship.decision_ref.id, 'my-decision-1');
});

test('attest age: contextExpired fires once; then nhn:kjernejournal rejects context_expired while the SFM token is still given (with the organisation, without the attest); a new setContext clears it', async () => {
  const page = await newPage();
  await login(page, stack, opts({ ...KJ_EXTRA, attestMaxAgeSeconds: 2 }));
  d.reset();
  await clearEvents(page);
  const r = await run(page, (c, a) => c.setContext({ organization: { child: '910000011' }, trustFramework: a }, { resource: 'nhn:kjernejournal' }), attest());
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  await page.waitForFunction(() => window.events.some((e) => e.name === 'contextExpired'), null, WAIT);
  assert.equal(d.counts().token, 1);

  const kj = await run(page, (c) => c.getAccessToken({ resource: 'nhn:kjernejournal' }));
  assert.deepEqual([kj.error?.code, kj.error?.isHelseIdError], ['context_expired', true], JSON.stringify(kj));
  assert.equal(d.counts().token, 1, 'the cached nhn:kjernejournal token is not handed out, and nothing is asked for');

  const sfm = await run(page, (c) => c.getAccessToken());
  assert.equal(typeof sfm, 'string', JSON.stringify(sfm));
  assert.equal(decodePayload(sfm).aud, SFM);
  assert.equal(d.counts().token, 2);
  const sfmSeen = d.detailsSeen()[1];
  assert.equal(sfmSeen.status, 200);
  assertSingleDetails(sfmSeen.details, '910000011');
  assert.equal(sfmSeen.attest, undefined, 'the expired attest does not go out for SFM; the organisation does');
  assert.equal(decodePayload(sfm)[CHILD], '910000011');

  const again = await run(page, (c, a) => c.setContext({ trustFramework: a }, { resource: 'nhn:kjernejournal' }), attest());
  assert.equal(again.error, undefined, JSON.stringify(again.error));
  assert.equal(d.counts().token, 3);
  const kj2 = await run(page, (c) => c.getAccessToken({ resource: 'nhn:kjernejournal' }));
  assert.equal(typeof kj2, 'string', JSON.stringify(kj2));
  assert.equal(decodePayload(kj2).jti, again.accessTokenClaims.jti);
  assert.equal(d.counts().token, 3);
  assert.equal(await count(page, 'contextExpired'), 1, 'fired once');
});

// ================================================================ claim name, assertion_provider

test('detailsClaim "authorization_details": the OP sees that claim name on every token request, never both, and none on PAR', async () => {
  const page = await newPage();
  const seen = captureAssertions();
  await login(page, stack, opts({ detailsClaim: 'authorization_details', context: single('910000011') }));
  const sw = await run(page, (c) => c.setContext({ organization: { child: '910000012' } }));
  assert.equal(sw.error, undefined, JSON.stringify(sw.error));
  const all = d.detailsSeen();
  assert.ok(all.length >= 2);
  assert.deepEqual([...new Set(all.map((e) => e.claim))], ['authorization_details']);
  assert.deepEqual(successes().map((e) => [e.grant, e.orgnrChild]), [['authorization_code', '910000011'], ['refresh_token', '910000012']]);
  const tokens = seen().filter((x) => x.ep === 'token');
  assert.equal(tokens.length, all.length);
  for (const x of tokens) {
    assert.equal(x.assertion.assertion_details, undefined, 'never both');
    assert.ok(Array.isArray(x.assertion.authorization_details));
  }
  for (const x of seen().filter((y) => y.ep === 'par')) {
    assert.equal(x.assertion.authorization_details, undefined);
    assert.equal(x.assertion.assertion_details, undefined);
  }
});

test('assertion_provider: ctx.assertionDetails is byte for byte what the signer signed and the OP saw; grantType and detailsClaim; PAR carries none', async () => {
  const page = await newPage();
  const seen = captureAssertions();
  const o = opts({ context: single('910000011') }, { assertion: true });
  await login(page, stack, o);
  const log = d.signerLog();
  const par = log.filter((e) => e.grantType === 'par');
  const code = log.filter((e) => e.grantType === 'authorization_code');
  assert.ok(par.length >= 1 && code.length >= 1, JSON.stringify(log));
  for (const e of par) {
    assert.equal(e.details, undefined, 'PAR: no assertionDetails');
    assert.equal(e.endpoint, `${d.issuer}/connect/par`);
    assert.equal(e.signed, true);
  }
  const okCode = successes();
  assert.equal(okCode.length, 1);
  const codeText = JSON.stringify(okCode[0].details);
  for (const e of code) {
    assert.equal(JSON.stringify(e.details), codeText, 'signer = OP');
    assert.deepEqual([e.detailsClaim, e.endpoint, e.signed], ['assertion_details', `${d.issuer}/connect/token`, true]);
  }
  assertSingleDetails(okCode[0].details, '910000011');
  // The page's own record of ctx (this page load made the code exchange).
  const ctxs = await page.evaluate(() => window.assertionCalls);
  const codeCtx = ctxs.filter((c) => c.grantType === 'authorization_code');
  assert.ok(codeCtx.length >= 1, JSON.stringify(ctxs));
  for (const c of codeCtx) {
    assert.equal(JSON.stringify(c.assertionDetails), codeText);
    assert.deepEqual([c.audience, c.endpoint, c.detailsClaim], [d.issuer, `${d.issuer}/connect/token`, 'assertion_details']);
  }
  for (const x of seen().filter((y) => y.ep === 'token')) assert.equal(JSON.stringify(x.assertion.assertion_details), codeText);

  d.reset();
  await page.evaluate(() => { window.assertionCalls = []; });
  const sw = await run(page, (c) => c.setContext({ organization: { child: '910000012' } }));
  assert.equal(sw.error, undefined, JSON.stringify(sw.error));
  const [ctx, ...more] = await page.evaluate(() => window.assertionCalls);
  assert.equal(more.length, 0, 'one assertion for one refresh');
  assert.deepEqual(
    [ctx.grantType, ctx.detailsClaim, ctx.audience, ctx.endpoint],
    ['refresh_token', 'assertion_details', d.issuer, `${d.issuer}/connect/token`],
  );
  assertSingleDetails(ctx.assertionDetails, '910000012');
  const text = JSON.stringify(ctx.assertionDetails);
  const [signed] = d.signerLog();
  assert.deepEqual([signed.signed, signed.grantType, JSON.stringify(signed.details)], [true, 'refresh_token', text]);
  const [op] = d.detailsSeen();
  assert.deepEqual([op.status, op.grant, JSON.stringify(op.details)], [200, 'refresh_token', text]);
  const sent = seen().filter((x) => x.ep === 'token').at(-1);
  assert.equal(sent.grant, 'refresh_token');
  assert.equal(JSON.stringify(sent.assertion.assertion_details), text, 'the assertion on the wire');
});

test('assertion_provider: the signer refuses details not on the EPJ user\'s allow-list (lege2 asking for kvart\'s organisation); the switch rejects and nothing of the session is lost', async () => {
  const page = await newPage();
  const o = opts({ context: single('910000012') }, { assertion: true, epjUser: 'lege2' });
  const s = await login(page, stack, o, { loginHint: 'lege2' });
  assert.equal(s.helseid.hprNumber, '431001110');
  const t0 = await run(page, (c) => c.getAccessToken());
  d.reset();
  await clearEvents(page);

  const r = await run(page, (c) => c.setContext({ organization: { child: '910000011' } }));
  // app.html's getAssertion resolves `undefined` when the signer refuses (it returns the
  // answer's `assertion`): the library rejects that as config_invalid (API.md says nothing of
  // how a provider's refusal should surface; see the report).
  assert.deepEqual([r.error?.code, r.error?.isHelseIdError], ['config_invalid', true], JSON.stringify(r));
  const log = d.signerLog();
  assert.equal(log.length, 1, JSON.stringify(log));
  assert.deepEqual(
    [log[0].signed, log[0].user, log[0].grantType, log[0].status, log[0].error, log[0].error_description],
    [false, 'lege2', 'refresh_token', 403, 'access_denied', 'the EPJ user lege2 may not act for the organization 910000011'],
  );
  assert.equal(d.counts().token, 0, 'nothing reached HelseID');

  const kept = await run(page, async (c) => ({ token: await c.getAccessToken(), context: c.context(), jti: c.session().accessTokenClaims.jti }));
  assert.equal(kept.token, t0);
  assert.equal(kept.jti, s.accessTokenClaims.jti);
  assert.deepEqual(kept.context, single('910000012'));
  assert.deepEqual(await names(page), []);
  // The session still refreshes (the refresh token was not touched).
  const fresh = await run(page, (c) => c.refresh());
  assert.equal(fresh.error, undefined, JSON.stringify(fresh.error));
  assert.equal(fresh.accessTokenClaims[CHILD], '910000012');
  assert.equal(d.counts().token, 1);
});

// ================================================================ no session

test('setContext without a session rejects login_required and sends nothing', async () => {
  const page = await newPage();
  await openApp(page, stack.appOrigin);
  const none = await page.evaluate((o) => window.attach(o), opts({}, { assertion: true }));
  assert.equal(none, null);
  d.reset();
  for (const ctx of [single('910000011'), null]) {
    const r = await run(page, (c, x) => c.setContext(x), ctx);
    assert.deepEqual([r.error?.code, r.error?.isHelseIdError], ['login_required', true], JSON.stringify(r));
  }
  const c = d.counts();
  assert.deepEqual([c.token, c.assertion], [0, 0]);
  assert.deepEqual(await names(page), []);
});

// ================================================================ more: two tabs, concurrency, checks on other resources

test('two tabs: after the holder switches, the follower never returns its old-context token for a second resource; contextChanged carries the new Session; a tab opened later joins in the new context', async () => {
  const o = opts({ resources: [SFM, OTHER], context: single('910000011') });
  const { a, b } = await holderAndFollower(o);
  const oldOther = await run(b, (c) => c.getAccessToken({ resource: 'e-helse:other.api' }));
  assert.equal(typeof oldOther, 'string', JSON.stringify(oldOther));
  assert.equal(decodePayload(oldOther)[CHILD], '910000011');
  d.reset();

  const sw = await run(a, (c) => c.setContext({ organization: { child: '910000012' } }));
  assert.equal(sw.error, undefined, JSON.stringify(sw.error));
  await b.waitForFunction(() => window.events.some((e) => e.name === 'contextChanged'), null, WAIT);
  const detail = await b.evaluate(() => window.events.find((e) => e.name === 'contextChanged').detail);
  assert.deepEqual(detail.context, single('910000012'));
  assert.equal(detail.accessTokenClaims.jti, sw.accessTokenClaims.jti);
  assert.equal(d.counts().token, 1);

  const other = await run(b, (c) => c.getAccessToken({ resource: 'e-helse:other.api' }));
  assert.equal(typeof other, 'string', JSON.stringify(other));
  assert.notEqual(other, oldOther, 'not the old context\'s token');
  assert.equal(decodePayload(other)[CHILD], '910000012');
  assert.equal(d.counts().token, 2, 'one request for the second resource');
  assertSingleDetails(d.detailsSeen()[1].details, '910000012');
  // The holder gets the same token for it (shared), with no request.
  const inA = await run(a, (c) => c.getAccessToken({ resource: 'e-helse:other.api' }));
  assert.equal(inA, other);
  assert.equal(d.counts().token, 2);

  const c = await newPage();
  await openApp(c, stack.appOrigin);
  const joined = await c.evaluate((x) => window.attach(x), o);
  assert.deepEqual(joined?.context, single('910000012'));
  assert.equal(joined.accessTokenClaims.jti, sw.accessTokenClaims.jti);
  assert.deepEqual(await run(c, (cl) => cl.context()), single('910000012'));
  assert.equal(d.counts().token, 2);
});

test('two tabs: a switch refused in the holder reaches the follower with its code, oauthError, status and claim, but none of the channel\'s text (finding 6); a malformed one sends nothing', async () => {
  const o = multiOpts({ context: multi('920000001', '920000011') });
  const { a, b } = await holderAndFollower(o);
  const t0 = await run(b, (c) => c.getAccessToken());
  d.reset();
  await clearEvents(a);
  await clearEvents(b);

  const hid = await run(b, (c) => c.setContext({ organization: { parent: '920000003' } }));
  // HelseID's text (HID-1001 ...) stays in the holder's tab: a done on the channel could come
  // from any page of the origin, so the follower gets the library's message and no description.
  assert.deepEqual(
    [hid.error?.code, hid.error?.oauthError, hid.error?.status, hid.error?.oauthErrorDescription, hid.error?.message],
    ['token_request_failed', 'invalid_request', 400, undefined, 'the tab holding the session answered: HelseID refused the request'],
    JSON.stringify(hid),
  );
  assert.equal(d.detailsSeen().at(-1).error_description, 'HID-1001: the parent organization 920000003 is not allowed for this client');
  assert.equal(d.counts().token, 1);

  await d.setFault({ grant: 'refresh_token', accessToken: { set: { [CHILD]: '920000011' } } });
  const mismatch = await run(b, (c) => c.setContext({ organization: { parent: '920000001', child: '920000012' } }));
  d.clearFault();
  assert.deepEqual([mismatch.error?.code, mismatch.error?.claim], ['claim_invalid', CHILD], JSON.stringify(mismatch));
  assert.equal(d.counts().token, 2);

  const bad = await run(b, (c) => c.setContext({ organization: { parent: '92000000' } }));
  assert.deepEqual([bad.error?.code, bad.error?.claim], ['context_invalid', 'organization.parent'], JSON.stringify(bad));
  assert.equal(d.counts().token, 2, 'nothing sent for a malformed context');

  for (const page of [a, b]) {
    const kept = await run(page, async (c) => ({ token: await c.getAccessToken(), context: c.context() }));
    assert.equal(kept.token, t0);
    assert.deepEqual(kept.context, multi('920000001', '920000011'));
    assert.deepEqual(await names(page), []);
  }
  assert.equal(d.counts().token, 2);
});

test('two tabs: the attest expires in the follower too: contextExpired there, and context_expired for nhn:kjernejournal', async () => {
  const o = opts({ ...KJ_EXTRA, attestMaxAgeSeconds: 5 });
  const { a, b } = await holderAndFollower(o);
  d.reset();
  const r = await run(b, (c, x) => c.setContext({ trustFramework: x }, { resource: 'nhn:kjernejournal' }), attest());
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  assert.equal(d.counts().token, 1);
  const kjA = await run(a, (c) => c.getAccessToken({ resource: 'nhn:kjernejournal' }));
  assert.equal(decodePayload(kjA).jti, r.accessTokenClaims.jti, 'the holder hands out the follower\'s switch token before expiry');
  await Promise.all([a, b].map((p) => p.waitForFunction(() => window.events.some((e) => e.name === 'contextExpired'), null, WAIT)));
  for (const page of [a, b]) {
    const kj = await run(page, (c) => c.getAccessToken({ resource: 'nhn:kjernejournal' }));
    assert.equal(kj.error?.code, 'context_expired', JSON.stringify(kj));
    assert.equal(await count(page, 'contextExpired'), 1);
  }
  assert.equal(d.counts().token, 1);
});

test('a getAccessToken() started while setContext is in flight gets the new context\'s token, with no second request', async () => {
  const page = await newPage();
  const o = opts({ context: single('910000011') });
  await login(page, stack, o);
  d.reset();
  const out = await run(page, async (c) => {
    const switching = c.setContext({ organization: { child: '910000012' } });
    const during = c.getAccessToken();
    const [s, t] = await Promise.all([switching, during]);
    return { jti: s.accessTokenClaims.jti, token: t };
  });
  assert.equal(out.error, undefined, JSON.stringify(out.error));
  assert.equal(decodePayload(out.token)[CHILD], '910000012', 'never the old context\'s token once the switch has started');
  assert.equal(decodePayload(out.token).jti, out.jti);
  assert.equal(d.counts().token, 1);
});

// LoginOptions.context is typed `HelseIdContext | null` (pkg .d.ts), like setContext's, where
// null means "no context"; the library drops a null (src/core/authorize.rs) and sends the
// config's context instead.
test('loginWithRedirect({context: null}) logs in without the config\'s context: no details on the code exchange', async () => {
  const page = await newPage();
  const s = await login(page, stack, opts({ context: single('910000011') }), { context: null });
  const ok = successes();
  assert.equal(ok.length, 1);
  assert.deepEqual([ok[0].grant, ok[0].claim, ok[0].details], ['authorization_code', null, null]);
  assert.equal(s.accessTokenClaims[CHILD], undefined);
  assert.equal(s.context, null);
  assert.equal(await run(page, (c) => c.context()), null);
});

test('tokens for a second resource under the new context are checked too: a mismatched orgnr_child is claim_invalid, and no token is given', async () => {
  const page = await newPage();
  await login(page, stack, opts({ resources: [SFM, OTHER], context: single('910000011') }));
  const sw = await run(page, (c) => c.setContext({ organization: { child: '910000012' } }));
  assert.equal(sw.error, undefined, JSON.stringify(sw.error));
  d.reset();
  await d.setFault({ grant: 'refresh_token', accessToken: { set: { [CHILD]: '910000011' } } });
  const r = await run(page, (c) => c.getAccessToken({ resource: 'e-helse:other.api' }));
  d.clearFault();
  assert.deepEqual([r.error?.code, r.error?.claim], ['claim_invalid', CHILD], JSON.stringify(r));
  assert.equal(d.counts().token, 1);
  // The context in force and the default resource's token are untouched.
  const kept = await run(page, async (c) => ({ token: await c.getAccessToken(), context: c.context() }));
  assert.equal(decodePayload(kept.token).jti, sw.accessTokenClaims.jti);
  assert.deepEqual(kept.context, single('910000012'));
  const ok = await run(page, (c) => c.getAccessToken({ resource: 'e-helse:other.api' }));
  assert.equal(decodePayload(ok)[CHILD], '910000012');
  assert.equal(d.counts().token, 2);
});

test('an nhn:kjernejournal token without the attest that was sent: claim_invalid nhn:tillitsrammeverk:parameters; the previous context stays', async () => {
  const page = await newPage();
  await login(page, stack, opts({ ...KJ_EXTRA, context: single('910000011') }));
  const t0 = await run(page, (c) => c.getAccessToken());
  d.reset();
  await clearEvents(page);
  await d.setFault({ grant: 'refresh_token', accessToken: { remove: [ATTEST] } });
  const r = await run(page, (c, x) => c.setContext({ organization: { child: '910000011' }, trustFramework: x }, { resource: 'nhn:kjernejournal' }), attest());
  d.clearFault();
  assert.deepEqual([r.error?.code, r.error?.claim], ['claim_invalid', ATTEST], JSON.stringify(r));
  assert.equal(d.counts().token, 1);
  assert.equal(d.detailsSeen()[0].attest, true, 'the attest went out');
  const kept = await run(page, async (c) => ({ token: await c.getAccessToken(), context: c.context() }));
  assert.equal(kept.token, t0);
  assert.deepEqual(kept.context, single('910000011'));
  assert.deepEqual(await names(page), []);
});

test('session host: a reload keeps the switched context and its token; the old context\'s token never comes back', async () => {
  const page = await newPage();
  const o = opts({ context: single('910000011') }, { host: 'worker' });
  const first = await login(page, stack, o);
  const sw = await run(page, (c) => c.setContext({ organization: { child: '910000012' } }));
  assert.equal(sw.error, undefined, JSON.stringify(sw.error));
  // Another tab of the app is open, so the host outlives the reload in every engine.
  const other = await newPage();
  await openApp(other, stack.appOrigin);
  assert.ok(await other.evaluate((x) => window.attach(x), o));
  d.reset();
  await openApp(page, stack.appOrigin);
  const restored = await page.evaluate((x) => window.attach(x), o);
  assert.deepEqual(restored?.context, single('910000012'));
  const now = await run(page, async (c) => ({ token: await c.getAccessToken(), context: c.context() }));
  assert.deepEqual(now.context, single('910000012'));
  assert.equal(decodePayload(now.token).jti, sw.accessTokenClaims.jti);
  assert.notEqual(decodePayload(now.token).jti, first.accessTokenClaims.jti);
  assert.equal(d.counts().token, 0);
  // The next refresh still carries the switched context.
  const next = await run(page, (c) => c.refresh());
  assert.equal(next.error, undefined, JSON.stringify(next.error));
  assertSingleDetails(d.detailsSeen().at(-1).details, '910000012');
  assert.equal(next.accessTokenClaims[CHILD], '910000012');
});

test('assertion_provider with detailsClaim "authorization_details": ctx.detailsClaim says so, the signer signs under it and the OP sees it', async () => {
  const page = await newPage();
  await login(page, stack, opts({ detailsClaim: 'authorization_details', context: single('910000011') }, { assertion: true }));
  d.reset();
  await page.evaluate(() => { window.assertionCalls = []; });
  const sw = await run(page, (c) => c.setContext({ organization: { child: '910000012' } }));
  assert.equal(sw.error, undefined, JSON.stringify(sw.error));
  const ctxs = await page.evaluate(() => window.assertionCalls);
  assert.equal(ctxs.length, 1);
  assert.deepEqual([ctxs[0].grantType, ctxs[0].detailsClaim], ['refresh_token', 'authorization_details']);
  assertSingleDetails(ctxs[0].assertionDetails, '910000012');
  const [signed] = d.signerLog();
  assert.deepEqual([signed.signed, signed.detailsClaim], [true, 'authorization_details']);
  const [seen] = d.detailsSeen();
  assert.deepEqual([seen.status, seen.claim, JSON.stringify(seen.details)], [200, 'authorization_details', JSON.stringify(ctxs[0].assertionDetails)]);
});

test('logout under a context: the revocation assertion carries no details (the signer would refuse them)', async () => {
  const page = await newPage();
  const o = opts({ context: single('910000011') }, { assertion: true });
  await login(page, stack, o);
  d.reset();
  const back = page.waitForURL((u) => u.pathname === '/e2e/app.html' && u.searchParams.get('state') === 'ctx-bye', WAIT);
  await page.evaluate(() => { window.client.logout({ state: 'ctx-bye' }); });
  await back;
  const revocations = d.signerLog().filter((e) => e.grantType === 'revocation');
  assert.equal(revocations.length, 1, JSON.stringify(d.signerLog()));
  assert.deepEqual([revocations[0].signed, revocations[0].details], [true, undefined]);
  assert.equal(d.counts().revocation, 1);
  assert.equal(d.counts().token, 0);
});

test('two setContext calls at once in one tab: both resolve, the later one wins, one refresh each', async () => {
  const page = await newPage();
  await login(page, stack, opts({ context: single('910000011') }));
  d.reset();
  await clearEvents(page);
  const out = await run(page, async (c) => {
    const [a, b] = await Promise.all([
      c.setContext({ organization: { child: '910000012' } }),
      c.setContext(null),
    ]);
    return { a: a.context, b: b.context, now: c.context(), token: await c.getAccessToken() };
  });
  assert.equal(out.error, undefined, JSON.stringify(out.error));
  assert.deepEqual([out.a, out.b, out.now], [single('910000012'), null, null]);
  assert.equal(decodePayload(out.token)[CHILD], undefined, 'the token of the context in force');
  assert.equal(d.counts().token, 2);
  assert.deepEqual(d.detailsSeen().map((e) => e.orgnrChild ?? null), ['910000012', null]);
  assert.equal(await count(page, 'contextChanged'), 2);
});

test('two tabs switching at once end in one context with one token, the same in both tabs', async () => {
  const o = opts({ context: single('910000011') });
  const { a, b } = await holderAndFollower(o);
  d.reset();
  const [ra, rb] = await Promise.all([
    run(a, (c) => c.setContext({ organization: { child: '910000012' } })),
    run(b, (c) => c.setContext(null)),
  ]);
  assert.equal(ra.error, undefined, JSON.stringify(ra.error));
  assert.equal(rb.error, undefined, JSON.stringify(rb.error));
  assert.equal(d.counts().token, 2, 'one refresh per switch');
  // Both tabs settle on the same context (whichever came last) and its token.
  await Promise.all([a, b].map((p) => p.waitForFunction(() => window.events.filter((e) => e.name === 'contextChanged').length === 2, null, WAIT)));
  const [sa, sb] = await Promise.all([a, b].map((p) => run(p, async (c) => ({ context: c.context(), token: await c.getAccessToken() }))));
  assert.deepEqual(sa.context, sb.context);
  assert.equal(sa.token, sb.token);
  const claims = decodePayload(sa.token);
  assert.equal(claims[CHILD], sa.context === null ? undefined : sa.context.organization.child);
  assert.equal(d.counts().token, 2);
});

// Minimal repro: tab A logs in, tab B joins (create()), A closes; in B
// `await client.setContext({organization: {child: '910000012'}})` waits httpTimeoutSeconds + 5
// (35 s) for A, then rejects network_error (retryable) "the tab holding the session did not answer
// in time", though the engine knew the holder was gone (getAccessToken({forceRefresh: true}) says
// login_required at once: Engine::set_context has no holder_gone check, unlike Engine::token).
test('a follower whose holder tab has gone: setContext settles at once with login_required (no refresh token here), and the follower keeps its context and token', async () => {
  const o = opts({ context: single('910000011') });
  const { a, b } = await holderAndFollower(o);
  const t0 = await run(b, (c) => c.getAccessToken());
  await a.close();
  d.reset();
  // Wait until the holder's lock is free and no tab waits for it (the follower's watch on it
  // has fired): from then on the follower can know that nobody holds the refresh token.
  await b.waitForFunction(async () => {
    const { held, pending } = await navigator.locks.query();
    return ![...held, ...pending].some((l) => l.name.startsWith('helseid-wasm:holder:'));
  }, null, WAIT);
  // The guard only bounds the wait: an answer that needs no request comes at once.
  const r = await b.evaluate(async () => {
    const guard = new Promise((resolve) => { setTimeout(() => resolve({ unsettled: true }), 5_000); });
    const sw = window.client.setContext({ organization: { child: '910000012' } })
      .then((s) => ({ session: s }), (e) => ({ error: window.errorInfo(e) }));
    return Promise.race([sw, guard]);
  });
  assert.equal(r.unsettled, undefined, 'setContext settled within 5 s');
  assert.equal(r.error?.code, 'login_required', JSON.stringify(r));
  assert.equal(d.counts().token, 0);
  const kept = await run(b, async (c) => ({ token: await c.getAccessToken(), context: c.context() }));
  assert.equal(kept.token, t0);
  assert.deepEqual(kept.context, single('910000011'));
});

test('rejected_scope at login: a config context whose parent has not accepted the terms logs in, with Session.rejectedScope', async () => {
  const page = await newPage();
  const s = await login(page, stack, multiOpts({ context: multi('920000009') }));
  assert.deepEqual(s.rejectedScope, [SFM_SCOPE]);
  assert.ok(!s.scope.includes(SFM_SCOPE), JSON.stringify(s.scope));
  assert.equal(s.accessTokenClaims[PARENT], '920000009');
  const [ok] = successes();
  assert.deepEqual([ok.grant, ok.rejectedScope], ['authorization_code', [SFM_SCOPE]]);
});
