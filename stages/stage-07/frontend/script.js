// Asks the server for /api/status and shows the answer on the page, and (new
// in stage 07) sends the sign-up form to POST /api/users as JSON.
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

// Sign up (new in stage 07). Whatever the server sends back goes on the page
// with textContent, never innerHTML: a username is text, and must never
// become markup (that would be an XSS hole). The password goes into the
// request body and nowhere else: not the page, not the console.
const signupForm = document.getElementById("signup");
const signupButton = signupForm.querySelector("button");
const signupResult = document.getElementById("signup-result");

function showSignup(kind, ...parts) {
  signupResult.replaceChildren(...parts);
  signupResult.className = "status status-" + kind;
}

// Marks one field as wrong (for screen readers too), with the message beside it.
function markField(name, message) {
  signupForm.elements[name].setAttribute("aria-invalid", "true");
  document.getElementById(name + "-error").textContent = message;
}

function clearMarks() {
  for (const name of ["username", "password"]) {
    signupForm.elements[name].removeAttribute("aria-invalid");
    document.getElementById(name + "-error").textContent = "";
  }
}

// ANCHOR: sign_up
async function signUp(event) {
  event.preventDefault(); // we send the form ourselves, as JSON
  clearMarks();
  showSignup("unknown", "signing up…");
  signupButton.disabled = true; // one sign-up at a time
  const username = signupForm.elements.username.value;
  const password = signupForm.elements.password.value;
  const response = await fetch("/api/users", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  }).catch(() => null); // fetch fails only when there is no HTTP answer at all
  signupButton.disabled = false;
  if (response === null) {
    showSignup("down", "the server did not answer: is it running?");
    return;
  }
  // Our errors under /api/ are JSON; an answer that is not (say, the plain
  // text 503 of the connection cap) leaves `body` empty.
  const body = await response.json().catch(() => ({}));
  if (response.status === 201) {
    const link = document.createElement("a");
    link.href = response.headers.get("Location");
    link.textContent = link.getAttribute("href");
    // The server's username, not the one typed: it is case-folded.
    showSignup("ok", `Signed up as ${body.username} (user ${body.id}): `, link);
    signupForm.reset(); // the password leaves the form too
  } else if (response.status === 503) {
    const seconds = response.headers.get("Retry-After") ?? "a few";
    showSignup("down", `the server is busy: try again in ${seconds} s`);
  } else {
    const message = body.error ?? `the server answered ${response.status}`;
    showSignup("down", message);
    if (body.field === "username" || body.field === "password") {
      markField(body.field, message);
    }
  }
}
// ANCHOR_END: sign_up

signupForm.addEventListener("submit", signUp);
