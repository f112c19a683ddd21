// Size + start-up entry: the typical import of an auth0-spa-js SPA (createAuth0Client builds an
// Auth0Client; the class is in the bundle either way).
export { createAuth0Client, Auth0Client } from '@auth0/auth0-spa-js';
