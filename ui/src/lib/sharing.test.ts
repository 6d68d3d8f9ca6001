import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { LogEntry } from "../bindings/LogEntry";
import type { RecordType } from "../bindings/RecordType";
import type { GrantDto } from "../bindings/GrantDto";
import type { StagingInfo } from "../bindings/StagingInfo";
import type { FieldDef } from "../bindings/FieldDef";
import type { RemoteStatusDto } from "../bindings/RemoteStatusDto";
import type { TestReport } from "../bindings/TestReport";
import {
  accessesPerDay,
  chartDays,
  checkGrant,
  chosenInScope,
  describeEntry,
  entryDetails,
  disclosure,
  enforcement,
  entryActor,
  recordsLabel,
  remoteLabel,
  remoteStateLabel,
  scopeFromTicks,
  stagingLabel,
  storageTestLabel,
  usesLabel,
  receiptSentence,
} from "./sharing";

const f = (name: string, title: string): FieldDef => ({ name, title, max_length: 64, required: false });
const types: RecordType[] = [
  { name: "identity", title: "Identity", description: "", fields: [f("given_name", "Given name"), f("family_name", "Family name"), f("birth_date", "Birth date")], summary: [] },
  { name: "contact", title: "Contact", description: "", fields: [f("email", "Email"), f("phone", "Phone")], summary: [] },
];

const entry = (over: Partial<LogEntry>): LogEntry => ({
  seq: 1, time: "2026-11-20T10:00:00.000Z", kind: "share", grant_id: "g", org: "GLS Bank", remote_addr: "127.0.0.1",
  method: "GET", path: "/v1/records", status: 200, outcome: "allowed", record_ids: ["a"], fields: ["contact.email"], org_key: null, route: null, count: null, prev_hash: "p", hash: "h", ...over,
});

describe("scope from ticks", () => {
  it("uses TYPE for whole types and TYPE.FIELD for single fields, in schema order", () => {
    const scope = scopeFromTicks(types, {
      contact: { all: true, fields: [] },
      identity: { all: false, fields: ["birth_date", "given_name"] },
    });
    expect(scope).toEqual(["identity.given_name", "identity.birth_date", "contact"]);
    expect(scopeFromTicks(types, { identity: { all: false, fields: [] } })).toEqual([]);
  });
});

describe("disclosure", () => {
  it("lists exactly the field titles a scope discloses", () => {
    expect(disclosure(types, ["identity.given_name", "contact"])).toEqual([
      { type: "identity", title: "Identity", fields: ["Given name"], whole: false },
      { type: "contact", title: "Contact", fields: ["Email", "Phone"], whole: true },
    ]);
  });
});

describe("checkGrant", () => {
  it("names each missing piece", () => {
    expect(checkGrant("", " ", [], "x")).toEqual({
      org: "Name the organization.", purpose: "Say what it is for.", scope: "Tick at least one type or field.",
      max_uses: "A whole number of uses, or empty for no limit.",
    });
    expect(checkGrant("GLS", "account", ["contact"], "")).toEqual({});
    expect(checkGrant("GLS", "account", ["contact"], "0").max_uses).toBeDefined();
  });
});

describe("usesLabel", () => {
  it("shows the limit when there is one", () => {
    const g = { uses: 3, max_uses: 5 } as Parameters<typeof usesLabel>[0];
    expect(usesLabel(g)).toBe("3 of 5 uses");
    expect(usesLabel({ ...g, uses: 1, max_uses: null })).toBe("1 use");
    expect(usesLabel({ ...g, uses: 1, max_uses: 1 })).toBe("1 of 1 use");
  });
});

