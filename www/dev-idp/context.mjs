// HelseID's organisation, journal and patient context in the HelseID test double: structured
// details in the client assertion of a token request (claim `assertion_details`, or
// `authorization_details`; never both), checked like HelseID (HID-10xx errors as OAuth
// `invalid_request`) and turned into access-token claims. See README.md, "Context".
//
// provider.mjs calls onVerifiedAssertion() once oidc-provider has verified a client assertion
// (signature, iss, aud, exp), resourceScope() when it resolves the resource of a token, and
// extraClaims() when it makes an access token; double.mjs calls afterTokenRequest() once the
// token response is made (rejected_scope, the log of details seen). Per-request data lives in a
// WeakMap keyed by the request context; the log lives on the state object (state.detailsSeen,
// emptied by reset() in control.mjs).

export const ORGNR_PARENT_CLAIM = 'helseid://claims/client/claims/orgnr_parent';
export const ORGNR_CHILD_CLAIM = 'helseid://claims/client/claims/orgnr_child';
export const JOURNAL_ID_CLAIM = 'nhn:sfm:journal-id';
export const ATTEST_CLAIM = 'nhn:tillitsrammeverk:parameters';

/** Detail types. */
export const ORG_DETAIL = 'helseid_authorization';
export const JOURNAL_DETAIL = 'nhn:sfm:journal-id';
export const ATTEST_DETAIL = 'nhn:tillitsrammeverk:parameters';

/** Organisation identifier systems: multi-tenant (NO:ORGNR:<parent>:<child>) and single-tenant (<child>). */
export const MULTI_TENANT_SYSTEM = 'urn:oid:1.0.6523';
export const SINGLE_TENANT_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.4.101';
export const PURPOSE_OF_USE_CODES = Object.freeze(['TREAT', 'ETREAT', 'COC', 'BTG']);

/** The claims of the client assertion that may carry the details. */
export const DETAILS_CLAIMS = Object.freeze(['assertion_details', 'authorization_details']);

const ORGNR = /^\d{9}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A HelseID context error: answered as 400 invalid_request, error_description "HID-10xx: ...". */
export class HidError extends Error {
  constructor(code, text) {
    super(`${code}: ${text}`);
    this.hid = code;
  }
}

function orgnr(value, what) {
  if (typeof value !== 'string' || !ORGNR.test(value)) {
    throw new HidError('HID-1004', `the ${what} organization number ${JSON.stringify(value)} is not 9 digits`);
  }
  return value;
}

/**
 * Reads the details of a verified client assertion's claims. Returns null when there are none,
 * else { claim, details (the array as sent, an object made a one-element array), organization:
 * { form: 'multi'|'single', parent?, child? } | undefined, journalId?, attest? (without "type") }.
 * Throws HidError HID-1007 (malformed) or HID-1004 (an org number that is not 9 digits). The
 * client's allow-lists are checked by checkClient().
 */
