// Asks the server for /api/status and shows the answer on the page, sends
// the sign-up form to POST /api/users as JSON (stage 07), and (new in stage
// 09) logs in with POST /api/login, keeps the token, and shows who you are
// with GET /api/me.
// Served as text/javascript; charset=utf-8. No framework, no build step.
//
// Whatever the server sends back goes on the page with textContent, never
// innerHTML: a username is text, and must never become markup (that would
// be an XSS hole). Passwords and tokens go into requests and nowhere else:
// not the page, not the console.
"use strict";

// Helpers for every card on the page.

// Shows a result line: its text (and elements), coloured by `kind`
// ("ok", "down" or "unknown").
function showResult(line, kind, ...parts) {
  line.replaceChildren(...parts);
  line.className = "status status-" + kind;
}

// Fills a <dl> with one term and description for each key of `object`.
function showDetails(list, object) {
  list.replaceChildren();
  for (const [key, value] of Object.entries(object)) {
    const term = document.createElement("dt");
    term.textContent = key;
    const description = document.createElement("dd");
    description.textContent = String(value);
    list.append(term, description);
  }
}

// Marks one field of a form as wrong (for screen readers too), with the
// message beside it, in the element whose id is the field's id + "-error".
function markField(form, name, message) {
  const input = form.elements[name];
  input.setAttribute("aria-invalid", "true");
  document.getElementById(input.id + "-error").textContent = message;
}

function clearMarks(form) {
  for (const input of form.querySelectorAll("input")) {
    input.removeAttribute("aria-invalid");
    document.getElementById(input.id + "-error").textContent = "";
  }
}

// What the sign-up and login forms send: {"username": …, "password": …}.
function credentials(form) {
  return { username: form.elements.username.value, password: form.elements.password.value };
}

// Sends `data` to `path` as JSON. The response, or null when there is no
// HTTP answer at all (the only time fetch fails).
function postJson(path, data) {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(data),
  }).catch(() => null);
}

// The JSON body of a response. Our errors under /api/ are JSON; an answer
// that is not (say, the plain text 503 of the connection cap) gives {}.
function readBody(response) {
  return response.json().catch(() => ({}));
}

// Says on `line` why a request did not work: no answer, a busy server
// (503, with Retry-After), or the server's own message, with the field it
// names marked in `form` (if any).
function showFailure(line, response, body, form = null) {
  if (response === null) {
    showResult(line, "down", "the server did not answer: is it running?");
  } else if (response.status === 503) {
    const seconds = response.headers.get("Retry-After") ?? "a few";
    showResult(line, "down", `the server is busy: try again in ${seconds} s`);
  } else {
    const message = body.error ?? `the server answered ${response.status}`;
    showResult(line, "down", message);
    if (form !== null && (body.field === "username" || body.field === "password")) {
      markField(form, body.field, message);
    }
  }
}

// Server status.
const statusLine = document.getElementById("status");
const details = document.getElementById("details");

async function refresh() {
  showResult(statusLine, "unknown", "asking /api/status…");
  details.replaceChildren();
  try {
    const started = performance.now();
    const response = await fetch("/api/status", { cache: "no-store" });
    const milliseconds = Math.round(performance.now() - started);
    if (!response.ok) {
      showResult(statusLine, "down", `the server answered ${response.status}`);
      return;
    }
    const status = await response.json();
    const kind = status.status === "ok" ? "ok" : "down";
    showResult(statusLine, kind, `up: "${status.status}" in ${milliseconds} ms`);
    showDetails(details, status);
  } catch (error) {
    showResult(statusLine, "down", "no answer: is the server running?");
  }
}

document.getElementById("refresh").addEventListener("click", refresh);
refresh();

// Sign up (new in stage 07).
const signupForm = document.getElementById("signup");
const signupButton = signupForm.querySelector("button");
const signupResult = document.getElementById("signup-result");

async function signUp(event) {
  event.preventDefault(); // we send the form ourselves, as JSON
  clearMarks(signupForm);
  showResult(signupResult, "unknown", "signing up…");
  signupButton.disabled = true; // one sign-up at a time
  const response = await postJson("/api/users", credentials(signupForm));
  signupButton.disabled = false;
  const body = response === null ? {} : await readBody(response);
  if (response?.status === 201) {
    const link = document.createElement("a");
    link.href = response.headers.get("Location");
    link.textContent = link.getAttribute("href");
    // The server's username, not the one typed: it is case-folded.
    showResult(signupResult, "ok", `Signed up as ${body.username} (user ${body.id}): `, link);
    signupForm.reset(); // the password leaves the form too
  } else {
    showFailure(signupResult, response, body, signupForm);
  }
}