describe("chartDays", () => {
  beforeEach(() => {
    vi.stubEnv("TZ", "Europe/Berlin");
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("names the local days up to today and the instants where each starts and the last ends", () => {
    // 15:00 UTC on 21 November is 16:00 in Berlin (UTC+1): local midnight is 23:00 UTC.
    const { days, bounds } = chartDays(new Date("2026-11-21T15:00:00Z"), 3);
    expect(days).toEqual(["2026-11-19", "2026-11-20", "2026-11-21"]);
    expect(bounds).toEqual(["2026-11-18T23:00:00.000Z", "2026-11-19T23:00:00.000Z", "2026-11-20T23:00:00.000Z", "2026-11-21T23:00:00.000Z"]);
  });

  it("gives the day the clocks change its real length (23 hours on 29 March in Berlin)", () => {
    const { days, bounds } = chartDays(new Date("2026-03-29T12:00:00Z"), 1);
    expect(days).toEqual(["2026-03-29"]);
    expect(bounds).toEqual(["2026-03-28T23:00:00.000Z", "2026-03-29T22:00:00.000Z"]);
  });
});

describe("accessesPerDay", () => {
  it("lays the vault's counts per day out per org, oldest day first", () => {
    const s = accessesPerDay(["2026-11-19", "2026-11-20", "2026-11-21"], [{}, { "GLS Bank": 1 }, { "GLS Bank": 1, Clinic: 1 }]);
    expect(s.days).toEqual(["2026-11-19", "2026-11-20", "2026-11-21"]);
    expect(s.orgs).toEqual(["Clinic", "GLS Bank"]);
    expect(s.counts).toEqual([[0, 0], [0, 1], [1, 1]]);
    expect(s.max).toBe(2);
  });
  it("is empty without requests", () => {
    expect(accessesPerDay(["2026-11-21"], [{}])).toEqual({ days: ["2026-11-21"], orgs: [], counts: [[]], max: 0 });
  });
});

describe("describeEntry", () => {
  it("says in plain words what was read or why it was refused, never values", () => {
    expect(describeEntry(entry({}))).toBe("read 1 contact record (email)");
    expect(describeEntry(entry({}), types)).toBe("read 1 contact record (email)");
    expect(describeEntry(entry({ record_ids: ["a", "b"], fields: ["identity.given_name", "contact.email"] }), types)).toBe(
      "read 2 records (identity: given name; contact: email)",
    );
    expect(describeEntry(entry({ record_ids: ["a", "b"], fields: ["bank_account.iban", "bank_account.contact_hours"] }))).toBe(
      "read 2 bank account records (iban, contact hours)",
    );
    expect(describeEntry(entry({ outcome: "denied:revoked", record_ids: [], fields: [] }))).toBe("was refused: the grant was revoked");
    expect(describeEntry(entry({ outcome: "denied:insufficient_scope", record_ids: [], fields: [] }))).toBe(
      "was refused: it asked for a kind of record the grant does not cover",
    );
    expect(describeEntry(entry({ outcome: "denied:some_new_reason", record_ids: [], fields: [] }))).toBe("was refused: some new reason");
    expect(describeEntry(entry({ kind: "grant_revoke" }))).toBe("had its access revoked");
    expect(describeEntry(entry({ outcome: "denied:unknown_token", org: null, record_ids: [], fields: [], count: 41 }))).toBe(
      "was refused (41 more times within that minute): the token is not one Trove issued (or its grant was deleted)",
    );
  });

  it("never says \"You was refused\": a request without a known token has its own actor", () => {
    const stranger = entry({ outcome: "denied:missing_token", org: null, grant_id: null, record_ids: [], fields: [] });
    expect(`${entryActor(stranger)} ${describeEntry(stranger)}`).toBe("Someone without a valid token was refused: no token was given");
  });

  it("keeps the technical line for the details view", () => {
    expect(entryDetails(entry({ outcome: "denied:revoked", status: 401, record_ids: [], fields: [] }))).toBe(
      "GET /v1/records  → 401  denied:revoked  from 127.0.0.1  grant g",
    );
  });

  it("describes your own exports and imports, with what left", () => {
    const full = entry({ kind: "export", org: "passphrase", path: "bundle:full", fields: ["contact.email", "note.title"] });
    expect(entryActor(full)).toBe("You");
    expect(describeEntry(full)).toBe("exported everything (protected by a passphrase)");
    const scoped = entry({ kind: "export", org: "age1aaa age1bbb", path: "bundle:scoped contact.email", fields: ["contact.email"] });
    expect(describeEntry(scoped)).toBe("exported a bundle for an organization (to 2 age recipients): contact: email");
    expect(describeEntry(entry({ kind: "export", org: "plain", path: "bundle:full" }))).toMatch(/not encrypted/);
    expect(describeEntry(entry({ kind: "import", org: null, path: "import:vcard", fields: ["contact.email"] }))).toBe("imported a vCard file: contact: email");
    expect(entryActor(entry({}))).toBe("GLS Bank");
  });
});

describe("remote and staged grants", () => {
  const staging: StagingInfo = {
    grant_id: "g",
    storage: "home",
    state: "staged",
    reason: null,
    version: 1,
    records: 2,
    available_until: "2026-12-09T10:00:00Z",
    staged_at: "2026-12-02T10:00:00Z",
    key_in_link: true,
    recipient: "age1…",
    enforced_by: "your storage",
    objects: [],
  };

  it("says who enforces a grant", () => {
    const live = { staging: null } as unknown as GrantDto;
    expect(enforcement(live)).toBe("enforced by this computer");
    const staged = { staging } as unknown as GrantDto;
    expect(enforcement(staged, (t) => t.slice(0, 10))).toBe("available from your storage until 2026-12-09 — reads are not counted");
  });

  it("names the staging state, the storage and the reason", () => {
    expect(stagingLabel(staging)).toBe("staged on home");
    expect(stagingLabel({ ...staging, state: "updating" })).toBe("updating on home");
    expect(stagingLabel({ ...staging, state: "deletion_pending", reason: "can't connect" })).toBe("deletion pending on home: can't connect");
    expect(stagingLabel({ ...staging, state: "failed", reason: "credentials refused" })).toBe("failed on home: credentials refused");
    expect(stagingLabel({ ...staging, state: "deleted" })).toBe("deleted from home");
  });

  it("labels remote log rows with the route and the short organization key", () => {
    expect(remoteLabel(entry({}))).toBe("");
    expect(remoteLabel(entry({ org_key: "5e0f3c1a2b".padEnd(64, "0"), route: "relayed" }))).toBe("over the internet, relayed · key 5e0f3c1a2b");
  });

  it("words the remote side's state", () => {
    const r: RemoteStatusDto = { state: "online", endpoint_id: "ab".repeat(32), endpoint_short: "ababababab", home_relay: "http://127.0.0.1:9/", error: null };
    expect(remoteStateLabel(r, true, true)).toBe("Online as ababababab… via http://127.0.0.1:9/");
    expect(remoteStateLabel(null, true, false)).toMatch(/^Off/);
    expect(remoteStateLabel(null, false, true)).toMatch(/turn the share API on/);
    expect(remoteStateLabel({ ...r, state: "failed", error: "can't open the remote endpoint: no network" }, true, true)).toBe(
      "Offline: can't open the remote endpoint: no network",
    );
  });

  it("says which storage test step failed and what to do", () => {
    const ok: TestReport = { storage: "home", ok: true, steps: [] };
    expect(storageTestLabel(ok)).toMatch(/^Storage home works/);
    const bad: TestReport = {
      storage: "home",
      ok: false,
      steps: [{ step: "write", ok: false, code: "storage_credentials", message: "the credentials were refused", hint: "check the access key id and secret key" }],
    };
    expect(storageTestLabel(bad)).toBe("The write step failed: the credentials were refused. Check the access key id and secret key.");
  });
});

describe("record-level grants", () => {
  it("says how many of a type's records are shared", () => {
    expect(recordsLabel("Address", 2, 4)).toBe("2 of 4 Address records");
    expect(recordsLabel("Address", 1, 1)).toBe("All 1 Address record");
  });
  it("drops chosen records whose type left the scope", () => {
    const chosen = { b: "address", a: "address", n: "note" };
    expect(chosenInScope(chosen, ["address.city", "contact"])).toEqual(["a", "b"]);
    expect(chosenInScope(chosen, ["contact"])).toEqual([]);
  });
});

describe("receiptSentence", () => {
  const created = {
    consentTimestamp: 1764670000,
    piiControllers: [{ piiController: "Stadtwerke Berlin", onBehalf: false }],
    services: [{ purposes: [{ purpose: "Electricity contract", piiCategory: ["address.street", "address.city", "contact"], termination: "expires at 2027-01-01T00:00:00Z; ends when revoked by the person or given up by the organization" }] }],
    trove: { event: "grant_created", records: ["01A", "01B"], onlyTag: null },
  };
  const at = () => "Dec 2, 2026";
  it("says who may read what, for which purpose and until when", () => {
    expect(receiptSentence(created, types, at)).toBe(
      "Dec 2, 2026: You allowed Stadtwerke Berlin to read address: street, city; contact of 2 chosen records for “Electricity contract”. It expires at 2027-01-01T00:00:00Z, ends when revoked by the person or given up by the organization.",
    );
  });
  it("says a withdrawal, and leaves out what a receipt does not say", () => {
    expect(receiptSentence({ ...created, trove: { event: "grant_revoked" } }, types, at)).toBe("Dec 2, 2026: You withdrew Stadtwerke Berlin’s access.");
    expect(receiptSentence({}, types, at)).toBe("You allowed The organization to read the chosen fields.");
    expect(receiptSentence(null)).toBe("You allowed The organization to read the chosen fields.");
  });
});
