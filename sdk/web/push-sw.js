// Push campaign engine: web SDK, service worker (an ES module: register it with { type: "module" }).
//
// Serve it from the site's own origin next to push.js; PushClient registers it as
//   /push-sw.js?api=<engine API>&key=<client key>&device=<device id>
// It shows what the engine sends (the Web Push JSON in the README, or for subscriptions on Apple's push
// service the Declarative Web Push message `{web_push: 8030, notification}`), reports `delivered` when shown,
// `opened` on a tap and `clicked` (properties.action_id) on a button, passes data-only messages to the
// site's open pages, and re-registers the device when the browser renews the subscription.

import { EngineApi, keyBytes, secretStore } from "./push.js";

const params = new URL(self.location.href).searchParams;
const config = { apiUrl: params.get("api"), clientKey: params.get("key"), deviceId: params.get("device") };
const api = config.apiUrl && config.clientKey
  ? new EngineApi({ ...config, onDeviceSecret: (secret) => secretStore.set(config.deviceId, secret) })
  : null;

/** The device secret the page kept (IndexedDB): read again for each call, as the page may renew it. */
async function withSecret() {
  if (api && config.deviceId) api.deviceSecret = (await secretStore.get(config.deviceId)) || api.deviceSecret;
  return api;
}

/** Reports one event; never throws (a lost report must not break showing or opening). */
async function report(name, campaignId, properties) {
  if (!api || !config.deviceId || !campaignId) return false;
  try {
    await (await withSecret()).postEvent(config.deviceId, name, campaignId, properties);
    return true;
  } catch (error) {
    console.warn("push: could not report", name, error);
    return false;
  }
}

const DECLARATIVE_WEB_PUSH = 8030;

/** A Declarative Web Push message (`{web_push: 8030, notification: {title, body, navigate, ...}}`, which
 * Safari 18.4+ shows by itself and hands to this worker when the message is `mutable`) read as the
 * engine's own shape, so both are shown, tagged and reported alike. The engine's fields (campaign_id,
 * journey_id, step, the message's data and buttons) travel in notification.data. */
export function fromDeclarative(message) {
  const n = message.notification || {};
  const { data, actions, ...engine } = n.data && typeof n.data === "object" ? n.data : {};
  const out = { ...engine, title: n.title, body: n.body, url: n.navigate, tag: n.tag };
  if (data) out.data = data;
  if (actions) out.actions = actions;
  const members = { icon: "icon", image: "image", badge: "badge", lang: "lang", dir: "dir", silent: "silent",
    renotify: "renotify", requireInteraction: "require_interaction", app_badge: "app_badge" };
  for (const [member, field] of Object.entries(members)) if (n[member] !== undefined) out[field] = n[member];
  return out;
}

export function isDeclarative(message) {
  return Boolean(message) && message.web_push === DECLARATIVE_WEB_PUSH && typeof message.notification === "object";
}

/** The app badge a message sets (0 clears it), where the browser has the Badging API. */
async function setBadge(count) {
  const nav = self.navigator;
  if (count === undefined || !nav || !("setAppBadge" in nav)) return;
  try {
    await (Number(count) > 0 ? nav.setAppBadge(Number(count)) : nav.clearAppBadge());
  } catch (error) {
    console.warn("push: could not set the app badge", error);
  }
}

/** The showNotification() options for an engine message. */
export function notificationOptions(message) {
  const options = {
    body: message.body,
    tag: message.tag, // the campaign's collapse id: a repeat replaces the notification shown
    data: { campaign_id: message.campaign_id, url: message.url, actions: message.actions || [],
      data: message.data || {} },
  };
  if (message.lang) options.lang = message.lang;
  if (message.dir) options.dir = message.dir;
  if (message.icon) options.icon = message.icon;
  if (message.image) options.image = message.image;
  if (message.badge) options.badge = message.badge;
  if (message.actions) options.actions = message.actions.map((a) => ({ action: a.id, title: a.title }));
  if (message.require_interaction !== undefined) options.requireInteraction = message.require_interaction;
  if (message.renotify !== undefined) options.renotify = message.renotify;
  if (message.silent !== undefined) options.silent = message.silent;
  return options;
}

/** What a push does: show and report `delivered`, or hand a data-only message to the pages. */
export async function handlePush(message) {
  if (!message || typeof message !== "object") return;
  if (isDeclarative(message)) message = fromDeclarative(message);
  if (message.data_only) {
    const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const page of pages) {
      page.postMessage({ type: "pushengine:data", data: message.data || {}, message });
    }
    return;
  }
  await self.registration.showNotification(message.title, notificationOptions(message));
  await setBadge(message.app_badge);
  await report("delivered", message.campaign_id);
}

/** What a tap does: open the button's url (else the message's), report `opened`, and `clicked` with the
 * action id for a button. Resolves to what it reported, so tests can call it inside the worker. */
export async function handleClick(notification, action = "") {
  const data = notification.data || {};
  const button = (data.actions || []).find((a) => a.id === action);
  const url = (button && button.url) || data.url;
  notification.close();
  const opening = url ? openWindow(url) : Promise.resolve(null);
  const reports = [report("opened", data.campaign_id)];
  if (button) reports.push(report("clicked", data.campaign_id, { action_id: button.id }));
  const [opened, ...reported] = await Promise.all([opening, ...reports]);
  return { url: url || null, opened: Boolean(opened), reported: { opened: reported[0],
    clicked: button ? reported[1] : false, action_id: button ? button.id : null } };
}

async function openWindow(url) {
  try {
    const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const open = pages.find((page) => page.url === url && "focus" in page);
    return open ? await open.focus() : await self.clients.openWindow(url);
  } catch (error) {
    return null; // e.g. an app link (myapp://) a browser cannot open, or no user activation
  }
}

/** The browser renewed (or dropped) the subscription: subscribe again and tell the engine. */
export async function handleSubscriptionChange(event) {
  const old = event.oldSubscription;
  const subscription = event.newSubscription || (await self.registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: old && old.options.applicationServerKey,
  }));
  if (api && config.deviceId) await (await withSecret()).registerDevice(config.deviceId, subscription, {}, self.navigator);
}

function parse(data) {
  if (!data) return null;
  try {
    return data.json();
  } catch (error) {
    return { title: data.text() }; // not JSON: show the text
  }
}

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("push", (event) => event.waitUntil(handlePush(parse(event.data))));
self.addEventListener("notificationclick", (event) => event.waitUntil(handleClick(event.notification, event.action)));
self.addEventListener("pushsubscriptionchange", (event) => event.waitUntil(handleSubscriptionChange(event)));

// for the site's own code and for tests run inside the worker (DevTools, Playwright's worker.evaluate)
self.pushEngine = { handlePush, handleClick, handleSubscriptionChange, notificationOptions, fromDeclarative,
  config, keyBytes };