signupForm.addEventListener("submit", signUp);

// ANCHOR: token_storage
// Log in, and who am I (new in stage 09).
//
// Where the token is kept: sessionStorage. It survives a reload of this
// tab, is gone when the tab closes, and the browser never sends it by
// itself: only our code puts it in an Authorization header. The others:
// - a variable (memory) is lost on every reload, so you would log in again
//   each time;
// - a cookie is sent with every request to our server, even one another
//   site makes your browser send (CSRF), unless SameSite stops it, and only
//   an HttpOnly cookie is out of reach of scripts. The server would have to
//   set it; ours hands the token out in a JSON body instead.
// The price: any script running on this page can read sessionStorage. An
// XSS hole would leak the token, which is one more reason for textContent.
const TOKEN_KEY = "token";
// ANCHOR_END: token_storage

const loginForm = document.getElementById("login");
const loginButton = loginForm.querySelector("button");
const loginResult = document.getElementById("login-result");
const logoutButton = document.getElementById("logout");
const meResult = document.getElementById("me-result");
const meDetails = document.getElementById("me-details");

// Shows the login card as it stands: the form while we have no token, the
// "Log out" button while we have one, and whose token it is once the
// server has told us.
function showLogin(username = null) {
  const loggedIn = sessionStorage.getItem(TOKEN_KEY) !== null;
  loginForm.hidden = loggedIn;
  logoutButton.hidden = !loggedIn;
  if (!loggedIn) {
    showResult(loginResult, "unknown", "Not logged in");
  } else if (username === null) {
    showResult(loginResult, "ok", "Logged in");
  } else {
    showResult(loginResult, "ok", `Logged in as ${username}`);
  }
}

// ANCHOR: who_am_i
// GET /api/me, with the token if we have one. Without one the server
// answers 401 "a bearer token is required", and we show just that.
async function whoAmI() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  showResult(meResult, "unknown", "asking /api/me…");
  meDetails.replaceChildren();
  const headers = token === null ? {} : { Authorization: `Bearer ${token}` };
  const response = await fetch("/api/me", { headers, cache: "no-store" }).catch(() => null);
  const body = response === null ? {} : await readBody(response);
  if (response?.status === 200) {
    showResult(meResult, "ok", `You are ${body.username}`);
    showDetails(meDetails, { id: body.id, username: body.username, created_at: body.created_at });
    // The server's spelling of the name (`Alice` logs in as `alice`).
    showLogin(body.username);
  } else if (response?.status === 401 && token !== null) {
    // The server refused our token: it has expired (or was changed). It
    // will never work again, so forget it.
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin();
    showResult(meResult, "down", "Your session has expired; log in again");
  } else {
    showFailure(meResult, response, body);
  }
}
// ANCHOR_END: who_am_i

// ANCHOR: log_in
async function logIn(event) {
  event.preventDefault(); // we send the form ourselves, as JSON
  clearMarks(loginForm);
  showResult(loginResult, "unknown", "logging in…");
  loginButton.disabled = true; // one login at a time
  const response = await postJson("/api/login", credentials(loginForm));
  loginButton.disabled = false;
  const body = response === null ? {} : await readBody(response);
  if (response?.status !== 200) {
    // The 401 says "wrong username or password", never which of the two:
    // that would tell anyone which usernames exist.
    showFailure(loginResult, response, body, loginForm);
    return;
  }
  loginForm.reset(); // the password leaves the form
  sessionStorage.setItem(TOKEN_KEY, body.token);
  showLogin();
  await whoAmI(); // then "Logged in as …", in the server's spelling
}

// Logging out only forgets the token here. The server keeps no list of
// tokens, so it cannot take one back: a copy would work until it expires.
function logOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin();
  showResult(meResult, "unknown");
  meDetails.replaceChildren();
}
// ANCHOR_END: log_in

loginForm.addEventListener("submit", logIn);
logoutButton.addEventListener("click", logOut);
document.getElementById("whoami").addEventListener("click", whoAmI);

// A token kept from before a reload: check it, and show who it says we are.
showLogin();
if (sessionStorage.getItem(TOKEN_KEY) !== null) {
  whoAmI();
}
