// Admin (the console's admin role: the app's server key): the app's settings, provider credentials,
// keys (listed, issued and shown once, revoked), the signing secrets (rotated, shown once), console users
// (list, create, role, disable, delete), the app's opt-in prompt rates, and the audit log.
import { call, path, who } from "../api.js";
import { alertBox, button, card, failure, field, h, input, list, reason, select, show, table, textarea, when } from "../ui.js";
import { optInSection } from "./results.js";

const num = (v) => (v === "" || v === null || v === undefined ? undefined : Number(v));

function settingsForm(current) {
  const problem = alertBox();
  const done = h("p", { role: "status", class: "muted" });
  const qh = current.quiet_hours || {};
  const cap = current.frequency_cap || {};
  const f = {
    qStart: input({ type: "time", value: qh.start || "" }), qEnd: input({ type: "time", value: qh.end || "" }),
    capMax: input({ type: "number", min: 1, max: 1000, value: cap.max ?? "" }),
    capHours: input({ type: "number", min: 1, max: 2160, value: cap.per_hours ?? "" }),
    mps: input({ type: "number", min: 1, max: 100000, value: current.max_per_second ?? "" }),
    currency: input({ maxlength: 3, value: current.currency || "", placeholder: "USD" }),
    window: input({ type: "number", min: 0, value: current.attribution_window_days ?? "" }),
    dates: input({ value: (current.date_attributes || []).join(", "), placeholder: "birthday" }),
    rate: input({ type: "number", min: 1, value: current.client_event_rate ?? "" }),
    identity: select([["required", "required"], ["off", "off"]], {}, current.identity_verification || "required"),
    secrets: select([["required", "required"], ["off", "off"]], {}, current.device_secrets || "required"),
  };
  return h("form", { id: "settings", onsubmit: async (event) => {
    event.preventDefault();
    problem.textContent = "";
    const body = {
      ...(f.qStart.value && f.qEnd.value ? { quiet_hours: { start: f.qStart.value, end: f.qEnd.value } } : {}),
      ...(f.capMax.value && f.capHours.value ? { frequency_cap: { max: num(f.capMax.value), per_hours: num(f.capHours.value) } } : {}),
      max_per_second: num(f.mps.value), currency: f.currency.value.trim().toUpperCase() || undefined,
      attribution_window_days: num(f.window.value), date_attributes: list(f.dates.value),
      client_event_rate: num(f.rate.value), identity_verification: f.identity.value, device_secrets: f.secrets.value,
    };
    try {
      const saved = await call("PUT", `${path`/v1/apps/${who().app_id}`}/settings`, body);
      done.textContent = `Saved ${when(saved.updated_at)} UTC.`;
    } catch (error) { problem.textContent = reason(error); }
  } },
  h("div", { class: "grid3" }, field("Quiet hours start", f.qStart), field("Quiet hours end", f.qEnd), field("Most sends per second", f.mps)),
  h("div", { class: "grid3" }, field("App-wide cap: at most (sends)", f.capMax), field("App-wide cap: per hours", f.capHours), field("Currency (ISO 4217)", f.currency)),
  h("div", { class: "grid3" }, field("Attribution window (days)", f.window), field("Date attributes (commas)", f.dates), field("Client events per device per minute", f.rate)),
  h("div", { class: "grid3" }, field("Identity verification", f.identity), field("Device secrets", f.secrets)),
  h("button", { type: "submit" }, "Save settings"), problem, done);
}

function providersForm() {
  const out = h("p", { role: "status", class: "muted" });
  const problem = alertBox();
  const save = (provider, read) => async (event) => {
    event.preventDefault();
    problem.textContent = "";
    try {
      const answer = await call("PUT", `${path`/v1/apps/${who().app_id}`}/providers/${provider}`, read());
      out.textContent = `${provider}: saved${answer.public_key ? `; VAPID public key ${answer.public_key}` : ""}.`;
    } catch (error) { problem.textContent = reason(error); }
  };
  const a = { team: input({ maxlength: 10 }), key: input({ maxlength: 10 }), bundle: input({ maxlength: 155 }),
    pem: textarea({ rows: 3 }), env: select([["production", "production"], ["sandbox", "sandbox"]]) };
  const fcm = textarea({ rows: 3 });
  const subject = input({ placeholder: "mailto:ops@example.com" });
  return h("div", {},
    h("form", { onsubmit: save("apns", () => ({ team_id: a.team.value.trim(), key_id: a.key.value.trim(), bundle_id: a.bundle.value.trim(), private_key: a.pem.value, environment: a.env.value })) },
      h("h3", {}, "APNs"), h("div", { class: "grid3" }, field("Team id", a.team), field("Key id", a.key), field("Bundle id", a.bundle)),
      field("Private key (.p8)", a.pem), field("Environment", a.env), h("button", { type: "submit" }, "Save APNs key")),
    h("form", { onsubmit: save("fcm", () => ({ service_account: fcm.value })) },
      h("h3", {}, "FCM"), field("Service-account file (paste its contents)", fcm), h("button", { type: "submit" }, "Save FCM account")),
    h("form", { onsubmit: save("webpush", () => ({ subject: subject.value.trim() })) },
      h("h3", {}, "Web Push"), field("VAPID subject", subject), h("button", { type: "submit" }, "Save and make VAPID keys")),
    problem, out);
}

