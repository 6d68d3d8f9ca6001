// Record forms generated from the schemas the shell sends (record_types): which input
// each field gets, what is checked before sending, how the vault's errors land on the
// right field, and the change set an edit form produces.
import type { ApiError } from "../bindings/ApiError";
import type { FieldDef } from "../bindings/FieldDef";
import type { FieldFormat } from "../bindings/FieldFormat";
import type { RecordChanges } from "../bindings/RecordChanges";
import type { StoredRecord } from "../bindings/StoredRecord";
import type { RecordType } from "../bindings/RecordType";

export type Values = Record<string, string>;
export type FieldErrors = Record<string, string>;

export interface InputSpec {
  /** `input` or `textarea`. */
  element: "input" | "textarea";
  /** The HTML input type. */
  type: "text" | "email" | "date" | "tel";
  /** A short example shown as placeholder, for formats with a shape. */
  placeholder: string;
  /** Upper-case as the vault stores it (IBAN, BIC, country). */
  uppercase: boolean;
}

const EXAMPLES: Record<FieldFormat, string> = {
  email: "name@example.org",
  date: "YYYY-MM-DD",
  "partial-date": "YYYY-MM-DD or --MM-DD",
  iban: "DE89 3704 0044 0532 0130 00",
  bic: "DEUTDEFF",
  country: "DE",
  phone: "+49 30 1234567",
};

/** How a field is edited. */
export function inputFor(field: FieldDef): InputSpec {
  const f = field.format;
  return {
    element: field.widget === "textarea" ? "textarea" : "input",
    type: f === "email" ? "email" : f === "date" ? "date" : f === "phone" ? "tel" : "text",
    placeholder: f ? EXAMPLES[f] : "",
    uppercase: f === "iban" || f === "bic" || f === "country",
  };
}

/** Empty form values for a type: every field present, in schema order. */
export function emptyValues(type: RecordType): Values {
  return Object.fromEntries(type.fields.map((f) => [f.name, ""]));
}

/** The form values for editing `record`. */
export function valuesOf(type: RecordType, record: StoredRecord): Values {
  return Object.fromEntries(type.fields.map((f) => [f.name, record.fields[f.name] ?? ""]));
}

/**
 * Checks that need no vault: required fields, length, at least one field. Formats
 * (email, IBAN, ...) are checked by the vault, whose answer lands on the field.
 */
export function checkValues(type: RecordType, values: Values): FieldErrors {
  const errors: FieldErrors = {};
  for (const f of type.fields) {
    const v = (values[f.name] ?? "").trim();
    if (f.required && v === "") errors[f.name] = `${f.title} is required.`;
    else if ([...(values[f.name] ?? "")].length > f.max_length)
      errors[f.name] = `At most ${f.max_length} characters.`;
  }
  if (Object.keys(errors).length === 0 && type.fields.every((f) => !(values[f.name] ?? "").trim())) {
    errors[""] = "Fill in at least one field.";
  }
  return errors;
}

/** Only non-empty values, trimmed (single-line fields) as the vault wants them. */
export function cleanValues(type: RecordType, values: Values): Values {
  const out: Values = {};
  for (const f of type.fields) {
    const raw = values[f.name] ?? "";
    const v = f.widget === "textarea" ? raw.replace(/\s+$/, "") : raw.trim();
    if (v !== "") out[f.name] = v;
  }
  return out;
}

/** Splits "a, b  c" into clean tags: lower-case words, no duplicates. */
export function parseTags(text: string): string[] {
  const seen = new Set<string>();
  for (const t of text.split(/[,\s]+/)) {
    const tag = t.trim().toLowerCase();
    if (tag) seen.add(tag);
  }
  return [...seen];
}

/** What an edit changes: set fields that differ (empty unsets), tags added and removed. */
export function changesBetween(
  type: RecordType,
  record: StoredRecord,
  values: Values,
  tags: string[],
): RecordChanges {
  const set: Record<string, string> = {};
  const clean = cleanValues(type, values);
  for (const f of type.fields) {
    const before = record.fields[f.name] ?? "";
    const after = clean[f.name] ?? "";
    if (before !== after) set[f.name] = after;
  }
  return {
    set,
    add_tags: tags.filter((t) => !record.tags.includes(t)),
    remove_tags: record.tags.filter((t) => !tags.includes(t)),
  };
}

