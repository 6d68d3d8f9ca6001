// Export/import logic without the DOM: reading age recipients from a text box, starting
// an organization export from a grant's scope, saying what a bundle discloses, progress
// and size formatting, and the words for an import preview.
import type { UndoReport } from "../bindings/UndoReport";
import type { ApiError } from "../bindings/ApiError";
import type { GrantDto } from "../bindings/GrantDto";
import type { ImportReportDto } from "../bindings/ImportReportDto";
import type { LineProblemDto } from "../bindings/LineProblemDto";
import type { Phase } from "../bindings/Phase";
import type { Progress } from "../bindings/Progress";
import type { RecordType } from "../bindings/RecordType";
import type { Ticks } from "./sharing";

/** bech32's alphabet; an X25519 recipient is `age1` + 58 of these. */
const RECIPIENT = /^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$/;

export interface RecipientProblem {
  /** 1-based line in the text box. */
  line: number;
  message: string;
}

/**
 * The recipients in a text box, one per line (blank lines and `#` comments skipped,
 * duplicates dropped), and a message for each line that is not an age recipient.
 */
export function parseRecipients(text: string): { recipients: string[]; problems: RecipientProblem[] } {
  const recipients: string[] = [];
  const problems: RecipientProblem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    if (line.startsWith("AGE-SECRET-KEY-")) {
      problems.push({ line: i + 1, message: "This is a secret key. Paste the public key (age1…) that `age-keygen -y` prints, and keep the secret one to yourself." });
    } else if (!line.startsWith("age1")) {
      problems.push({ line: i + 1, message: "An age recipient starts with age1." });
    } else if (!RECIPIENT.test(line)) {
      problems.push({ line: i + 1, message: "Not a valid age recipient: check for a typo or a missing part (it is 62 characters long)." });
    } else if (!recipients.includes(line)) {
      recipients.push(line);
    }
  });
  return { recipients, problems };
}

/** Ticks for the scope picker from a grant's scope items (`TYPE` or `TYPE.FIELD`). */
export function ticksFromScope(types: RecordType[], scope: string[]): Ticks {
  const ticks: Ticks = {};
  for (const t of types) {
    if (scope.includes(t.name)) {
      ticks[t.name] = { all: true, fields: [] };
      continue;
    }
    const fields = t.fields.filter((f) => scope.includes(`${t.name}.${f.name}`)).map((f) => f.name);
    if (fields.length) ticks[t.name] = { all: false, fields };
  }
  return ticks;
}

/** Grants worth starting an organization export from: active ones first, then the rest. */
export function grantChoices(grants: GrantDto[]): GrantDto[] {
  const rank = (g: GrantDto) => (g.status === "active" ? 0 : 1);
  return [...grants].sort((a, b) => rank(a) - rank(b) || a.org.localeCompare(b.org));
}

/** "812 B", "4.2 KB", "3.1 MB". */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n;
  let u = -1;
  do {
    v /= 1000;
    u++;
  } while (v >= 1000 && u < units.length - 1);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

const PHASES: Record<Phase, string> = {
  writing: "Writing records",
  finishing: "Finishing",
  reading: "Reading",
};

/** Phases whose `done`/`total` count bytes (the others count records). */
const BYTE_PHASES = new Set<Phase>(["reading", "finishing"]);

/** The fraction done (0..1), or null when the total is not known. */
export function progressFraction(p: Progress | null): number | null {
  if (!p || p.total === null || p.total <= 0) return null;
  return Math.min(1, p.done / p.total);
}

/** "Writing records: 40 of 100 (40%)", "Reading: 1.2 MB of 3.4 MB (35%)". */
export function progressLabel(p: Progress | null): string {
  if (!p) return "Starting…";
  const phase = PHASES[p.phase];
  const bytes = BYTE_PHASES.has(p.phase);
  const n = (x: number) => (bytes ? formatBytes(x) : String(x));
  const f = progressFraction(p);
  if (f === null) return `${phase}: ${n(p.done)}`;
  return `${phase}: ${n(p.done)} of ${n(p.total as number)} (${Math.floor(f * 100)}%)`;
}

/** A default file name for an export made on `now`: `trove-2026-11-23.trove`, or with the organization. */
export function defaultExportName(now: Date, org = ""): string {
  const p = (x: number) => String(x).padStart(2, "0");
  const day = `${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}`;
  const slug = org
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  return slug ? `trove-${slug}-${day}.trove` : `trove-${day}.trove`;
}

