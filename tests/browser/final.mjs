// The product's page (final/frontend/), used the way a person uses it, with
// the keyboard where it matters: headless Chromium (Debian's, driven by
// playwright-core) tabs through the page, signs up, logs in, asks who it is
// and logs out, and we check what the page shows, where the token is kept
// and where it must never be, and that the page is accessible: every field
// has a label, every error is shown beside its form and said aloud
// (role="alert"), the focus is always visible, and a 320 px screen needs no
// sideways scrolling. It saves screenshots of the page, logged in.
//
//   node tests/browser/final.mjs http://127.0.0.1:PORT/ ARTIFACT-FOLDER
//
// final.sh starts a fresh server (no users yet, so alice gets id 1) and runs
// this. Every request the page makes must go to that server: any other
// address is aborted, and counted as a failure. Every wait is bounded; any
// failure exits 1.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Browser } from "./harness.mjs";

const artifacts = process.argv[3];
assert.ok(artifacts, "usage: final.mjs URL ARTIFACT-FOLDER");

const browser = await Browser.open("final");
const { page, context } = browser;
// Every password typed (and token seen): the harness checks, after each
// check, that none of them is in the page's markup or the console.
const secrets = browser.secrets;
const PASSWORD = "correct horse battery";

// Everything the page asks for, to check that it all went to our server.
const requested = [];
page.on("request", (request) => requested.push(request.url()));

// The page as a person finds it: each form, and its fields by their labels.
const signup = page.locator("#signup");
const login = page.locator("#login");

const text = (selector) => page.textContent(selector);
const storedToken = () => page.evaluate(() => sessionStorage.getItem("token"));

// What has the keyboard focus: its id, or else its text ("" for nothing).
const focused = () =>
  page.evaluate(() => {
    const element = document.activeElement;
    if (element === null || element === document.body) return "";
    return element.id ? `#${element.id}` : element.textContent.trim();
  });

// Presses `key` wherever the focus is, and waits until the page has shown
// the answer to its request to `path`: the answer has come, and the element
// `busy` (the form or card that sent it) is no longer aria-busy.
async function pressAndWait(key, path, busy) {
  const answer = page.waitForResponse((response) => new URL(response.url()).pathname === path);
  await page.keyboard.press(key);
  const response = await answer;
  await page.waitForFunction(
    (id) => document.getElementById(id).getAttribute("aria-busy") !== "true",
    busy,
  );
  return response;
}

// Types `password` into the login form and presses Enter. Returns the token
// the server answered with (null if it refused), once the page has shown the
// outcome: a refusal, or "Logged in" and then the answer of GET /api/me.
async function logIn(username, password) {
  secrets.push(password);
  await login.getByLabel("Username").fill(username);
  await login.getByLabel("Password").fill(password);
  const me = page.waitForResponse((response) => response.url().endsWith("/api/me"));
  me.catch(() => {}); // not awaited when the login is refused
  const response = await pressAndWait("Enter", "/api/login", "login");
  const body = await response.json().catch(() => ({}));
  if (typeof body.token !== "string") return null;
  secrets.push(body.token);
  await me;
  await page.waitForFunction(() => document.getElementById("me").getAttribute("aria-busy") !== "true");
  return body.token;
}

// The id, username and created_at the "Who am I" card shows.
async function meShown() {
  const terms = await page.locator("#me-details dt").allTextContents();
  const values = await page.locator("#me-details dd").allTextContents();
  return Object.fromEntries(terms.map((term, i) => [term, values[i]]));
}

// Whether the field is marked invalid, and the error shown beside it.
async function fieldState(id) {
  return {
    invalid: await page.getAttribute(`#${id}`, "aria-invalid"),
    message: await text(`#${id}-error`),
  };
}

