// React with helseid-wasm: the session, its context and the last event as state; login, logout.
import { useEffect, useState } from "react";

const EVENTS = ["tokenRefreshed", "sessionExpired", "loggedOut", "contextChanged", "contextExpired", "userChanged"];

export function useHelseId(client) {
  const read = (event) => ({ session: client.session(), context: client.context(), event });
  const [state, setState] = useState(() => read(null));
  useEffect(() => {
    setState(read(null));
    const offs = EVENTS.map((name) => client.on(name, (detail) => setState(read({ name, detail }))));
    return () => offs.forEach((off) => off());
  }, [client]);
  return {
    ...state, // session, context, event: { name, detail } (detail.cause on tokenRefreshed)
    sessionHost: client.sessionHost(),
    login: (options) => client.loginWithRedirect(options),
    logout: (options) => client.logout(options),
    setContext: (context) => client.setContext(context),
  };
}