/** Joins a directory and a file name the way the platform's paths read. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

export interface PreviewLine {
  label: string;
  value: string;
}

/** The counts of an import preview (or result) as short label/value lines; `time` formats the bundle's date. */
export function previewLines(r: ImportReportDto, time: (t: string) => string = (t) => t): PreviewLine[] {
  const lines: PreviewLine[] = [
    { label: "Records in the file", value: String(r.records) },
    { label: r.dry_run ? "New (would be added)" : "Added", value: String(r.new) },
    { label: r.dry_run ? "Newer (would be updated)" : "Updated", value: String(r.updated) },
    { label: "Already here, unchanged", value: String(r.unchanged) },
  ];
  if (r.format !== "bundle") {
    lines.push(
      { label: "Skipped (could not be kept)", value: String(r.skipped) },
      { label: "Values not kept (rest of the record kept)", value: String(r.values_not_kept) },
      { label: "Properties with no field", value: String(r.unmapped.length) },
    );
  }
  if (r.bundle_created_at) lines.push({ label: "Bundle made", value: time(r.bundle_created_at) });
  return lines;
}

/** What stays in the bundle (grants, receipts, log), in words; empty when nothing does. */
export function keptInBundle(r: ImportReportDto): string {
  const k = r.kept_in_bundle;
  if (!k || k.grants + k.receipts + k.log === 0) return "";
  const part = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  return `${part(k.grants, "grant", "grants")}, ${part(k.receipts, "receipt", "receipts")} and ${part(k.log, "access-log entry", "access-log entries")} were checked and stay in the bundle: grants and the log belong to the vault that wrote them, so they are not restored here.`;
}

/** The format names the import screen offers, with how to read them. */
export const IMPORT_FORMATS = [
  ["auto", "Detect from the file"],
  ["bundle", "Trove bundle (.trove)"],
  ["vcard", "vCard contacts (.vcf)"],
  ["csv", "CSV: a contacts export, or rows of one record type (.csv)"],
  ["json", "JSON records or jCard contacts (.json)"],
] as const;

/** One problem of a preview in words: where, what, and what became of the value. */
export function problemLine(p: LineProblemDto): string {
  const what = p.kind === "skipped" ? "record skipped" : p.kind === "refused" ? "" : p.kept_in_notes ? "value kept in the notes" : "value not kept";
  return `${p.property ? `${p.property}: ` : ""}${p.reason}${what ? ` (${what})` : ""}`;
}

/** The record-type choice of the import screen: its label and what "none" means. */
export function recordTypeChoice(format: string): { label: string; none: string } {
  return format === "csv"
    ? { label: "Record type of the rows", none: "people (a contacts export)" }
    : { label: "Only records of type", none: "every type" };
}

/** Form fields an export or import error can belong to (`ApiError.field`). */
export type TransferField = "path" | "passphrase" | "recipients" | "scope" | "identity" | "record_type" | "format" | "";

/** Where to show an error: next to its field, or (empty) above the form. */
export function errorField(e: ApiError): TransferField {
  const known: TransferField[] = ["path", "passphrase", "recipients", "scope", "identity", "record_type", "format"];
  return known.includes(e.field as TransferField) ? (e.field as TransferField) : "";
}

/**
 * What to tell the person for an export/import error, chosen by its code (the screen
 * says it in its own words where it knows more than the app's generic hint).
 */
export function transferMessage(e: ApiError): string {
  switch (e.code) {
    case "empty_passphrase":
      return "Type a passphrase for the bundle, twice.";
    case "bundle_wrong_passphrase":
      return "That passphrase does not open this bundle.";
    case "bundle_needs_passphrase":
      return "This bundle is protected with a passphrase: type it.";
    case "bundle_needs_identity":
      return "This bundle is encrypted to an age recipient: choose the identity file (AGE-SECRET-KEY-1…) that belongs to it.";
    case "bundle_wrong_identity":
      return "This identity file cannot open the bundle: it was made for another recipient.";
    case "bundle_work_factor":
      return `${e.message}. Trove writes bundles with work factor 18; re-encrypt this one with a lower work factor.`;
    case "bundle_damaged":
    case "bundle_hash_mismatch":
      return `${e.message}. The file was cut short or changed; export it again from the original. Nothing was imported.`;
    case "invalid_path":
      return e.message;
    case "file_exists":
      return `${e.message}.`;
    default:
      return e.hint ? `${e.message}. ${e.hint}.` : `${e.message}.`;
  }
}

/** What "Undo import" did, in words. */
export function undoSummary(u: UndoReport): string {
  const n = u.removed.length;
  let s = `${n} ${n === 1 ? "record" : "records"} moved to the trash.`;
  const r = u.restored.length;
  if (r) s += ` ${r} ${r === 1 ? "record" : "records"} put back as before the import.`;
  const k = u.kept_changed.length;
  if (k) s += ` ${k} ${k === 1 ? "record was" : "records were"} changed since the import and kept.`;
  const e = u.kept_no_earlier.length;
  if (e)
    s += ` ${e} updated ${e === 1 ? "record was" : "records were"} kept as imported: the earlier version is no longer kept.`;
  const g = u.already_gone.length;
  if (g) s += ` ${g} ${g === 1 ? "was" : "were"} already removed.`;
  return s;
}
