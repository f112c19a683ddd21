// The floor of a second tab in worker mode (bench/run.mjs "secondtab"): a SharedWorker that
// answers each page at once, so that a page measures only the connection to a running worker.
self.onconnect = (event) => event.ports[0].postMessage(1);
