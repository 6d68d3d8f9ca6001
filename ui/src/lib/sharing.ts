// Sharing logic without the DOM: turning ticked types/fields into a grant scope, saying in
// plain words what a grant will disclose, describing grants, and shaping the access log
// into per-day, per-organization counts for the chart.
import type { GrantDto } from "../bindings/GrantDto";
import type { LogEntry } from "../bindings/LogEntry";
import type { RecordType } from "../bindings/RecordType";
import type { RemoteStatusDto } from "../bindings/RemoteStatusDto";
import type { StagingInfo } from "../bindings/StagingInfo";
import type { TestReport } from "../bindings/TestReport";
import { localTime } from "./time";

/** Per type: every field, some fields, or nothing. */
export type Ticks = Record<string, { all: boolean; fields: string[] }>;

/** Scope items for the ticks: `TYPE` for a whole type, `TYPE.FIELD` otherwise. */
export function scopeFromTicks(types: RecordType[], ticks: Ticks): string[] {
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
export function disclosure(types: RecordType[], scope: string[]): Disclosure[] {
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
 * The local days of a chart: the `days` days up to `today` (inclusive), as YYYY-MM-DD,
 * and the instants where each starts and the last ends (`days + 1` RFC 3339 times), which
 * the vault counts requests between (a day with a clock change is 23 or 25 hours long).
 */
export function chartDays(today: Date, days = 14): { days: string[]; bounds: string[] } {
  const list: string[] = [];
  const bounds: string[] = [];
  for (let i = days - 1; i >= -1; i--) {
    const start = new Date(today.getFullYear(), today.getMonth(), today.getDate() - i);
    bounds.push(start.toISOString());
    if (i >= 0) list.push(dayOf(start.toISOString()));
  }
  return { days: list, bounds };
}

/**
 * Share API requests per day and organization, from the vault's counts per day
 * (`perDay[i]` for `days[i]`; grant changes and other kinds are not accesses).
 */
export function accessesPerDay(days: string[], perDay: Record<string, number>[]): DaySeries {
  const orgs = [...new Set(perDay.flatMap((d) => Object.keys(d)))].sort();
  const counts = days.map((_, i) => orgs.map((o) => perDay[i]?.[o] ?? 0));
  const max = Math.max(0, ...counts.map((row) => row.reduce((a, b) => a + b, 0)));
  return { days, orgs, counts, max };
}

/**
 * Who a log row is about: the organization; "You" for your own exports and imports; for a
 * refused request that named no grant, someone whose token Trove did not know.
 */
export function entryActor(e: LogEntry): string {
  if (e.kind === "export" || e.kind === "import") return "You";
  if (e.org) return e.org;
  return e.kind === "share" ? "Someone without a valid token" : "You";
}

/** `bank_account` → "bank account"; a schema title when the types are known. */
function typeWords(type: string, types?: RecordType[]): string {
  const t = types?.find((x) => x.name === type);
  return soft(t?.title ?? type.replace(/_/g, " "));
}

/** A label inside a sentence: lower case, except names like "IBAN" or "BIC". */
function soft(label: string): string {
  return /[A-Z]{2}/.test(label) ? label : label.toLowerCase();
}

function fieldWord(type: string, field: string, types?: RecordType[]): string {
  const f = types?.find((x) => x.name === type)?.fields.find((x) => x.name === field);
  return soft(f?.title ?? field.replace(/_/g, " "));
}

/**
 * `type.field` names in words, grouped by type: "address: street, city; contact: email".
 * Field labels from the schemas when `types` is given, otherwise the names with spaces.
 */
export function fieldsInWords(fields: string[], types?: RecordType[]): string {
  const byType = new Map<string, string[]>();
  for (const f of fields) {
    const [type, field] = f.includes(".") ? [f.slice(0, f.indexOf(".")), f.slice(f.indexOf(".") + 1)] : [f, ""];
    const list = byType.get(type) ?? [];
    if (field) list.push(fieldWord(type, field, types));
    byType.set(type, list);
  }
  return [...byType]
    .map(([type, list]) => (list.length ? `${typeWords(type, types)}: ${list.join(", ")}` : typeWords(type, types)))
    .join("; ");
}

/** Why a request was refused, as a sentence ending (the reason names stay in the details). */
const REFUSALS: Record<string, string> = {
  revoked: "the grant was revoked",
  expired: "the grant has expired",
  exhausted: "the grant had used up its allowed uses",
  unknown_token: "the token is not one Trove issued (or its grant was deleted)",
  missing_token: "no token was given",
  malformed_token: "the token was mistyped or cut off",
  bad_checksum: "the token was mistyped or cut off",
  insufficient_scope: "it asked for a kind of record the grant does not cover",
  not_found: "it asked for a record it cannot see",
  out_of_scope: "it asked for a record it cannot see",
  wrong_key: "the token was used from another organization's key",
  key_bound: "the grant is bound to an organization's key and was used without it",
  rate_limited: "too many failed attempts with that token",
  foreign_host: "the request was addressed to another server",
  duplicate_host: "the request was malformed",
  bad_request: "the request was malformed",
  body_too_large: "the request was too large",
  method_not_allowed: "the request used a method the share API does not offer",
  unavailable: "the vault could not answer at that moment",
  many_sources: "failed requests came from many sources at once",
};

/** "the grant was revoked" for `denied:revoked`; a plain fallback for any other reason. */
export function refusalWords(outcome: string): string {
  const reason = outcome.replace(/^denied:/, "");
  return REFUSALS[reason] ?? reason.replace(/_/g, " ");
}

/** A one-line description of a log row in plain words, without values. */
export function describeEntry(e: LogEntry, types?: RecordType[]): string {
  switch (e.kind) {
    case "share": {
      if (e.outcome !== "allowed") {
        const more = e.count ? ` (${e.count} more ${e.count === 1 ? "time" : "times"} within that minute)` : "";
        return `was refused${more}: ${refusalWords(e.outcome)}`;
      }
      // "read 2 address records (street, city)"; several types name each.
      const n = e.record_ids.length;
      const kinds = [...new Set(e.fields.map((f) => f.split(".")[0]))];
      const noun = n === 1 ? "record" : "records";
      if (kinds.length === 1) {
        const words = e.fields.map((f) => fieldWord(kinds[0], f.slice(kinds[0].length + 1), types));
        return `read ${n} ${typeWords(kinds[0], types)} ${noun} (${words.join(", ")})`;
      }
      return `read ${n} ${noun}${e.fields.length ? ` (${fieldsInWords(e.fields, types)})` : ""}`;
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
      return `exported ${scoped ? "a bundle for an organization" : "everything"} (${who})${scoped ? `: ${fieldsInWords(e.fields, types) || "no fields"}` : ""}`;
    }
    case "import": {
      const names: Record<string, string> = { bundle: "bundle", vcard: "vCard file", csv: "CSV file", json: "JSON file" };
      const format = (e.path ?? "").replace(/^import:/, "");
      return `imported a ${names[format] ?? "file"}${e.fields.length ? `: ${fieldsInWords(e.fields, types)}` : ""}`;
    }
    case "staging":
      return `${e.method ?? "changed"} a copy on your storage${e.fields.length ? `: ${fieldsInWords(e.fields, types)}` : ""}`;
    case "remote_key_rotate":
      return "replaced this computer's internet address key (links made before stop working)";
    default: {
      // Every kind is named above: svelte-check fails here when the core adds one.
      const unnamed: never = e.kind;
      return String(unnamed).replace(/_/g, " ");
    }
  }
}

/** The technical line behind a log row, for its details view. */
export function entryDetails(e: LogEntry): string {
  const parts: string[] = [];
  if (e.method || e.path) parts.push(`${e.method ?? ""} ${e.path ?? ""}`.trim());
  if (e.status !== null) parts.push(`→ ${e.status}`);
  parts.push(e.outcome);
  if (e.count) parts.push(`×${e.count}`);
  if (e.remote_addr) parts.push(`from ${e.remote_addr}`);
  if (e.fields.length) parts.push(e.fields.join(", "));
  if (e.grant_id) parts.push(`grant ${e.grant_id}`);
  return parts.join("  ");
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
export function stagingLabel(s: StagingInfo): string {
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
export function remoteLabel(e: LogEntry): string {
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
export function storageTestLabel(r: TestReport): string {
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

/**
 * A consent receipt as one sentence: who may read what, for which purpose, until when
 * (or that the consent was withdrawn). The receipt itself (Kantara v1.1 JSON) stays behind
 * a "details" toggle. Anything the receipt does not say is left out, never guessed.
 */
export function receiptSentence(receipt: unknown, types?: RecordType[], time: (t: string) => string = localTime): string {
  const r = (receipt ?? {}) as {
    consentTimestamp?: number;
    piiControllers?: { piiController?: string }[];
    services?: { purposes?: { purpose?: string; piiCategory?: string[]; termination?: string }[] }[];
    trove?: { event?: string; records?: string[] | null; onlyTag?: string | null };
  };
  const org = r.piiControllers?.[0]?.piiController ?? "The organization";
  const p = r.services?.[0]?.purposes?.[0];
  const when = typeof r.consentTimestamp === "number" ? `${time(new Date(r.consentTimestamp * 1000).toISOString())}: ` : "";
  if (r.trove?.event === "grant_revoked") return `${when}You withdrew ${org}’s access.`;
  const what = p?.piiCategory?.length ? fieldsInWords(p.piiCategory, types) : "the chosen fields";
  const records = r.trove?.records?.length ? ` of ${r.trove.records.length} chosen ${r.trove.records.length === 1 ? "record" : "records"}` : "";
  const tag = r.trove?.onlyTag ? ` tagged “${r.trove.onlyTag}”` : "";
  const purpose = p?.purpose ? ` for “${p.purpose}”` : "";
  const until = p?.termination ? ` It ${p.termination.replace(/; /g, ", ")}.` : "";
  return `${when}You allowed ${org} to read ${what}${records}${tag}${purpose}.${until}`;
}
