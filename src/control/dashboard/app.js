// The dashboard's script: a client of downpour's JSON APIs (projects,
// keys, org, Query API), nothing more.
//
// Invariants: the key is read from sessionStorage and sent only in the
// Authorization header of same-origin calls; every text from the server is
// set with textContent (never parsed as HTML); what a role may not do is
// hidden here and refused by the API anyway.
"use strict";

(() => {
  const KEY = "downpour.key";
  const PROJECT = "downpour.project";
  const SIGNOUT = "downpour.signout";
  const POLL_MS = 3000;
  const PAGE_SIZE = 25;

  const $ = (sel) => document.querySelector(sel);
  const $$ = (sel) => Array.from(document.querySelectorAll(sel));

  const state = {
    me: null,
    projects: [],
    activity: new Map(),
    project: null,
    timer: null,
    pollGen: 0,
    view: null,
    events: { cursors: [null], page: 0, query: "" },
    chart: "minute",
    lastEvent: null,
  };

  // ---- The APIs -------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, param) {
      super(message);
      this.status = status;
      this.param = param;
    }
  }

  /** Calls the API; resolves to the JSON answer or rejects with ApiError. */
  async function api(method, path, options = {}) {
    const headers = { Authorization: "Bearer " + (sessionStorage.getItem(KEY) || "") };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    if (options.project) headers["X-Raindrop-Project-Id"] = options.project;
    let answer;
    try {
      answer = await fetch(path, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch (_) {
      throw new ApiError(0, "the server could not be reached", null);
    }
    const text = await answer.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (_) {
      json = null;
    }
    if (!answer.ok) {
      const err = (json && json.error) || {};
      const param = err.param || (err.details && err.details.field) || null;
      const error = new ApiError(answer.status, err.message || "HTTP " + answer.status, param);
      if (answer.status === 401 && state.me) signOut("Your key is no longer accepted; sign in again.");
      throw error;
    }
    return json;
  }

  const enc = encodeURIComponent;
  const manages = () => state.me && state.me.can_manage;
  const orgWide = () => state.me && !state.me.project;

  // Each view's loads take a ticket; an answer whose ticket is no longer
  // the latest (the user moved on, or a newer load started) is dropped.
  const tickets = {};
  const ticket = (name) => (tickets[name] = (tickets[name] || 0) + 1);
  const stale = (name, n) => tickets[name] !== n;

  // ---- DOM helpers ----------------------------------------------------

  /** An element with attributes (text: its text) and children. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = String(v);
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function show(node, visible) {
    if (typeof node === "string") node = $(node);
    if (node) node.hidden = !visible;
  }

  function setError(sel, error) {
    const node = $(sel);
    if (!node) return;
    node.textContent = error ? (error.message || String(error)) : "";
    node.hidden = !error;
  }

  function flash(text) {
    const node = $("#flash");
    node.textContent = text;
    node.hidden = !text;
  }

  function exact(secs) {
    return new Date(secs * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function ago(secs) {
    const d = Math.max(0, Date.now() / 1000 - secs);
    if (d < 60) return Math.floor(d) + " s ago";
    if (d < 3600) return Math.floor(d / 60) + " min ago";
    if (d < 86400) return Math.floor(d / 3600) + " h ago";
    return Math.floor(d / 86400) + " d ago";
  }

  /** A relative time, exact on hover and for assistive technology. */
  function when(secs) {
    if (!secs) return el("span", { text: "never" });
    return el("time", {
      datetime: new Date(secs * 1000).toISOString(),
      "data-epoch": secs,
      title: exact(secs),
      "aria-label": exact(secs),
      text: ago(secs),
    });
  }

  /** Re-reads every relative time on the page. */
  function refreshTimes() {
    for (const t of $$("time[data-epoch]")) t.textContent = ago(Number(t.dataset.epoch));
  }

  /**
   * Replaces the rows of `tbody`, unless `signature` (the data they show)
   * is the one they were built from: a refresh that changes nothing leaves
   * the rows, the focus and a screen reader's place alone.
   */
  function fill(tbody, rows, signature) {
    const node = typeof tbody === "string" ? $(tbody) : tbody;
    if (signature !== undefined && node.dataset.signature === signature) return;
    node.dataset.signature = signature === undefined ? "" : signature;
    // Keep the focus on the same control across a refresh.
    const active = document.activeElement;
    const focusKey = active && node.contains(active) ? active.dataset.key : null;
    node.replaceChildren(...rows);
    if (focusKey) {
      const again = node.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
  }

  function actionButton(label, action, slug, extra) {
    return el("button", Object.assign({ type: "button", "data-action": action, "data-slug": slug, "data-key": action + ":" + slug, text: label }, extra || {}));
  }

  // ---- Dialogs --------------------------------------------------------

  /** Asks to confirm; resolves true when confirmed. */
  function confirmDialog(title, text, okLabel) {
    const dialog = $("#confirm-dialog");
    $("#confirm-title").textContent = title;
    $("#confirm-text").textContent = text;
    $("#confirm-ok").textContent = okLabel;
    dialog.returnValue = "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.showModal();
      $("#confirm-cancel").focus();
    });
  }

  // ---- Signing in and out ---------------------------------------------

  const SIGNIN_ERRORS = {
    0: "The server could not be reached. Check that downpour is running.",
    401: "That key was not accepted. Check that you copied all of it and that it was not revoked.",
    403: "This key can only send data (a write key). Sign in with an owner, admin or member key.",
    429: "Too many wrong keys from this address. Wait a minute, then try again.",
  };

  async function signIn(event) {
    event.preventDefault();
    const input = $("#signin-key");
    const key = input.value.trim();
    setError("#signin-error", null);
    if (!key) return setError("#signin-error", { message: "Paste a key first." });
    sessionStorage.setItem(KEY, key);
    try {
      state.me = await api("GET", "/v1/me");
    } catch (e) {
      sessionStorage.removeItem(KEY);
      setError("#signin-error", { message: SIGNIN_ERRORS[e.status] || e.message });
      input.focus();
      return;
    }
    input.value = "";
    await signedIn();
  }

  /** Forgets the key and reloads the page, so nothing of the session
   * (rows, a new key's value) stays in it; `message` is shown after. */
  function signOut(message) {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(PROJECT);
    if (message) sessionStorage.setItem(SIGNOUT, message);
    state.me = null;
    stopTimer();
    location.replace(location.pathname);
  }

  function showSignin(message) {
    showView("signin");
    setError("#signin-error", message ? { message } : null);
    $("#signin-key").focus();
  }

  async function signedIn() {
    const me = state.me;
    $("#whoami").textContent = `${me.org} · ${me.role}` + (me.project ? ` · ${me.project} only` : "");
    show("#nav", true);
    show("#signout", true);
    show("#switcher-label", true);
    document.body.classList.toggle("can-manage", !!me.can_manage);
    for (const node of $$(".manage")) node.hidden = !me.can_manage;
    show("#create-form", me.can_manage && !me.project);
    try {
      await loadProjects();
    } catch (e) {
      flash("Error: " + e.message);
    }
    if (!location.hash || location.hash === "#/") location.hash = "#/projects";
    else route();
  }

  // ---- Projects ---------------------------------------------------------

  async function loadProjects() {
    const [list, activity] = await Promise.all([api("GET", "/v1/projects"), api("GET", "/v1/org/activity")]);
    state.projects = list.projects;
    state.activity = new Map(activity.projects.map((a) => [a.slug, a]));
    const readable = state.projects.filter((p) => p.status === "active");
    const wanted = state.project || sessionStorage.getItem(PROJECT);
    const chosen = readable.find((p) => p.slug === wanted) || readable[0] || null;
    state.project = chosen ? chosen.slug : null;
    const switcher = $("#project-switcher");
    const signature = JSON.stringify(readable.map((p) => [p.slug, p.name]));
    if (switcher.dataset.signature !== signature) {
      switcher.dataset.signature = signature;
      switcher.replaceChildren(...readable.map((p) => el("option", { value: p.slug, text: label(p) })));
    }
    if (state.project && switcher.value !== state.project) switcher.value = state.project;
    for (const node of $$(".project-name")) node.textContent = state.project ? label(current()) : "none";
  }

  const label = (p) => (p.slug === "default" ? `${p.name} (default)` : p.name === p.slug ? p.slug : `${p.name} (${p.slug})`);
  const current = () => state.projects.find((p) => p.slug === state.project) || null;

  function chooseProject(slug) {
    state.project = slug;
    sessionStorage.setItem(PROJECT, slug);
    $("#project-switcher").value = slug;
    for (const node of $$(".project-name")) node.textContent = label(current());
    // What was shown belongs to the other project.
    for (const name of ["events", "event", "chart", "keys", "settings"]) ticket(name);
    state.events = { cursors: [null], page: 0, query: state.events.query };
    fill("#events-table tbody", []);
    $("#event-detail").hidden = true;
    if (location.hash.startsWith("#/events/")) history.replaceState(null, "", "#/events");
  }

  function renderProjects() {
    const signature = JSON.stringify([state.projects, [...state.activity.values()], manages()]);
    const rows = state.projects.map((p) => {
      const seen = state.activity.get(p.slug);
      const archivable = manages() && p.slug !== "default" && p.status === "active";
      const open =
        p.status === "active"
          ? el("a", { href: "#/events", "data-open": p.slug, "data-key": "open:" + p.slug }, el("code", { text: p.slug }))
          : el("code", { text: p.slug });
      return el(
        "tr",
        { "data-slug": p.slug, class: p.status === "archived" ? "archived" : null },
        el("td", {}, open),
        el("td", { text: p.slug === "default" ? p.name + " (default)" : p.name }),
        el("td", { class: "status", text: p.status }),
        el("td", {}, p.created_at ? when(p.created_at) : el("span", { text: "—" })),
        el("td", { class: "num", text: seen ? seen.events_24h.toLocaleString("en") : "0" }),
        el("td", {}, when(seen ? seen.last_event : 0)),
        el("td", {}, archivable ? actionButton("Archive", "archive", p.slug, { "aria-label": "Archive " + p.slug }) : null),
      );
    });
    fill("#projects-table tbody", rows, signature);
  }

  async function renderPending(answer) {
    if (!answer) {
      $("#pending-usage").textContent = "Pending slugs are shown to org-wide keys only.";
      show("#pending-table", false);
      return;
    }
    const used = answer.limit - answer.remaining;
    $("#pending-usage").textContent =
      `Pending limit: ${used} of ${answer.limit} used. ` +
      (answer.remaining > 0
        ? `${answer.remaining} more new slugs may send data before one is created.`
        : "Data sent to any other new slug is refused until one of these is created.");
    const rows = answer.pending.map((p) =>
      el(
        "tr",
        { "data-slug": p.slug },
        el("td", {}, el("code", { text: p.slug })),
        el("td", { class: "num", "data-count": p.event_count, text: p.event_count.toLocaleString("en") }),
        el("td", {}, when(p.first_seen)),
        el("td", {}, when(p.last_seen)),
        el("td", {}, ...(p.endpoints.length ? p.endpoints.map((e) => el("code", { class: "endpoint", text: e })) : [el("span", { text: "not yet written" })])),
        el("td", {}, manages() ? actionButton("Create project", "adopt", p.slug, { "aria-label": "Create project " + p.slug }) : null),
      ),
    );
    fill("#pending-table tbody", rows, JSON.stringify([answer.pending, manages()]));
    show("#pending-table", rows.length > 0);
    show("#pending-empty", rows.length === 0);
  }

  async function refreshProjects() {
    const t = ticket("projects");
    try {
      const pending = orgWide() ? api("GET", "/v1/projects/pending") : Promise.resolve(null);
      await loadProjects();
      const answer = await pending;
      if (stale("projects", t)) return;
      renderProjects();
      renderPending(answer);
      refreshTimes();
      $("#refreshed").textContent = "Updated " + new Date().toLocaleTimeString("en-GB") + "; refreshes every few seconds.";
    } catch (e) {
      if (stale("projects", t)) return;
      $("#refreshed").textContent = "Error: could not refresh (" + e.message + "); retrying.";
    }
  }

  function slugProblem(slug) {
    if (!slug) return "Required.";
    if (slug.length > 63) return "Too long: at most 63 characters.";
    if (/[A-Z]/.test(slug) && /^[a-zA-Z0-9-]+$/.test(slug)) return `Lowercase only: "${slug.toLowerCase()}"?`;
    if (!/^[a-z0-9-]+$/.test(slug)) return "Only lowercase letters, digits and hyphens.";
    if (slug.startsWith("-") || slug.endsWith("-")) return "Must start and end with a letter or digit.";
    if (slug === "default") return '"default" is the Production project every org has.';
    if (state.projects.some((p) => p.slug === slug)) return "Taken: slugs are never reused, not even after archiving.";
    return null;
  }

  function checkSlug() {
    setError("#create-error", null);
    const slug = $("#create-slug").value.trim();
    const problem = slug ? slugProblem(slug) : null;
    const hint = $("#create-hint");
    hint.classList.toggle("bad", !!problem);
    hint.classList.toggle("good", !!slug && !problem);
    hint.textContent = problem
      ? "Not valid: " + problem
      : slug
        ? `OK: SDKs send X-Raindrop-Project-Id: ${slug}`
        : "Lowercase letters, digits and hyphens; it is what SDKs send in X-Raindrop-Project-Id and never changes.";
    $("#create-slug").setAttribute("aria-invalid", problem ? "true" : "false");
  }

  async function createProject(event) {
    event.preventDefault();
    setError("#create-error", null);
    const slug = $("#create-slug").value.trim();
    const name = $("#create-name").value.trim();
    const body = { slug };
    if (name) body.name = name;
    try {
      await api("POST", "/v1/projects", { body });
    } catch (e) {
      setError("#create-error", e);
      return;
    }
    ticket("projects");
    $("#create-form").reset();
    checkSlug();
    flash(`Created project ${slug}.`);
    await refreshProjects();
  }

  async function archive(slug) {
    const project = state.projects.find((p) => p.slug === slug);
    const name = project ? project.name : slug;
    const ok = await confirmDialog(
      `Archive ${name}?`,
      `${slug} will refuse new data and its events can no longer be read. ` +
        `Slugs are never reused: no project can ever be created as "${slug}" again, and this cannot be undone.`,
      `Archive ${slug}`,
    );
    if (!ok) return;
    try {
      await api("POST", `/v1/projects/${enc(slug)}/archive`);
      ticket("projects");
      flash(`Archived ${slug}.`);
    } catch (e) {
      flash("Error: " + e.message);
    }
    if (state.project === slug) state.project = null;
    await refreshProjects();
    if (state.view === "settings") location.hash = "#/projects";
  }

  function openAdopt(slug) {
    $("#adopt-slug").value = slug;
    $("#adopt-name").value = slug;
    setError("#adopt-error", null);
    $("#adopt-dialog").showModal();
    $("#adopt-name").focus();
  }

  async function adopt(event) {
    event.preventDefault();
    const slug = $("#adopt-slug").value;
    const name = $("#adopt-name").value.trim();
    try {
      await api("POST", "/v1/projects", { body: { slug, name } });
    } catch (e) {
      setError("#adopt-error", e);
      return;
    }
    ticket("projects");
    $("#adopt-dialog").close();
    flash(`Created project ${slug}: the data it had received is now readable.`);
    await refreshProjects();
  }

  // ---- Events explorer --------------------------------------------------

  function utc(value) {
    if (!value) return null;
    const v = value.length === 16 ? value + ":00" : value;
    return v + "Z";
  }

  function eventsQuery() {
    const q = [];
    const user = $("#filter-user").value.trim();
    const name = $("#filter-event").value.trim();
    const since = utc($("#filter-since").value);
    const until = utc($("#filter-until").value);
    if (user) q.push("user_id=" + enc(user));
    if (name) q.push("event_name=" + enc(name));
    if (since) q.push("timestamp[gte]=" + enc(since));
    if (until) q.push("timestamp[lt]=" + enc(until));
    return q.join("&");
  }

  async function loadEvents() {
    const t = ticket("events");
    setError("#events-error", null);
    if (!state.project) return setError("#events-error", { message: "No readable project." });
    const ev = state.events;
    $("#page-next").disabled = true;
    $("#page-prev").disabled = true;
    const cursor = ev.cursors[ev.page];
    const parts = [`limit=${PAGE_SIZE}`];
    if (ev.query) parts.push(ev.query);
    if (cursor) parts.push("cursor=" + enc(cursor));
    let answer;
    try {
      answer = await api("GET", "/v1/events?" + parts.join("&"), { project: state.project });
    } catch (e) {
      if (stale("events", t)) return;
      fill("#events-table tbody", []);
      setError("#events-error", e);
      $("#page-prev").disabled = ev.page === 0;
      return;
    }
    if (stale("events", t)) return;
    const rows = answer.data.map((e) =>
      el(
        "tr",
        { "data-event-id": e.id },
        el("td", {}, el("a", { href: "#/events/" + enc(e.id), "data-key": "event:" + e.id, title: e.id, text: e.timestamp.replace("T", " ").replace("Z", "") })),
        el("td", { text: e.event_name }),
        el("td", { text: e.user_id || "—" }),
        el("td", { text: e.model || "—" }),
        el("td", { class: "clip", text: e.user_input || "" }),
      ),
    );
    fill("#events-table tbody", rows);
    show("#events-empty", rows.length === 0);
    ev.cursors[ev.page + 1] = answer.meta.has_more ? answer.meta.cursor : undefined;
    ev.cursors.length = ev.page + 2;
    $("#page-next").disabled = !answer.meta.has_more;
    $("#page-prev").disabled = ev.page === 0;
    $("#page-number").textContent = `Page ${ev.page + 1}`;
  }

  async function showEvent(id) {
    const t = ticket("event");
    const box = $("#event-detail");
    state.lastEvent = id;
    let event;
    try {
      event = (await api("GET", "/v1/events/" + enc(id), { project: state.project })).data;
    } catch (e) {
      if (stale("event", t)) return;
      setError("#events-error", e);
      box.hidden = true;
      return;
    }
    if (stale("event", t)) return;
    $("#event-id").textContent = event.id;
    const fields = [
      ["Event", event.event_name],
      ["Time", event.timestamp],
      ["Received", event.received_at],
      ["User", event.user_id],
      ["Conversation", event.convo_id],
      ["Model", event.model],
      ["Input", event.user_input],
      ["Output", event.assistant_output],
      ["Attachments", [...event.input_attachments, ...event.output_attachments].map((a) => a.name || a.attachment_type || "attachment").join(", ")],
      ["Feature flags", Object.entries(event.feature_flags).map(([k, v]) => `${k}=${v}`).join(", ")],
    ];
    $("#event-fields").replaceChildren(
      ...fields.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]),
    );
    const signals = event.signals.map((s) => el("li", { text: s.name }));
    $("#event-signals").replaceChildren(...(signals.length ? signals : [el("li", { class: "hint", text: "No signals." })]));
    $("#event-properties").textContent = JSON.stringify(event.properties, null, 2);
    box.hidden = false;
    box.focus();
    let spans = [];
    let failed = null;
    try {
      spans = (await api("GET", "/v1/traces?event_id=" + enc(id), { project: state.project })).data;
    } catch (e) {
      failed = e;
    }
    if (stale("event", t)) return;
    $("#event-spans-empty").textContent = failed
      ? "Error: the spans could not be read (" + failed.message + ")."
      : "No spans are linked to this event.";
    fill(
      "#event-spans tbody",
      spans.map((s) =>
        el(
          "tr",
          { "data-span-id": s.span_id },
          el("td", { text: (s.parent_span_id ? "↳ " : "") + s.span_name }),
          el("td", { text: s.span_type }),
          el("td", { text: s.status }),
          el("td", { text: s.model || "—" }),
          el("td", { class: "num", text: (s.duration_ns / 1e6).toFixed(1) + " ms" }),
        ),
      ),
    );
    show("#event-spans", spans.length > 0);
    show("#event-spans-empty", spans.length === 0);
  }

  // ---- Ingest chart -----------------------------------------------------

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function loadChart() {
    const t = ticket("chart");
    setError("#chart-error", null);
    for (const [id, range] of [["#chart-hour", "minute"], ["#chart-month", "day"]]) {
      $(id).setAttribute("aria-pressed", String(state.chart === range));
    }
    if (!state.project) return setError("#chart-error", { message: "No readable project." });
    let answer;
    try {
      answer = await api("GET", `/v1/projects/${enc(state.project)}/ingest?interval=${state.chart}`);
    } catch (e) {
      if (!stale("chart", t)) setError("#chart-error", e);
      return;
    }
    if (stale("chart", t)) return;
    const minute = answer.interval === "minute";
    drawChart(answer.buckets, answer.interval);
    $("#chart-total").textContent = `${answer.total.toLocaleString("en")} events written ${minute ? "in the last hour" : "in the last 30 days"}.`;
    const busiest = answer.buckets.reduce((a, b) => (b.count > a.count ? b : a), answer.buckets[0]);
    $("#chart-caption").textContent =
      (minute ? "Events written per minute over the last hour" : "Events written per day over the last 30 days") +
      " (UTC, when downpour wrote them)." +
      (busiest && busiest.count ? ` Busiest: ${tickLabel(busiest.timestamp, answer.interval)}, ${busiest.count} events.` : "");
    // The same figures as a table, for screen readers.
    fill(
      "#chart-table tbody",
      answer.buckets
        .filter((b) => b.count > 0)
        .map((b) => el("tr", {}, el("td", { text: tickLabel(b.timestamp, answer.interval) }), el("td", { text: String(b.count) }))),
    );
  }

  function tickLabel(timestamp, interval) {
    return interval === "minute" ? timestamp.slice(11, 16) : timestamp.slice(0, 10);
  }

  function drawChart(buckets, interval) {
    const chart = $("#ingest-chart");
    // Drawn at the width it is shown at, so text is never stretched.
    const W = Math.max(320, Math.round(chart.getBoundingClientRect().width) || 720);
    chart.setAttribute("viewBox", `0 0 ${W} 260`);
    const H = 260;
    const left = 48;
    const bottom = 28;
    const top = 12;
    const max = Math.max(1, ...buckets.map((b) => b.count));
    const slot = (W - left - 8) / Math.max(1, buckets.length);
    const y = (v) => top + (H - top - bottom) * (1 - v / max);
    const nodes = [];
    for (const v of [0, Math.round(max / 2), max]) {
      nodes.push(svg("line", { class: "grid", x1: left, x2: W - 8, y1: y(v), y2: y(v) }));
      nodes.push(svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, v.toLocaleString("en")));
    }
    buckets.forEach((b, i) => {
      const h = H - bottom - y(b.count);
      const rect = svg("rect", { class: "bar-rect", x: left + i * slot + 1, y: y(b.count), width: Math.max(1, slot - 2), height: Math.max(0, h), "data-count": b.count });
      rect.append(svg("title", {}, `${tickLabel(b.timestamp, interval)}: ${b.count} events`));
      nodes.push(rect);
      const every = (interval === "minute" ? 10 : 5) * (W < 500 ? 2 : 1);
      if (i % every === 0) {
        const tick = interval === "minute" ? b.timestamp.slice(11, 16) : b.timestamp.slice(5, 10);
        nodes.push(svg("text", { x: left + i * slot + slot / 2, y: H - 8, "text-anchor": "middle" }, tick));
      }
    });
    nodes.push(svg("line", { class: "axis", x1: left, x2: W - 8, y1: H - bottom, y2: H - bottom }));
    chart.replaceChildren(...nodes);
  }

  // ---- Settings ---------------------------------------------------------

  async function loadSettings() {
    const t = ticket("settings");
    const p = current();
    for (const node of $$("#settings-form .field-error")) node.hidden = true;
    setError("#settings-error", null);
    if (!p) return setError("#settings-error", { message: "No readable project." });
    const s = p.settings;
    $("#set-name").value = p.name;
    $("#set-metadata").value = JSON.stringify(p.metadata);
    $("#set-rate").value = s.rate_limit_rpm === null ? "" : String(s.rate_limit_rpm);
    $("#set-body-hours").value = String(s.body_retention_hours);
    $("#set-log-days").value = String(s.log_retention_days);
    $("#set-origins").value = (s.allowed_origins || []).join("\n");
    $("#set-all-messages").checked = s.filter_all_messages;
    const editable = manages();
    for (const node of $$("#settings-form input, #settings-form textarea")) node.readOnly = !editable;
    $("#set-all-messages").disabled = !editable;
    $("#set-policy").disabled = !editable;
    let policies = [{ id: s.active_policy_id, name: s.active_policy_id }];
    try {
      policies = (await api("GET", "/v1/policies")).policies;
    } catch (e) {
      if (!stale("settings", t)) fieldError("active_policy_id", "the policies could not be read (" + e.message + ")");
    }
    if (stale("settings", t)) return;
    $("#set-policy").replaceChildren(...policies.map((policy) => el("option", { value: policy.id, text: `${policy.name} (${policy.id})` })));
    $("#set-policy").value = s.active_policy_id;
    show("#settings-save", editable);
    show("#settings-readonly", !editable);
    show("#archive-zone", editable && p.slug !== "default");
  }

  function number(raw) {
    const v = raw.trim();
    return /^\d+$/.test(v) ? Number(v) : v;
  }

  async function saveSettings(event) {
    event.preventDefault();
    for (const node of $$("#settings-form .field-error")) node.hidden = true;
    setError("#settings-error", null);
    let metadata;
    try {
      metadata = JSON.parse($("#set-metadata").value || "{}");
    } catch (_) {
      return fieldError("metadata", "is not valid JSON");
    }
    const rate = $("#set-rate").value.trim();
    const origins = $("#set-origins").value.split("\n").map((o) => o.trim()).filter(Boolean);
    const wanted = {
      name: $("#set-name").value.trim(),
      metadata,
      rate_limit_rpm: rate === "" ? null : number(rate),
      body_retention_hours: number($("#set-body-hours").value),
      log_retention_days: number($("#set-log-days").value),
      allowed_origins: origins.length ? origins : null,
      active_policy_id: $("#set-policy").value,
      filter_all_messages: $("#set-all-messages").checked,
    };
    // Only what this form changed: another admin's change to another
    // field since the page read the project stands.
    const p = current();
    const was = Object.assign({ name: p.name, metadata: p.metadata }, p.settings);
    const body = {};
    for (const [k, v] of Object.entries(wanted)) {
      if (JSON.stringify(v) !== JSON.stringify(was[k])) body[k] = v;
    }
    if (!Object.keys(body).length) return flash("Nothing changed.");
    try {
      await api("PATCH", `/v1/projects/${enc(state.project)}`, { body });
    } catch (e) {
      return fieldError(e.param, e.message);
    }
    await loadProjects();
    await loadSettings();
    flash("Saved the settings of " + state.project + ".");
  }

  function fieldError(param, message) {
    const selector = (part) => `#settings-form .field-error[data-field="${CSS.escape(part)}"]`;
    const field = (param || "").split(/[.[\]]/).filter(Boolean).find((part) => $(selector(part)));
    const node = field ? $(selector(field)) : null;
    if (node) {
      node.textContent = message;
      node.hidden = false;
    }
    setError("#settings-error", { message });
  }

  // ---- Keys -------------------------------------------------------------

  function keyRows(keys, revokePath) {
    return keys.map((k) =>
      el(
        "tr",
        { "data-key-id": k.id },
        el("td", {}, el("code", { text: k.prefix })),
        el("td", { text: k.role }),
        el("td", {}, when(k.created_at)),
        el("td", { text: k.revoked ? "revoked" : "active" }),
        el("td", {}, k.revoked ? null : actionButton("Revoke", "revoke", k.id, { "data-path": revokePath(k), "aria-label": "Revoke " + k.prefix })),
      ),
    );
  }

  async function loadKeys() {
    const t = ticket("keys");
    setError("#keys-error", null);
    const me = state.me;
    show("#keys-readonly", !me.can_manage_keys);
    show("#project-keys", me.can_manage_keys && !!state.project);
    show("#org-keys", me.can_manage_org);
    try {
      if (me.can_manage_keys && state.project) {
        const slug = enc(state.project);
        const list = await api("GET", `/v1/projects/${slug}/keys`);
        if (stale("keys", t)) return;
        fill("#project-keys-table tbody", keyRows(list.keys, (k) => `/v1/projects/${slug}/keys/${enc(k.id)}`));
        show("#project-keys-empty", list.keys.length === 0);
      }
      if (me.can_manage_org) {
        const list = await api("GET", "/v1/keys");
        if (stale("keys", t)) return;
        fill("#org-keys-table tbody", keyRows(list.keys.filter((k) => !k.project), (k) => `/v1/keys/${enc(k.id)}`));
      }
    } catch (e) {
      setError("#keys-error", e);
    }
  }

  function showSecret(created) {
    $("#key-secret").textContent = created.key;
    $("#key-copied").textContent = "";
    show("#key-secret-box", true);
    $("#key-copy").focus();
  }

  async function createKey(path, body) {
    setError("#keys-error", null);
    try {
      showSecret(await api("POST", path, { body }));
    } catch (e) {
      setError("#keys-error", e);
    }
    await loadKeys();
  }

  async function copySecret() {
    const text = $("#key-secret").textContent;
    try {
      await navigator.clipboard.writeText(text);
      $("#key-copied").textContent = "Copied.";
    } catch (_) {
      const range = document.createRange();
      range.selectNodeContents($("#key-secret"));
      const selection = getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      $("#key-copied").textContent = "Selected: press Ctrl+C (⌘C) to copy.";
    }
  }

  async function revoke(button) {
    const ok = await confirmDialog(
      "Revoke this key?",
      `Calls with ${button.getAttribute("aria-label").replace("Revoke ", "")} are refused once each server's cached copy expires (seconds). This cannot be undone.`,
      "Revoke",
    );
    if (!ok) return;
    try {
      await api("DELETE", button.dataset.path);
      flash("Revoked the key.");
    } catch (e) {
      setError("#keys-error", e);
    }
    await loadKeys();
  }

  // ---- Views and routing -------------------------------------------------

  function stopTimer() {
    state.pollGen += 1;
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
  }

  /** Runs `fn` every POLL_MS until the next route change (a tick still in
   * flight then ends its loop: it belongs to an older generation). */
  function poll(fn) {
    stopTimer();
    const gen = state.pollGen;
    const tick = async () => {
      if (!document.hidden) await fn();
      if (gen === state.pollGen && state.me) state.timer = setTimeout(tick, POLL_MS);
    };
    state.timer = setTimeout(tick, POLL_MS);
  }

  function showView(name) {
    state.view = name;
    for (const node of $$(".view")) node.hidden = node.id !== "view-" + name;
    for (const a of $$("#nav a")) {
      if (a.dataset.view === name) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  async function route(moved) {
    if (!state.me) return showView("signin");
    stopTimer();
    const [, view, arg] = (location.hash || "#/projects").split("/");
    if (view !== "keys") {
      // A new key's value is shown once, and only while on Keys.
      $("#key-secret").textContent = "";
      show("#key-secret-box", false);
    }
    if (moved && !arg) {
      const heading = document.querySelector(`#view-${CSS.escape(view || "projects")} h1`);
      if (heading) queueMicrotask(() => heading.focus());
    }
    switch (view) {
      case "events":
        showView("events");
        if (arg) {
          if (!$("#events-table tbody").children.length) await loadEvents();
          await showEvent(decodeURIComponent(arg));
        } else {
          $("#event-detail").hidden = true;
          await loadEvents();
          // Back from an event's detail: to its row.
          const back = state.lastEvent && $(`#events-table a[data-key="${CSS.escape("event:" + state.lastEvent)}"]`);
          if (back && moved) back.focus();
        }
        break;
      case "ingest":
        showView("ingest");
        await loadChart();
        break;
      case "settings":
        showView("settings");
        await loadSettings();
        break;
      case "keys":
        showView("keys");
        await loadKeys();
        break;
      default:
        showView("projects");
        await refreshProjects();
        poll(refreshProjects);
    }
  }

  function wire() {
    $("#signin-form").addEventListener("submit", signIn);
    $("#signout").addEventListener("click", () => signOut(""));
    $("#create-form").addEventListener("submit", createProject);
    $("#create-slug").addEventListener("input", checkSlug);
    $("#create-slug").addEventListener("change", checkSlug);
    $("#adopt-form").addEventListener("submit", adopt);
    $("#adopt-cancel").addEventListener("click", () => $("#adopt-dialog").close());
    $("#projects-table").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-action=archive]");
      if (button) archive(button.dataset.slug);
      const open = e.target.closest("a[data-open]");
      if (open) chooseProject(open.dataset.open);
    });
    $("#pending-table").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-action=adopt]");
      if (button) openAdopt(button.dataset.slug);
    });
    $("#project-switcher").addEventListener("change", (e) => {
      chooseProject(e.target.value);
      flash("");
      route();
    });
    $("#filters").addEventListener("submit", (e) => {
      e.preventDefault();
      state.events = { cursors: [null], page: 0, query: eventsQuery() };
      if (location.hash !== "#/events") location.hash = "#/events";
      else loadEvents();
    });
    $("#page-next").addEventListener("click", () => {
      const ev = state.events;
      if (typeof ev.cursors[ev.page + 1] !== "string") return;
      ev.page += 1;
      loadEvents();
    });
    $("#page-prev").addEventListener("click", () => {
      state.events.page = Math.max(0, state.events.page - 1);
      loadEvents();
    });
    $("#event-close").addEventListener("click", () => {
      location.hash = "#/events";
    });
    $("#chart-hour").addEventListener("click", () => {
      state.chart = "minute";
      loadChart();
    });
    $("#chart-month").addEventListener("click", () => {
      state.chart = "day";
      loadChart();
    });
    $("#settings-form").addEventListener("submit", saveSettings);
    $("#settings-archive").addEventListener("click", () => archive(state.project));
    $("#project-key-create").addEventListener("click", () => createKey(`/v1/projects/${enc(state.project)}/keys`, {}));
    $("#org-key-form").addEventListener("submit", (e) => {
      e.preventDefault();
      createKey("/v1/keys", { role: $("#org-key-role").value });
    });
    $("#key-copy").addEventListener("click", copySecret);
    for (const table of ["#project-keys-table", "#org-keys-table"]) {
      $(table).addEventListener("click", (e) => {
        const button = e.target.closest("button[data-action=revoke]");
        if (button) revoke(button);
      });
    }
    window.addEventListener("hashchange", () => {
      flash("");
      route(true);
    });
  }

  async function boot() {
    wire();
    const message = sessionStorage.getItem(SIGNOUT);
    sessionStorage.removeItem(SIGNOUT);
    if (!sessionStorage.getItem(KEY)) return showSignin(message);
    try {
      state.me = await api("GET", "/v1/me");
    } catch (e) {
      sessionStorage.removeItem(KEY);
      return showSignin(SIGNIN_ERRORS[e.status] || e.message);
    }
    await signedIn();
  }

  boot();
})();
