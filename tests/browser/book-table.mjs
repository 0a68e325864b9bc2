// The book's conformance tables, looked at the way a reader sees them: the
// built book is served on 127.0.0.1, headless Chromium (Debian's, driven by
// playwright-core) opens each page that has a table with a column per stage
// (a `stage-NN` header), at 1280×800 and 1920×1080, and we check what it
// lays out. The columns after "Conversation" and "A correct server" hold the
// verdicts, one per stage (and `backend`, the final binary):
//
// - the page itself never scrolls sideways, and the table's box ends inside
//   the window;
// - the last column's header can be reached: it is in view, or the table's
//   own box scrolls to it, and then it is neither cut by the box nor hidden
//   under the first column, which stays in place;
// - no verdict cell (header or mark) wraps onto a second line;
// - the marks are words (`pass`, `fail → 03`, `–`), not emoji, and Chromium
//   draws them without an emoji font;
// - the same holds with twelve verdict columns, and always with at least one
//   more than today (the real table with its last stage's column copied), so
//   the next stage cannot break the layout.
//
//   node tests/browser/book-table.mjs http://127.0.0.1:PORT/ SCREENSHOT_DIR PAGE.html...
//
// book-table.sh builds the book, serves it with stage 06 and runs this. It
// saves a screenshot of each page at each size in SCREENSHOT_DIR. Every
// request must go to that server (any other address is aborted); every wait
// is bounded; any failure exits 1.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Browser } from "./harness.mjs";

const [screenshots, ...pages] = process.argv.slice(3);
assert.ok(screenshots && pages.length > 0, "usage: book-table.mjs URL SCREENSHOT_DIR PAGE.html...");
await mkdir(screenshots, { recursive: true });

const SIZES = [
  { width: 1280, height: 800 },
  { width: 1920, height: 1080 },
];
/**
 * How many verdict columns the widened table gets at least: twelve, one more
 * than today's eleven (stages 02 to 11, and `backend`). It always gets at
 * least one more than the book has, whatever that is.
 */
const FUTURE_STAGE_COLUMNS = 12;

const browser = await Browser.open("book-table");
const { page, context } = browser;
// Chromium's own account of which fonts drew a node's text.
const cdp = await context.newCDPSession(page);
await cdp.send("DOM.enable");
await cdp.send("CSS.enable");

async function check(name, body) {
  try {
    const detail = await body();
    console.log(`ok: ${name}${detail ? ` (${detail})` : ""}`);
  } catch (error) {
    browser.failures += 1;
    console.error(`FAILED: ${name}\n  ${error.message.replaceAll("\n", "\n  ")}`);
  }
}

/**
 * Measures every table on the page with a `stage-NN` column header. For each
 * one: where its box and its last column's header end up once the box is
 * scrolled all the way right, and every stage cell that takes more than one
 * line or holds anything but a mark. Marks one cell of each distinct text
 * with `data-font-probe` for the font check.
 */
function measureTables() {
  const STAGE = /^stage-\d\d$/;
  const MARK = /^(pass|fail → \d\d|–)$/;
  const EMOJI = /\p{Extended_Pictographic}|\p{Emoji_Presentation}|\uFE0F/u;
  const view = document.documentElement;
  const round = (n) => Math.round(n * 10) / 10;
  // How many lines a cell's text takes: the height of its text, in lines.
  const lines = (cell) => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    const height = range.getBoundingClientRect().height;
    const style = getComputedStyle(cell);
    const lineHeight =
      style.lineHeight === "normal" ? 1.2 * parseFloat(style.fontSize) : parseFloat(style.lineHeight);
    return Math.max(1, Math.round(height / lineHeight));
  };
  for (const probe of document.querySelectorAll("[data-font-probe]")) probe.removeAttribute("data-font-probe");
  const probed = new Set();
  const tables = [...document.querySelectorAll("table")].filter((table) =>
    [...table.querySelectorAll("thead th")].some((th) => STAGE.test(th.textContent.trim())),
  );
  return {
    pageWidth: view.scrollWidth,
    windowWidth: view.clientWidth,
    tables: tables.map((table, index) => {
      const headers = [...table.querySelectorAll("thead th")];
      // A verdict column for each stage (`stage-05`, or `backend`) after the
      // two text columns, "Conversation" and "A correct server".
      const stageColumns = headers.flatMap((_, column) => (column >= 2 ? [column] : []));
      const box = table.closest(".table-wrapper") ?? table.parentElement;
      box.scrollIntoView({ block: "start" });
      box.scrollLeft = box.scrollWidth;
      const boxRect = box.getBoundingClientRect();
      const inner = {
        left: boxRect.left + box.clientLeft,
        right: boxRect.left + box.clientLeft + box.clientWidth,
      };
      const last = headers[stageColumns.at(-1)];
      const lastRect = last.getBoundingClientRect();
      const firstRect = headers[0].getBoundingClientRect();
      const result = {
        index,
        stageColumns: stageColumns.length,
        lastHeader: last.textContent.trim(),
        scrollsSideways: box.scrollWidth - box.clientWidth,
        overflowX: getComputedStyle(box).overflowX,
        box: { left: round(boxRect.left), right: round(boxRect.right), inner },
        last: { left: round(lastRect.left), right: round(lastRect.right), cut: last.scrollWidth > last.clientWidth },
        firstColumnRight: round(firstRect.right),
        wrapped: [],
        notMarks: [],
      };
      box.scrollLeft = 0;
      for (const row of table.querySelectorAll("tr")) {
        for (const column of stageColumns) {
          const cell = row.children[column];
          if (!cell) continue;
          const text = cell.textContent.trim();
          const taken = lines(cell);
          if (taken > 1) result.wrapped.push(`${JSON.stringify(text)}: ${taken} lines`);
          if (cell.tagName === "TD" && (!MARK.test(text) || EMOJI.test(text))) result.notMarks.push(text);
          if (!probed.has(text)) {
            probed.add(text);
            cell.setAttribute("data-font-probe", String(index));
          }
        }
      }
      return result;
    }),
  };
}