// Keys: the app's valid keys (id, kind, its public start and last four characters: the API never answers a
// key again), issue one (shown once), revoke one (a second press confirms).
function keysSection() {
  const base = `${path`/v1/apps/${who().app_id}`}/keys`;
  const kind = select([["server", "server"], ["client", "client"], ["analytics", "analytics (read-only)"]]);
  const shown = h("div", { id: "issued", "aria-live": "polite" });
  const body = h("div", { id: "keys" });
  const problem = alertBox();
  const act = async (work) => {
    problem.textContent = "";
    try { await work(); await load(); } catch (error) { problem.textContent = reason(error); }
  };
  const row = (k) => {
    const revoke = button("Revoke", () => {
      if (revoke.dataset.armed !== "yes") { // a second press confirms
        revoke.dataset.armed = "yes";
        revoke.textContent = "Confirm revoke";
        revoke.setAttribute("aria-label", `Confirm revoke ${k.key_id}`);
        return undefined;
      }
      return act(async () => {
        await call("DELETE", `${base}/${encodeURIComponent(k.key_id)}`);
        shown.replaceChildren(h("p", {}, `Key ${k.key_id} revoked.`));
      }).then(() => { if (!document.activeElement || document.activeElement === document.body) kind.focus(); }); // its row is gone
    }, { class: "danger", "aria-label": `Revoke ${k.key_id}` });
    return h("tr", { "data-key": k.key_id }, h("td", {}, h("code", {}, k.key_id)), h("td", {}, k.kind),
      h("td", {}, h("code", { "data-key-hint": "" }, `${k.prefix}…${k.last4 || "????"}`)), h("td", {}, when(k.created_at)),
      h("td", {}, revoke));
  };
  async function load() {
    const { keys } = await call("GET", base);
    body.replaceChildren(keys.length ? table(["Key id", "Kind", "Key (start … last 4)", "Issued (UTC)", "Revoke"], keys.map(row), { id: "key-list" })
      : h("p", {}, "The app has no valid key."));
  }
  const form = h("form", { class: "inline", onsubmit: (event) => {
    event.preventDefault();
    return act(async () => {
      const k = await call("POST", base, { kind: kind.value });
      shown.replaceChildren(h("p", {}, `New ${k.kind} key ${k.key_id} (shown once, copy it now):`),
        h("code", { class: "secret", "data-key-id": k.key_id }, k.key));
    });
  } }, field("Kind of key", kind), h("button", { type: "submit" }, "Issue key"));
  return { node: h("div", {}, body, form, shown, problem), load };
}

// The app's signing secrets, rotated (a second press confirms: what the old one signed stops verifying) and
// shown once: the identity secret signs the backend's user tokens, the webhook secret journey webhook calls.
function secretsSection() {
  const shown = h("div", { id: "rotated", "aria-live": "polite" });
  const problem = alertBox();
  const rotate = (what, route, field_, effect) => {
    const press = button(`Rotate the ${what} secret`, async () => {
      if (press.dataset.armed !== "yes") {
        press.dataset.armed = "yes";
        press.textContent = `Confirm: rotate the ${what} secret (${effect})`;
        return;
      }
      press.dataset.armed = "";
      press.textContent = `Rotate the ${what} secret`;
      problem.textContent = "";
      try {
        const answer = await call("POST", `${path`/v1/apps/${who().app_id}`}/${route}`);
        shown.replaceChildren(h("p", {}, `New ${what} secret (shown once, copy it now):`),
          h("code", { class: "secret", "data-secret": route }, answer[field_]));
      } catch (error) { problem.textContent = reason(error); }
    }, { class: "secondary" });
    return press;
  };
  return h("div", {}, h("div", { class: "actions" },
    rotate("identity", "identity-secret", "identity_secret", "user tokens signed with the old one stop verifying"),
    rotate("webhook", "webhook-secret", "webhook_secret", "webhook calls are signed with the new one")), shown, problem);
}

