// The task inbox: plain JavaScript against the public API (no build step).
"use strict";

const api = "/api";
const state = {
  token: sessionStorage.getItem("covo.token"), me: null, tasks: [], open: null, source: null, retry: null, lastEventId: null,
};
const $ = (id) => document.getElementById(id);

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(api + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401 && path !== "/auth/login") { logout(); }
  const data = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, data };
}

function say(text) { $("status").textContent = text; }

// ------------------------------------------------------------------ login

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  const form = new URLSearchParams({ email: $("email").value, password: $("password").value });
  const response = await fetch(`${api}/auth/login`, { method: "POST", body: form });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) { $("login-error").textContent = data.error || "Login failed"; return; }
  state.token = data.token;
  sessionStorage.setItem("covo.token", data.token);
  await enter();
});

function logout() {
  sessionStorage.removeItem("covo.token");
  state.token = null;
  clearTimeout(state.retry);
  if (state.source) state.source.close();
  $("inbox-view").hidden = true; $("login-view").hidden = false; $("logout").hidden = true;
}
$("logout").addEventListener("click", logout);

async function enter() {
  const profile = await call("GET", "/auth/profile");
  if (!profile.ok) { logout(); return; }
  state.me = String(profile.data.id);
  $("who").textContent = profile.data.email || "";
  $("login-view").hidden = true; $("inbox-view").hidden = false; $("logout").hidden = false;
  await Promise.all([load(), unread()]);
  live();
  const wanted = new URLSearchParams(location.search).get("task");
  if (wanted) openTask(wanted);
}

// ------------------------------------------------------------------ the list

async function load() {
  const [field, dir] = $("sort").value.split(":");
  const query = new URLSearchParams({ myTasks: "true", status: $("filter").value, sortField: field, sortDir: dir, limit: "100" });
  const result = await call("GET", `/workflows/tasks?${query}`);
  if (!result.ok) { say(result.data.error || "Could not load tasks"); return; }
  state.tasks = result.data.data;
  render();
}

function when(iso) { return iso ? new Date(iso).toLocaleString() : "—"; }

function render() {
  const body = $("tasks").querySelector("tbody");
  body.replaceChildren();
  const now = Date.now();
  for (const task of state.tasks) {
    const row = document.createElement("tr");
    row.dataset.taskId = task.id;
    const open = ["PENDING", "IN_PROGRESS", "ESCALATED"].includes(task.status);
    if (open && task.dueDate && new Date(task.dueDate).getTime() < now) row.classList.add("overdue");
    if (task.status === "ESCALATED") row.classList.add("escalated");
    const who = task.claimedBy ? `claimed by ${task.claimedBy === state.me ? "me" : task.claimedBy}`
      : task.assignedTo ? (task.assignedTo === state.me ? "me" : task.assignedTo) : (task.assignedToRoles || []).join(", ");
    for (const [cls, text] of [["name", task.taskName], ["status", task.status], ["who", who],
                               ["due", when(task.dueDate)], ["priority", task.priority ?? ""]]) {
      const cell = document.createElement("td"); cell.className = cls; cell.textContent = text; row.append(cell);
    }
    const actions = document.createElement("td");
    const mine = task.claimedBy === state.me || (!task.claimedBy && task.assignedTo === state.me);
    if (open && !task.claimedBy) actions.append(button("Claim", "claim", () => command(task, "claim")));
    if (open && task.claimedBy === state.me) actions.append(button("Release", "release", () => command(task, "release")));
    if (open && mine) actions.append(button("Open", "open", () => openTask(task.id)));
    row.append(actions);
    body.append(row);
  }
  $("empty").hidden = state.tasks.length > 0;
}

function button(label, action, onClick) {
  const b = document.createElement("button");
  b.type = "button"; b.textContent = label; b.dataset.action = action; b.addEventListener("click", onClick);
  return b;
}

async function command(task, action) {
  const result = await call("POST", `/workflows/tasks/${task.id}/${action}`);
  say(result.ok ? `${result.data.message}` : (result.data.error || `Could not ${action}`));
  await load();
}

$("refresh").addEventListener("click", load);
$("filter").addEventListener("change", load);
$("sort").addEventListener("change", load);

// ------------------------------------------------------------------ the form

function schemaOf(formSchema) {
  if (!formSchema) return { type: "object", properties: {} };
  if (Array.isArray(formSchema.fields) && !formSchema.properties) {
    const types = { number: "number", integer: "integer", checkbox: "boolean", boolean: "boolean", email: "string", date: "string" };
    const properties = {};
    for (const f of formSchema.fields) {
      const p = { type: types[f.type] || "string", title: f.label };
      if (f.type === "email") p.format = "email";
      if (f.type === "date") p.format = "date";
      if (Array.isArray(f.options)) p.enum = f.options.map((o) => (typeof o === "object" ? o.value : o));
      properties[f.name] = p;
    }
    return { type: "object", properties, required: formSchema.fields.filter((f) => f.required).map((f) => f.name) };
  }
  return formSchema;
}

