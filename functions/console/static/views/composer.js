// The message composer: title and body in Liquid with a field picker, localizations, rich fields
// (image, link, buttons, per-platform options), and a preview per platform for a chosen device with the
// platform's limits. Used by campaigns, variants, templates and journey send steps.
import { call, may, path } from "../api.js";
import { fieldsOf, localized, render } from "../liquid.js";
import { button, checkbox, field, h, input, reason, select, textarea } from "../ui.js";

// What each platform shows before it cuts the text (about: it depends on the device and its font size),
// and how many buttons it shows; every push service takes at most 4 KB of payload.
export const LIMITS = {
  ios: { name: "iOS", title: 50, body: 178, buttons: 4, bytes: 4096 },
  android: { name: "Android", title: 65, body: 240, buttons: 3, bytes: 4096 },
  web: { name: "Web", title: 50, body: 120, buttons: 2, bytes: 4078 },
};
const SAMPLE = { platform: "ios", locale: "en", attributes: {}, tags: {} };

function rows(addLabel, make) {
  const holder = h("div", { class: "rows" });
  const items = [];
  const add = (value, focus = false) => {
    const item = make(value || {});
    const row = h("div", { class: "row" }, item.node, button("Remove", () => {
      items.splice(items.indexOf(item), 1);
      row.remove();
      item.changed?.();
    }, { class: "secondary", "aria-label": `Remove ${addLabel.replace(/^Add /, "")}` }));
    items.push(item);
    holder.append(row);
    if (focus) row.querySelector("input")?.focus();
    return item;
  };
  return { holder, items, add, clear: () => { items.length = 0; holder.replaceChildren(); } };
}

