// Steward desk: the only script (served from /static; the CSP allows no inline script).
// - countdowns: every [data-expires] (epoch seconds) shows the time left, "expired" once passed;
// - the queue: polls /api/queue and reloads when the set of open actions changed;
// - the journal: polls /api/journal?after=<newest id> and prepends new rows (textContent only).
"use strict";

function left(seconds) {
  if (seconds <= 0) return "expired";
  const s = Math.floor(seconds);
  if (s < 60) return "in " + s + "s";
  if (s < 3600) return "in " + Math.floor(s / 60) + "m " + (s % 60) + "s";
  return "in " + Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}

function tickCountdowns() {
  const now = Date.now() / 1000;
  for (const el of document.querySelectorAll("[data-expires]")) {
    const at = Number(el.dataset.expires);
    if (!at) continue;
    const text = left(at - now);
    el.textContent = text;
    el.dataset.ticking = "1";
    el.classList.toggle("over", text === "expired");
    if (text === "expired") {
      // the action can no longer be decided: hide the decision forms (the server refuses it anyway)
      for (const s of document.querySelectorAll("section.decide")) s.hidden = true;
    }
  }
}

async function watchQueue(section) {
  const url = section.dataset.watchQueue;
  let seen = null;
  for (;;) {
    try {
      const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { location.reload(); return; }  // the session ended: to the login, never a stale queue
      if (r.status === 200) {
        const body = JSON.stringify(await r.json());
        if (seen !== null && body !== seen) { location.reload(); return; }
        seen = body;
      }
    } catch (e) { /* the server restarts: try again */ }
    await new Promise((ok) => setTimeout(ok, 3000));
  }
}

function journalRow(e) {
  const tr = document.createElement("tr");
  const skip = new Set(["at", "type", "id", "host", "seq"]);
  for (const value of [e.at || "", e.type || "", e.host || ""]) {
    const td = document.createElement("td");
    td.textContent = String(value);
    tr.appendChild(td);
  }
  const td = document.createElement("td");
  for (const [k, v] of Object.entries(e)) {
    if (skip.has(k)) continue;
    const span = document.createElement("span");
    span.className = "kv";
    span.textContent = k + "=" + (typeof v === "string" ? v : JSON.stringify(v));
    td.appendChild(span);
    td.appendChild(document.createTextNode(" "));
  }
  tr.appendChild(td);
  tr.classList.add("new");
  return tr;
}

async function liveJournal(tbody) {
  let after = tbody.dataset.after || "";
  for (;;) {
    await new Promise((ok) => setTimeout(ok, 3000));
    try {
      const r = await fetch(tbody.dataset.live + "?after=" + encodeURIComponent(after) + (tbody.dataset.query || ""),
        { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { location.reload(); return; }
      if (r.status !== 200) continue;
      const events = (await r.json()).events;
      if (!events.length) continue;
      const empty = tbody.querySelector("tr.empty");
      if (empty) empty.remove();
      for (const e of events.slice().reverse()) tbody.insertBefore(journalRow(e), tbody.firstChild);
      after = events[0].id || after;
    } catch (e) { /* try again */ }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  tickCountdowns();
  setInterval(tickCountdowns, 1000);
  const queue = document.querySelector("[data-watch-queue]");
  if (queue) watchQueue(queue);
  const journal = document.querySelector("#journal-rows[data-live]");
  if (journal) liveJournal(journal);
});
