// End-to-end tests of the real Trove desktop app (debug binary), driven through
// tauri-driver + WebKitWebDriver. scripts/e2e.sh sets up the hermetic environment
// (temp HOME and XDG dirs, private session bus, Xvfb) and runs this file with node --test.
//
// Env: TROVE_APP (binary), E2E_PORT (tauri-driver port), E2E_TMP (temp dir for vaults),
// SCREENSHOT_DIR (where the main screens are saved as PNG).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { remote } from "webdriverio";

const APP = process.env.TROVE_APP;
const PORT = Number(process.env.E2E_PORT ?? 4444);
const TMP = process.env.E2E_TMP;
const SHOTS = process.env.SCREENSHOT_DIR;
assert.ok(APP && fs.existsSync(APP), `TROVE_APP must point at the app binary (got ${APP})`);
assert.ok(TMP, "E2E_TMP must be set");

const SHARE_PORT = Number(process.env.E2E_SHARE_PORT ?? 17878);
const PASS = "violet tram Oslo cedar 49";
const NEW_PASS = "quiet harbour lantern 1907";
let recoveryKey = "";

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
  await b.saveScreenshot(path.join(SHOTS, `${name}.png`));
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

async function addRecord(b, type, fields, tags = "") {
  await (await el(b, "#new-record")).click();
  await (await el(b, "#new-type")).selectByAttribute("value", type);
  for (const [name, value] of Object.entries(fields)) await typeInto(b, `#f-${name}`, value);
  if (tags) await typeInto(b, "#f-tags", tags);
  await (await el(b, "#save-record")).click();
  await el(b, "#record-detail");
}

describe("a new vault: create, add, edit, delete, lock, unlock", () => {
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
    await typeInto(b, "#create-pass", PASS);
    await typeInto(b, "#create-confirm", PASS + "x");
    assert.match(await text(b, "#create-confirm-err"), /differ/);
    await typeInto(b, "#create-confirm", PASS);
    assert.match(await text(b, "#create-strength"), /strong/i);
    await shot(b, "01-first-run");
  });

  it("creates the vault and shows the recovery key once, behind an explicit step", async () => {
    await (await el(b, "#create-vault")).click();
    recoveryKey = await text(b, "#recovery-key");
    assert.match(recoveryKey, /^AGE-SECRET-KEY-1[0-9A-Z]+$/);
    const cont = await b.$("#recovery-continue");
    assert.equal(await cont.isEnabled(), false, "continue needs 'I have saved it'");
    // The committed screenshot must not carry anything secret scanners flag as a key.
    await b.execute(() => {
      document.getElementById("recovery-key").textContent = "AGE-SECRET-KEY-1" + "•".repeat(58);
    });
    await shot(b, "02-recovery-key");
    await (await el(b, "#saved-recovery")).click();
    await cont.click();
    await el(b, "#new-record");
    assert.ok(fs.existsSync(path.join(vault, "trove.key")), "the vault is on disk");
  });

  it("shows a field's validation error inline, then saves the fixed record", async () => {
    await (await el(b, "#new-record")).click();
    await (await el(b, "#new-type")).selectByAttribute("value", "contact");
    await typeInto(b, "#f-email", "ana-at-example");
    await (await el(b, "#save-record")).click();
    const err = await text(b, "#h-email .error");
    assert.match(err, /not an email address/);
    assert.equal(await (await b.$("#f-email")).getAttribute("aria-invalid"), "true");
    await shot(b, "04-validation");
    await typeInto(b, "#f-email", "ana@example.org");
    await typeInto(b, "#f-label", "personal");
    await typeInto(b, "#f-tags", "personal, family");
    await (await el(b, "#save-record")).click();
    assert.match(await text(b, "#record-detail"), /ana@example\.org/);
    assert.equal(await countOf(b, "contact"), 1);
  });

  it("adds records of other types from their generated forms", async () => {
    await addRecord(b, "bank_account", { bank: "GLS Bank", holder: "Ana López", iban: "de89 3704 0044 0532 0130 00" }, "finance");
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

  it("shares: grant → an organization reads → the log shows it → revoke → refused", async () => {
    // Sharing on, on a free loopback port.
    await (await el(b, "#tab-settings")).click();
    await typeInto(b, "#listen", `127.0.0.1:${SHARE_PORT}`);
    await (await el(b, "#sharing-on")).click();
    assert.match(await text(b, "#sharing-state"), new RegExp(`127\\.0\\.0\\.1:${SHARE_PORT}`));

    // Create a grant, ticking one field of contact and the whole address type.
    await (await el(b, "#tab-sharing")).click();
    await (await el(b, "#new-grant")).click();
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
    const token = await text(b, "#grant-token");
    assert.match(token, /^trove_[0-9A-Za-z]+$/);
    await b.execute(() => {
      document.getElementById("grant-token").textContent = "trove_" + "•".repeat(46);
    });
    await shot(b, "12-grant-token");
    await (await el(b, "#token-done")).click();

    // The organization reads through the share API.
    const url = `http://127.0.0.1:${SHARE_PORT}`;
    const read = await fetch(`${url}/v1/records`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(read.status, 200);
    const { records } = await read.json();
    const contact = records.find((r) => r.type === "contact");
    assert.deepEqual(Object.keys(contact.fields), ["email"], "only the granted field leaves");
    assert.ok(records.some((r) => r.type === "address"));
    assert.ok(!records.some((r) => r.type === "bank_account"), "types outside the scope stay home");

    // The access log shows the read, with org and fields, live.
    await (await el(b, "#tab-log")).click();
    await b.waitUntil(async () => (await (await b.$("#timeline")).getText()).includes("contact.email"), {
      timeout: 8000,
      timeoutMsg: "the read did not show up in the access log",
    });
    assert.match(await text(b, "#timeline"), /GLS Bank read \d+ records?: .*contact\.email/);
    assert.match(await text(b, "#org-summary"), /GLS Bank/);
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
    const refused = await fetch(`${url}/v1/records`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(refused.status, 401);
    await shot(b, "14-sharing-revoked");
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
    assert.equal(await countOf(b, "contact"), 1, "records survive lock and unlock");
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

  before(async () => {
    b = await startApp(path.join(TMP, "vault-demo"));
  });
  after(async () => {
    await b?.deleteSession();
  });

  it("opens with sample data and the documented passphrase", async () => {
    const pass = await text(b, "#demo-passphrase");
    await (await el(b, "#open-demo")).click();
    await el(b, "#new-record");
    await b.waitUntil(async () => Number(await (await b.$("button.type .count")).getText()) >= 40, { timeout: 10000 });
    await shot(b, "09-demo-overview");
    await (await el(b, 'button.type[data-type="identity"]')).click();
    await (await el(b, "#record-list button.item")).click();
    assert.match(await text(b, "#record-detail"), /López/);
    await shot(b, "10-demo-record");
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
});
