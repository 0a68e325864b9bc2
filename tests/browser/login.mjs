// Stage 09's "Log in" and "Who am I" cards, used the way a person uses them:
// headless Chromium (Debian's, driven by playwright-core) signs up, logs in,
// asks who it is, reloads, logs out, and we check what the page shows, where
// the token is kept, and where it must never be.
//
//   node tests/browser/login.mjs http://127.0.0.1:PORT/
//
// login.sh starts a fresh stage-09 (no users yet, so alice gets id 1) and
// runs this. Every request the page makes must go to that server: any other
// address is aborted. Every wait is bounded; any failure exits 1.
import assert from "node:assert/strict";
import { Browser } from "./harness.mjs";

const browser = await Browser.open("login");
const { page, context } = browser;
// Every password typed (and token seen): the harness checks, after each
// check, that none of them is in the page's markup or the console.
const secrets = browser.secrets;
const PASSWORD = "correct horse battery";

const text = (selector) => page.textContent(selector);
const storedToken = () => page.evaluate(() => sessionStorage.getItem("token"));

// Waits until the element's result line is no longer "…ing" (status-unknown).
async function resultShown(id) {
  await page.waitForFunction(
    (id) => /status-(ok|down)/.test(document.getElementById(id).className),
    id,
  );
}

async function signUp(username, password) {
  secrets.push(password);
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("#signup button[type=submit]");
  await resultShown("signup-result");
}

// Fills in the login form and clicks "Log in". Returns the token the server
// answered with (null if it refused), once the page has shown the outcome:
// a refusal, or "Logged in" and then the answer of GET /api/me.
async function logIn(username, password) {
  secrets.push(password);
  await page.fill("#login-username", username);
  await page.fill("#login-password", password);
  const answer = page.waitForResponse((response) => response.url().endsWith("/api/login"));
  await page.click("#login button[type=submit]");
  const response = await answer;
  const body = await response.json().catch(() => ({}));
  if (typeof body.token === "string") secrets.push(body.token);
  await page.waitForFunction(() => {
    const login = document.getElementById("login-result").className;
    const me = document.getElementById("me-result").className;
    return login.includes("status-down") ||
      (login.includes("status-ok") && /status-(ok|down)/.test(me));
  });
  return body.token ?? null;
}

// Clicks "Who am I?" and returns the request the page sent and its headers.
async function askWhoAmI() {
  const sent = page.waitForRequest((request) => request.url().endsWith("/api/me"));
  await page.click("#whoami");
  const request = await sent;
  await resultShown("me-result");
  return request.allHeaders();
}

async function meShown() {
  const terms = await page.locator("#me-details dt").allTextContents();
  const values = await page.locator("#me-details dd").allTextContents();
  return Object.fromEntries(terms.map((term, i) => [term, values[i]]));
}

async function fieldState(id) {
  return {
    invalid: await page.getAttribute(`#${id}`, "aria-invalid"),
    message: await text(`#${id}-error`),
  };
}