// Console users: the list with each user's role, status and state; create one with a temporary password
// (shown once, to hand over: the user chooses its own at first sign-in); change a role, disable or enable,
// delete (a second press confirms).
function usersSection() {
  const base = `${path`/v1/apps/${who().app_id}`}/console-users`;
  const problem = alertBox();
  const done = h("div", { id: "user-done", role: "status" });
  const body = h("div", { id: "console-users" });
  const report = (text) => { problem.textContent = ""; done.replaceChildren(h("p", {}, text)); };
  const act = async (work) => {
    problem.textContent = "";
    try { await work(); await load(); } catch (error) { problem.textContent = reason(error); }
  };

  function row(user) {
    const name = user.username;
    const role = select(["admin", "marketer", "analyst"], { "aria-label": `Role of ${name}` }, user.role || "");
    const saveRole = button("Save role", () => act(async () => {
      await call("PATCH", `${base}/${encodeURIComponent(name)}`, { role: role.value });
      report(`${name} is now ${role.value}.`);
    }), { class: "secondary", "aria-label": `Save role of ${name}` });
    const verb = user.enabled ? "Disable" : "Enable";
    const toggle = button(verb, () => act(async () => {
      await call("PATCH", `${base}/${encodeURIComponent(name)}`, { enabled: !user.enabled });
      report(`${name} ${user.enabled ? "disabled: its sign-in is refused" : "enabled"}.`);
    }), { class: "secondary", "aria-label": `${verb} ${name}` });
    const remove = button("Delete", () => {
      if (remove.dataset.armed !== "yes") { // a second press confirms
        remove.dataset.armed = "yes";
        remove.textContent = "Confirm delete";
        remove.setAttribute("aria-label", `Confirm delete ${name}`);
        return undefined;
      }
      return act(async () => {
        await call("DELETE", `${base}/${encodeURIComponent(name)}`);
        report(`${name} deleted.`);
      });
    }, { class: "danger", "aria-label": `Delete ${name}` });
    const status = user.status === "FORCE_CHANGE_PASSWORD" ? "must choose a password" : user.status.toLowerCase();
    return h("tr", { "data-user": name }, h("td", {}, name),
      h("td", {}, h("div", { class: "inline" }, role, saveRole)),
      h("td", {}, status), h("td", {}, user.enabled ? "enabled" : "disabled"), h("td", {}, when(user.created)),
      h("td", {}, h("div", { class: "actions" }, toggle, remove)));
  }

  async function load() {
    const { users } = await call("GET", base);
    body.replaceChildren(users.length
      ? table(["User", "Role", "Status", "State", "Created (UTC)", "Actions"], users.map(row), { id: "users" })
      : h("p", {}, "No console users yet."));
  }

  const name = input({ maxlength: 128, autocomplete: "off", pattern: "[A-Za-z0-9][A-Za-z0-9._@+\\-]*" });
  const role = select([["marketer", "marketer"], ["analyst", "analyst (reads results)"], ["admin", "admin"]]);
  const temporary = input({ type: "password", maxlength: 256, autocomplete: "new-password" });
  const form = h("form", { id: "new-user", onsubmit: (event) => {
    event.preventDefault();
    return act(async () => {
      const made = await call("POST", base, { username: name.value.trim(), role: role.value,
        ...(temporary.value ? { temporary_password: temporary.value } : {}) });
      problem.textContent = "";
      done.replaceChildren(h("p", {}, `${made.username} created as ${made.role}. Temporary password (shown once: hand it over; `
        + "they choose their own at first sign-in):"), h("code", { class: "secret" }, made.temporary_password));
      name.value = ""; temporary.value = "";
    });
  } },
  h("h3", {}, "Add a console user"),
  h("div", { class: "grid3" }, field("New user name", name, "Letters, digits and . _ - @ +"), field("Role", role),
    field("Temporary password (optional)", temporary, "Left empty, one is made")),
  h("button", { type: "submit" }, "Create console user"));
  return { node: h("div", {}, body, form, problem, done), load };
}

export async function adminView() {
  const current = await call("GET", `${path`/v1/apps/${who().app_id}`}/settings`);
  const users = usersSection();
  const keys = keysSection();
  const optIn = h("div", { id: "opt-in" });
  show(card(h("h1", {}, "Admin"), h("p", { class: "muted" }, `App ${who().app_id}`),
    h("h2", {}, "Settings"), settingsForm(current),
    h("h2", {}, "Provider credentials"), providersForm(),
    h("h2", {}, "Keys"), keys.node,
    h("h2", {}, "Signing secrets"), secretsSection(),
    h("h2", {}, "Console users"), users.node,
    h("h2", {}, "Opt-in prompts"), optIn));
  await Promise.all([keys.load(), users.load(), optInSection(optIn).catch((e) => optIn.replaceChildren(failure(e)))]);
}

export async function auditView() {
  const entries = [];
  let next = null;
  const body = h("div", {});
  const more = button("Load more", () => load(), { class: "secondary", hidden: true });
  const actor = (a) => (a.user ? `${a.user} (${a.role})` : `${a.kind} key ${a.key_id || ""}`.trim());
  const load = async () => {
    const page = await call("GET", `/v1/audit?limit=100${next ? `&next_token=${encodeURIComponent(next)}` : ""}`);
    entries.push(...page.entries);
    next = page.next_token;
    more.hidden = !next;
    body.replaceChildren(entries.length ? table(["When (UTC)", "Who", "Action", "Target", "Status"],
      entries.map((e) => h("tr", { "data-action": e.action }, h("td", {}, e.at.slice(0, 19).replace("T", " ")),
        h("td", { "data-actor": "" }, actor(e.actor)), h("td", { class: "token" }, e.action), h("td", { class: "token" }, e.target), h("td", { class: "num" }, e.status))),
      { id: "audit" }) : h("p", {}, "Nothing recorded yet."));
  };
  show(card(h("h1", {}, "Audit log"), body, more));
  await load();
}
