// Asks the server for /api/status and shows the answer on the page.
// Served as text/javascript; charset=utf-8. No framework, no build step.
"use strict";

const statusLine = document.getElementById("status");
const details = document.getElementById("details");

function show(text, kind) {
  statusLine.textContent = text;
  statusLine.className = "status status-" + kind;
}

async function refresh() {
  show("asking /api/status…", "unknown");
  details.replaceChildren();
  try {
    const started = performance.now();
    const response = await fetch("/api/status", { cache: "no-store" });
    const milliseconds = Math.round(performance.now() - started);
    if (!response.ok) {
      show(`the server answered ${response.status}`, "down");
      return;
    }
    const status = await response.json();
    show(`up: "${status.status}" in ${milliseconds} ms`, status.status === "ok" ? "ok" : "down");
    for (const [key, value] of Object.entries(status)) {
      const term = document.createElement("dt");
      term.textContent = key;
      const description = document.createElement("dd");
      description.textContent = String(value);
      details.append(term, description);
    }
  } catch (error) {
    show("no answer: is the server running?", "down");
  }
}

document.getElementById("refresh").addEventListener("click", refresh);
refresh();
