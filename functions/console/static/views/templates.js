// Templates: stored messages campaigns and sends name; list, create and edit with the composer, delete.
import { call, may, path } from "../api.js";
import { alertBox, button, card, field, h, input, reason, show, table } from "../ui.js";
import { composer } from "./composer.js";

export async function templatesView() {
  const page = await call("GET", "/v1/templates");
  const problem = alertBox();
  const rows = page.templates.map((t) => h("tr", { "data-template": t.template_id },
    h("td", {}, t.name), h("td", {}, t.message.title || ""), h("td", {}, t.template_id),
    h("td", {}, may("create") ? h("span", { class: "inline" },
      h("a", { href: `#/template/${encodeURIComponent(t.template_id)}`, "aria-label": `Edit ${t.name}` }, "Edit"),
      button("Delete", async () => {
        try {
          await call("DELETE", path`/v1/templates/${t.template_id}`);
          await templatesView();
        } catch (error) { problem.textContent = reason(error); }
      }, { class: "link", "aria-label": `Delete ${t.name}` })) : "")));
  show(card(h("div", { class: "title-row" }, h("h1", {}, "Templates"),
    may("create") ? h("a", { href: "#/template/new", class: "button" }, "New template") : null),
  rows.length ? table(["Name", "Title", "Id", "Actions"], rows, { id: "templates" }) : h("p", {}, "No templates yet."), problem));
}

export async function templateForm(templateId) {
  const existing = templateId === "new" ? null : await call("GET", path`/v1/templates/${templateId}`);
  const name = input({ name: "name", required: true, maxlength: 128, value: existing ? existing.name : "" });
  const message = composer();
  if (existing) message.set(existing.message);
  const problem = alertBox();
  show(h("form", { class: "card", id: "template-form", onsubmit: async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim(), message: message.value() };
    try {
      if (existing) await call("PUT", path`/v1/templates/${existing.template_id}`, body);
      else await call("POST", "/v1/templates", body);
      location.hash = "#/templates";
    } catch (error) { problem.textContent = reason(error); }
  } }, h("h1", {}, existing ? `Edit template ${existing.name}` : "New template"),
  field("Template name", name), message.node, h("button", { type: "submit" }, existing ? "Save template" : "Create template"), problem));
}