/** The font families Chromium used for each probed cell: `text → [families]`. */
async function fontsOfProbes() {
  const { root } = await cdp.send("DOM.getDocument", { depth: 0 });
  const { nodeIds } = await cdp.send("DOM.querySelectorAll", { nodeId: root.nodeId, selector: "[data-font-probe]" });
  const fonts = [];
  for (const nodeId of nodeIds) {
    const text = (await cdp.send("DOM.getOuterHTML", { nodeId })).outerHTML.replace(/<[^>]*>/g, "");
    const { fonts: used } = await cdp.send("CSS.getPlatformFontsForNode", { nodeId });
    fonts.push({ text, families: used.map((font) => font.familyName) });
  }
  return fonts;
}

/**
 * Copies the last `stage-NN` column until the table has `count` verdict
 * columns, and at least one more than it had, each copy named after the
 * stage that would come next and put after the last; returns how many it
 * added.
 */
function widenTo(count) {
  const STAGE = /^stage-(\d\d)$/;
  const table = [...document.querySelectorAll("table")].find((table) =>
    [...table.querySelectorAll("thead th")].some((th) => STAGE.test(th.textContent.trim())),
  );
  const headers = [...table.querySelectorAll("thead th")];
  const verdicts = headers.length - 2;
  const wanted = Math.max(count, verdicts + 1);
  const last = headers.findLastIndex((th) => STAGE.test(th.textContent.trim()));
  let number = Number(headers[last].textContent.trim().match(STAGE)[1]);
  for (let added = verdicts; added < wanted; added += 1) {
    number += 1;
    for (const row of table.querySelectorAll("tr")) {
      const copy = row.children[last].cloneNode(true);
      if (copy.tagName === "TH") copy.textContent = `stage-${String(number).padStart(2, "0")}`;
      row.children[last + added - verdicts].after(copy);
    }
  }
  return wanted - verdicts;
}

/** The first few of `items`, for a message. */
const some = (items) => items.slice(0, 6).join(", ") + (items.length > 6 ? ", …" : "");