// Checks that the error of field `id` is shown (visible, role="alert"), sits
// in its form between the field and the next label, and describes the field.
async function errorBesideField(id, message) {
  assert.deepEqual(await fieldState(id), { invalid: "true", message });
  assert.ok(await page.isVisible(`#${id}-error`), "the error is visible");
  assert.equal(await page.getAttribute(`#${id}-error`, "role"), "alert");
  const describedBy = (await page.getAttribute(`#${id}`, "aria-describedby")).split(" ");
  assert.ok(describedBy.includes(`${id}-error`), "the field is described by its error");
  const beside = await page.evaluate((id) => {
    const field = document.getElementById(id);
    const error = document.getElementById(`${id}-error`);
    const next = error.nextElementSibling;
    return field.form.contains(error) &&
      Boolean(field.compareDocumentPosition(error) & Node.DOCUMENT_POSITION_FOLLOWING) &&
      (next === null || next.tagName !== "INPUT");
  }, id);
  assert.ok(beside, "the error is right after its field, in its form");
}

// No horizontal scrolling: the page is no wider than the window.
async function noSidewaysScroll() {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.ok(scroll <= client, `the page is ${scroll} px wide in a ${client} px window`);
}

// The order Tab visits things in, from the top of a freshly loaded page.
const TAB_ORDER = [
  "Skip to the cards", "#refresh",
  "#signup-username", "#signup-password", "Sign up",
  "#login-username", "#login-password", "Log in",
  "#whoami",
  "index.html", "style.css", "script.js", "/health", "/api/status",
];

async function reload() {
  await page.reload();
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith('up: "ok"'));
}