/** True when a change set changes nothing. */
export function isEmptyChange(c: RecordChanges): boolean {
  return Object.keys(c.set).length === 0 && c.add_tags.length === 0 && c.remove_tags.length === 0;
}

/**
 * True when the form holds something that saving would keep and leaving would lose: for
 * an edit, any change to the record; for a new record, any value or tag.
 */
export function hasUnsavedChanges(type: RecordType, record: StoredRecord | null, values: Values, tagsText: string): boolean {
  const tags = parseTags(tagsText);
  if (record) return !isEmptyChange(changesBetween(type, record, values, tags));
  return Object.keys(cleanValues(type, values)).length > 0 || tags.length > 0;
}

/**
 * Where an error from the vault goes in a form: on its field for `invalid_field` and
 * `unknown_field` (the message without the `invalid type.field:` prefix), otherwise on
 * the form as a whole (key "").
 */
export function errorsFromApi(type: RecordType, e: ApiError): FieldErrors {
  if ((e.code === "invalid_field" || e.code === "unknown_field") && e.field) {
    const prefix = `invalid ${type.name}.${e.field}: `;
    const reason = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
    return { [e.field]: fieldSentence(type, e.field, reason) };
  }
  return { "": errorSentence(e) };
}

/** A field's problem as a sentence: "is required" reads as "Email is required." */
function fieldSentence(type: RecordType, field: string, reason: string): string {
  const title = type.fields.find((f) => f.name === field)?.title ?? field;
  const sentence = reason.startsWith("is ") ? `${title} ${reason}` : capitalize(reason);
  return sentence.endsWith(".") ? sentence : `${sentence}.`;
}

/**
 * Every message a submitted form shows at once: the form's own checks (`local`, from
 * {@link checkValues}) and the vault's answer for every field (`problems`, as
 * `[field, reason]` from its field check). A field the form already flags keeps the
 * form's words; the form-wide "fill in at least one field" stays only when no field has
 * a problem.
 */
export function allFieldErrors(type: RecordType, local: FieldErrors, problems: [string, string][]): FieldErrors {
  const out: FieldErrors = {};
  for (const [field, reason] of problems) out[field] = fieldSentence(type, field, reason);
  for (const [field, message] of Object.entries(local)) if (field !== "") out[field] = message;
  if (local[""] && Object.keys(out).length === 0) out[""] = local[""];
  return out;
}

/** An error from the vault as the app shows it: "The vault is locked. Unlock it first." */
export function errorSentence(e: Pick<ApiError, "message" | "hint">): string {
  const end = (s: string) => (/[.!?]$/.test(s) ? s : `${s}.`);
  const message = end(capitalize(e.message));
  return e.hint ? `${message} ${end(capitalize(e.hint))}` : message;
}

/** "the grant" → "The grant". */
export function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * A sensitive value as shown until the person reveals it: dots, and the last four
 * characters of a value long enough that they give nothing away (an IBAN's, a document
 * number's), so that two accounts can still be told apart.
 */
export function maskValue(value: string): string {
  const compact = value.replace(/\s+/g, "");
  return compact.length >= 8 ? `•••• ${compact.slice(-4)}` : "••••";
}

/**
 * A coded value as words for a summary: `blood_type` → "Blood type", `id_card` →
 * "Id card". Only whole snake_case codes change; anything else is shown as written.
 */
export function codeInWords(value: string): string {
  return /^[a-z]+(_[a-z0-9]+)+$/.test(value) ? capitalize(value.replace(/_/g, " ")) : value;
}

/** A one-line summary of a record, from its type's summary fields (sensitive ones masked). */
export function summaryOf(type: RecordType | undefined, record: StoredRecord): string {
  const names = type?.summary.length ? type.summary : Object.keys(record.fields);
  const sensitive = new Set(type?.fields.filter((f) => f.sensitive).map((f) => f.name));
  const parts = names
    .map((n) => {
      const v = record.fields[n]?.replace(/\s+/g, " ").trim();
      if (!v) return v;
      return sensitive.has(n) ? maskValue(v) : codeInWords(v);
    })
    .filter((v): v is string => !!v);
  const line = parts.join(" · ");
  if (line) return line;
  const [name, first] = Object.entries(record.fields)[0] ?? [];
  if (first === undefined) return record.id;
  return sensitive.has(name) ? maskValue(first) : first;
}