/** The checks for one page at one size, on the tables as they are laid out now. */
async function checkTables(label, measured) {
  await check(`${label}: the page does not scroll sideways`, async () => {
    assert.ok(
      measured.pageWidth <= measured.windowWidth,
      `the page is ${measured.pageWidth} px wide in a ${measured.windowWidth} px window`,
    );
  });
  await check(`${label}: the page has a table with a stage column`, async () => {
    assert.ok(measured.tables.length > 0, "no table has a stage-NN header");
  });
  for (const table of measured.tables) {
    const name = `${label}, table ${table.index + 1} (${table.stageColumns} verdict columns)`;
    await check(`${name}: the last column, ${table.lastHeader}, can be reached and is not cut`, async () => {
      assert.ok(
        table.box.right <= measured.windowWidth + 0.5,
        `the table's box ends at ${table.box.right} px, past the ${measured.windowWidth} px window`,
      );
      if (table.scrollsSideways > 0) {
        assert.ok(
          ["auto", "scroll"].includes(table.overflowX),
          `the table is ${table.scrollsSideways} px wider than its box, which does not scroll (overflow-x: ${table.overflowX})`,
        );
      }
      const { inner } = table.box;
      assert.ok(
        table.last.left >= inner.left - 0.5 && table.last.right <= inner.right + 0.5,
        `scrolled all the way right, ${table.lastHeader} spans ${table.last.left}–${table.last.right} px, ` +
          `outside the box's ${inner.left}–${inner.right} px`,
      );
      assert.ok(
        table.last.left >= table.firstColumnRight - 0.5,
        `${table.lastHeader} starts at ${table.last.left} px, under the first column (which ends at ${table.firstColumnRight} px)`,
      );
      assert.ok(!table.last.cut, `${table.lastHeader}'s text is wider than its cell`);
    });
    await check(`${name}: every verdict cell is one line`, async () => {
      assert.ok(table.wrapped.length === 0, `${table.wrapped.length} cells wrap: ${some(table.wrapped)}`);
    });
    await check(`${name}: every mark is a word, not an emoji`, async () => {
      assert.ok(table.notMarks.length === 0, `cells that are not a mark: ${some(table.notMarks)}`);
    });
  }
  await check(`${label}: the marks are drawn without an emoji font`, async () => {
    const probes = await fontsOfProbes();
    assert.ok(probes.length > 0, "no cell was probed");
    for (const { text, families } of probes) {
      assert.ok(families.length > 0, `no font drew ${JSON.stringify(text)}`);
      assert.ok(
        !families.some((family) => /emoji/i.test(family)),
        `${JSON.stringify(text)} is drawn with ${families.join(", ")}`,
      );
    }
    return `drawn with ${[...new Set(probes.flatMap(({ families }) => families))].join(", ")}`;
  });
}

/**
 * Saves `NAME.png`: the first table with stage columns, just below mdBook's
 * menu bar; and if its box scrolls sideways, `NAME-scrolled.png` too, with
 * the box scrolled all the way right.
 */
async function screenshot(name) {
  const scrolls = await page.evaluate(() => {
    const table = [...document.querySelectorAll("table")].find((table) =>
      [...table.querySelectorAll("thead th")].some((th) => /^stage-\d\d$/.test(th.textContent.trim())),
    );
    const box = table.closest(".table-wrapper") ?? table.parentElement;
    // mdBook's menu bar hides while the page scrolls down and comes back
    // when it scrolls up: leave room for it either way.
    const menu = document.querySelector(".menu-bar")?.offsetHeight ?? 0;
    box.scrollLeft = 0;
    box.style.scrollMarginTop = `${menu + 8}px`;
    box.scrollIntoView({ block: "start" });
    return box.scrollWidth > box.clientWidth;
  });
  await page.screenshot({ path: join(screenshots, `${name}.png`) });
  if (scrolls) {
    await page.evaluate(() => {
      for (const box of document.querySelectorAll(".table-wrapper")) box.scrollLeft = box.scrollWidth;
    });
    await page.screenshot({ path: join(screenshots, `${name}-scrolled.png`) });
  }
}

try {
  for (const size of SIZES) {
    await page.setViewportSize(size);
    for (const name of pages) {
      const label = `${name} at ${size.width}×${size.height}`;
      await page.goto(new URL(name, browser.base).href);
      await page.evaluate(() => document.fonts.ready);
      const measured = await page.evaluate(measureTables);
      for (const table of measured.tables) {
        const scroll = table.scrollsSideways > 0 ? `its box scrolls ${table.scrollsSideways} px sideways` : "no scrolling";
        console.log(`${label}: table ${table.index + 1}, ${table.stageColumns} verdict columns, ${scroll}`);
      }
      await checkTables(label, measured);
      const stem = name.replace(/\.html$/, "");
      await screenshot(`${stem}-${size.width}`);

      if (name === "conformance.html") {
        const added = await page.evaluate(widenTo, FUTURE_STAGE_COLUMNS);
        const future = `${label}, with ${added} more stage column(s)`;
        const widened = await page.evaluate(measureTables);
        console.log(`${future}: the box scrolls ${widened.tables[0].scrollsSideways} px sideways`);
        await checkTables(future, widened);
        await screenshot(`${stem}-widened-${size.width}`);
      }
    }
  }
} catch (error) {
  browser.failures += 1;
  console.error(`FAILED: ${error.message}`);
} finally {
  console.log(`screenshots: ${screenshots}`);
  await browser.finish("the conformance tables fit at 1280 and 1920 px");
}
