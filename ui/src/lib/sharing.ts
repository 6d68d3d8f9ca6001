// Sharing logic without the DOM: turning ticked types/fields into a grant scope, saying in
// plain words what a grant will disclose, describing grants, and shaping the access log
// into per-day, per-organization counts for the chart.
import type { GrantDto } from "../bindings/GrantDto";
import type { LogEntryDto } from "../bindings/LogEntryDto";
import type { RecordTypeDto } from "../bindings/RecordTypeDto";
import type { RemoteStatusDto } from "../bindings/RemoteStatusDto";
import type { StagingDto } from "../bindings/StagingDto";
import type { StorageTestDto } from "../bindings/StorageTestDto";
import { localTime } from "./time";

/** Per type: every field, some fields, or nothing. */
export type Ticks = Record<string, { all: boolean; fields: string[] }>;

/** Scope items for the ticks: `TYPE` for a whole type, `TYPE.FIELD` otherwise. */
export function scopeFromTicks(types: RecordTypeDto[], ticks: Ticks): string[] {
  const out: string[] = [];
  for (const t of types) {
    const tick = ticks[t.name];
    if (!tick) continue;
    if (tick.all) out.push(t.name);
    else for (const f of t.fields) if (tick.fields.includes(f.name)) out.push(`${t.name}.${f.name}`);
  }
  return out;
}

export interface Disclosure {
  type: string;
  title: string;
  fields: string[];
  whole: boolean;
}

/** What a scope discloses, type by type, with field titles. */
export function disclosure(types: RecordTypeDto[], scope: string[]): Disclosure[] {
  const out: Disclosure[] = [];
  for (const t of types) {
    const whole = scope.includes(t.name);
    const names = whole ? t.fields.map((f) => f.name) : scope.filter((s) => s.startsWith(`${t.name}.`)).map((s) => s.slice(t.name.length + 1));
    if (names.length === 0) continue;
    const fields = t.fields.filter((f) => names.includes(f.name)).map((f) => f.title);
    out.push({ type: t.name, title: t.title, fields, whole });
  }
  return out;
}

/** Checks the create-grant form; keys are form field names. */
export function checkGrant(org: string, purpose: string, scope: string[], maxUses: string): Record<string, string> {
  const e: Record<string, string> = {};
  if (!org.trim()) e.org = "Name the organization.";
  if (!purpose.trim()) e.purpose = "Say what it is for.";
  if (scope.length === 0) e.scope = "Tick at least one type or field.";
  if (maxUses.trim() && !/^[1-9][0-9]{0,8}$/.test(maxUses.trim())) e.max_uses = "A whole number of uses, or empty for no limit.";
  return e;
}

export const EXPIRY_CHOICES = [
  ["1d", "1 day"],
  ["7d", "7 days"],
  ["30d", "30 days"],
  ["90d", "90 days"],
  ["", "No expiry"],
] as const;

/** "3 of 5 uses", "3 uses". */
export function usesLabel(g: GrantDto): string {
  if (g.max_uses === null) return `${g.uses} ${g.uses === 1 ? "use" : "uses"}`;
  return `${g.uses} of ${g.max_uses} ${g.max_uses === 1 ? "use" : "uses"}`;
}

