// What the browser tests share: a headless Chromium on one page of a stage
// that runs on 127.0.0.1, a `check` that runs one named check and then makes
// sure no secret reached the page or the console, and the ending that says
// how it went.
//
//   const browser = await Browser.open("signup");   // reads the URL from argv
//   await browser.run("the sign-up form works", {cards: ["signup"], routes: ["**/api/users"]},
//     async (check, page) => { await check("…", async () => { … }); });
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

/** How long any one wait may take. */
export const WAIT_MS = 15_000;

export class Browser {
  /** Starts Chromium with a fresh profile, on the page named by argv[2]. */
  static async open(name) {
    const base = new URL(process.argv[2] ?? "");
    assert.equal(base.hostname, "127.0.0.1", "the server must be on 127.0.0.1");
    // The flags this machine's Chromium needs (see the machine notes):
    // without the background-networking ones it keeps trying to reach
    // Google's hosts.
    const profile = await mkdtemp(join(tmpdir(), `${name}-profile-`));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      headless: true,
      timeout: WAIT_MS,
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
      ],
    });
    context.setDefaultTimeout(WAIT_MS);
    // Every request the page makes must go to our server: anything else is
    // aborted.
    await context.route("**/*", (route) =>
      new URL(route.request().url()).host === base.host ? route.continue() : route.abort(),
    );
    const page = context.pages()[0] ?? (await context.newPage());
    return new Browser(base, profile, context, page);
  }

  constructor(base, profile, context, page) {
    this.base = base;
    this.profile = profile;
    this.context = context;
    this.page = page;
    /** Everything the page wrote to the console, and what it threw. */
    this.logged = [];
    /** Passwords typed and tokens seen: never allowed in the DOM or console. */
    this.secrets = [];
    this.failures = 0;
    page.on("console", (message) => this.logged.push(message.text()));
    page.on("pageerror", (error) => this.logged.push(`uncaught: ${error.message}`));
  }

  /**
   * Loads the page, waits for its status card, runs `checks(check, page)`,
   * and exits 0 if every check passed. `cards`: the ids whose card is shown
   * when a check fails; `routes`: what a check may answer in the browser
   * (undone after each check).
   */
  async run(success, { cards, routes }, checks) {
    const { page } = this;
    const check = async (name, body) => {
      try {
        await body();
        // Whatever happened, no secret so far is in the page's markup or
        // was written to the console.
        const html = await page.content();
        for (const secret of this.secrets) {
          assert.ok(!html.includes(secret), "a password or token is in the DOM");
          assert.ok(!this.logged.some((line) => line.includes(secret)), "a password or token is in the console");
        }
        console.log(`ok: ${name}`);
      } catch (error) {
        this.failures += 1;
        console.error(`FAILED: ${name}\n  ${error.message.replaceAll("\n", "\n  ")}`);
        for (const id of cards) {
          const card = await page.locator(`#${id}`).locator("..").innerHTML().catch(() => "?");
          console.error(`  the card around #${id} was:\n${card}`);
        }
      } finally {
        for (const route of routes) await page.unroute(route);
      }
    };
    try {
      await page.goto(this.base.href);
      await page.waitForFunction(() => document.getElementById("status").textContent.startsWith('up: "ok"'));
      await checks(check, page);
      await check("the page's script threw nothing", async () => {
        assert.deepEqual(this.logged.filter((line) => line.startsWith("uncaught")), []);
      });
    } catch (error) {
      this.failures += 1;
      console.error(`FAILED: the page did not load: ${error.message}`);
    } finally {
      await this.finish(success);
    }
  }

  /**
   * Closes Chromium, removes its profile, says how it went (`success`, or how
   * many checks failed) and exits: 0 if no check failed.
   */
  async finish(success) {
    await this.context.close();
    await rm(this.profile, { recursive: true, force: true });
    console.log(this.failures === 0 ? success : `${this.failures} check(s) failed`);
    process.exit(this.failures === 0 ? 0 : 1);
  }
}
