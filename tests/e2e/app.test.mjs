// End-to-end tests of the real Trove desktop app (debug binary), driven through
// tauri-driver + WebKitWebDriver. scripts/e2e.sh sets up the hermetic environment
// (temp HOME and XDG dirs, private session bus, Xvfb) and runs this file with node --test.
//
// Env: TROVE_APP (binary), E2E_PORT (tauri-driver port), E2E_TMP (temp dir for vaults),
// SCREENSHOT_DIR (where the main screens are saved as PNG), TROVE_ORG (the trove-client
// example `org`, playing the organization), TROVE_CLI (the `trove` binary, to check an
// exported bundle independently of the app), TROVE_ORG_BIN (`trove-org`, the organization
// reading a share link over iroh or from staged storage), TROVE_RELAY (an iroh relay on
// loopback) and TROVE_S3 (an s3s-fs server on loopback): no test contacts a public relay
// or a real storage service.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { remote } from "webdriverio";

const run = promisify(execFile);

const APP = process.env.TROVE_APP;
const PORT = Number(process.env.E2E_PORT ?? 4444);
const TMP = process.env.E2E_TMP;
const SHOTS = process.env.SCREENSHOT_DIR;
assert.ok(APP && fs.existsSync(APP), `TROVE_APP must point at the app binary (got ${APP})`);
assert.ok(TMP, "E2E_TMP must be set");
const ORG = process.env.TROVE_ORG;
const CLI = process.env.TROVE_CLI;
assert.ok(ORG && fs.existsSync(ORG), `TROVE_ORG must point at the trove-client example \`org\` (got ${ORG})`);
assert.ok(CLI && fs.existsSync(CLI), `TROVE_CLI must point at the trove binary (got ${CLI})`);

const SHARE_PORT = Number(process.env.E2E_SHARE_PORT ?? 17878);
const PASS = "violet tram Oslo cedar 49";
const NEW_PASS = "quiet harbour lantern 1907";
let recoveryKey = "";
const EXPORT_PASS = "amber kettle fjord 73 lynx";

/**
 * The organization reads through trove-client (examples/org.rs). Resolves to
 * `{code, json}`: the exit code (0 ok, 3 unauthorized, ...) and the JSON it printed.
 */
async function orgCall(url, token, ...args) {
  try {
    const { stdout } = await run(ORG, [url, ...args], { env: { ...process.env, TROVE_TOKEN: token } });
    return { code: 0, json: JSON.parse(stdout) };
  } catch (e) {
    if (typeof e.code !== "number") throw e;
    return { code: e.code, json: JSON.parse(e.stdout) };
  }
}

/** Runs the `trove` CLI on its own vault; resolves to its parsed --json output. */
async function trove(env, ...args) {
  const { stdout } = await run(CLI, args, { env: { ...process.env, ...env } });
  return JSON.parse(stdout);
}

async function startApp(vaultDir) {
  return remote({
    hostname: "127.0.0.1",
    port: PORT,
    logLevel: "warn",
    connectionRetryCount: 2,
    capabilities: {
      "wdio:enforceWebDriverClassic": true,
      "tauri:options": { application: APP, args: ["--vault", vaultDir] },
    },
  });
}

/** Waits two animation frames so a screenshot shows the latest DOM, then saves it. */
async function shot(b, name) {
  if (!SHOTS) return;
  await b.executeAsync((done) => requestAnimationFrame(() => requestAnimationFrame(() => done())));
  fs.mkdirSync(SHOTS, { recursive: true });
  // The X server's copy of the window, not WebDriver's snapshot: WebKitWebDriver's
  // screenshot never answers once WebKit's DMA-BUF renderer is off, which the app does
  // itself on machines without a GPU (like this Xvfb).
  const win = execFileSync("xdotool", ["search", "--onlyvisible", "--name", "^Trove$"], { encoding: "utf8" })
    .trim()
    .split("\n")[0];
  execFileSync("import", ["-window", win, path.join(SHOTS, `${name}.png`)]);
}

async function el(b, selector, timeout = 15000) {
  const e = await b.$(selector);
  await e.waitForDisplayed({ timeout });
  return e;
}

async function text(b, selector) {
  return (await el(b, selector)).getText();
}

async function typeInto(b, selector, value) {
  const e = await el(b, selector);
  await e.clearValue();
  await e.setValue(value);
}

/** Empties an input the way a person does (select all, delete), firing input events. */
async function clearByKeys(b, selector) {
  await (await el(b, selector)).click();
  await b.keys(["Control", "a"]);
  await b.keys(["Backspace"]);
}

/** The count next to a type in the sidebar. */
async function countOf(b, type) {
  return Number(await (await el(b, `button.type[data-type="${type}"] .count`)).getText());
}

/** Ticks or unticks a checkbox (settings persist between sessions of the test). */
async function setChecked(b, selector, on) {
  const e = await el(b, selector);
  if ((await e.isSelected()) !== on) await e.click();
}

async function addRecord(b, type, fields, tags = "") {
  await (await el(b, "#new-record")).click();
  await (await el(b, "#new-type")).selectByAttribute("value", type);
  for (const [name, value] of Object.entries(fields)) await typeInto(b, `#f-${name}`, value);
  if (tags) await typeInto(b, "#f-tags", tags);
  await (await el(b, "#save-record")).click();
  await el(b, "#record-detail");
}