export function parseDetails(claims) {
  const present = DETAILS_CLAIMS.filter((c) => claims[c] !== undefined);
  if (present.length === 0) return null;
  if (present.length > 1) {
    throw new HidError('HID-1007', 'the client assertion carries both assertion_details and authorization_details: send one of them');
  }
  const [claim] = present;
  const raw = claims[claim];
  let details;
  if (Array.isArray(raw)) details = raw;
  else if (isObject(raw)) details = [raw];
  else throw new HidError('HID-1007', `${claim} must be a JSON array of objects (or one object)`);

  const out = { claim, details };
  details.forEach((d, i) => {
    if (!isObject(d) || typeof d.type !== 'string') {
      throw new HidError('HID-1007', `${claim}[${i}] must be an object with a string "type"`);
    }
    const seen = (key) => {
      if (out[key] !== undefined) throw new HidError('HID-1007', `${claim} has more than one "${d.type}" detail`);
    };
    if (d.type === ORG_DETAIL) {
      seen('organization');
      const id = d.practitioner_role?.organization?.identifier;
      if (!isObject(id)) {
        throw new HidError('HID-1007', `${claim}[${i}] (${ORG_DETAIL}) needs practitioner_role.organization.identifier`);
      }
      if (id.system === MULTI_TENANT_SYSTEM) {
        if (id.type !== 'ENH') throw new HidError('HID-1007', `${claim}[${i}]: identifier.type must be "ENH" for system ${MULTI_TENANT_SYSTEM}`);
        const m = typeof id.value === 'string' ? /^NO:ORGNR:([^:]*):([^:]*)$/.exec(id.value) : null;
        if (!m) {
          throw new HidError('HID-1007', `${claim}[${i}]: identifier.value must be "NO:ORGNR:<parent>:<child>" (child may be empty)`);
        }
        out.organization = { form: 'multi', parent: orgnr(m[1], 'parent') };
        if (m[2] !== '') out.organization.child = orgnr(m[2], 'child');
      } else if (id.system === SINGLE_TENANT_SYSTEM) {
        out.organization = { form: 'single', child: orgnr(id.value, 'child') };
      } else {
        throw new HidError('HID-1007', `${claim}[${i}]: identifier.system must be ${MULTI_TENANT_SYSTEM} or ${SINGLE_TENANT_SYSTEM}`);
      }
    } else if (d.type === JOURNAL_DETAIL) {
      seen('journalId');
      const j = d.value?.journal_id;
      if (typeof j !== 'string' || !UUID.test(j)) {
        throw new HidError('HID-1007', `${claim}[${i}] (${JOURNAL_DETAIL}): value.journal_id must be a UUID`);
      }
      out.journalId = j;
    } else if (d.type === ATTEST_DETAIL) {
      seen('attest');
      const p = d.practitioner;
      const need = (cond, what) => {
        if (!cond) throw new HidError('HID-1007', `${claim}[${i}] (${ATTEST_DETAIL}) needs ${what}`);
      };
      need(isObject(p), 'practitioner');
      need(isObject(p.legal_entity) && typeof p.legal_entity.id === 'string', 'practitioner.legal_entity.id');
      need(isObject(p.point_of_care) && typeof p.point_of_care.id === 'string', 'practitioner.point_of_care.id');
      orgnr(p.legal_entity.id, 'legal_entity');
      orgnr(p.point_of_care.id, 'point_of_care');
      const pou = d.care_relationship?.purpose_of_use;
      need(isObject(pou) && typeof pou.code === 'string', 'care_relationship.purpose_of_use.code');
      need(PURPOSE_OF_USE_CODES.includes(pou.code), `care_relationship.purpose_of_use.code to be one of ${PURPOSE_OF_USE_CODES.join(', ')}`);
      const { type, ...attest } = d;
      out.attest = attest;
    } else {
      throw new HidError('HID-1007', `${claim}[${i}] has an unknown type ${JSON.stringify(d.type)}`);
    }
  });
  return out;
}

/**
 * Checks parsed details against the client's definition (provider.mjs TEST_CLIENT_DEFS) and
 * returns the organisation claims ({ parent?, child? }). HID-1010: the client may not send
 * organisation numbers, or a single-tenant client sent the multi-tenant form; HID-1007: a
 * multi-tenant client sent the single-tenant form; HID-1001 / HID-1002: parent / child not on the
 * client's allow-list.
 */
export function checkClient(parsed, client) {
  const org = parsed?.organization;
  if (!org) return {};
  if (client.orgNumbers === false) {
    throw new HidError('HID-1010', `the client ${client.clientId} is not configured for organization numbers in its requests`);
  }
  if (client.tenancy === 'multi') {
    if (org.form !== 'multi') {
      throw new HidError('HID-1007', `the multi-tenant client ${client.clientId} must name the parent organization (system ${MULTI_TENANT_SYSTEM}, value NO:ORGNR:<parent>:<child>)`);
    }
    if (!(client.parentOrgs ?? []).includes(org.parent)) {
      throw new HidError('HID-1001', `the parent organization ${org.parent} is not allowed for this client`);
    }
    if (org.child !== undefined && !(client.childOrgs ?? []).includes(org.child)) {
      throw new HidError('HID-1002', `the child organization ${org.child} is not allowed for this client`);
    }
    return { parent: org.parent, ...(org.child !== undefined ? { child: org.child } : {}) };
  }
  if (org.form !== 'single') {
    throw new HidError('HID-1010', `the single-tenant client ${client.clientId} may only name a child organization (system ${SINGLE_TENANT_SYSTEM})`);
  }
  if (!(client.childOrgs ?? []).includes(org.child)) {
    throw new HidError('HID-1002', `the child organization ${org.child} is not allowed for this client`);
  }
  return { ...(client.orgnrParent ? { parent: client.orgnrParent } : {}), child: org.child };
}

