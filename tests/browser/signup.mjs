// The sign-up form of stage 07, used the way a person uses it: headless
// Chromium (Debian's, driven by playwright-core) types into the form, clicks
// "Sign up", and we check what the page then shows.
//
//   node tests/browser/signup.mjs http://127.0.0.1:PORT/
//
// signup.sh starts a fresh stage-07 (no users yet, so the first one gets id 1)
// and runs this. Every request the page makes must go to that server: any
// other address is aborted. Every wait is bounded; any failure exits 1.
import assert from "node:assert/strict";
import { Browser } from "./harness.mjs";

const browser = await Browser.open("signup");
const { page } = browser;
// Every password typed (and token seen): the harness checks, after each
// check, that none of them is in the page's markup or the console.
const passwordsTyped = browser.secrets;

// Fills in the form, clicks "Sign up", and waits for the answer to be shown
// (the result stops saying "signing up…").
async function signUp(username, password) {
  passwordsTyped.push(password);
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("#signup button[type=submit]");
  await page.waitForFunction(() => {
    const result = document.getElementById("signup-result");
    return /status-(ok|down)/.test(result.className);
  });
}

async function fieldState(name) {
  return {
    invalid: await page.getAttribute(`#${name}`, "aria-invalid"),
    message: await page.textContent(`#${name}-error`),
  };
}

// From now on, POST /api/users is answered by `handler` in the browser, not
// by the server (until the check ends).
async function answerSignUpsWith(handler) {
  await page.route("**/api/users", handler);
}


await browser.run("the sign-up form works", { cards: ["signup"], routes: ["**/api/users"] }, async (check) => {

  await check("a valid sign-up shows the case-folded username and id 1", async () => {
    await signUp("Alice", "correct horse battery");
    assert.equal(await page.textContent("#signup-result"), "Signed up as alice (user 1): /api/users/1");
    assert.equal(await page.getAttribute("#signup-result a", "href"), "/api/users/1");
    assert.deepEqual(await fieldState("username"), { invalid: null, message: "" });
    assert.equal(await page.inputValue("#password"), "", "the form is cleared");
  });

  await check("the same username again (in capitals) shows the server's 409 and marks the username", async () => {
    await signUp("ALICE", "another good password");
    assert.equal(await page.textContent("#signup-result"), "username is taken");
    assert.deepEqual(await fieldState("username"), { invalid: "true", message: "username is taken" });
    assert.deepEqual(await fieldState("password"), { invalid: null, message: "" });
  });

  await check("a 7-byte password shows the server's 422 and marks the password", async () => {
    await signUp("bob", "1234567");
    const message = "password must be 8 to 128 bytes long";
    assert.equal(await page.textContent("#signup-result"), message);
    assert.deepEqual(await fieldState("password"), { invalid: "true", message });
    assert.deepEqual(await fieldState("username"), { invalid: null, message: "" }, "the old mark is gone");
  });

  // The last two answers are made up in the browser (page.route), since a
  // real server cannot be told to be busy or gone on cue.
  await check("a 503 says when to try again (Retry-After)", async () => {
    await answerSignUpsWith((route) =>
      route.fulfill({ status: 503, headers: { "Retry-After": "7" }, body: "busy\n" }),
    );
    await signUp("carol", "good password 3");
    assert.equal(await page.textContent("#signup-result"), "the server is busy: try again in 7 s");
  });

  await check("no answer at all says the server did not answer", async () => {
    await answerSignUpsWith((route) => route.abort("connectionrefused"));
    await signUp("dave", "good password 4");
    assert.equal(await page.textContent("#signup-result"), "the server did not answer: is it running?");
  });
});