function renderFields(schema, container, prefix) {
  const required = new Set(schema.required || []);
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    if (prop.type === "object") {
      const set = document.createElement("fieldset");
      const legend = document.createElement("legend"); legend.textContent = prop.title || name; set.append(legend);
      set.dataset.path = path;
      renderFields(prop, set, path);
      container.append(set);
      continue;
    }
    const label = document.createElement("label");
    label.dataset.path = path;
    label.append(`${prop.title || name}${required.has(name) ? " *" : ""} `);
    let input;
    if (Array.isArray(prop.enum)) {
      input = document.createElement("select");
      input.append(new Option("", ""));
      for (const value of prop.enum) input.append(new Option(String(value), JSON.stringify(value)));
      input.dataset.kind = "enum";
    } else {
      input = document.createElement("input");
      const kind = prop.type === "boolean" ? "checkbox" : prop.type === "number" || prop.type === "integer" ? "number"
        : prop.format === "email" ? "email" : prop.format === "date" ? "date" : "text";
      input.type = kind;
      if (prop.type === "integer") input.step = "1";
      if (prop.type === "number") input.step = "any";
      input.dataset.kind = prop.type || "string";
    }
    input.name = path;
    const error = document.createElement("span"); error.className = "field-error";
    label.append(input, error);
    container.append(label);
  }
}

function formValue() {
  const data = {};
  for (const input of $("fields").querySelectorAll("input, select")) {
    let value;
    if (input.dataset.kind === "boolean") value = input.checked;
    else if (input.value === "") continue;
    else if (input.dataset.kind === "enum") value = JSON.parse(input.value);
    else if (input.dataset.kind === "number" || input.dataset.kind === "integer") value = Number(input.value);
    else value = input.value;
    const parts = input.name.split(".");
    let target = data;
    for (const part of parts.slice(0, -1)) target = target[part] = target[part] || {};
    target[parts[parts.length - 1]] = value;
  }
  return data;
}

function showErrors(details) {
  for (const el of $("fields").querySelectorAll(".invalid")) el.classList.remove("invalid");
  for (const el of $("fields").querySelectorAll(".field-error")) el.textContent = "";
  for (const { path, message } of details || []) {
    const holder = $("fields").querySelector(`[data-path="${CSS.escape(path)}"]`);
    if (!holder) continue;
    holder.classList.add("invalid");
    const slot = holder.querySelector(":scope > .field-error") || holder.appendChild(Object.assign(document.createElement("span"), { className: "field-error" }));
    slot.textContent = message;
  }
}

async function openTask(taskId) {
  const result = await call("GET", `/workflows/tasks/${taskId}`);
  if (!result.ok) { say(result.data.error || "Task not found"); return; }
  state.open = result.data.data;
  $("task-title").textContent = state.open.taskName;
  $("task-description").textContent = state.open.description || "";
  $("fields").replaceChildren();
  renderFields(schemaOf(state.open.formSchema), $("fields"), "");
  $("form-error").textContent = "";
  $("task-view").hidden = false;
}

$("close-task").addEventListener("click", () => { $("task-view").hidden = true; state.open = null; });

$("task-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const task = state.open;
  const body = { formData: formValue() };
  if ($("task-comments").value) body.comments = $("task-comments").value;
  const result = await call("POST", `/workflows/tasks/${task.id}/complete`, body);
  if (!result.ok) {
    $("form-error").textContent = result.data.error || "Could not complete the task";
    showErrors(result.data.details);
    return;
  }
  $("task-view").hidden = true; state.open = null;
  say(`Completed "${task.taskName}".`);
  await load();
  follow(task.workflowInstanceId);
});

async function follow(instanceId) {
  // Shows where the instance went after the task (a few looks: it moves on within moments).
  for (let i = 0; i < 20; i++) {
    const result = await call("GET", `/workflows/instances/${instanceId}`);
    if (!result.ok) return;
    const instance = result.data.data;
    $("status").dataset.instanceStatus = instance.status;
    say(`Completed. Instance ${instance.id}: ${instance.status} (step ${instance.currentStepId}).`);
    if (instance.status !== "RUNNING" && instance.status !== "PAUSED") return;
    if (instance.status === "PAUSED" && instance.currentStepId) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ------------------------------------------------------------------ live updates and notifications

async function unread() {
  const result = await call("GET", "/notifications/unread-count");
  if (result.ok) $("unread").textContent = String(result.data.unreadCount);
}

// The stream opens with a single-use ticket (valid 30 s): the bearer token never goes into a URL,
// where proxies would log it. A spent ticket cannot serve the browser's own reconnect, so on an
// error the page reconnects itself with a new ticket, resuming after the last event it saw.
async function live() {
  if (state.source) state.source.close();
  clearTimeout(state.retry);
  const result = await call("POST", "/notifications/stream-ticket").catch(() => ({ ok: false }));
  if (!state.token) return;
  if (!result.ok) { $("live").textContent = "reconnecting"; state.retry = setTimeout(live, 2000); return; }
  const query = new URLSearchParams({ ticket: result.data.ticket });
  if (state.lastEventId) query.set("lastEventID", state.lastEventId);
  const source = new EventSource(`${api}/events/stream?${query}`);
  state.source = source;
  const seen = (event) => { if (event.lastEventId) state.lastEventId = event.lastEventId; };
  source.onopen = () => { $("live").textContent = "live"; };
  source.onerror = () => {
    source.close();
    $("live").textContent = "reconnecting";
    if (state.token) state.retry = setTimeout(live, 2000);
  };
  source.addEventListener("task", (event) => { seen(event); load(); });
  source.addEventListener("notification", (event) => { seen(event); unread(); });
  source.addEventListener("instance", seen);
}

if (state.token) enter();
