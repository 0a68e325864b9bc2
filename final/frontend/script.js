// The page's whole behaviour, read top to bottom: helpers, then one part per
// card (server status, sign up, log in and log out, who am I).
// Served as text/javascript; charset=utf-8. No framework, no build step, and
// nothing loaded from anywhere but our own server (index.html's
// Content-Security-Policy says so, and the browser holds us to it).
//
// Whatever the server sends back goes on the page with textContent, never
// innerHTML: a username is text, and must never become markup (that would
// be an XSS hole). Passwords and tokens go into requests and nowhere else:
// not the page, not the console.
"use strict";

// ---------------------------------------------------------------- helpers

// Shows a status line: its text (and elements), coloured by `kind`
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
  return response === null ? Promise.resolve({}) : response.json().catch(() => ({}));
}

// What to tell a person about a request that did not work: no answer, a
// busy server (503, with Retry-After), or the server's own message.
function failureMessage(response, body) {
  if (response === null) return "the server did not answer: is it running?";
  if (response.status === 503) {
    const seconds = response.headers.get("Retry-After") ?? "a few";
    return `the server is busy: try again in ${seconds} s`;
  }
  return body.error ?? `the server answered ${response.status}`;
}

// Shows a failure by the form it belongs to. When the server names a field
// (`"field": "username"`), the message goes beside that field, which is
// marked invalid; it already points at that message with aria-describedby.
// Any other message goes under the form's button. Both places are
// role="alert": a screen reader says the message as it appears.
function showFormError(form, message, field) {
  const input = form.elements[field];
  if (input instanceof HTMLInputElement) {
    input.setAttribute("aria-invalid", "true");
    document.getElementById(input.id + "-error").textContent = message;
  } else {
    document.getElementById(form.id + "-error").textContent = message;
  }
}

function clearFormErrors(form) {
  for (const input of form.querySelectorAll("input")) {
    input.removeAttribute("aria-invalid");
    document.getElementById(input.id + "-error").textContent = "";
  }
  document.getElementById(form.id + "-error").textContent = "";
}

// Both forms send {"username": …, "password": …}.
function credentials(form) {
  return { username: form.elements.username.value, password: form.elements.password.value };
}

// Sends `form` to `path`, one request at a time (a second Enter while the
// first is on its way does nothing), with its old errors cleared. While it
// waits, the form is aria-busy. Returns the response (or null) and its body.
// (The button is not disabled: a disabled button loses the keyboard focus.)
async function sendForm(form, path) {
  form.setAttribute("aria-busy", "true");
  clearFormErrors(form);
  const response = await postJson(path, credentials(form));
  const body = await readBody(response);
  form.removeAttribute("aria-busy");
  return { response, body };
}

const isBusy = (element) => element.getAttribute("aria-busy") === "true";

// ----------------------------------------------------------- server status

const statusLine = document.getElementById("status");
const statusDetails = document.getElementById("details");

async function refresh() {
  showResult(statusLine, "unknown", "asking /api/status…");
  statusDetails.replaceChildren();
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
    showDetails(statusDetails, status);
  } catch (error) {
    showResult(statusLine, "down", "no answer: is the server running?");
  }
}

document.getElementById("refresh").addEventListener("click", refresh);
refresh();

// ----------------------------------------------------------------- sign up

const signupForm = document.getElementById("signup");
const signupResult = document.getElementById("signup-result");

async function signUp(event) {
  event.preventDefault(); // we send the form ourselves, as JSON
  if (isBusy(signupForm)) return;
  showResult(signupResult, "unknown", "signing up…");
  const { response, body } = await sendForm(signupForm, "/api/users");
  if (response?.status !== 201) {
    showResult(signupResult, "unknown");
    showFormError(signupForm, failureMessage(response, body), body.field);
    return;
  }
  // The server's username, not the one typed: it is case-folded.
  showResult(signupResult, "ok", `Signed up as ${body.username} (user ${body.id}). Now log in.`);
  signupForm.reset(); // the password leaves the form too
  document.getElementById("login-username").value = body.username; // to log in next
}