describe("a new vault: create, add, edit, delete, lock, unlock", () => {
  /** The address shared on its own (then trashed, restored and erased). */
  let sharedOneId = "";
  let b;
  const vault = path.join(TMP, "vault-story");

  before(async () => {
    b = await startApp(vault);
  });
  after(async () => {
    await b?.deleteSession();
  });

  it("shows the first-run screen with a strength hint", async () => {
    await el(b, "#create-vault");
    assert.equal(await b.getTitle(), "Trove");
    assert.equal(await (await b.$("#create-vault")).isEnabled(), false, "create needs the passphrase twice");
    await typeInto(b, "#create-pass", "abc");
    assert.match(await text(b, "#create-strength"), /weak/i);
    // A weak vault passphrase says which rule it breaks and needs a deliberate override.
    await typeInto(b, "#create-pass", "password1");
    await typeInto(b, "#create-confirm", "password1");
    assert.match(await text(b, "#create-weak"), /Too weak for a vault: it has 9 characters; at least 10/);
    assert.equal(await (await b.$("#create-vault")).isEnabled(), false, "a weak passphrase is not accepted as is");
    await (await el(b, "#create-allow-weak")).click();
    assert.equal(await (await b.$("#create-vault")).isEnabled(), true, "the override makes it possible");
    await (await el(b, "#create-allow-weak")).click();
    await typeInto(b, "#create-pass", PASS);
    await typeInto(b, "#create-confirm", PASS + "x");
    assert.match(await text(b, "#create-confirm-err"), /differ/);
    await typeInto(b, "#create-confirm", PASS);
    assert.match(await text(b, "#create-strength"), /strong/i);
    await shot(b, "01-first-run");
  });

  it("creates the vault and shows the recovery key once, behind an explicit step", async () => {
    await (await el(b, "#create-vault")).click();
    const shown = await text(b, "#recovery-key");
    assert.match(shown, /^AGE-SECRET-KEY-1( [0-9A-Z]{1,4})+$/, "the key is shown in groups of four");
    recoveryKey = shown.replace(/ /g, "");
    const groups = shown.split(" ").slice(1);
    const cont = await b.$("#recovery-continue");
    assert.equal(await cont.isEnabled(), false, "continue needs 'I have saved it'");
    // The committed screenshot must not carry anything secret scanners flag as a key.
    await b.execute(() => {
      document.getElementById("recovery-key").textContent =
        "AGE-SECRET-KEY-1" + " ••••".repeat(14) + " ••";
    });
    await shot(b, "02-recovery-key");
    await (await el(b, "#saved-recovery")).click();
    assert.equal(await cont.isEnabled(), false, "ticking the box is not enough: a group of the key is asked for");
    const n = Number(await text(b, "#recovery-group"));
    await typeInto(b, "#recovery-check", groups[n - 1] === "XXXX" ? "YYYY" : "XXXX");
    assert.match(await text(b, "#recovery-check-err"), /not that group/);
    assert.equal(await cont.isEnabled(), false);
    await typeInto(b, "#recovery-check", groups[n - 1].toLowerCase());
    assert.equal(await cont.isEnabled(), true, "the right group, typed in any case, confirms");
    await cont.click();
    await el(b, "#new-record");
    assert.ok(fs.existsSync(path.join(vault, "trove.key")), "the vault is on disk");
  });

  it("shows a field's validation error inline, then saves the fixed record", async () => {
    await (await el(b, "#new-record")).click();
    await (await el(b, "#new-type")).selectByAttribute("value", "contact");
    await typeInto(b, "#f-email", "ana-at-example");
    await typeInto(b, "#f-phone", "call me");
    const tops = () => b.execute(() => ["#f-phone", "#f-label", "#f-tags", "#save-record"].map((s) => document.querySelector(s).getBoundingClientRect().top));
    const before = await tops();
    await (await el(b, "#save-record")).click();
    const err = await text(b, "#h-email .error");
    assert.match(err, /not an email address/);
    assert.ok((await text(b, "#h-phone .error")).length > 0, "every field's problem shows at once, not only the first");
    assert.equal(await (await b.$("#f-email")).getAttribute("aria-invalid"), "true");
    assert.equal(await (await b.$("#f-phone")).getAttribute("aria-invalid"), "true");
    assert.deepEqual(await tops(), before, "showing the errors moves no field");
    await shot(b, "04-validation");
    // A message longer than its line lies over what follows instead of pushing it down.
    const lines = await b.execute(() => {
      const e = document.querySelector("#h-email .error");
      e.dataset.was = e.textContent;
      e.textContent = "This message is much longer than one line of the form, as a server's refusal can be. ".repeat(4);
      return Math.round(e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight));
    });
    assert.ok(lines >= 3, `the long message wraps (${lines} lines)`);
    assert.deepEqual(await tops(), before, "a message of several lines moves no field either");
    await b.execute(() => {
      const e = document.querySelector("#h-email .error");
      e.textContent = e.dataset.was;
    });
    await clearByKeys(b, "#f-phone");
    await typeInto(b, "#f-email", "ana@example.org");
    await typeInto(b, "#f-label", "personal");
    await typeInto(b, "#f-tags", "personal, family");
    await (await el(b, "#save-record")).click();
    assert.match(await text(b, "#record-detail"), /ana@example\.org/);
    assert.equal(await countOf(b, "contact"), 1);
  });

  it("adds records of other types from their generated forms", async () => {
    await addRecord(b, "bank_account", { bank: "GLS Bank", holder: "Ana López", iban: "de89 3704 0044 0532 0130 00" }, "finance");
    assert.doesNotMatch(await text(b, "#record-detail"), /0532013000/, "the IBAN is masked until revealed");
    await (await el(b, '#record-detail dd[data-field="iban"] button.reveal')).click();
    assert.match(await text(b, "#record-detail"), /DE89370400440532013000/, "IBAN normalized by the vault");
    await addRecord(b, "note", { title: "Flat viewing", body: "Bring passport copy. Ask about heating costs." });
    await addRecord(b, "address", { street: "Kastanienallee 12", city: "Berlin", country: "de" }, "home");
    assert.equal(await countOf(b, "bank_account"), 1);
    assert.equal(await countOf(b, "note"), 1);
  });

  it("searches as you type", async () => {
    await typeInto(b, "#search", "kastan");
    await b.waitUntil(async () => (await b.$$("#record-list button.item")).length === 1, {
      timeout: 5000,
      timeoutMsg: "search did not narrow to one record",
    });
    await (await el(b, "#record-list button.item")).click();
    assert.match(await text(b, "#record-detail"), /Berlin/);
    await shot(b, "03-records");
    await clearByKeys(b, "#search");
    await b.waitUntil(async () => (await b.$$("#record-list button.item")).length === 4, {
      timeout: 5000,
      timeoutMsg: "clearing the search did not bring every record back",
    });
  });

  it("edits a record", async () => {
    await (await el(b, 'button.type[data-type="note"]')).click();
    await (await el(b, "#record-list button.item")).click();
    const before = await text(b, "#detail-title");
    // Escape leaves an untouched form at once.
    await (await el(b, "#edit-record")).click();
    await (await el(b, "#f-title")).click();
    await b.keys(["Escape"]);
    await el(b, "#edit-record");
    // Leaving a changed form asks first; "Cancel" keeps the edit as typed.
    await (await el(b, "#edit-record")).click();
    await typeInto(b, "#f-title", "Flat viewing checklist");
    await (await el(b, 'button.type[data-type="contact"]')).click();
    assert.match(await text(b, "#confirm-title"), /Discard changes\?/);
    await shot(b, "04b-discard-changes");
    await (await el(b, "#confirm-cancel")).click();
    assert.equal(await (await el(b, "#f-title")).getValue(), "Flat viewing checklist");
    // Escape on a changed form asks too; "Discard" throws the edit away.
    await b.keys(["Escape"]);
    await (await el(b, "#confirm-ok")).click();
    await el(b, "#edit-record");
    assert.equal(await text(b, "#detail-title"), before, "the discarded edit was not saved");
    await (await el(b, "#edit-record")).click();
    await typeInto(b, "#f-title", "Flat viewing checklist");
    await (await el(b, "#save-record")).click();
    assert.match(await text(b, "#detail-title"), /Flat viewing checklist/);
  });

  it("deletes a record only after confirmation", async () => {
    await (await el(b, "#delete-record")).click();
    await (await el(b, "#confirm-cancel")).click();
    assert.equal(await countOf(b, "note"), 1, "cancel keeps the record");
    await (await el(b, "#delete-record")).click();
    await shot(b, "05-delete-confirm");
    await (await el(b, "#confirm-ok")).click();
    await b.waitUntil(async () => (await countOf(b, "note")) === 0, { timeout: 5000 });
  });

  it("shows settings, and the dark theme", async () => {
    await (await el(b, "button.tab=Settings")).click();
    await el(b, "#autolock");
    await shot(b, "06-settings");
    await (await el(b, 'input[name="theme"][value="dark"]')).click();
    await (await el(b, "button.tab=Records")).click();
    await (await el(b, 'button.type[data-type="contact"]')).click();
    await (await el(b, "#record-list button.item")).click();
    await shot(b, "07-records-dark");
    await (await el(b, "button.tab=Settings")).click();
    await (await el(b, 'input[name="theme"][value="system"]')).click();
  });

  it("at 900×650 the navigation and the status stay on one line", async () => {
    const size = await b.getWindowSize();
    await b.setWindowSize(900, 650);
    await b.waitUntil(async () => (await b.execute(() => window.innerWidth)) === 900, {
      timeout: 5000,
      timeoutMsg: "the window did not become 900 px wide",
    });
    for (const tab of ["Records", "Export & import", "Access log"]) {
      await (await el(b, `button.tab=${tab}`)).click();
      await b.waitUntil(async () => (await b.execute(() => document.activeElement?.tagName)) === "H1", {
        timeout: 5000,
        timeoutMsg: `a new screen puts the focus on its heading (${tab})`,
      });
      const m = await b.execute(() => {
        const h = (e) => e.getBoundingClientRect().height;
        const bar = document.querySelector("header.topbar");
        const nav = bar.querySelector("nav");
        const tabs = [...nav.querySelectorAll("button.tab")];
        const status = document.getElementById("lock-status");
        return {
          nav: h(nav),
          tabs: tabs.map(h),
          tabTops: tabs.map((t) => t.getBoundingClientRect().top),
          status: h(status),
          lineHeight: parseFloat(getComputedStyle(status).lineHeight),
          lockRight: document.getElementById("lock").getBoundingClientRect().right,
          overflow: bar.scrollWidth - bar.clientWidth,
          width: window.innerWidth,
        };
      });
      assert.ok(m.tabs.every((t) => t === m.tabs[0]), `no tab label wraps: ${JSON.stringify(m)}`);
      assert.equal(m.nav, m.tabs[0], `the navigation is one row of tabs: ${JSON.stringify(m)}`);
      assert.ok(m.tabTops.every((t) => t === m.tabTops[0]), `the tabs sit on one line: ${JSON.stringify(m)}`);
      assert.ok(m.status < 1.5 * m.lineHeight, `the status is one line: ${JSON.stringify(m)}`);
      assert.ok(m.overflow <= 0 && m.lockRight <= m.width, `nothing is pushed out of the bar: ${JSON.stringify(m)}`);
    }
    await shot(b, "07b-900x650");
    await (await el(b, "button.tab=Records")).click();
    await b.setWindowSize(size.width, size.height);
  });

  it("shares: grant → an organization reads → the log shows it → revoke → refused", async () => {
    // Sharing on, on a free loopback port.
    await (await el(b, "#tab-settings")).click();
    await typeInto(b, "#listen", `127.0.0.1:${SHARE_PORT}`);
    await (await el(b, "#sharing-on")).click();
    assert.match(await text(b, "#sharing-state"), new RegExp(`127\\.0\\.0\\.1:${SHARE_PORT}`));

    // Create a grant, ticking one field of contact and the whole address type.
    await (await el(b, "#tab-sharing")).click();
    await (await el(b, "#new-grant")).click();
    // An empty form: every problem at once, and no field moves to make room for them.
    // Measured from the form's top: the click may scroll the screen.
    const top = () => b.execute(() => document.getElementById("create-grant").getBoundingClientRect().top - document.querySelector("form.create").getBoundingClientRect().top);
    const buttonTop = await top();
    await (await el(b, "#create-grant")).click();
    await b.waitUntil(async () => (await (await b.$("#g-org-err")).getText()) !== "", { timeout: 5000, timeoutMsg: "no error for the organization" });
    for (const id of ["#g-org-err", "#g-purpose-err", "#scope-err"]) assert.notEqual(await (await b.$(id)).getText(), "", `${id} is shown with the others`);
    assert.equal(await top(), buttonTop, "the errors take no room the form had not kept for them");
    await typeInto(b, "#g-org", "GLS Bank");
    await typeInto(b, "#g-purpose", "opening a savings account");
    await (await el(b, "#scope-contact-email")).click();
    await (await el(b, "#scope-address")).click();
    const preview = await text(b, "#disclosure-preview");
    assert.match(preview, /Contact: Email/);
    assert.match(preview, /Address \(all fields\)/);
    assert.doesNotMatch(preview, /Phone|Bank account/);
    await shot(b, "11-create-grant");
    await (await el(b, "#create-grant")).click();
    assert.match(await text(b, "#grant-link"), /^TROVE1-/, "the share link comes first");
    await (await el(b, "#token-details summary")).click();
    const token = await text(b, "#grant-token");
    assert.match(token, /^trove_[0-9A-Za-z]+$/);
    await b.execute(() => {
      document.getElementById("grant-token").textContent = "trove_" + "•".repeat(46);
      document.getElementById("grant-link").textContent = "TROVE1-" + "•".repeat(60);
      document.getElementById("grant-qr")?.remove();
    });
    await shot(b, "12-grant-token");
    await (await el(b, "#token-done")).click();
    // The grant card and its consent receipt speak in field labels, not `contact.email`.
    const card = await text(b, '#grant-list button.grant[data-org="GLS Bank"]');
    assert.match(card, /Contact: email; address/);
    assert.doesNotMatch(card, /contact\.email/);
    await (await el(b, '#grant-list button.grant[data-org="GLS Bank"]')).click();
    await b.waitUntil(async () => /You allowed GLS Bank to read contact: email; address for “opening a savings account”/.test(await text(b, "p.receipt")), {
      timeout: 5000,
      timeoutMsg: "the consent receipt is not shown as a sentence",
    });

    // The organization reads through the share API, with trove-client.
    const url = `http://127.0.0.1:${SHARE_PORT}`;
    const grant = await orgCall(url, token, "grant");
    assert.equal(grant.code, 0, JSON.stringify(grant.json));
    assert.equal(grant.json.org, "GLS Bank");
    const read = await orgCall(url, token, "records");
    assert.equal(read.code, 0, JSON.stringify(read.json));
    const { records } = read.json;
    const contact = records.find((r) => r.type === "contact");
    assert.deepEqual(Object.keys(contact.fields), ["email"], "only the granted field leaves");
    assert.ok(records.some((r) => r.type === "address"));
    assert.ok(!records.some((r) => r.type === "bank_account"), "types outside the scope stay home");
    const outside = await orgCall(url, token, "records", "bank_account");
    assert.equal(outside.code, 4, "a type outside the scope is insufficient_scope");

    // The access log shows the read, with org and fields, live.
    await (await el(b, "#tab-log")).click();
    await b.waitUntil(async () => (await (await b.$("#timeline")).getText()).includes("contact: email"), {
      timeout: 8000,
      timeoutMsg: "the read did not show up in the access log",
    });
    // In plain words, with field labels; the route and status stay in each row's details.
    assert.match(await text(b, "#timeline"), /GLS Bank read \d+ records? \(.*contact: email/);
    assert.match(await text(b, "#org-summary"), /GLS Bank/);
    assert.match(await text(b, "#org-summary"), /[Cc]ontact: email/, "what it has seen, in field labels");
    assert.doesNotMatch(await text(b, "#org-summary"), /contact\.email/);
    assert.ok(await (await b.$("#log-start")).isExisting(), "every row fits on the first page: no “Load older”");
    // The organization filter is applied by the vault: only GLS Bank's rows, all of them.
    await (await el(b, "#org-filter")).selectByAttribute("value", "GLS Bank");
    await b.waitUntil(
      async () => {
        const actors = await b.execute(() => [...document.querySelectorAll("#timeline li strong")].map((e) => e.textContent));
        return actors.length > 0 && actors.every((a) => a === "GLS Bank");
      },
      { timeout: 5000, timeoutMsg: "the filtered timeline shows rows of others" },
    );
    await (await el(b, "#org-filter")).selectByAttribute("value", "");
    await (await el(b, "#verify-log")).click();
    assert.match(await text(b, "#verify-result"), /intact/);
    await shot(b, "13-access-log");

    // Revoke, with confirmation; the very next request is refused.
    await (await el(b, "#tab-sharing")).click();
    await (await el(b, 'button.grant[data-org="GLS Bank"]')).click();
    await (await el(b, "#revoke-grant")).click();
    await (await el(b, "#confirm-ok")).click();
    await b.waitUntil(async () => (await (await b.$('button.grant[data-org="GLS Bank"] .status')).getText()) === "REVOKED" ||
      (await (await b.$('button.grant[data-org="GLS Bank"] .status')).getText()).toLowerCase() === "revoked", { timeout: 5000 });
    const refused = await orgCall(url, token, "records");
    assert.equal(refused.code, 3, "the organization is refused as unauthorized after revocation");
    assert.equal(refused.json.error, "unauthorized");
    await shot(b, "14-sharing-revoked");
  });

  it("shares one record: “Share this record…” opens the grant flow with it chosen; only it leaves", async () => {
    await (await el(b, "#tab-records")).click();
    await addRecord(b, "address", { street: "Torstraße 5", city: "Leipzig", country: "de" });
    await (await el(b, 'button.type[data-type="address"]')).click();
    const first = await el(b, "#record-list button.item");
    const chosenId = await first.getAttribute("data-id");
    sharedOneId = chosenId;
    await first.click();
    await (await el(b, "#share-record")).click();
    assert.ok(await (await el(b, "#g-some-records")).isSelected(), "the grant flow opens on “Only the records I choose”");
    assert.ok(await (await el(b, `input[data-record="${chosenId}"]`)).isSelected(), "the record is preselected");
    await typeInto(b, "#g-org", "Stadtwerke Leipzig");
    await typeInto(b, "#g-purpose", "electricity contract");
    await b.waitUntil(async () => /1 of 2 Address records/.test(await text(b, "#disclosure-preview")), {
      timeout: 5000,
      timeoutMsg: "the summary does not say how many of the addresses are shared",
    });
    await shot(b, "14b-share-one-record");
    await (await el(b, "#create-grant")).click();
    await (await el(b, "#token-details summary")).click();
    const token = await text(b, "#grant-token");
    await (await el(b, "#token-done")).click();
    const read = await orgCall(`http://127.0.0.1:${SHARE_PORT}`, token, "records");
    assert.equal(read.code, 0, JSON.stringify(read.json));
    assert.deepEqual(read.json.records.map((r) => r.id), [chosenId], "only the chosen record leaves");
    await (await el(b, 'button.grant[data-org="Stadtwerke Leipzig"]')).click();
    assert.match(await text(b, "#grant-records"), /1 chosen record/);
  });

  it("deleting moves a record to the trash; it restores, and “Empty trash” erases it for good", async () => {
    await (await el(b, "#tab-records")).click();
    await (await el(b, 'button.type[data-type="address"]')).click();
    await (await el(b, `#record-list button.item[data-id="${sharedOneId}"]`)).click();
    await (await el(b, "#delete-record")).click();
    await (await el(b, "#confirm-ok")).click();
    await b.waitUntil(async () => (await countOf(b, "address")) === 1, { timeout: 5000, timeoutMsg: "the record did not leave the list" });
    await (await el(b, "#open-trash")).click();
    await el(b, `#trash-list li[data-id="${sharedOneId}"]`);
    assert.match(await text(b, "#trash-list"), /Torstraße 5|Leipzig/);
    await shot(b, "14c-trash");
    await (await el(b, `#trash-list li[data-id="${sharedOneId}"] button.restore`)).click();
    await b.waitUntil(async () => /Restored/.test(await text(b, "#trash-announce")), { timeout: 5000, timeoutMsg: "restore did not report" });
    await b.waitUntil(async () => !(await (await b.$(`#trash-list li[data-id="${sharedOneId}"]`)).isExisting()), { timeout: 5000 });
    await (await el(b, "#trash-back")).click();
    assert.equal(await countOf(b, "address"), 2, "restored into the records");
    // Delete it again and erase it for good.
    await (await el(b, 'button.type[data-type="address"]')).click();
    await (await el(b, `#record-list button.item[data-id="${sharedOneId}"]`)).click();
    await (await el(b, "#delete-record")).click();
    await (await el(b, "#confirm-ok")).click();
    await b.waitUntil(async () => (await countOf(b, "address")) === 1, { timeout: 5000 });
    await (await el(b, "#open-trash")).click();
    await (await el(b, "#empty-trash")).click();
    await (await el(b, "#confirm-ok")).click();
    await el(b, "#trash-empty");
    assert.match(await text(b, "#trash-announce"), /Erased 2 records for good/, "the note deleted earlier and the address");
    await (await el(b, "#trash-back")).click();
  });

  it("exports everything with a passphrase; the trove CLI reads the bundle", async () => {
    const file = path.join(TMP, "story-all.trove");
    await (await el(b, "#tab-transfer")).click();
    await el(b, "#export-form");
    assert.equal(await (await b.$("#export-all")).isSelected(), true, "everything by default");
    assert.equal(await (await b.$("#protect-passphrase")).isSelected(), true, "a passphrase by default");
    await typeInto(b, "#export-pass", EXPORT_PASS);
    await typeInto(b, "#export-confirm", EXPORT_PASS);
    await typeInto(b, "#export-path", file);
    await shot(b, "17-export");
    await (await el(b, "#export-submit")).click();
    assert.match(await text(b, "#export-result"), /3 records/);
    // The result is scrolled into view (to the pixel: scrolling stops at whole pixels and
    // lines of 1.6rem put the card at fractions of one); another tab opens at its top.
    await b.waitUntil(
      () => b.execute(() => {
        const r = document.getElementById("export-result").getBoundingClientRect();
        return r.top >= -1 && r.bottom <= window.innerHeight + 1;
      }),
      { timeout: 5000, timeoutMsg: "the export's result was not scrolled into view" },
    );
    const scrolled = await b.execute(() => {
      const c = document.querySelector(".content");
      c.scrollTo({ top: c.scrollHeight });
      return c.scrollTop;
    });
    assert.ok(scrolled > 0, "Export & import is longer than the window");
    await (await el(b, "#tab-log")).click();
    await b.waitUntil(() => b.execute(() => document.querySelector(".content").scrollTop === 0), {
      timeout: 5000,
      timeoutMsg: "the access log did not open at its top",
    });
    await (await el(b, "#tab-transfer")).click();
    assert.ok(fs.existsSync(file), "the bundle is on disk");
    assert.match(fs.readFileSync(file).subarray(0, 64).toString("latin1"), /^age-encryption\.org\/v1\n-> scrypt /);

    // Independently of the app: a fresh vault and the CLI's dry run.
    const env = { TROVE_VAULT: path.join(TMP, "cli-check"), TROVE_PASSPHRASE: "cli check pass", TROVE_EXPORT_PASSPHRASE: EXPORT_PASS };
    await trove(env, "--json", "init");
    const report = await trove(env, "--json", "import", file, "--dry-run");
    assert.equal(report.dry_run, true);
    assert.equal(report.records, 3);
    assert.equal(report.new, 3);
    assert.ok(report.kept_in_bundle.grants >= 1, "the grant travels in the bundle");
  });

  it("exports for an organization to an age recipient: only the granted fields, no tags", async () => {
    const keyFile = path.join(TMP, "gls-key.txt");
    await run("age-keygen", ["-o", keyFile]);
    const recipient = fs.readFileSync(keyFile, "utf8").match(/public key: (age1[0-9a-z]+)/)[1];
    const file = path.join(TMP, "gls.trove");
    await (await el(b, "#export-scoped")).click();
    // Active grants come first: the Stadtwerke grant for one record, then GLS Bank's.
    await (await el(b, "#export-from-grant")).selectByIndex(2);
    const disclosed = await text(b, "#export-disclosure");
    assert.match(disclosed, /Contact: Email/);
    assert.match(disclosed, /Address \(all fields\)/);
    assert.match(disclosed, /No other tags/);
    await (await el(b, "#protect-recipients")).click();
    await typeInto(b, "#export-recipients", "age1notakey");
    assert.match(await text(b, "#export-recipients-err"), /Line 1: .*62 characters/);
    assert.equal(await (await b.$("#export-submit")).isEnabled(), false, "a bad recipient blocks the export");
    await typeInto(b, "#export-recipients", recipient);
    await b.waitUntil(async () => (await (await b.$("#export-recipients-err")).getText()) === "", { timeout: 5000 });
    await typeInto(b, "#export-path", file);
    await shot(b, "18-export-scoped");
    await (await el(b, "#export-submit")).click();
    assert.match(await text(b, "#export-disclosed"), /contact\.email/);
    await (await el(b, "#export-result")).scrollIntoView();
    await shot(b, "21-export-done");

    // With the reference age CLI: decrypt, untar, read records.jsonl.
    const tarFile = path.join(TMP, "gls.tar");
    await run("age", ["-d", "-i", keyFile, "-o", tarFile, file]);
    const { stdout } = await run("tar", ["-xOf", tarFile, "records.jsonl"]);
    const recs = stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual([...new Set(recs.map((r) => r.type))].sort(), ["address", "contact"]);
    for (const r of recs) assert.deepEqual(r.tags, [], "no tags leave");
    assert.deepEqual(Object.keys(recs.find((r) => r.type === "contact").fields), ["email"]);
  });

  it("imports a vCard: the preview names bad lines, then shows what changes; Import commits", async () => {
    const card = (name, email, extra = "") =>
      `BEGIN:VCARD\r\nVERSION:3.0\r\nFN:${name}\r\nEMAIL:${email}\r\n${extra}END:VCARD\r\n`;
    const bad = path.join(TMP, "people-bad.vcf");
    const good = path.join(TMP, "people.vcf");
    fs.writeFileSync(bad, card("Bo Berg", "bo@example.org") + card("Cleo Ito", "cleo@example.org", "BDAY:1990-02-31\r\n"));
    fs.writeFileSync(good, card("Bo Berg", "bo@example.org") + card("Cleo Ito", "cleo@example.org"));

    // The Export/Import tabs: arrow keys move between them, each tab controls its panel.
    const selected = (id) => b.execute((i) => document.getElementById(i).getAttribute("aria-selected"), id);
    await (await el(b, "#mode-export")).click();
    assert.equal(await (await b.$("#mode-import")).getAttribute("aria-controls"), "panel-import");
    await b.keys(["ArrowRight"]);
    assert.equal(await selected("mode-import"), "true", "Right moves to Import");
    assert.equal(await b.execute(() => document.activeElement?.id), "mode-import", "and focuses it");
    assert.equal(await (await b.$("#panel-import")).isDisplayed(), true);
    assert.equal(await (await b.$("#panel-export")).isDisplayed(), false);
    await b.keys(["ArrowLeft"]);
    assert.equal(await selected("mode-export"), "true", "Left moves back to Export");
    await b.keys(["ArrowLeft"]);
    assert.equal(await selected("mode-import"), "true", "and wraps around");
    await typeInto(b, "#import-path", bad);
    await b.keys(["Tab"]);
    assert.match(await text(b, "#import-kind"), /vCard/);
    await (await el(b, "#import-preview")).click();
    assert.match(await text(b, "#import-problems"), /line 10/);
    assert.equal(await (await b.$("#import-commit")).isExisting(), true, "a value that does not fit is reported; the rest can be imported");
    await shot(b, "20-import-problems");

    await typeInto(b, "#import-path", good);
    await b.keys(["Tab"]);
    await (await el(b, "#import-preview")).click();
    const preview = await text(b, "#import-preview-panel");
    assert.match(preview, /nothing has been written yet/);
    assert.match(preview, /New \(would be added\)\s*2/, "an address book becomes two person records");
    await shot(b, "19-import-preview");
    await (await el(b, "#import-commit")).click();
    assert.match(await text(b, "#import-result"), /2 added/);

    // The organization's bundle opens with its identity file and shows its scope.
    await typeInto(b, "#import-path", path.join(TMP, "gls.trove"));
    await b.keys(["Tab"]);
    assert.match(await text(b, "#import-kind"), /encrypted to an age recipient/);
    await (await el(b, "#import-preview")).click();
    assert.match(await text(b, "#import-identity-err"), /identity file/, "asks for the identity, next to its field");
    await typeInto(b, "#import-identity", path.join(TMP, "gls-key.txt"));
    await (await el(b, "#import-preview")).click();
    const scoped = await text(b, "#import-preview-panel");
    assert.match(scoped, /scope: .*contact\.email/);
    assert.match(scoped, /scope: .*address/);
    assert.match(scoped, /Already here, unchanged\s*2/);
    assert.equal(await (await b.$("#import-commit")).isEnabled(), false, "nothing to import");
    await shot(b, "22-import-bundle");

    await (await el(b, "#tab-records")).click();
    await b.waitUntil(async () => (await countOf(b, "person")) === 2, { timeout: 5000, timeoutMsg: "the imported people did not appear" });
    assert.equal(await countOf(b, "contact"), 1, "other people never become the owner's contacts");

    // Exports and imports are in the access log too, with what left or came in.
    await (await el(b, "#tab-log")).click();
    const log = await text(b, "#timeline");
    assert.match(log, /You exported a bundle for an organization \(to 1 age recipient\): .*contact: email/);
    assert.match(log, /You exported everything \(protected by a passphrase\)/);
    assert.match(log, /You imported a vCard file: .*contact: email/);
  });

  it("opens the native file dialogs (the dialog plugin is allowed), and cancelling changes nothing", async () => {
    // WebDriver cannot drive a GTK dialog: find its X window by title and press Escape.
    await (await el(b, "#tab-transfer")).click();
    await (await el(b, "#mode-import")).click();
    const before = await (await el(b, "#import-path")).getValue();
    await (await el(b, "#import-choose")).click();
    const { stdout } = await run("xdotool", ["search", "--sync", "--onlyvisible", "--name", "^Import a file$"], { timeout: 15000 });
    const win = stdout.trim().split("\n")[0];
    await run("xdotool", ["windowfocus", "--sync", win]);
    await run("xdotool", ["key", "--clearmodifiers", "Escape"]);
    await b.waitUntil(async () => (await run("xdotool", ["search", "--onlyvisible", "--name", "^Import a file$"]).then(() => false, () => true)), {
      timeout: 10000,
      timeoutMsg: "the open dialog did not close on Escape",
    });
    assert.equal(await (await b.$("#import-path")).getValue(), before, "a cancelled dialog leaves the path as it was");
    assert.equal(await (await b.$("#import-error")).isExisting(), false, "no permission error from the dialog plugin");
  });

  it("undoes an import (a JSON file, then a Trove bundle): what it added goes to the trash", async () => {
    const json = path.join(TMP, "prefs.json");
    fs.writeFileSync(json, JSON.stringify([{ type: "preference", fields: { key: "lang", value: "es" } }]));
    // A bundle from another vault, written by the CLI.
    const env = { TROVE_VAULT: path.join(TMP, "undo-src"), TROVE_PASSPHRASE: "undo source pass" };
    await trove(env, "--json", "init");
    await trove(env, "--json", "add", "preference", "key=theme", "value=dark");
    const bundle = path.join(TMP, "undo-src.trove");
    await trove(env, "--json", "export", bundle, "--plain");
    await (await el(b, "#tab-records")).click();
    const before = await countOf(b, "preference");
    for (const file of [json, bundle]) {
      await (await el(b, "#tab-transfer")).click();
      await (await el(b, "#mode-import")).click();
      await typeInto(b, "#import-path", file);
      await b.keys(["Tab"]);
      await (await el(b, "#import-preview")).click();
      await (await el(b, "#import-commit")).click();
      assert.match(await text(b, "#import-result"), /1 added/);
      await (await el(b, "#undo-import")).click();
      assert.match(await text(b, "#undo-result"), /1 record moved to the trash/);
      if (file === json) await shot(b, "22b-import-undone");
      await (await el(b, "#tab-records")).click();
      assert.equal(await countOf(b, "preference"), before, `${path.basename(file)}: the import's record is gone`);
    }
  });

  it("locks, refuses a wrong passphrase, unlocks with the right one", async () => {
    await (await el(b, "#lock")).click();
    await el(b, "#unlock-pass");
    await shot(b, "08-unlock");
    await typeInto(b, "#unlock-pass", "not it");
    await (await el(b, "#unlock-submit")).click();
    assert.match(await text(b, "#unlock-error"), /does not open this vault/);
    await typeInto(b, "#unlock-pass", PASS);
    await (await el(b, "#unlock-submit")).click();
    await el(b, "#new-record");
    assert.equal(await countOf(b, "person"), 2, "records (two imported) survive lock and unlock");
    assert.equal(await countOf(b, "address"), 1);
  });

  it("recovers with the recovery key and a new passphrase", async () => {
    await (await el(b, "#lock")).click();
    await (await el(b, "#use-recovery")).click();
    await typeInto(b, "#recovery-input", "AGE-SECRET-KEY-1NOTTHEKEY");
    await typeInto(b, "#recover-pass", NEW_PASS);
    await typeInto(b, "#recover-confirm", NEW_PASS);
    await (await el(b, "#recover-submit")).click();
    assert.match(await text(b, ".form-error"), /does not belong to this vault/);
    await typeInto(b, "#recovery-input", recoveryKey);
    await (await el(b, "#recover-submit")).click();
    await el(b, "#new-record");
    await (await el(b, "#lock")).click();
    await typeInto(b, "#unlock-pass", PASS);
    await (await el(b, "#unlock-submit")).click();
    assert.match(await text(b, "#unlock-error"), /does not open/, "the old passphrase stops working");
    await typeInto(b, "#unlock-pass", NEW_PASS);
    await (await el(b, "#unlock-submit")).click();
    await el(b, "#new-record");
  });

  it("remember this device without a keyring: unlocks anyway and says why", async () => {
    await (await el(b, "#lock")).click();
    await typeInto(b, "#unlock-pass", NEW_PASS);
    await (await el(b, "#unlock-remember")).click();
    await (await el(b, "#unlock-submit")).click();
    const note = await el(b, ".notice.warn");
    assert.match(await note.getText(), /can't use the keyring/);
    await el(b, "#new-record");
  });
});

describe("the demo vault", () => {
  let b;
  let demoPass;

  before(async () => {
    b = await startApp(path.join(TMP, "vault-demo"));
  });
  after(async () => {
    await b?.deleteSession();
  });

  it("opens with sample data and the documented passphrase", async () => {
    const pass = (demoPass = await text(b, "#demo-passphrase"));
    await (await el(b, "#open-demo")).click();
    await el(b, "#new-record");
    await b.waitUntil(async () => Number(await (await b.$("button.type .count")).getText()) >= 40, { timeout: 10000 });
    await shot(b, "09-demo-overview");
    await (await el(b, 'button.type[data-type="identity"]')).click();
    await (await el(b, "#record-list button.item")).click();
    assert.match(await text(b, "#record-detail"), /López/);
    await shot(b, "10-demo-record");
    // Sensitive values stay masked in the list and the detail until revealed.
    await (await el(b, 'button.type[data-type="bank_account"]')).click();
    // textContent: WebKitWebDriver's getText leaves out the ellipsized title span.
    const content = async (e) => (await e.getProperty("textContent")) ?? "";
    let listed = "";
    await b
      .waitUntil(async () => /GLS Bank · •••• 3000/.test((listed = await content(await el(b, "#record-list")))), { timeout: 5000 })
      .catch(() => assert.fail(`the GLS account is not listed with its IBAN masked: ${listed}`));
    let gls;
    for (const item of await b.$$("#record-list button.item")) {
      const title = await content(item);
      assert.doesNotMatch(title, /[A-Z]{2}\d{2}\d{8}/, `a list title shows an IBAN: ${title}`);
      if (/GLS Bank · •••• 3000/.test(title)) gls = item;
    }
    assert.ok(gls, "the GLS account is listed, its IBAN masked");
    await gls.click();
    const iban = '#record-detail dd[data-field="iban"]';
    assert.equal(await text(b, `${iban} .value`), "•••• 3000");
    assert.doesNotMatch(await text(b, "#record-detail"), /0532013000/, "no full IBAN before Reveal");
    await (await el(b, `${iban} button.reveal`)).click();
    assert.equal(await text(b, `${iban} .value`), "DE89370400440532013000");
    await shot(b, "10b-demo-sensitive");
    await (await el(b, `${iban} button.reveal`)).click();
    assert.equal(await text(b, `${iban} .value`), "•••• 3000");
    await (await el(b, "#tab-sharing")).click();
    await (await el(b, "button.grant")).click();
    await el(b, "#grant-title");
    await shot(b, "15-demo-sharing");
    await (await el(b, "#tab-log")).click();
    await el(b, "#timeline");
    await shot(b, "16-demo-access-log");
    await (await el(b, "#lock")).click();
    assert.match(await text(b, "#demo-hint"), new RegExp(pass), "the demo's unlock screen names its passphrase");
    await typeInto(b, "#unlock-pass", pass);
    await (await el(b, "#unlock-submit")).click();
    await el(b, "#new-record");
  });

  it("the record picker reads a page at a time and searches, and its counts stay right", async () => {
    // 60 notes written by the CLI into the open demo vault, taken back by `import undo` below.
    const file = path.join(TMP, "many-notes.json");
    fs.writeFileSync(file, JSON.stringify(Array.from({ length: 60 }, (_, i) => ({ type: "note", fields: { title: `Picker note n${i}` } }))));
    const env = { TROVE_VAULT: path.join(TMP, "vault-demo"), TROVE_PASSPHRASE: demoPass };
    const imported = await trove(env, "--json", "import", file);
    assert.equal(imported.new, 60);
    // The records screen reads the counts again when it opens.
    await (await el(b, "#tab-log")).click();
    await (await el(b, "#tab-records")).click();
    let total = 0;
    await b.waitUntil(async () => (total = await countOf(b, "note")) >= 60, { timeout: 5000, timeoutMsg: "the imported notes are not counted" });
    await (await el(b, "#tab-sharing")).click();
    await (await el(b, "#new-grant")).click();
    await (await el(b, "#scope-note")).click();
    await (await el(b, "#g-some-records")).click();
    const picks = 'div.record-picks[data-type="note"]';
    const boxes = async () => (await b.$$(`${picks} input[data-record]`)).length;
    await b.waitUntil(async () => (await boxes()) === 50, { timeout: 5000, timeoutMsg: "the first page is not 50 records" });
    assert.match(await text(b, `${picks} p`), new RegExp(`^0 of ${total} Note records`));
    const more = await el(b, `${picks} button.more-records`);
    assert.match(await more.getText(), new RegExp(`Show ${Math.min(50, total - 50)} more \\(50 of ${total} shown\\)`));
    await more.click();
    await b.waitUntil(async () => (await boxes()) === Math.min(100, total), { timeout: 5000, timeoutMsg: "the next page did not come" });
    const ids = await Promise.all((await b.$$(`${picks} input[data-record]`)).slice(0, 2).map((e) => e.getAttribute("data-record")));
    for (const id of ids) await (await el(b, `${picks} input[data-record="${id}"]`)).click();
    assert.match(await text(b, "#records-preview"), new RegExp(`2 of ${total} Note records`));
    // A search in the vault: the match, and the two chosen ones still there to untick.
    await typeInto(b, "#g-records-search", "n57");
    await b.waitUntil(async () => / 1 found/.test(await text(b, `${picks} p`)), { timeout: 5000, timeoutMsg: "the search found nothing" });
    assert.equal(await boxes(), 3);
    assert.match(await text(b, picks), /Picker note n57/);
    const found = await (await b.$(picks)).$("label*=Picker note n57");
    await (await found.$("input")).click();
    assert.match(await text(b, "#records-preview"), new RegExp(`3 of ${total} Note records`), "the summary counts every chosen record, not the shown ones");
    await shot(b, "14d-record-picker");
    await (await (await b.$("form.create")).$("button=Cancel")).click();
    const undone = await trove(env, "--json", "import", "undo", imported.batch);
    assert.equal(undone.removed.length, 60);
  });
});

/**
 * Starts a helper that prints one line (its URL) once it serves; resolves to
 * `{url, child}`. Fails after 30 s, or when it exits first.
 */
function startHelper(bin, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`${bin} printed no URL within 30 s: ${err}`)), 30000);
    child.stdout.on("data", (d) => {
      out += d;
      const line = out.split("\n")[0];
      if (out.includes("\n")) {
        clearTimeout(timer);
        resolve({ url: line.trim(), child });
      }
    });
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${bin} exited (${code}) before serving: ${err}`));
    });
  });
}

describe("reaching organizations beyond this computer", () => {
  const ORG_BIN = process.env.TROVE_ORG_BIN;
  const RELAY_BIN = process.env.TROVE_RELAY;
  const S3_BIN = process.env.TROVE_S3;
  const vault = path.join(TMP, "vault-remote");
  const orgConfig = path.join(TMP, "org-config");
  const S3_KEY_ID = "AKIDTROVEE2E0001";
  const S3_SECRET = "e2e-Secret-7d6c5b4a3210";
  const VAULT_PASS = "copper meadow 7 falcon violet";
  let b;
  let relay;
  let s3;

  /** `trove-org ARGS…` with its own config dir; resolves to {code, stdout, stderr}. */
  async function org(...args) {
    try {
      const { stdout, stderr } = await run(ORG_BIN, args, { env: { ...process.env, XDG_CONFIG_HOME: orgConfig }, timeout: 60000 });
      return { code: 0, stdout, stderr };
    } catch (e) {
      if (typeof e.code !== "number") throw e;
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  /** Writes a link to a file for `trove-org … @FILE` (never on a command line). */
  function linkFile(name, link) {
    const f = path.join(TMP, name);
    fs.writeFileSync(f, link, { mode: 0o600 });
    return `@${f}`;
  }

  /** Creates a grant in the app; resolves to the share link it shows once. */
  async function createGrant(orgName, { offline = false, maxUses = "" } = {}) {
    await (await el(b, "#tab-sharing")).click();
    await (await el(b, "#new-grant")).click();
    await typeInto(b, "#g-org", orgName);
    await typeInto(b, "#g-purpose", "account opening");
    await (await el(b, "#scope-contact-email")).click();
    if (maxUses) await typeInto(b, "#g-max", maxUses);
    if (offline) await (await el(b, "#g-offline")).click();
    await (await el(b, "#create-grant")).click();
  }

  async function revoke(orgName) {
    await (await el(b, "#tab-sharing")).click();
    await (await el(b, `button.grant[data-org="${orgName}"]`)).click();
    await (await el(b, "#revoke-grant")).click();
    await (await el(b, "#confirm-ok")).click();
    await b.waitUntil(async () => (await (await b.$(`button.grant[data-org="${orgName}"] .status`)).getText()).toLowerCase() === "revoked", {
      timeout: 10000,
      timeoutMsg: `the ${orgName} grant did not show as revoked`,
    });
  }

  before(async () => {
    assert.ok(ORG_BIN && fs.existsSync(ORG_BIN), `TROVE_ORG_BIN must point at trove-org (got ${ORG_BIN})`);
    assert.ok(RELAY_BIN && fs.existsSync(RELAY_BIN), `TROVE_RELAY must point at the local relay example (got ${RELAY_BIN})`);
    assert.ok(S3_BIN && fs.existsSync(S3_BIN), `TROVE_S3 must point at the s3_server example (got ${S3_BIN})`);
    // The vault and its record come from the CLI; the app opens it.
    const env = { TROVE_VAULT: vault, TROVE_PASSPHRASE: VAULT_PASS };
    await trove(env, "--json", "init");
    await trove(env, "--json", "add", "contact", "email=ana@example.org", "phone=+49 30 1234567");
    relay = await startHelper(RELAY_BIN, []);
    s3 = await startHelper(S3_BIN, [path.join(TMP, "s3"), "trove-e2e", S3_KEY_ID], { S3_SECRET });
    b = await startApp(vault);
    await typeInto(b, "#unlock-pass", VAULT_PASS);
    await (await el(b, "#unlock-submit")).click();
    await el(b, "#new-record");
  });
  after(async () => {
    await b?.deleteSession();
    relay?.child.kill();
    s3?.child.kill();
  });

  it("live over iroh: switched on with a local relay, read by trove-org, logged with its key, then refused after revoke", async () => {
    await (await el(b, "#tab-settings")).click();
    assert.match(await text(b, "#remote-state"), /^Off/, "off by default");
    await setChecked(b, "#sharing-on", false);
    await typeInto(b, "#listen", "127.0.0.1:0");
    await setChecked(b, "#sharing-on", true);
    await el(b, "#sharing-state");
    await typeInto(b, "#relay-url", "http://relay.example.org");
    await (await el(b, "#remote-on")).click();
    assert.match(await text(b, "#relay-error"), /only allowed for a relay on this computer/, "a plain-http relay elsewhere is refused, in words");
    await typeInto(b, "#relay-url", relay.url);
    await (await el(b, "#remote-on")).click();
    await b.waitUntil(async () => /^Online as [0-9a-f]{10}/.test(await (await b.$("#remote-state")).getText()), {
      timeout: 30000,
      timeoutMsg: "the app did not come online through the local relay",
    });
    await (await el(b, "#remote-state")).scrollIntoView({ block: "center" });
    await shot(b, "23-remote-on");

    await createGrant("Acme Bank");
    const link = await text(b, "#grant-link");
    assert.match(link, /^TROVE1-[A-Z0-9-]+$/);
    assert.ok(await (await b.$("#grant-qr svg")).isExisting(), "the link is shown as a QR code too");
    assert.match(await text(b, "#link-reach"), /over the internet/);
    // The screenshot shows the dialog, never a working link (the QR code would be one).
    await b.execute(() => {
      document.getElementById("grant-link").textContent = "TROVE1-" + "•".repeat(60);
      const qr = document.querySelector("#grant-qr svg");
      if (qr) qr.style.filter = "blur(6px)";
    });
    await shot(b, "24-share-link");
    await (await el(b, "#token-done")).click();
    assert.match(await text(b, 'button.grant[data-org="Acme Bank"] .enforced'), /enforced by this computer/);

    const id = await org("id");
    assert.equal(id.code, 0, id.stderr);
    const orgKey = id.stdout.trim();
    assert.match(orgKey, /^[0-9a-f]{64}$/);
    const file = linkFile("acme.link", link);
    const read = await org("fetch", file, "--relay", relay.url, "--timeout", "20s");
    assert.equal(read.code, 0, read.stderr);
    const { records } = JSON.parse(read.stdout);
    assert.equal(records.length, 1);
    assert.deepEqual(Object.keys(records[0].fields), ["email"], "only the granted field leaves");

    await (await el(b, "#tab-log")).click();
    await b.waitUntil(async () => (await (await b.$("#timeline")).getText()).includes(`key ${orgKey.slice(0, 10)}`), {
      timeout: 10000,
      timeoutMsg: "the remote read did not show up with the organization's key",
    });
    assert.match(await text(b, "#timeline"), new RegExp(`Acme Bank read 1 contact record \\(email\\)\\s*over the internet, (direct|relayed) · key ${orgKey.slice(0, 10)}`));
    await shot(b, "25-remote-log");

    await revoke("Acme Bank");
    const refused = await org("fetch", file, "--relay", relay.url, "--timeout", "20s");
    assert.equal(refused.code, 1, "refused after revocation");
    assert.match(refused.stderr, /unauthorized/);
    assert.equal(refused.stdout, "", "nothing on stdout");
  });

  it("staged: storage in settings, an offline grant fetched from storage while sharing is off, deleted on revoke", async () => {
    await (await el(b, "#tab-settings")).click();
    await setChecked(b, "#sharing-on", false);
    await b.waitUntil(async () => !(await (await b.$("#sharing-state")).isExisting()), { timeout: 5000, timeoutMsg: "sharing did not stop" });

    const addStorage = async (name, secret) => {
      await typeInto(b, "#st-name", name);
      await typeInto(b, "#st-endpoint", s3.url);
      await typeInto(b, "#st-bucket", "trove-e2e");
      await typeInto(b, "#st-key-id", S3_KEY_ID);
      await typeInto(b, "#st-secret", secret);
      await typeInto(b, "#st-prefix", "ana");
      await (await el(b, "#storage-add")).click();
      await el(b, `#storage-list li[data-name="${name}"]`);
    };
    await addStorage("wrong", "not-the-secret");
    await (await el(b, '#storage-list li[data-name="wrong"] .test-storage')).click();
    await b.waitUntil(async () => /failed/.test(await (await b.$('#storage-list li[data-name="wrong"] .storage-test')).getText()), {
      timeout: 20000,
      timeoutMsg: "the test of a wrong secret did not fail",
    });
    const failed = await text(b, '#storage-list li[data-name="wrong"] .storage-test');
    assert.match(failed, /^The write step failed: .*(credential|signature|access key)/i, failed);
    assert.doesNotMatch(failed, /not-the-secret/, "the secret never shows");
    await (await el(b, '#storage-list li[data-name="wrong"] .remove-storage')).click();
    await b.waitUntil(async () => !(await (await b.$('#storage-list li[data-name="wrong"]')).isExisting()), { timeout: 5000 });

    await addStorage("home", S3_SECRET);
    await (await el(b, '#storage-list li[data-name="home"] .test-storage')).click();
    await b.waitUntil(async () => /works/.test(await (await b.$('#storage-list li[data-name="home"] .storage-test')).getText()), {
      timeout: 20000,
      timeoutMsg: "the storage test did not pass",
    });
    await shot(b, "26-storage");

    // Storage cannot count reads: a use limit is refused (by the core, as in the CLI).
    await createGrant("Clinic", { offline: true, maxUses: "3" });
    assert.match(await text(b, "#grant-error"), /use limit/);
    await clearByKeys(b, "#g-max");
    await (await el(b, "#create-grant")).click();
    const link = await text(b, "#grant-link");
    assert.match(link, /^TROVE1-/);
    assert.match(await text(b, "#link-reach"), /A copy is on your storage home until/);
    await (await el(b, "#token-done")).click();
    const item = 'button.grant[data-org="Clinic"]';
    assert.match(await text(b, `${item} .enforced`), /available from your storage until .+ — reads are not counted/);
    assert.equal(await text(b, `${item} .staging`), "staged on home");
    await shot(b, "27-staged-grant");

    const file = linkFile("clinic.link", link);
    const read = await org("fetch", file);
    assert.equal(read.code, 0, read.stderr);
    assert.match(read.stderr, /answered by the staged copy/, "trove-org says which path answered");
    const { records } = JSON.parse(read.stdout);
    assert.deepEqual(records.map((r) => r.fields), [{ email: "ana@example.org" }]);

    await revoke("Clinic");
    await b.waitUntil(async () => (await (await b.$(`${item} .staging`)).getText()) === "deleted from home", {
      timeout: 10000,
      timeoutMsg: "the staged copy was not shown as deleted",
    });
    const gone = await org("fetch", file);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /staged copy is gone/);
  });
});
