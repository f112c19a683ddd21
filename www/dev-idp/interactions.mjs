// Login interactions of the HelseID test double: the interaction policy, finishing login and
// consent, the accessible test-user picker page, and auto-login by login_hint (see README.md,
// "Users and the login page"). startDouble() in double.mjs plugs them into the provider.
import { USERS, findUser, findUserBySub } from './users.mjs';
import { htmlEscape, readRaw, page } from './http-util.mjs';
import { interactionPolicy, RESOURCES, OIDC_SCOPES } from './provider.mjs';

const oidcScopeSet = new Set(OIDC_SCOPES);

/** oidc-provider's base interaction policy plus HelseID-like login_hint handling. */
export function createInteractionPolicy() {
  const { Check, base } = interactionPolicy;
  const policy = base();
  // Like a real IdP: a login_hint naming another user than the signed-in one forces a login.
  policy.get('login').checks.add(new Check(
    'login_hint_mismatch',
    'login_hint does not match the signed-in test user',
    (ctx) => {
      const hint = ctx.oidc.params.login_hint;
      if (!hint || !ctx.oidc.session.accountId) return Check.NO_NEED_TO_PROMPT;
      const user = findUser(hint);
      return !user || user.sub !== ctx.oidc.session.accountId
        ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    },
  ));
  return policy;
}

/**
 * The handler of /interaction/<uid>[/login|/deny] on the OP (called by the OP middleware of
 * double.mjs). `state` is the state object of startDouble(); state.options.autoLogin is read at
 * each request.
 */
export function createInteractionRoute(provider, state) {
  function grantFor(details, user) {
    const { params } = details;
    const requested = String(params.scope ?? '').split(' ').filter(Boolean);
    return (async () => {
      let grant;
      if (details.grantId) {
        grant = await provider.Grant.find(details.grantId);
        if (grant && grant.accountId !== user.sub) grant = undefined;
      }
      grant ??= new provider.Grant({ accountId: user.sub, clientId: params.client_id });
      const oidc = requested.filter((s) => oidcScopeSet.has(s));
      if (oidc.length) grant.addOIDCScope(oidc.join(' '));
      if (params.claims) {
        try {
          const c = typeof params.claims === 'string' ? JSON.parse(params.claims) : params.claims;
          const names = [...Object.keys(c.id_token ?? {}), ...Object.keys(c.userinfo ?? {})];
          if (names.length) grant.addOIDCClaims(names);
        } catch { /* invalid claims were rejected by oidc-provider already */ }
      }
      const resources = params.resource === undefined ? [] : [].concat(params.resource);
      for (const r of resources) {
        const rs = RESOURCES[r];
        if (!rs) continue;
        const rsScopes = new Set(rs.scope.split(' '));
        const s = requested.filter((x) => rsScopes.has(x));
        if (s.length) grant.addResourceScope(r, s.join(' '));
      }
      return grant.save();
    })();
  }

  async function finish(ctx, result) {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.redirect(returnTo);
    ctx.status = 303;
  }

  async function finishLogin(ctx, details, user) {
    const grantId = await grantFor(details, user);
    await finish(ctx, {
      login: { accountId: user.sub, amr: ['pwd'], remember: true },
      consent: { grantId },
    });
  }

  async function finishDenied(ctx, description) {
    await finish(ctx, { error: 'access_denied', error_description: description });
  }

  function pickerPage(details) {
    const uid = htmlEscape(details.uid);
    const items = USERS.map((u) => `<li>
  <form method="post" action="/interaction/${uid}/login">
    <input type="hidden" name="user" value="${htmlEscape(u.key)}">
    <button type="submit" data-user="${htmlEscape(u.key)}" aria-label="Sign in as ${htmlEscape(u.name)}, security level ${htmlEscape(u.security_level)}">
      <strong>${htmlEscape(u.name)}</strong> <span>(${htmlEscape(u.key)})</span>
      <dl>
        <dt>Fødselsnummer (pid)</dt><dd>${htmlEscape(u.pid)}</dd>
        <dt>HPR number</dt><dd>${htmlEscape(u.hpr ?? 'none')}</dd>
        <dt>Security level</dt><dd>${htmlEscape(u.security_level)} (${htmlEscape(u.assurance_level)})</dd>
      </dl>
    </button>
  </form>
</li>`).join('\n');
    return page('HelseID test double: choose a test user', `<h1>Choose a test user</h1>
<p>Client <code>${htmlEscape(details.params.client_id)}</code> asks you to sign in.</p>
<ul class="users" aria-label="Test users">
${items}
</ul>
<form method="post" action="/interaction/${uid}/deny">
  <button type="submit" class="deny" data-user="deny">Deny (cancel the sign-in)</button>
</form>`);
  }

  async function interactionRoute(ctx) {
    const m = /^\/interaction\/([^/]+)(?:\/(login|deny))?$/.exec(ctx.path);
    if (!m) {
      ctx.status = 404;
      ctx.type = 'html';
      ctx.body = page('Not found', '<h1>Not found</h1>');
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    let details;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = page('Sign-in expired', `<h1>This sign-in has expired</h1><p>${htmlEscape(err.error_description ?? err.message)}</p>`);
      return;
    }
    if (details.uid !== m[1]) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = page('Sign-in mismatch', '<h1>Interaction mismatch</h1>');
      return;
    }
    const action = m[2];
    if (ctx.method === 'POST') {
      if (!action) { ctx.status = 405; return; }
      if (action === 'deny') return finishDenied(ctx, 'End-User denied the request');
      const form = new URLSearchParams(await readRaw(ctx.req));
      const user = findUser(form.get('user'));
      if (!user) {
        ctx.status = 400;
        ctx.type = 'html';
        ctx.body = pickerPage(details);
        return;
      }
      return finishLogin(ctx, details, user);
    }
    if (ctx.method !== 'GET' || action) { ctx.status = 405; return; }

    const hint = details.params.login_hint;
    if (hint === 'deny') return finishDenied(ctx, 'End-User denied the request (login_hint=deny)');
    const sessionUser = details.session?.accountId ? findUserBySub(details.session.accountId) : undefined;
    if (details.prompt.name === 'consent' && sessionUser) {
      // Already signed in: consent is always given (HelseID has no consent page for these clients).
      return finishLogin(ctx, details, sessionUser);
    }
    if (state.options.autoLogin) {
      const user = hint ? findUser(hint) : USERS[0];
      if (!user) return finishDenied(ctx, `unknown test user in login_hint: ${hint}`);
      return finishLogin(ctx, details, user);
    }
    ctx.status = 200;
    ctx.type = 'html';
    ctx.body = pickerPage(details);
  }

  return interactionRoute;
}
