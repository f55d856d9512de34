// Campaigns: the list (status filter, search, more pages), and the create and edit forms assembled from
// the composer, the audience builder, the schedule and the delivery rules.
import { call, may, path } from "../api.js";
import { alertBox, card, field, h, input, money, reason, select, show, table, when } from "../ui.js";
import { audienceBuilder } from "./audience.js";
import { composer } from "./composer.js";
import { deliveryRules, schedulePicker, variantsPicker } from "./schedule.js";

const STATUSES = ["", "scheduled", "sending", "paused", "active", "completed", "cancelled"];

export async function listView() {
  const all = [];
  let next = null;
  const body = h("div", {});
  const search = input({ type: "search", name: "search", placeholder: "name or id" });
  const status = select(STATUSES.map((s) => [s, s || "any status"]), { name: "status" });
  const more = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => load() }, "Load more");
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = all.filter((c) => (!status.value || c.status === status.value)
      && (!q || c.name.toLowerCase().includes(q) || c.campaign_id.toLowerCase().includes(q)));
    body.replaceChildren(shown.length ? table(["Name", "Status", "Created (UTC)", "Targeted", "Sent", "Opened", "Converted", "Revenue"],
      shown.map((c) => h("tr", { "data-campaign": c.campaign_id },
        h("td", {}, h("a", { href: `#/campaign/${encodeURIComponent(c.campaign_id)}` }, c.name)),
        h("td", {}, h("span", { class: `status ${c.status}` }, c.status)),
        h("td", {}, when(c.created_at)),
        ...["targeted", "sent", "opened", "converted"].map((k) => h("td", { class: "num", "data-stat": k }, c.stats[k] ?? 0)),
        h("td", { class: "num", "data-stat": "revenue" }, money(c.stats.revenue_by_currency)))), { id: "campaigns" })
      : h("p", {}, all.length ? "No campaign matches." : "No campaigns yet."));
  };
  const load = async () => {
    const page = await call("GET", `/v1/campaigns?limit=100${next ? `&next_token=${encodeURIComponent(next)}` : ""}`);
    all.push(...page.campaigns);
    next = page.next_token;
    more.hidden = !next;
    draw();
  };
  search.addEventListener("input", draw);
  status.addEventListener("change", draw);
  show(card(h("div", { class: "title-row" }, h("h1", {}, "Campaigns"),
    may("create") ? h("a", { href: "#/new", class: "button" }, "New campaign") : null),
  h("div", { class: "inline filters" }, field("Search", search), field("Status", status)), body, more));
  await load();
}

async function templatesPick(target) {
  const pick = select([["", "— none —"]], { name: "template" });
  call("GET", "/v1/templates").then((p) => pick.append(...p.templates.map((t) => h("option", { value: t.template_id }, t.name)))).catch(() => {});
  pick.addEventListener("change", async () => {
    if (!pick.value) return;
    const t = await call("GET", path`/v1/templates/${pick.value}`);
    target.set(t.message);
  });
  return field("Start from a template", pick);
}

/** The create form; `existing` (a campaign) turns it into the edit form (PATCH: until the first wave). */
export async function campaignForm(existing = null) {
  const problem = alertBox();
  const name = input({ name: "name", required: true, maxlength: 256, value: existing ? existing.name : "" });
  const message = composer();
  const audience = audienceBuilder();
  const schedule = schedulePicker(existing ? existing.schedule : { type: "now" });
  const rules = deliveryRules();
  const variants = variantsPicker();
  const replace = existing ? h("p", { class: "muted" },
    "The API does not read back a campaign's message or audience: fill them in to replace them, or leave the title empty to keep the message and the audience empty to keep it.") : null;
  const form = h("form", { id: "create", class: "card", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    problem.textContent = "";
    const m = message.value();
    const filter = audience.value();
    try {
      let done;
      if (existing) {
        const changes = { name: name.value.trim(), schedule: schedule.value() };
        if (m.title || m.body) changes.message = m;
        if (filter) changes.audience = filter;
        done = await call("PATCH", path`/v1/campaigns/${existing.campaign_id}`, changes);
      } else {
        done = await call("POST", "/v1/campaigns", { name: name.value.trim(), message: m, audience: filter,
          schedule: schedule.value(), ...rules.value(), ...variants.value() });
      }
      location.hash = `#/campaign/${encodeURIComponent(done.campaign_id)}`;
    } catch (error) {
      problem.textContent = reason(error);
      problem.focus?.();
    }
  } },
  h("h1", {}, existing ? `Edit ${existing.name}` : "New campaign"), replace,
  field("Campaign name", name),
  existing ? null : await templatesPick(message), message.node, audience.node,
  h("h2", {}, "Schedule"), schedule.node,
  ...(existing ? [] : [h("h2", {}, "Delivery rules"), rules.node, h("h2", {}, "Variants and holdout"), variants.node]),
  h("div", { class: "actions" }, h("button", { type: "submit" }, existing ? "Save changes" : "Create campaign")), problem);
  show(form);
}

export const newView = () => campaignForm();
export async function editView(campaignId) {
  await campaignForm(await call("GET", path`/v1/campaigns/${campaignId}`));
}
