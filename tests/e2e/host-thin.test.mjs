// host.test.mjs again, with every app page the thin page (issue 22; flow.mjs E2E_THIN): the
// session host's whole contract holds for pages that carry no WebAssembly. (The callback page a
// login redirects to loads the whole package, as an app's would.)
process.env.E2E_THIN = '1';
await import('./host.test.mjs');
