// Size + start-up entry: the typical import of an oidc-client-ts SPA.
export { UserManager } from 'oidc-client-ts';