/**
 * The context part of one double. `state`: clientById, options.termsNotAccepted; state.detailsSeen
 * (created here, emptied by reset()). `InvalidRequest`: oidc-provider's error class (HID errors).
 */
export function createOpContext(state, { InvalidRequest }) {
  state.detailsSeen ??= [];
  /** request context -> { clientId, grant, parsed, org, error, terms, rejected: Set } */
  const byCtx = new WeakMap();

  /** oidc-provider verified a client assertion: read and check its details (token endpoint only). */
  function onVerifiedAssertion(ctx, claims) {
    if (ctx?.oidc?.route !== 'token') return;
    const client = state.clientById.get(claims.iss);
    const info = {
      clientId: claims.iss,
      grant: ctx.oidc.params?.grant_type,
      claim: DETAILS_CLAIMS.find((c) => claims[c] !== undefined),
      details: claims.assertion_details ?? claims.authorization_details ?? null,
      rejected: new Set(),
    };
    byCtx.set(ctx, info);
    try {
      const parsed = parseDetails(claims);
      info.parsed = parsed;
      info.org = client ? checkClient(parsed, client) : {};
      info.terms = client?.tenancy === 'multi' && info.org.parent !== undefined
        && (state.options.termsNotAccepted ?? []).includes(info.org.parent);
    } catch (err) {
      if (!(err instanceof HidError)) throw err;
      info.error = err.message;
      throw new InvalidRequest(err.message);
    }
  }

  /**
   * The scope of a resource server for this request: without the API scopes when the
   * organisation has not accepted the terms (the refused ones are listed in rejected_scope).
   */
  function resourceScope(ctx, indicator, scope) {
    const info = byCtx.get(ctx);
    if (!info?.terms || ctx.oidc?.route !== 'token') return scope;
    const grant = ctx.oidc.entities?.Grant;
    const granted = new Set(String(grant?.getResourceScope?.(indicator) ?? scope).split(' ').filter(Boolean));
    for (const s of scope.split(' ')) if (granted.has(s)) info.rejected.add(s);
    return '';
  }

  /** Access-token claims for the context of this token request (resource: RESOURCES entry). */
  function extraClaims(ctx, token, resource) {
    const info = ctx ? byCtx.get(ctx) : undefined;
    if (!info || info.error || token.kind !== 'AccessToken') return {};
    const out = {};
    if (info.org?.parent !== undefined) out[ORGNR_PARENT_CLAIM] = info.org.parent;
    if (info.org?.child !== undefined) out[ORGNR_CHILD_CLAIM] = info.org.child;
    if (info.parsed?.journalId) out[JOURNAL_ID_CLAIM] = { journal_id: info.parsed.journalId };
    if (info.parsed?.attest && resource?.attest) out[ATTEST_CLAIM] = structuredClone(info.parsed.attest);
    return out;
  }

  /** The token response is made: add rejected_scope, log what was seen. */
  function afterTokenRequest(ctx) {
    const info = byCtx.get(ctx);
    if (!info) return;
    byCtx.delete(ctx);
    const ok = ctx.status === 200 && ctx.body && typeof ctx.body === 'object';
    const rejected = [...info.rejected];
    if (ok && rejected.length) ctx.body.rejected_scope = rejected.join(' ');
    const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
    state.detailsSeen.push({
      t: Date.now(),
      clientId: info.clientId,
      grant: info.grant,
      claim: info.claim ?? null,
      details: info.details === null ? null : structuredClone(info.details),
      status: ctx.status,
      ...(ctx.status >= 400 && body.error ? { error: body.error, error_description: body.error_description } : {}),
      ...(ok && info.org?.parent !== undefined ? { orgnrParent: info.org.parent } : {}),
      ...(ok && info.org?.child !== undefined ? { orgnrChild: info.org.child } : {}),
      ...(ok && info.parsed?.journalId ? { journalId: info.parsed.journalId } : {}),
      ...(ok && info.parsed?.attest ? { attest: true } : {}),
      ...(ok && rejected.length ? { rejectedScope: rejected } : {}),
    });
    if (state.detailsSeen.length > 500) state.detailsSeen.shift();
  }

  return { onVerifiedAssertion, resourceScope, extraClaims, afterTokenRequest };
}