signupForm.addEventListener("submit", signUp);

// ---------------------------------------------------- log in and log out

// Where the token is kept: sessionStorage. It survives a reload of this
// tab, is gone when the tab closes, and the browser never sends it by
// itself: only our code puts it in an Authorization header. The others:
// - localStorage keeps it after the tab (and the browser) closes, for any
//   script on this origin to find days later;
// - a variable (memory) is lost on every reload, so you would log in again
//   each time;
// - a cookie is sent with every request to our server, even one another
//   site makes your browser send (CSRF), unless SameSite stops it, and only
//   an HttpOnly cookie is out of reach of scripts. The server would have to
//   set it; ours hands the token out in a JSON body instead.
// The price: any script running on this page can read sessionStorage. An
// XSS hole would leak the token, which is why we use textContent and why
// the Content-Security-Policy allows no script but ours.
const TOKEN_KEY = "token";

const loginForm = document.getElementById("login");
const loginResult = document.getElementById("login-result");
const logoutButton = document.getElementById("logout");

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

async function logIn(event) {
  event.preventDefault(); // we send the form ourselves, as JSON
  if (isBusy(loginForm)) return;
  showResult(loginResult, "unknown", "logging in…");
  const { response, body } = await sendForm(loginForm, "/api/login");
  if (response?.status !== 200) {
    // The 401 says "wrong username or password", never which of the two:
    // that would tell anyone which usernames exist.
    showResult(loginResult, "unknown", "Not logged in");
    showFormError(loginForm, failureMessage(response, body), body.field);
    return;
  }
  loginForm.reset(); // the password leaves the form
  sessionStorage.setItem(TOKEN_KEY, body.token);
  showLogin();
  // The form, and the field that had the focus, are now hidden: the focus
  // goes to what took their place.
  logoutButton.focus();
  await whoAmI(); // then "Logged in as …", in the server's spelling
}

// Logging out only forgets the token here. The server keeps no list of
// tokens, so it cannot take one back: a copy would work until it expires.
function logOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin();
  clearMe();
  loginForm.elements.username.focus(); // the button that had it is hidden
}

loginForm.addEventListener("submit", logIn);
logoutButton.addEventListener("click", logOut);

// -------------------------------------------------------------- who am I

const meCard = document.getElementById("me");
const meResult = document.getElementById("me-result");
const meError = document.getElementById("me-error");
const meDetails = document.getElementById("me-details");

// Empties the card: no answer shown.
function clearMe() {
  showResult(meResult, "unknown");
  meError.textContent = "";
  meDetails.replaceChildren();
}

// GET /api/me, with the token if we have one. Without one the server
// answers 401 "a bearer token is required", and we show just that.
async function whoAmI() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  meCard.setAttribute("aria-busy", "true");
  clearMe();
  showResult(meResult, "unknown", "asking /api/me…");
  const headers = token === null ? {} : { Authorization: `Bearer ${token}` };
  const response = await fetch("/api/me", { headers, cache: "no-store" }).catch(() => null);
  const body = await readBody(response);
  meCard.removeAttribute("aria-busy");
  if (response?.status === 200) {
    showResult(meResult, "ok", `You are ${body.username}`);
    showDetails(meDetails, { id: body.id, username: body.username, created_at: body.created_at });
    showLogin(body.username); // the server's spelling: `Alice` is `alice`
    return;
  }
  showResult(meResult, "unknown");
  if (response?.status === 401 && token !== null) {
    // The server refused our token: it has expired (or was changed). It
    // will never work again, so forget it.
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin();
    meError.textContent = "Your session has expired; log in again";
  } else {
    meError.textContent = failureMessage(response, body);
  }
}

document.getElementById("whoami").addEventListener("click", whoAmI);

// A token kept from before a reload: check it, and show who it says we are.
showLogin();
if (sessionStorage.getItem(TOKEN_KEY) !== null) {
  whoAmI();
}
