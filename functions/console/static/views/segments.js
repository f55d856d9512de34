// Saved segments: list with their size, create and edit with the audience builder, delete.
import { call, may, path } from "../api.js";
import { alertBox, button, card, field, h, input, reason, show, table, when } from "../ui.js";
import { audienceBuilder, forgetSegments } from "./audience.js";

export async function segmentsView() {
  const page = await call("GET", "/v1/segments");
  const problem = alertBox();
  const rows = page.segments.map((s) => {
    const size = h("td", { class: "num" }, "…");
    call("GET", `${path`/v1/segments/${s.segment_id}`}/count`).then((c) => { size.textContent = (c.estimated ? "≈ " : "") + c.count; })
      .catch(() => { size.textContent = "—"; });
    return h("tr", { "data-segment": s.segment_id }, h("td", {}, s.name), h("td", {}, s.segment_id), size, h("td", {}, when(s.updated_at)),
      h("td", {}, may("create") ? h("span", { class: "inline" },
        h("a", { href: `#/segment/${encodeURIComponent(s.segment_id)}`, "aria-label": `Edit ${s.name}` }, "Edit"),
        button("Delete", async () => {
          try {
            await call("DELETE", path`/v1/segments/${s.segment_id}`);
            forgetSegments();
            await segmentsView();
          } catch (error) { problem.textContent = reason(error); }
        }, { class: "link", "aria-label": `Delete ${s.name}` })) : ""));
  });
  show(card(h("div", { class: "title-row" }, h("h1", {}, "Segments"),
    may("create") ? h("a", { href: "#/segment/new", class: "button" }, "New segment") : null),
  rows.length ? table(["Name", "Id", "Devices now", "Updated (UTC)", "Actions"], rows, { id: "segments" }) : h("p", {}, "No segments yet."), problem));
}

export async function segmentForm(segmentId) {
  const existing = segmentId === "new" ? null : await call("GET", path`/v1/segments/${segmentId}`);
  const name = input({ name: "name", required: true, maxlength: 128, value: existing ? existing.name : "" });
  const builder = audienceBuilder();
  const problem = alertBox();
  const form = h("form", { class: "card", id: "segment-form", onsubmit: async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim(), audience: builder.value() || existing?.audience };
    try {
      if (existing) await call("PUT", path`/v1/segments/${existing.segment_id}`, body);
      else await call("POST", "/v1/segments", body);
      forgetSegments();
      location.hash = "#/segments";
    } catch (error) { problem.textContent = reason(error); }
  } }, h("h1", {}, existing ? `Edit segment ${existing.name}` : "New segment"),
  field("Segment name", name),
  existing ? h("p", { class: "muted" }, "Saved audience: ", h("code", {}, JSON.stringify(existing.audience)), ". Build conditions below to replace it.") : null,
  builder.node, h("button", { type: "submit" }, existing ? "Save segment" : "Create segment"), problem);
  show(form);
}