await browser.run("logging in, Who am I and logging out work", { cards: ["login", "whoami"], routes: ["**/api/login", "**/api/me"] }, async (check) => {

  await check("alice signs up with the sign-up form; nobody is logged in yet", async () => {
    await signUp("alice", PASSWORD);
    assert.equal(await text("#signup-result"), "Signed up as alice (user 1): /api/users/1");
    assert.equal(await text("#login-result"), "Not logged in");
    assert.ok(await page.isVisible("#login"), "the login form is shown");
    assert.ok(await page.isHidden("#logout"), "no Log out button");
  });

  await check("the sign-up form still marks its own fields (409 on alice again)", async () => {
    await signUp("alice", "another good password");
    assert.equal(await text("#signup-result"), "username is taken");
    assert.deepEqual(await fieldState("username"), { invalid: "true", message: "username is taken" });
    assert.deepEqual(await fieldState("login-username"), { invalid: null, message: "" });
  });

  await check("a wrong password shows the server's 401 and keeps no token", async () => {
    const token = await logIn("alice", "not her password");
    assert.equal(token, null);
    assert.equal(await text("#login-result"), "wrong username or password");
    assert.match(await page.getAttribute("#login-result", "class"), /status-down/);
    // The 401 names no field: neither is marked.
    assert.deepEqual(await fieldState("login-username"), { invalid: null, message: "" });
    assert.deepEqual(await fieldState("login-password"), { invalid: null, message: "" });
    assert.equal(await storedToken(), null);
  });

  // The page always sends both fields, so a real server never answers it
  // 422 or 503 on cue: these two answers are made up in the browser.
  await check("a 422 marks the field it names, with the sign-up form's helpers", async () => {
    await page.route("**/api/login", (route) =>
      route.fulfill({
        status: 422,
        contentType: "application/json",
        body: JSON.stringify({ error: "password is required", field: "password" }),
      }),
    );
    await logIn("alice", "typed, but the answer is made up");
    assert.equal(await text("#login-result"), "password is required");
    assert.deepEqual(await fieldState("login-password"), { invalid: "true", message: "password is required" });
    assert.deepEqual(await fieldState("login-username"), { invalid: null, message: "" });
    assert.deepEqual(await fieldState("password"), { invalid: null, message: "" }, "not the sign-up form's field");
  });

  await check("a 503 says when to try again (Retry-After)", async () => {
    await page.route("**/api/login", (route) =>
      route.fulfill({ status: 503, headers: { "Retry-After": "1" }, contentType: "application/json",
        body: JSON.stringify({ error: "too many logins at once; try again in a second" }) }),
    );
    await logIn("alice", "typed again, answer made up");
    assert.equal(await text("#login-result"), "the server is busy: try again in 1 s");
    assert.deepEqual(await fieldState("login-password"), { invalid: null, message: "" }, "the old mark is gone");
  });

  let token;
  await check("the right password logs in as alice (the server's spelling of Alice)", async () => {
    token = await logIn("Alice", PASSWORD);
    assert.match(token ?? "", /^[\w-]+\.[\w-]+\.[\w-]+$/, "the server answered a JWT");
    assert.equal(await text("#login-result"), "Logged in as alice");
    assert.ok(await page.isHidden("#login"), "the login form is hidden");
    assert.ok(await page.isVisible("#logout"), "a Log out button");
    assert.equal(await page.inputValue("#login-password"), "", "the password left the form");
  });

  await check("Who am I sends the token as a Bearer header and shows id, username, created_at", async () => {
    const headers = await askWhoAmI();
    assert.equal(headers.authorization, `Bearer ${token}`);
    assert.equal(await text("#me-result"), "You are alice");
    const me = await meShown();
    assert.deepEqual(Object.keys(me), ["id", "username", "created_at"]);
    assert.equal(me.id, "1");
    assert.equal(me.username, "alice");
    assert.match(me.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  await check("the token is in sessionStorage only: not localStorage, not a cookie", async () => {
    assert.equal(await storedToken(), token);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    assert.deepEqual(await context.cookies(), []);
    // (The DOM and the console are checked after every check.)
  });

  await check("a reload keeps the session", async () => {
    await page.reload();
    await resultShown("me-result");
    assert.equal(await text("#login-result"), "Logged in as alice");
    assert.equal((await meShown()).username, "alice");
    assert.equal(await storedToken(), token);
  });

  await check("Log out empties sessionStorage, and Who am I then shows the server's 401", async () => {
    await page.click("#logout");
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.equal(await text("#login-result"), "Not logged in");
    assert.ok(await page.isVisible("#login"), "the login form is back");
    assert.deepEqual(await meShown(), {}, "alice's details are gone");
    const headers = await askWhoAmI();
    assert.equal(headers.authorization, undefined, "no token was sent");
    assert.equal(await text("#me-result"), "a bearer token is required");
  });

  // A token whose payload was edited (a day added to its expiry) but whose
  // signature was not: what the server must refuse.
  const tampered = (jwt) => {
    const [header, payload, signature] = jwt.split(".");
    const claims = JSON.parse(Buffer.from(payload, "base64url"));
    claims.exp += 24 * 60 * 60;
    return [header, Buffer.from(JSON.stringify(claims)).toString("base64url"), signature].join(".");
  };

  await check("a tampered token: Who am I says the session expired and drops it", async () => {
    const fresh = await logIn("alice", PASSWORD);
    assert.equal(await text("#login-result"), "Logged in as alice");
    const forged = tampered(fresh);
    secrets.push(forged);
    await page.evaluate((forged) => sessionStorage.setItem("token", forged), forged);
    const headers = await askWhoAmI();
    assert.equal(headers.authorization, `Bearer ${forged}`);
    assert.equal(await text("#me-result"), "Your session has expired; log in again");
    assert.equal(await storedToken(), null, "the token is dropped");
    assert.equal(await text("#login-result"), "Not logged in");
    assert.ok(await page.isVisible("#login"), "the login form is back");
  });

  await check("a tampered token found after a reload is checked, refused and dropped", async () => {
    const fresh = await logIn("alice", PASSWORD);
    const forged = tampered(fresh);
    secrets.push(forged);
    await page.evaluate((forged) => sessionStorage.setItem("token", forged), forged);
    await page.reload();
    await resultShown("me-result");
    assert.equal(await text("#me-result"), "Your session has expired; log in again");
    assert.equal(await storedToken(), null, "the token is dropped");
    assert.equal(await text("#login-result"), "Not logged in");
  });

  // Our server allows no markup in a username, so this answer is made up:
  // whatever the server says is shown as text, never parsed as HTML.
  await check("a username with markup in it is shown as text (textContent, not innerHTML)", async () => {
    await logIn("alice", PASSWORD);
    const name = '<img src="/nope" onerror="window.injected = true">';
    await page.route("**/api/me", (route) =>
      route.fulfill({
        status: 200,
        contentType: "application/json",
        body: JSON.stringify({ id: 1, username: name, created_at: "2026-12-01T00:00:00Z" }),
      }),
    );
    await askWhoAmI();
    assert.equal(await text("#me-result"), `You are ${name}`);
    assert.equal(await text("#login-result"), `Logged in as ${name}`);
    assert.equal((await meShown()).username, name);
    assert.equal(await page.locator("main img").count(), 0, "the name became an element");
    assert.equal(await page.evaluate(() => window.injected), undefined);
  });
});
