// The API as the console calls it: same origin, bearer server key from this tab's sessionStorage.
const KEY = "pushengine.console.key";

// The API's base path: the console is served at <base>/console (a stage prefix on API Gateway).
export const apiBase = location.pathname.replace(/\/console(\/.*)?$/, "");

export const signedIn = () => Boolean(sessionStorage.getItem(KEY));
export const signOut = () => sessionStorage.removeItem(KEY);

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.errors = (body && body.errors) || [];
  }
}

export async function call(method, path, body, key = sessionStorage.getItem(KEY)) {
  const headers = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const reply = await fetch(apiBase + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = reply.status === 204 ? null : await reply.json().catch(() => null);
  if (!reply.ok) throw new ApiError(reply.status, data);
  return data;
}

/** Check a key by listing one campaign; keep it for this tab only when it works. */
export async function signIn(key) {
  await call("GET", "/v1/campaigns?limit=1", undefined, key);
  sessionStorage.setItem(KEY, key);
}