/** The local calendar day of an RFC 3339 time, as YYYY-MM-DD. */
export function dayOf(time: string): string {
  const d = new Date(time);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

export interface DaySeries {
  days: string[];
  orgs: string[];
  /** counts[dayIndex][orgIndex] */
  counts: number[][];
  max: number;
}

/**
 * Share API requests per day and organization for the `days` days up to `today`
 * (inclusive). Grant changes and other kinds are not accesses and are left out.
 */
export function accessesPerDay(entries: LogEntryDto[], today: Date, days = 14): DaySeries {
  const dayList: string[] = [];
  for (let i = days - 1; i >= 0; i--) {
    const d = new Date(today.getFullYear(), today.getMonth(), today.getDate() - i, 12);
    dayList.push(dayOf(d.toISOString()));
  }
  const shares = entries.filter((e) => e.kind === "share" && e.org);
  const orgs = [...new Set(shares.map((e) => e.org as string))].sort();
  const counts = dayList.map(() => orgs.map(() => 0));
  for (const e of shares) {
    const di = dayList.indexOf(dayOf(e.time));
    if (di >= 0) counts[di][orgs.indexOf(e.org as string)]++;
  }
  const max = Math.max(0, ...counts.map((row) => row.reduce((a, b) => a + b, 0)));
  return { days: dayList, orgs, counts, max };
}

/** Who a log row is about: the organization, or "You" for your own exports and imports. */
export function entryActor(e: LogEntryDto): string {
  return e.kind === "export" || e.kind === "import" ? "You" : (e.org ?? "You");
}

/** A one-line description of a log row, without values. */
export function describeEntry(e: LogEntryDto): string {
  switch (e.kind) {
    case "share": {
      const what = e.fields.length ? e.fields.join(", ") : "nothing";
      return e.outcome === "allowed"
        ? `read ${e.record_ids.length} ${e.record_ids.length === 1 ? "record" : "records"}: ${what}`
        : e.count
          ? `was refused ${e.count} more ${e.count === 1 ? "time" : "times"} within that minute (${e.outcome.replace(/^denied:/, "")})`
          : `was refused (${e.outcome.replace(/^denied:/, "")})`;
    }
    case "grant_create":
      return "was granted access";
    case "grant_revoke":
      return "had its access revoked";
    case "export": {
      // `org` names who can open the bundle: the age recipients, or passphrase / plain.
      const scoped = (e.path ?? "").startsWith("bundle:scoped");
      const who =
        e.org === "passphrase" ? "protected by a passphrase" : e.org === "plain" ? "not encrypted" : `to ${(e.org ?? "").split(" ").length} age ${(e.org ?? "").split(" ").length === 1 ? "recipient" : "recipients"}`;
      return `exported ${scoped ? "a bundle for an organization" : "everything"} (${who})${scoped ? `: ${e.fields.join(", ") || "no fields"}` : ""}`;
    }
    case "import":
    {
      const names: Record<string, string> = { bundle: "bundle", vcard: "vCard file", csv: "CSV file", json: "JSON file" };
      const format = (e.path ?? "").replace(/^import:/, "");
      return `imported a ${names[format] ?? "file"}${e.fields.length ? `: ${e.fields.join(", ")}` : ""}`;
    }
    default:
      return e.kind;
  }
}

/**
 * Who enforces a grant: this computer (every read decided, counted and logged here), or
 * the person's storage for a grant available while this computer is off.
 */
export function enforcement(g: GrantDto, time: (t: string) => string = localTime): string {
  if (!g.staging) return "enforced by this computer";
  return `available from your storage until ${time(g.staging.available_until)} — reads are not counted`;
}

/** A staged copy's state in words: "staged on home", "failed on home: …". */
export function stagingLabel(s: StagingDto): string {
  const where = `on ${s.storage}`;
  switch (s.state) {
    case "staged":
      return `staged ${where}`;
    case "updating":
      return `updating ${where}`;
    case "deletion_pending":
      return `deletion pending ${where}${s.reason ? `: ${s.reason}` : ""}`;
    case "failed":
      return `failed ${where}${s.reason ? `: ${s.reason}` : ""}`;
    case "deleted":
      return `deleted from ${s.storage}`;
    case "ended":
      return `ended: the download links ran out; deleted from ${s.storage}`;
    default:
      return `${s.state} ${where}`;
  }
}

/** "over the internet, relayed · key 5e0f3c1a2b" for a remote log row; "" otherwise. */
export function remoteLabel(e: LogEntryDto): string {
  if (!e.org_key && !e.route) return "";
  const route = e.route ? `, ${e.route}` : "";
  const key = e.org_key ? ` · key ${e.org_key.slice(0, 10)}` : "";
  return `over the internet${route}${key}`;
}

/** The remote side's state in words, for the settings screen. */
export function remoteStateLabel(r: RemoteStatusDto | null, sharingOn: boolean, enabled: boolean): string {
  if (!enabled) return "Off: organizations can reach this computer only through the share API on it.";
  if (!sharingOn) return "Waiting: turn the share API on above; the internet side serves the same server.";
  if (!r) return "Starting…";
  switch (r.state) {
    case "online":
      return `Online as ${r.endpoint_short}… via ${r.home_relay ?? "a relay"}`;
    case "connecting":
      return `Connecting as ${r.endpoint_short}…: not reachable yet (waiting for the relay)`;
    default:
      return `Offline: ${r.error ?? "the remote side stopped"}`;
  }
}

/** A storage test's outcome in words: which step failed, why, and what to do. */
export function storageTestLabel(r: StorageTestDto): string {
  if (r.ok) return `Storage ${r.storage} works: Trove can write, read and delete objects there.`;
  const bad = r.steps.find((s) => !s.ok);
  if (!bad) return `Storage ${r.storage} did not complete the test.`;
  return `The ${bad.step} step failed: ${bad.message ?? bad.code ?? "unknown error"}${bad.hint ? `. ${bad.hint[0].toUpperCase()}${bad.hint.slice(1)}.` : "."}`;
}

/** The record a grant is being made for ("Share this record"). */
export interface ShareRecord {
  id: string;
  type: string;
}

/**
 * What a record-level grant covers, in words: "2 of 4 Address records". `chosen` is the
 * number of ticked records, `total` how many records of that type there are.
 */
export function recordsLabel(title: string, chosen: number, total: number): string {
  const noun = total === 1 ? "record" : "records";
  return chosen >= total ? `All ${total} ${title} ${noun}` : `${chosen} of ${total} ${title} ${noun}`;
}

/** The chosen record ids that are still of a type in `scope` (a type unticked drops its records). */
export function chosenInScope(chosen: Record<string, string>, scope: string[]): string[] {
  const types = new Set(scope.map((s) => s.split(".")[0]));
  return Object.entries(chosen)
    .filter(([, type]) => types.has(type))
    .map(([id]) => id)
    .sort();
}
