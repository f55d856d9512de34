// Look up a device, or a user with all their devices (never their push addresses).
import { call, path } from "../api.js";
import { card, failure, field, h, input, show, table, when } from "../ui.js";

const FIELDS = ["device_id", "platform", "status", "timezone", "locale", "country", "region", "user_id", "opted_in", "created_at", "last_seen"];
// each table's region is named by its device: a user's devices, and the same device looked up twice, are told apart
const facts = (d) => table(["Field", "Value"], FIELDS.map((k) => [k, { text: d[k] ?? "—", attrs: { "data-field": k } }]),
  { label: `Device ${d.device_id}` });
const pairs = (d, title, obj) => h("div", {}, h("h3", {}, title), Object.keys(obj || {}).length
  ? table(["Name", "Value"], Object.entries(obj).map(([k, v]) => [k, String(v)]), { label: `${title} of ${d.device_id}` })
  : h("p", { class: "muted" }, "none"));
const behaviour = (d) => h("div", {}, h("h3", {}, "Behaviour"), Object.keys(d.events || {}).length
  ? table(["Event", "Count", "Sum", "First", "Last"], Object.entries(d.events).map(([k, e]) => [k, e.count ?? 0, e.sum ?? 0, when(e.first), when(e.last)]),
    { label: `Behaviour of ${d.device_id}` })
  : h("p", { class: "muted" }, "no events"));
const deviceCard = (d) => h("article", { class: "device", "data-device": d.device_id }, h("h2", {}, d.device_id),
  facts(d), pairs(d, "Tags", d.tags), pairs(d, "Attributes", d.attributes), behaviour(d));

function lookupForm(id, label, buttonText, run) {
  const out = h("div", { id });
  const value = input({ required: true, maxlength: 128, name: id });
  const form = h("form", { class: "inline", onsubmit: async (event) => {
    event.preventDefault();
    try { out.replaceChildren(...(await run(value.value.trim()))); } catch (error) { out.replaceChildren(failure(error)); }
  } }, field(label, value), h("button", { type: "submit" }, buttonText));
  return [form, out];
}

export function lookupView() {
  show(card(h("h1", {}, "Lookup"),
    h("h2", {}, "A device"), ...lookupForm("device", "Device id", "Look up device", async (id) => [deviceCard(await call("GET", path`/v1/devices/${id}`))]),
    h("h2", {}, "A user and all their devices"), ...lookupForm("user", "User id", "Look up user", async (id) => {
      const user = await call("GET", path`/v1/users/${id}`);
      return [h("p", {}, `${user.user_id}: ${user.devices.length} device${user.devices.length === 1 ? "" : "s"}`), ...user.devices.map(deviceCard)];
    })));
}