export function composer({ onchange = () => {}, legend = "Message", preview = true } = {}) {
  let lastText = null; // the title or body the field picker inserts into
  let device = SAMPLE;
  const changed = () => { onchange(); drawPreview(); };
  const title = input({ name: "title", maxlength: 256, oninput: changed, onfocus: (e) => { lastText = e.target; } });
  const body = textarea({ name: "body", rows: 3, maxlength: 2048, oninput: changed, onfocus: (e) => { lastText = e.target; } });
  const picker = select(fieldsOf(null), { name: "liquid-field" });
  const fallback = input({ name: "liquid-default", placeholder: "there", maxlength: 64 });
  const insert = button("Insert field", () => {
    const target = lastText || body;
    const dflt = fallback.value.trim();
    const tag = `{{ ${picker.value}${dflt ? ` | default: "${dflt.replace(/"/g, "")}"` : ""} }}`;
    const at = target.selectionStart ?? target.value.length;
    target.value = target.value.slice(0, at) + tag + target.value.slice(target.selectionEnd ?? at);
    target.focus();
    target.setSelectionRange(at + tag.length, at + tag.length);
    changed();
  }, { class: "secondary" });
  const image = input({ name: "image_url", type: "url", placeholder: "https://", oninput: changed });
  const link = input({ name: "url", placeholder: "https:// or myapp://path", oninput: changed });
  const subtitle = input({ name: "ios_subtitle", maxlength: 256, oninput: changed });
  const channel = input({ name: "android_channel", maxlength: 64, oninput: changed });
  const sticky = checkbox("Require interaction on the web (stays until dismissed)", { name: "web_require", onchange: changed });

  const buttons = rows("Add button", (v) => {
    const id = input({ value: v.id || "", maxlength: 32, oninput: changed, pattern: "[A-Za-z0-9_\\-]{1,32}" });
    const text = input({ value: v.title || "", maxlength: 64, oninput: changed });
    const url = input({ value: v.url || "", oninput: changed });
    return { node: h("div", { class: "grid3" }, field("Button id", id), field("Button text", text), field("Button link", url)),
      value: () => (id.value.trim() && text.value.trim()
        ? { id: id.value.trim(), title: text.value.trim(), ...(url.value.trim() ? { url: url.value.trim() } : {}) } : null),
      changed };
  });
  const locales = rows("Add localization", (v) => {
    const locale = input({ value: v.locale || "", maxlength: 35, placeholder: "pt-BR", oninput: changed });
    const ltitle = input({ value: v.title || "", maxlength: 256, oninput: changed });
    const lbody = textarea({ rows: 2, maxlength: 2048, oninput: changed });
    lbody.value = v.body || "";
    return { node: h("div", { class: "grid3" }, field("Locale", locale), field("Localized title", ltitle), field("Localized body", lbody)),
      value: () => (locale.value.trim() ? [locale.value.trim(), {
        ...(ltitle.value.trim() ? { title: ltitle.value.trim() } : {}),
        ...(lbody.value.trim() ? { body: lbody.value.trim() } : {}) }] : null),
      changed };
  });

  function value() {
    const m = { title: title.value.trim(), body: body.value.trim() };
    if (image.value.trim()) m.image_url = image.value.trim();
    if (link.value.trim()) m.url = link.value.trim();
    const actions = buttons.items.map((b) => b.value()).filter(Boolean);
    if (actions.length) m.actions = actions;
    const locs = locales.items.map((l) => l.value()).filter(Boolean);
    if (locs.length) m.localizations = Object.fromEntries(locs);
    if (subtitle.value.trim()) m.ios = { subtitle: subtitle.value.trim() };
    if (channel.value.trim()) m.android = { channel_id: channel.value.trim() };
    if (sticky.box.checked) m.web = { require_interaction: true };
    return m;
  }

  function set(m = {}) {
    title.value = m.title || "";
    body.value = m.body || "";
    image.value = m.image_url || "";
    link.value = m.url || "";
    subtitle.value = (m.ios && m.ios.subtitle) || "";
    channel.value = (m.android && m.android.channel_id) || "";
    sticky.box.checked = Boolean(m.web && m.web.require_interaction);
    buttons.clear();
    (m.actions || []).forEach((a) => buttons.add(a));
    locales.clear();
    Object.entries(m.localizations || {}).forEach(([locale, t]) => locales.add({ locale, ...t }));
    drawPreview();
  }

  // ---------- preview ----------
  const shown = h("div", { class: "previews", "aria-live": "polite" });
  const deviceId = input({ name: "preview-device", maxlength: 128, placeholder: "device id" });
  const previewNote = h("p", { class: "muted" }, "A sample device (no attributes) until you choose one.");
  const choose = async () => {
    const id = deviceId.value.trim();
    if (!id) { device = SAMPLE; previewNote.textContent = "A sample device (no attributes)."; drawPreview(); return; }
    try {
      device = await call("GET", path`/v1/devices/${id}`);
      previewNote.textContent = `As ${device.device_id} (${device.platform}, ${device.locale}) reads it.`;
      picker.replaceChildren(...fieldsOf(device).map((f) => h("option", { value: f }, f)));
    } catch (error) {
      previewNote.textContent = `No preview for that device: ${reason(error)}`;
    }
    drawPreview();
  };
  deviceId.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); choose(); } });

  function drawPreview() {
    if (!preview) return;
    const m = value();
    const text = localized(m, device.locale);
    const t = render(text.title, device);
    const b = render(text.body, device);
    const bytes = new TextEncoder().encode(JSON.stringify(m)).length;
    shown.replaceChildren(...Object.entries(LIMITS).map(([key, limit]) => {
      const warnings = [];
      if (t.length > limit.title) warnings.push(`Title: ${t.length} characters; ${limit.name} shows about ${limit.title}, the rest is cut.`);
      if (b.length > limit.body) warnings.push(`Body: ${b.length} characters; ${limit.name} shows about ${limit.body} before "more".`);
      if ((m.actions || []).length > limit.buttons) warnings.push(`Buttons: ${limit.name} shows ${limit.buttons} of ${m.actions.length}.`);
      if (bytes > limit.bytes - 200) warnings.push(`Payload: about ${bytes} bytes of the ${limit.bytes} the push service takes.`);
      const own = key === device.platform ? " (this device)" : "";
      return h("figure", { class: `phone ${key}`, "data-platform": key },
        h("figcaption", {}, limit.name + own),
        h("div", { class: "notification" },
          key === "ios" && m.ios && m.ios.subtitle ? h("div", { class: "subtitle" }, render(m.ios.subtitle, device)) : null,
          h("strong", { class: "n-title", "data-preview": "title" }, !t ? "(title)" : t.length > limit.title ? `${t.slice(0, limit.title - 1)}…` : t),
          h("p", { class: "n-body", "data-preview": "body" }, !b ? "(body)" : b.length > limit.body ? `${b.slice(0, limit.body - 1)}…` : b),
          m.image_url ? h("p", { class: "n-image muted" }, "[image] ", m.image_url) : null,
          (m.actions || []).length ? h("p", { class: "n-actions" }, m.actions.slice(0, limit.buttons).map((a) => h("span", { class: "chip" }, a.title))) : null),
        h("ul", { class: "limits" }, warnings.length ? warnings.map((w) => h("li", { class: "warn" }, w))
          : h("li", { class: "ok" }, `Within ${limit.name}'s limits (${limit.title}-character title, ${limit.body}-character body).`)),
        h("p", { class: "muted" }, text.locale === "default" ? "default text" : `localization ${text.locale}`));
    }));
  }

  const node = h("fieldset", { class: "composer" }, h("legend", {}, legend),
    field("Title", title, "Liquid: {{ attributes.first_name | default: \"there\" }}"), field("Body", body),
    h("div", { class: "inline" }, field("Field to insert", picker), field("Default if empty", fallback), insert),
    h("details", {}, h("summary", {}, "Image, link and buttons"),
      field("Image URL", image), field("Link (on tap)", link), buttons.holder,
      button("Add button", () => { if (buttons.items.length < 3) buttons.add({}, true); }, { class: "secondary" })),
    h("details", {}, h("summary", {}, "Localizations"), locales.holder,
      button("Add localization", () => locales.add({}, true), { class: "secondary" })),
    h("details", {}, h("summary", {}, "Platform options"),
      field("iOS subtitle", subtitle), field("Android channel id", channel), sticky.node),
    preview ? h("div", { class: "preview" }, h("h2", {}, "Preview"),
      h("div", { class: "inline" }, field("Preview for device", deviceId),
        button("Show preview", choose, { class: "secondary", hidden: !may("devices") })),
      previewNote, shown) : null);
  drawPreview();
  return { node, value, set, title, body };
}
