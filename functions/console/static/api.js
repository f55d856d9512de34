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

// What each role may do (the API decides; the console only hides what would be refused).
const RIGHTS = {
  admin: ["read", "create", "devices", "audit"],
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

export const call = (method, path, body) => send(method, path, body, session()?.id_token);

/** Sign in with a user name and password; the session is kept for this tab only. */
export async function signIn(username, password) {
  const answer = await send("POST", "/v1/console/session", { username, password });
  sessionStorage.setItem(SESSION, JSON.stringify(answer));
  return answer;
}
