// The API as the console calls it: same origin, `Authorization: Bearer <ID token>` of the console user
// signed in (through POST /v1/console/session, which asks the Cognito user pool). The console never holds
// an API key; the ID token, the user's name, role and app stay in this tab's sessionStorage.
const SESSION = "pushengine.console.session";

// The API's base path: the console is served at <base>/console (a stage prefix on API Gateway).
export const apiBase = location.pathname.replace(/\/console(\/.*)?$/, "");

const session = () => JSON.parse(sessionStorage.getItem(SESSION) || "null");
export const signedIn = () => Boolean(session());
export const signOut = () => sessionStorage.removeItem(SESSION);
/** Who is signed in: {user, role, app_id}; the role decides what the console offers. */
export const who = () => session() || {};

// What each role may do (the API decides; the console only hides what would be refused):
// analyst reads like an analytics key; marketer acts as the server key but for credentials, keys and
// settings; admin is the app's server key.
const RIGHTS = {
  admin: ["read", "create", "devices", "audit", "admin"],
  marketer: ["read", "create", "devices"],
  analyst: ["read"],
};
export const may = (right) => (RIGHTS[who().role] || []).includes(right);

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.errors = (body && body.errors) || [];
  }
}

async function send(method, path, body, token) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  if (body !== undefined) headers["content-type"] = "application/json";
  const reply = await fetch(apiBase + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = reply.status === 204 ? null : await reply.json().catch(() => null);
  if (!reply.ok) throw new ApiError(reply.status, data);
  return data;
}

/** A read answered after the user moved to another view: dropped, so it never paints over the new one. */
export class Stale extends Error {}
let epoch = 0;
/** A new view begins: reads still under way for the last one come back as Stale. */
export const newView = () => { epoch += 1; };

export async function call(method, path, body) {
  const mine = epoch;
  const data = await send(method, path, body, session()?.id_token);
  if (method === "GET" && mine !== epoch) throw new Stale("stale");
  return data;
}
/** A path with its segments escaped: path`/v1/campaigns/${id}`. */
export const path = (strings, ...values) =>
  strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ""), "");

/** Sign in with a user name and password; the session is kept for this tab only. A first sign-in with a
 * temporary password answers `{challenge: "NEW_PASSWORD_REQUIRED", session}` instead: nothing is kept, and
 * `setNewPassword` completes it. */
export async function signIn(username, password) {
  const answer = await send("POST", "/v1/console/session", { username, password });
  if (!answer.challenge) sessionStorage.setItem(SESSION, JSON.stringify(answer));
  return answer;
}

/** Answer the first sign-in's challenge with a password of the user's own: signed in as signIn is. */
export async function setNewPassword(username, session, newPassword) {
  const answer = await send("POST", "/v1/console/session/new-password", { username, session, new_password: newPassword });
  sessionStorage.setItem(SESSION, JSON.stringify(answer));
  return answer;
}
