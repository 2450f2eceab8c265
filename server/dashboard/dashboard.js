// pagoda's dashboard: reads /api/v1/* every 2 seconds and draws the route in
// the URL's fragment. Everything from the repository (names, commit
// messages) is set as text, never as HTML.
"use strict";

const state = { actions: false, route: "", filter: "" };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "style") Object.assign(e.style, v);  // CSSOM: the policy allows no style attribute
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// replaceChildren() without the nulls, which it would write as "null".
function put(parent, ...children) {
  parent.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));
}

function link(href, text) { return el("a", { href }, text); }
function short(id) { return id ? id.slice(0, 8) : ""; }
function ms(t) { return t ? Date.parse(t) : 0; }
function ago(t) {
  if (!t) return "";
  const s = Math.max(0, Math.round((Date.now() - ms(t)) / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return Math.floor(s / 86400) + "d ago";
}
function duration(a, b) {
  if (!a || !b) return "";
  const s = (ms(b) - ms(a)) / 1000;
  return s < 60 ? s.toFixed(1) + "s" : Math.floor(s / 60) + "m" + String(Math.round(s % 60)).padStart(2, "0") + "s";
}

async function get(path) {
  const res = await fetch(path, { cache: "no-store" });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || res.status + " " + res.statusText);
  return body;
}

function say(text) { document.getElementById("message").textContent = text || ""; }

async function act(path, body) {
  const token = sessionStorage.getItem("pagoda-token") || "";
  const res = await fetch(path, {
    method: "POST",
    headers: { "Authorization": "Bearer " + token, "X-Pagoda-Dashboard": "1",
               "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const answer = await res.json().catch(() => ({}));
  say(res.ok ? "" : (answer.error || "refused: HTTP " + res.status));
  refresh();
}

function releaseButtons(id, phase) {
  if (!state.actions || !id) return null;
  const span = el("span", { class: "actions" });
  const held = phase === "held" || phase === "failed";
  const add = (action) => span.append(el("button", {
    "data-action": action, "data-release": id,
    onclick: () => act("/api/v1/releases/" + encodeURIComponent(id) + "/" + action),
  }, action));
  add(held ? "resume" : "pause");
  add("abort");
  return span;
}

function healthClass(h) {
  return { healthy: "ok", progressing: "warn", degraded: "bad" }[h] || "muted";
}

// ---- Routes -------------------------------------------------------------------

async function environments(main, fresh) {
  const doc = await get("/api/v1/environments");
  document.getElementById("repo").textContent =
    (doc.repo && doc.repo.url ? doc.repo.url + " " + (doc.repo.ref || "") + " · " : "") +
    (doc.commit && doc.commit.id ? short(doc.commit.id) + " " + (doc.commit.summary || "") : "");
  if (fresh) {
    const filter = el("input", { type: "search", placeholder: "filter: app, env, cluster, phase",
                                 id: "filter", value: state.filter });
    filter.addEventListener("input", () => { state.filter = filter.value; draw(); });
    put(main, filter, el("div", { id: "envs" }));
  }
  const words = state.filter.toLowerCase().split(/\s+/).filter(Boolean);
  const rows = (doc.environments || []).filter((e) => {
    const text = [e.app + "/" + e.env, e.cluster, e.releasePhase || "", e.drift ? "drift" : "",
                  e.standby ? "standby" : "", e.health].join(" ").toLowerCase();
    return words.every((w) => text.includes(w));
  });
  const table = el("table", {}, el("tr", {}, ...["environment", "cluster", "revision", "commit",
    "health", "drift", "release"].map((h) => el("th", {}, h))));
  for (const e of rows) {
    const release = e.release ? el("span", {},
      link("#/releases/" + e.release, e.release), " ",
      el("span", { class: "phase" }, e.releasePhase || ""),
      " batch " + e.batchesDone + "/" + e.batches,
      e.heldSeconds ? " · held " + e.heldSeconds + "s" : "", " ",
      releaseButtons(e.release, e.releasePhase))
      : el("span", { class: "muted" }, e.standby ? "led by another replica" : "—");
    const notes = [];
    if (e.frozen) notes.push("frozen: " + e.frozen.window);
    if (e.waiting) notes.push("waits for " + e.waiting.for + (e.waiting.reason ? ": " + e.waiting.reason : ""));
    if (e.pinned) notes.push("pinned to " + short(e.pinned.commit));
    if (e.error) notes.push(e.error);
    table.append(el("tr", { "data-env": e.app + "/" + e.env },
      el("td", {}, link("#/env/" + e.app + "/" + e.env, e.app + "/" + e.env),
         notes.length ? el("div", { class: "muted" }, notes.join(" · ")) : null),
      el("td", {}, e.cluster),
      el("td", {}, el("code", {}, e.revision || "")),
      el("td", {}, el("code", {}, short(e.commit))),
      el("td", { class: healthClass(e.health) }, e.ready + "/" + e.replicas + " " + e.health),
      el("td", { class: e.drift ? "warn" : "muted" }, e.drift ? "drift" : "in sync"),
      el("td", {}, release)));
  }
  put(document.getElementById("envs"), 
    rows.length ? table : el("p", { class: "muted" }, "no environment matches"));
}

function timeline(r) {
  const start = ms(r.start);
  const last = Math.max(ms(r.end) || Date.now(), ...r.batches.map((b) => ms(b.end) || Date.now()));
  const span = Math.max(1, last - start);
  const pct = (t) => (100 * (t - start) / span).toFixed(2) + "%";
  const width = (a, b) => (100 * Math.max(0, b - a) / span).toFixed(2) + "%";
  const box = el("div", { class: "timeline" });
  let previousEnd = start;
  for (const b of r.batches) {
    const bs = ms(b.start), br = ms(b.ready), be = ms(b.end) || Date.now();
    const track = el("div", { class: "track" });
    if (bs > previousEnd) {
      track.append(el("div", { class: "bar hold", style: { left: pct(previousEnd),
        width: width(previousEnd, bs) }, title: "waited " + duration(new Date(previousEnd).toISOString(), b.start) }));
    }
    const readyAt = br || be;
    track.append(el("div", { class: "bar wait", style: { left: pct(bs), width: width(bs, readyAt) },
                             title: "started → Ready " + duration(b.start, b.ready) }));
    if (br) {
      track.append(el("div", { class: "bar ready", style: { left: pct(br), width: width(br, be) },
                               title: "Ready → ended" }));
    }
    previousEnd = be;
    box.append(el("div", { class: "lane", "data-batch": b.index },
      el("span", { class: "label" }, "batch " + b.index), track,
      el("span", { class: "muted" }, b.instances + " · " + (b.end ? duration(b.start, b.end) : "in progress"))));
    for (const g of b.gates || []) box.append(el("div", { class: "muted" }, "gate: " + g));
  }
  if (r.hold) box.append(el("p", { class: "warn phase" }, "held (" + r.hold + ")"));
  return box;
}

async function release(main, id) {
  const r = await get("/api/v1/releases/" + encodeURIComponent(id));
  const fields = el("dl", {});
  const add = (k, v) => { if (v) fields.append(el("dt", {}, k), el("dd", {}, v)); };
  add("environment", link("#/env/" + r.app + "/" + r.env, r.app + "/" + r.env));
  add("cluster", r.cluster);
  add("kind", r.kind + " (" + r.trigger + ")");
  add("outcome", el("span", { class: "phase outcome " + (r.outcome === "succeeded" ? "ok" :
      r.outcome === "in-progress" ? "warn" : "bad") }, r.outcome));
  add("to", r.to && (short(r.to.id) + " " + (r.to.summary || "") + (r.to.author ? " — " + r.to.author : "")));
  add("from", r.from && r.from.id && short(r.from.id) + " " + (r.from.summary || ""));
  add("revision", (r.fromRevision ? r.fromRevision + " → " : "") + (r.toRevision || ""));
  add("started", r.start && r.start + " (" + ago(r.start) + ")");
  add("ended", r.end && r.end + " · took " + duration(r.start, r.end));
  for (const k of ["restores", "supersedes", "supersededBy", "freeze", "follows", "promotion"]) add(k, r[k]);
  const changes = el("table", {}, el("tr", {}, el("th", {}, "change"), el("th", {}, "object"),
                                          el("th", {}, "")));
  for (const c of r.changes || []) {
    changes.append(el("tr", {}, el("td", {}, c.action),
                       el("td", {}, el("code", {}, c.key),
                          (c.fields || []).length ? el("pre", { class: "fields" }, c.fields.join("\n")) : null),
                       el("td", { class: "muted" }, c.detail || "")));
  }
  put(main, 
    el("h2", {}, "release " + r.id, " ", r.outcome === "in-progress" ?
       releaseButtons(r.id, r.hold ? "held" : "running") : null),
    fields,
    el("h3", {}, "batches"), r.batches.length ? timeline(r) : el("p", { class: "muted" }, "applied at once"),
    (r.errors || []).length ? el("div", {}, el("h3", {}, "errors"),
      ...r.errors.map((e) => el("p", { class: "bad" }, e))) : null,
    el("h3", {}, "change set"), changes);
}

async function history(main, app, env) {
  const list = await get("/api/v1/releases?app=" + encodeURIComponent(app) + "&env=" +
                         encodeURIComponent(env) + "&limit=100");
  const table = el("table", {}, el("tr", {}, ...["release", "kind", "commit", "outcome",
    "started", "took"].map((h) => el("th", {}, h))));
  for (const r of list.releases || []) {
    table.append(el("tr", {}, el("td", {}, link("#/releases/" + r.id, r.id)), el("td", {}, r.kind),
      el("td", {}, el("code", {}, short(r.to && r.to.id)), " ", (r.to && r.to.summary) || ""),
      el("td", {}, r.outcome), el("td", {}, ago(r.start)), el("td", {}, duration(r.start, r.end))));
  }
  let rollback = null;
  if (state.actions) {
    const to = el("input", { id: "rollback-to", placeholder: "commit or release id" });
    rollback = el("p", {}, "roll back to ", to, " ", el("button", { "data-action": "rollback",
      onclick: () => to.value && act("/api/v1/environments/" + app + "/" + env + "/rollback",
                                      { to: to.value }) }, "rollback"));
  }
  if (document.getElementById("rollback-to")) rollback = document.getElementById("rollback-to").parentNode;
  put(main, el("h2", {}, app + "/" + env), rollback, table);
}

async function synclog(main) {
  const log = await get("/api/v1/synclog?limit=50");
  const table = el("table", {}, el("tr", {}, ...["time", "commit", "checked", "drift", "releases",
    "errors", "took"].map((h) => el("th", {}, h))));
  for (const e of log.entries || []) {
    table.append(el("tr", {}, el("td", {}, ago(e.time)), el("td", {}, el("code", {}, short(e.commit))),
      el("td", {}, e.environmentsChecked), el("td", {}, (e.drift || []).join(", ")),
      el("td", {}, ...(e.releases || []).map((id) => el("span", {}, link("#/releases/" + id, id), " "))),
      el("td", { class: "bad" }, (e.errors || []).join("; ")), el("td", {}, e.durationMs + " ms")));
  }
  put(main, el("h2", {}, "sync log"), table);
}

// ---- Drawing ------------------------------------------------------------------

async function draw() {
  const main = document.getElementById("main");
  const route = location.hash.replace(/^#/, "") || "/";
  const fresh = route !== state.route;
  state.route = route;
  const parts = route.split("/").filter(Boolean);
  try {
    if (parts[0] === "releases" && parts[1]) await release(main, parts[1]);
    else if (parts[0] === "env" && parts[2]) await history(main, parts[1], parts[2]);
    else if (parts[0] === "synclog") await synclog(main);
    else await environments(main, fresh || !document.getElementById("envs"));
    document.getElementById("live").className = "live";
  } catch (err) {
    document.getElementById("live").className = "live stale";
    say(err.message);
  }
}

function refresh() { draw(); }

async function start() {
  try {
    state.actions = (await get("/api/v1/dashboard")).actions === true;
  } catch (err) { state.actions = false; }
  if (state.actions) {
    const bar = document.getElementById("token-bar");
    const input = document.getElementById("token");
    bar.hidden = false;
    input.value = sessionStorage.getItem("pagoda-token") || "";
    input.addEventListener("change", () => sessionStorage.setItem("pagoda-token", input.value));
  }
  window.addEventListener("hashchange", draw);
  await draw();
  setInterval(draw, 2000);
}

start();
