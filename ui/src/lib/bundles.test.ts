import { describe, expect, it } from "vitest";
import type { ApiError } from "../bindings/ApiError";
import type { ApiErrorCode } from "../bindings/ApiErrorCode";
import type { GrantDto } from "../bindings/GrantDto";
import type { ImportReportDto } from "../bindings/ImportReportDto";
import type { FieldDef } from "../bindings/FieldDef";
import type { LineProblemDto } from "../bindings/LineProblemDto";
import type { RecordType } from "../bindings/RecordType";
import {
  undoSummary,
  defaultExportName,
  errorField,
  transferMessage,
  formatBytes,
  grantChoices,
  joinPath,
  keptInBundle,
  problemLine,
  recordTypeChoice,
  parseRecipients,
  previewLines,
  progressFraction,
  progressLabel,
  ticksFromScope,
} from "./bundles";
import { disclosure, scopeFromTicks } from "./sharing";

const f = (name: string, title: string): FieldDef => ({ name, title, max_length: 64, required: false });
const types: RecordType[] = [
  { name: "identity", title: "Identity", description: "", fields: [f("given_name", "Given name"), f("family_name", "Family name")], summary: [] },
  { name: "contact", title: "Contact", description: "", fields: [f("email", "Email"), f("phone", "Phone")], summary: [] },
];
const R1 = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
const R2 = "age1lggyhqrw2nlhcxprm67z43rta597azn8gknawjehu9d9dl0jq3yqqvfafg";

const grant = (over: Partial<GrantDto>): GrantDto => ({
  id: "g", org: "Acme", purpose: "p", scope: [], only_tag: null, records: null, created_at: "", expires_at: null,
  max_uses: null, uses: 0, revoked_at: null, status: "active", org_key: null, staging: null, ...over,
});

const report = (over: Partial<ImportReportDto>): ImportReportDto => ({
  path: "/x.trove", format: "bundle", dry_run: true, records: 3, new: 2, updated: 0, unchanged: 1,
  kept_in_bundle: null, bundle_created_at: null, scope: null, problems: [],
  skipped: 0, values_not_kept: 0, unmapped: [], problems_total: 0, refused: false, batch: null, warnings: [], ...over,
});

describe("recipients", () => {
  it("reads one per line, skips blanks and comments, drops duplicates", () => {
    const r = parseRecipients(`# the clinic\n  ${R1}  \n\n${R2}\n${R1}\n`);
    expect(r.recipients).toEqual([R1, R2]);
    expect(r.problems).toEqual([]);
  });

  it("names the line of every bad entry and says what is wrong", () => {
    const r = parseRecipients(`${R1}\nssh-ed25519 AAAA\nage1short\nAGE-SECRET-KEY-1QQQ\n${R1.toUpperCase()}`);
    expect(r.recipients).toEqual([R1]);
    expect(r.problems.map((p) => p.line)).toEqual([2, 3, 4, 5]);
    expect(r.problems[0].message).toMatch(/starts with age1/);
    expect(r.problems[1].message).toMatch(/62 characters/);
    expect(r.problems[2].message).toMatch(/secret key/);
  });

  it("rejects characters outside bech32", () => {
    expect(parseRecipients(R1.slice(0, -1) + "b").problems).toHaveLength(1);
  });
});

describe("scope for an organization export", () => {
  it("starts from a grant's scope and round-trips through the picker", () => {
    const scope = ["identity.given_name", "contact"];
    const ticks = ticksFromScope(types, scope);
    expect(ticks).toEqual({ identity: { all: false, fields: ["given_name"] }, contact: { all: true, fields: [] } });
    expect(scopeFromTicks(types, ticks)).toEqual(scope);
    expect(disclosure(types, scopeFromTicks(types, ticks)).map((d) => `${d.title}: ${d.fields.join(", ")}`)).toEqual([
      "Identity: Given name",
      "Contact: Email, Phone",
    ]);
  });

  it("ignores scope items of unknown types or fields", () => {
    expect(ticksFromScope(types, ["bogus", "contact.fax"])).toEqual({});
  });

  it("offers active grants first", () => {
    const gs = [grant({ id: "1", org: "Zed", status: "revoked" }), grant({ id: "2", org: "Bank" }), grant({ id: "3", org: "Acme" })];
    expect(grantChoices(gs).map((g) => g.id)).toEqual(["3", "2", "1"]);
  });
});

describe("progress and sizes", () => {
  it("formats sizes in decimal units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(4200)).toBe("4.2 KB");
    expect(formatBytes(3_100_000)).toBe("3.1 MB");
    expect(formatBytes(250_000_000)).toBe("250 MB");
  });

  it("labels records and bytes, with a percentage when the total is known", () => {
    expect(progressLabel(null)).toBe("Starting…");
    expect(progressLabel({ phase: "writing", done: 40, total: 100 })).toBe("Writing records: 40 of 100 (40%)");
    expect(progressLabel({ phase: "reading", done: 1_200_000, total: 3_400_000 })).toBe("Reading: 1.2 MB of 3.4 MB (35%)");
    expect(progressLabel({ phase: "finishing", done: 2_500_000, total: 5_000_000 })).toBe("Finishing: 2.5 MB of 5.0 MB (50%)");
    expect(progressLabel({ phase: "writing", done: 7, total: null })).toBe("Writing records: 7");
    expect(progressFraction({ phase: "writing", done: 150, total: 100 })).toBe(1);
    expect(progressFraction({ phase: "writing", done: 1, total: 0 })).toBeNull();
  });
});

