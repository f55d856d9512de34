// The console: sign-in, then a hash router over one module per view. Every value from the API is put
// in the page as text (ui.h), and what the user's role may not do is not offered.
import { ApiError, Stale, may, newView as beginView, setNewPassword, signIn, signOut, signedIn, who } from "./api.js";
import { failure, reason, show } from "./ui.js";
import { adminView, auditView } from "./views/admin.js";
import { editView, listView, newView } from "./views/campaigns.js";
import { journeyView, journeysView } from "./views/journeys.js";
import { lookupView } from "./views/lookup.js";
import { resultsView } from "./views/results.js";
import { segmentForm, segmentsView } from "./views/segments.js";
import { templateForm, templatesView } from "./views/templates.js";

const ROUTES = {
  campaigns: listView,
  campaign: resultsView,
  new: newView,
  edit: editView,
  segments: segmentsView,
  segment: segmentForm,
  templates: templatesView,
  template: templateForm,
  journeys: journeysView,
  journey: journeyView,
  lookup: lookupView,
  device: lookupView,
  admin: adminView,
  audit: auditView,
};

const signedInRoute = () => {
  if (location.hash === "#/campaigns") route();
  else location.hash = "#/campaigns"; // hashchange routes
};

function signInView() {
  document.getElementById("nav").hidden = true;
  show(document.getElementById("sign-in").content.cloneNode(true));
  document.getElementById("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = document.getElementById("sign-in-error");
    const username = document.getElementById("username").value.trim();
    try {
      const answer = await signIn(username, document.getElementById("password").value);
      if (answer.challenge === "NEW_PASSWORD_REQUIRED") return newPasswordView(username, answer.session);
      signedInRoute();
    } catch (error) {
      message.textContent = reason(error);
    }
    return undefined;
  });
}

// A first sign-in with a temporary password: the user chooses a password of its own (the pool's policy
// decides; the API's refusal is shown), typed twice.
function newPasswordView(username, session) {
  show(document.getElementById("new-password").content.cloneNode(true));
  document.getElementById("new-password-user").textContent = username;
  document.getElementById("new-password-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = document.getElementById("new-password-error");
    const chosen = document.getElementById("new-password-1").value;
    if (chosen !== document.getElementById("new-password-2").value) {
      message.textContent = "The two passwords differ: type the same one twice.";
      return;
    }
    try {
      await setNewPassword(username, session, chosen);
      signedInRoute();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) { // the 3-minute session ran out: start again
        signInView();
        document.getElementById("sign-in-error").textContent = reason(error);
        return;
      }
      message.textContent = reason(error);
    }
  });
}

function showNav(view) {
  const nav = document.getElementById("nav");
  nav.hidden = false;
  for (const link of nav.querySelectorAll("[data-right]")) link.hidden = !may(link.dataset.right);
  for (const link of nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === `#/${view}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const { user, role } = who();
  document.getElementById("who").textContent = `${user} · ${role}`;
}

export async function route() {
  if (!signedIn()) return signInView();
  const [, view = "campaigns", arg] = location.hash.split("/");
  beginView();
  showNav(view);
  document.title = `${view} · Push engine console`;
  try {
    await (ROUTES[view] || listView)(arg === undefined ? undefined : decodeURIComponent(arg));
  } catch (error) {
    if (error instanceof Stale) return; // the user has moved on: the view they are on now draws itself
    if (error instanceof ApiError && error.status === 401) {
      signOut();
      return signInView();
    }
    show(failure(error));
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  signOut();
  location.hash = "";
  route();
});
window.addEventListener("hashchange", route);
route();