await browser.run("the page works, by keyboard too, and is accessible", { cards: ["signup", "login", "me-result"], routes: ["**/api/me"] }, async (check) => {

  await check("every field has a label, by which it is found, and every button a name", async () => {
    for (const form of [signup, login]) {
      for (const label of ["Username", "Password"]) {
        assert.equal(await form.getByLabel(label, { exact: true }).count(), 1, `${label} in a form`);
      }
      const tree = await form.ariaSnapshot();
      assert.match(tree, /textbox "Username"/);
      assert.match(tree, /textbox "Password"/);
    }
    // And no input anywhere without one.
    const unlabelled = await page.$$eval("input", (inputs) =>
      inputs.filter((input) => [...input.labels].every((l) => l.textContent.trim() === "")).map((i) => i.id));
    assert.deepEqual(unlabelled, []);
    for (const name of ["Ask again", "Sign up", "Log in", "Who am I?"]) {
      assert.equal(await page.getByRole("button", { name, exact: true }).count(), 1, name);
    }
  });

  await check("landmarks: a banner, one main, a footer", async () => {
    assert.equal(await page.getByRole("banner").count(), 1);
    assert.equal(await page.getByRole("main").count(), 1);
    assert.equal(await page.getByRole("contentinfo").count(), 1);
  });

  await check("Tab visits every control in page order, each with a visible focus outline", async () => {
    await reload();
    const seen = [];
    for (let i = 0; i < 30; i += 1) {
      await page.keyboard.press("Tab");
      const now = await focused();
      if (seen.includes(now) || now === "") break; // round again, or out of the page
      seen.push(now);
      const outline = await page.evaluate(() => {
        const style = getComputedStyle(document.activeElement);
        return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
      });
      assert.notEqual(outline.style, "none", `no focus outline on ${now}`);
      assert.ok(outline.width >= 2, `a ${outline.width} px focus outline on ${now}`);
    }
    assert.deepEqual(seen, TAB_ORDER);
  });

  await check("the skip link comes first, is seen when focused (even scrolled down), and leads to main", async () => {
    await reload();
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.keyboard.press("Tab");
    assert.equal(await focused(), "Skip to the cards");
    const box = await page.locator(".skip-link").boundingBox();
    assert.ok(box !== null && box.y >= 0, `the focused skip link is off screen: ${JSON.stringify(box)}`);
    await page.keyboard.press("Enter");
    assert.equal(await focused(), "#main");
    await page.keyboard.press("Tab");
    assert.equal(await focused(), "#refresh");
  });

  await check("sign up by keyboard alone: Tab to Username, type, Tab, type, Enter", async () => {
    // From "Ask again", where the last check left the focus.
    await page.keyboard.press("Tab");
    assert.equal(await focused(), "#signup-username");
    await page.keyboard.type("Alice");
    await page.keyboard.press("Tab");
    assert.equal(await focused(), "#signup-password");
    secrets.push(PASSWORD);
    await page.keyboard.type(PASSWORD);
    const response = await pressAndWait("Enter", "/api/users", "signup");
    assert.equal(response.status(), 201);
    assert.equal(await text("#signup-result"), "Signed up as alice (user 1). Now log in.");
    assert.equal(await page.inputValue("#signup-password"), "", "the password left the form");
    assert.equal(await page.inputValue("#login-username"), "alice", "the login form has the name");
    assert.equal(await text("#signup-error"), "");
  });

  await check("a taken name: the server's 409 beside the username field, marked and described", async () => {
    await page.keyboard.press("Shift+Tab");
    assert.equal(await focused(), "#signup-username");
    await page.keyboard.type("ALICE");
    await page.keyboard.press("Tab");
    secrets.push("another good password");
    await page.keyboard.type("another good password");
    const response = await pressAndWait("Enter", "/api/users", "signup");
    assert.equal(response.status(), 409);
    await errorBesideField("signup-username", "username is taken");
    assert.deepEqual(await fieldState("signup-password"), { invalid: null, message: "" });
    assert.equal(await text("#signup-result"), "", "no success line");
    assert.equal(await focused(), "#signup-password", "the focus stays where it was");
  });

  await check("a 7-byte password: the server's 422 beside the password field; the old mark goes", async () => {
    await signup.getByLabel("Username").fill("bob");
    await signup.getByLabel("Password").fill("1234567");
    secrets.push("1234567");
    const response = await pressAndWait("Enter", "/api/users", "signup");
    assert.equal(response.status(), 422);
    await errorBesideField("signup-password", "password must be 8 to 128 bytes long");
    assert.deepEqual(await fieldState("signup-username"), { invalid: null, message: "" });
  });

  await check("a wrong password: the server's 401 under the login form, said aloud", async () => {
    assert.equal(await logIn("alice", "not her password"), null);
    assert.equal(await text("#login-error"), "wrong username or password");
    assert.ok(await page.isVisible("#login-error"), "the error is visible");
    assert.equal(await page.getAttribute("#login-error", "role"), "alert");
    assert.ok(await page.evaluate(() => document.getElementById("login").contains(document.getElementById("login-error"))));
    // The 401 names no field: neither is marked; nor is the sign-up form touched.
    assert.deepEqual(await fieldState("login-username"), { invalid: null, message: "" });
    assert.deepEqual(await fieldState("login-password"), { invalid: null, message: "" });
    assert.equal(await text("#signup-error"), "");
    assert.equal(await text("#login-result"), "Not logged in");
    assert.equal(await storedToken(), null);
  });

  let token;
  await check("the right password logs in as alice; the focus moves to Log out", async () => {
    token = await logIn("Alice", PASSWORD);
    assert.match(token ?? "", /^[\w-]+\.[\w-]+\.[\w-]+$/, "the server answered a JWT");
    assert.equal(await text("#login-result"), "Logged in as alice");
    assert.equal(await text("#login-error"), "", "the old error is gone");
    assert.ok(await page.isHidden("#login"), "the login form is hidden");
    assert.equal(await focused(), "#logout");
    assert.equal(await page.inputValue("#login-password"), "", "the password left the form");
  });

  await check("Who am I (Tab, Enter) sends the token as a Bearer header and shows id, username, created_at", async () => {
    await page.keyboard.press("Tab");
    assert.equal(await focused(), "#whoami");
    const sent = page.waitForRequest((request) => request.url().endsWith("/api/me"));
    await pressAndWait("Enter", "/api/me", "me");
    assert.equal((await (await sent).allHeaders()).authorization, `Bearer ${token}`);
    assert.equal(await text("#me-result"), "You are alice");
    const me = await meShown();
    assert.deepEqual(Object.keys(me), ["id", "username", "created_at"]);
    assert.equal(me.id, "1");
    assert.equal(me.username, "alice");
    assert.match(me.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  await check("a screenshot of the page, logged in", async () => {
    const path = join(artifacts, "final-page.png");
    await page.screenshot({ path, fullPage: true });
    console.log(`  screenshot: ${path}`);
  });

  await check("the token is in sessionStorage only: not localStorage, a cookie or the URL", async () => {
    assert.equal(await storedToken(), token);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    assert.deepEqual(await context.cookies(), []);
    assert.ok(!page.url().includes(token));
    // (The DOM and the console are checked after every check.)
  });

  await check("at 320 px wide nothing scrolls sideways", async () => {
    await page.setViewportSize({ width: 320, height: 640 });
    await noSidewaysScroll();
    const path = join(artifacts, "final-page-320px.png");
    await page.screenshot({ path, fullPage: true });
    console.log(`  screenshot: ${path}`);
  });

  await check("Log out (Enter) empties sessionStorage, and Who am I then shows the server's 401", async () => {
    await page.locator("#logout").focus();
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.equal(await text("#login-result"), "Not logged in");
    assert.ok(await page.isVisible("#login"), "the login form is back");
    assert.equal(await focused(), "#login-username", "the focus went to the form");
    assert.deepEqual(await meShown(), {}, "alice's details are gone");
    const sent = page.waitForRequest((request) => request.url().endsWith("/api/me"));
    await page.locator("#whoami").focus();
    await pressAndWait("Enter", "/api/me", "me");
    assert.equal((await (await sent).allHeaders()).authorization, undefined, "no token was sent");
    assert.equal(await text("#me-error"), "a bearer token is required");
    assert.ok(await page.isVisible("#me-error"));
    assert.equal(await page.getAttribute("#me-error", "role"), "alert");
    await noSidewaysScroll(); // still 320 px wide, now with an error shown
    await page.setViewportSize({ width: 1280, height: 720 });
  });

  await check("a refused token: Who am I says the session expired and drops it", async () => {
    await page.evaluate(() => sessionStorage.setItem("token", "not.a.token"));
    await page.locator("#whoami").focus();
    await pressAndWait("Enter", "/api/me", "me");
    assert.equal(await text("#me-error"), "Your session has expired; log in again");
    assert.equal(await storedToken(), null, "the token is dropped");
    assert.equal(await text("#login-result"), "Not logged in");
  });

  // Our server allows no markup in a username, so this answer is made up:
  // whatever the server says is shown as text, never parsed as HTML.
  await check("a username with markup in it is shown as text", async () => {
    const name = '<img src="/nope" onerror="window.injected = true">';
    await page.route("**/api/me", (route) =>
      route.fulfill({
        status: 200,
        contentType: "application/json",
        body: JSON.stringify({ id: 1, username: name, created_at: "2026-12-01T00:00:00Z" }),
      }),
    );
    await page.locator("#whoami").focus();
    await pressAndWait("Enter", "/api/me", "me");
    assert.equal(await text("#me-result"), `You are ${name}`);
    assert.equal((await meShown()).username, name);
    assert.equal(await page.locator("main img").count(), 0, "the name became an element");
    assert.equal(await page.evaluate(() => window.injected), undefined);
  });

  await check("dark and reduced-motion preferences are followed", async () => {
    const look = () => page.evaluate(() => ({
      background: getComputedStyle(document.documentElement).backgroundColor,
      transition: getComputedStyle(document.querySelector("button")).transitionDuration,
    }));
    await page.emulateMedia({ colorScheme: "light", reducedMotion: "no-preference" });
    const light = await look();
    await page.emulateMedia({ colorScheme: "dark", reducedMotion: "reduce" });
    const dark = await look();
    await page.emulateMedia({ colorScheme: null, reducedMotion: null });
    const brightness = (rgb) => rgb.match(/\d+/g).slice(0, 3).reduce((sum, v) => sum + Number(v), 0);
    assert.ok(brightness(light.background) > 600, `a light background: ${light.background}`);
    assert.ok(brightness(dark.background) < 150, `a dark background: ${dark.background}`);
    assert.notEqual(light.transition, "0s", "buttons have a transition to turn off");
    assert.equal(dark.transition, "0s", "no transition when less motion is asked for");
  });

  await check("the Content-Security-Policy refuses an inline script", async () => {
    await page.evaluate(() => {
      const script = document.createElement("script");
      script.textContent = "window.inlineRan = true;";
      document.body.append(script);
    });
    assert.equal(await page.evaluate(() => window.inlineRan), undefined);
  });

  await check("every request the page made went to our server", async () => {
    const elsewhere = requested.filter((url) => !url.startsWith("data:") && new URL(url).origin !== browser.base.origin);
    assert.deepEqual(elsewhere, []);
  });
});