describe("file names", () => {
  it("suggests a dated name, with the organization for a scoped export", () => {
    const d = new Date(2026, 10, 3, 12);
    expect(defaultExportName(d)).toBe("trove-2026-11-03.trove");
    expect(defaultExportName(d, "GLS Bank / Filiale")).toBe("trove-gls-bank-filiale-2026-11-03.trove");
    expect(joinPath("/home/ana", "a.trove")).toBe("/home/ana/a.trove");
    expect(joinPath("/", "a.trove")).toBe("/a.trove");
  });
});

describe("import preview", () => {
  it("says what would change before, and what changed after", () => {
    expect(previewLines(report({})).map((l) => `${l.label}=${l.value}`)).toEqual([
      "Records in the file=3",
      "New (would be added)=2",
      "Newer (would be updated)=0",
      "Already here, unchanged=1",
    ]);
    expect(previewLines(report({ dry_run: false }))[1].label).toBe("Added");
    const made = previewLines(report({ bundle_created_at: "2026-11-23T10:00:00Z" }), (t) => `at ${t}`);
    expect(made[made.length - 1]).toEqual({ label: "Bundle made", value: "at 2026-11-23T10:00:00Z" });
  });

  it("explains that grants, receipts and the log stay in the bundle", () => {
    expect(keptInBundle(report({}))).toBe("");
    expect(keptInBundle(report({ kept_in_bundle: { grants: 1, receipts: 2, log: 5 } }))).toMatch(
      /^1 grant, 2 receipts and 5 access-log entries were checked and stay in the bundle/,
    );
  });

  it("offers people as the default for a CSV, a type filter otherwise", () => {
    expect(recordTypeChoice("csv").none).toBe("people (a contacts export)");
    expect(recordTypeChoice("vcard").none).toBe("every type");
  });

  it("counts what was not kept for files, not for bundles", () => {
    const lines = previewLines(report({ format: "vcard", skipped: 1, values_not_kept: 2, unmapped: [{ property: "PHOTO", count: 3, first_line: 4 }] }));
    expect(lines.slice(4).map((l) => `${l.label}=${l.value}`)).toEqual([
      "Skipped (could not be kept)=1",
      "Values not kept (rest of the record kept)=2",
      "Properties with no field=1",
    ]);
    expect(previewLines(report({ format: "bundle" })).length).toBe(4);
  });

  it("says what became of each problem's value", () => {
    const p: LineProblemDto = { line: 3, property: "TEL", kind: "value_not_kept", reason: "not a phone", kept_in_notes: true };
    expect(problemLine(p)).toBe("TEL: not a phone (value kept in the notes)");
    expect(problemLine({ ...p, property: null, kind: "skipped" })).toBe("not a phone (record skipped)");
    expect(problemLine({ ...p, kind: "refused" })).toBe("TEL: not a phone");
  });
});

describe("errors", () => {
  const err = (code: ApiErrorCode, field: string | null = null): ApiError => ({ code, message: "m", hint: "pass --identity FILE", field });
  it("puts an error next to its field, or above the form", () => {
    expect(errorField(err("invalid_input", "recipients"))).toBe("recipients");
    expect(errorField(err("bundle_damaged"))).toBe("");
    expect(errorField(err("invalid_input", "nonsense"))).toBe("");
  });
  it("speaks of the screen, not of CLI flags, for bundle keys", () => {
    expect(transferMessage(err("bundle_needs_identity"))).toMatch(/identity file/);
    expect(transferMessage(err("bundle_needs_identity"))).not.toMatch(/--identity/);
    expect(transferMessage(err("bundle_wrong_passphrase"))).toBe("That passphrase does not open this bundle.");
    expect(transferMessage(err("busy"))).toBe("m. pass --identity FILE.");
  });
});

describe("undo import", () => {
  it("says what went to the trash and what was kept", () => {
    const none = { restored: [], kept_no_earlier: [] };
    expect(undoSummary({ batch: "b", removed: ["a", "b"], kept_changed: [], already_gone: [], ...none })).toBe("2 records moved to the trash.");
    expect(undoSummary({ batch: "b", removed: ["a"], kept_changed: ["c"], already_gone: ["d", "e"], ...none })).toBe(
      "1 record moved to the trash. 1 record was changed since the import and kept. 2 were already removed.",
    );
    expect(undoSummary({ batch: "b", removed: [], restored: ["a", "b"], kept_changed: [], already_gone: [], kept_no_earlier: ["c"] })).toBe(
      "0 records moved to the trash. 2 records put back as before the import. 1 updated record was kept as imported: the earlier version is no longer kept.",
    );
  });
});
