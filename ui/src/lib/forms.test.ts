import { describe, expect, it } from "vitest";
import type { ApiError } from "../bindings/ApiError";
import type { StoredRecord } from "../bindings/StoredRecord";
import type { FieldDef } from "../bindings/FieldDef";
import type { RecordType } from "../bindings/RecordType";
import {
  allFieldErrors,
  changesBetween,
  checkValues,
  cleanValues,
  codeInWords,
  emptyValues,
  errorSentence,
  errorsFromApi,
  hasUnsavedChanges,
  inputFor,
  isEmptyChange,
  maskValue,
  parseTags,
  summaryOf,
  valuesOf,
} from "./forms";

const field = (name: string, extra: Partial<FieldDef> = {}): FieldDef => ({
  name,
  title: name[0].toUpperCase() + name.slice(1),
  max_length: 64,
  required: false,
  ...extra,
});

const bank: RecordType = {
  name: "bank_account",
  title: "Bank account",
  description: "An account.",
  fields: [field("bank"), field("holder"), field("iban", { title: "IBAN", format: "iban", required: true, max_length: 34, sensitive: true }), field("bic", { format: "bic" })],
  summary: ["bank", "iban"],
};
const note: RecordType = {
  name: "note",
  title: "Note",
  description: "A note.",
  fields: [field("title"), field("body", { widget: "textarea", max_length: 5000 })],
  summary: ["title"],
};
const rec: StoredRecord = {
  id: "01J",
  type: "bank_account",
  fields: { bank: "GLS", iban: "DE89370400440532013000" },
  tags: ["finance", "rent"],
  source: "manual",
  created_at: "2026-01-01T00:00:00.000Z",
  updated_at: "2026-01-01T00:00:00.000Z",
};

describe("inputFor", () => {
  it("maps formats and widgets to inputs", () => {
    expect(inputFor(field("e", { format: "email" }))).toMatchObject({ element: "input", type: "email" });
    expect(inputFor(field("d", { format: "date" })).type).toBe("date");
    expect(inputFor(field("p", { format: "phone" })).type).toBe("tel");
    expect(inputFor(field("b", { widget: "textarea" })).element).toBe("textarea");
    expect(inputFor(field("i", { format: "iban" }))).toMatchObject({ type: "text", uppercase: true });
    expect(inputFor(field("x")).placeholder).toBe("");
  });
});

describe("values", () => {
  it("has every field in schema order, empty or from the record", () => {
    expect(Object.keys(emptyValues(bank))).toEqual(["bank", "holder", "iban", "bic"]);
    expect(valuesOf(bank, rec)).toEqual({ bank: "GLS", holder: "", iban: "DE89370400440532013000", bic: "" });
  });

  it("trims one-line fields, keeps inner newlines of text areas, drops empties", () => {
    expect(cleanValues(note, { title: "  hi ", body: "a\n b\n\n" })).toEqual({ title: "hi", body: "a\n b" });
    expect(cleanValues(bank, { bank: " ", iban: "x" })).toEqual({ iban: "x" });
  });
});

describe("allFieldErrors", () => {
  it("shows every field's problem at once: the form's checks and the vault's formats", () => {
    const values = { bank: "x".repeat(65), holder: "", iban: "", bic: "no" };
    const local = checkValues(bank, values);
    expect(Object.keys(local)).toEqual(["bank", "iban"]);
    const vault: [string, string][] = [
      ["bank", "is 65 characters long; at most 64 allowed"],
      ["iban", "is required"],
      ["bic", "must be 8 or 11 letters and digits"],
    ];
    expect(allFieldErrors(bank, local, vault)).toEqual({
      bank: "At most 64 characters.",
      iban: "IBAN is required.",
      bic: "Must be 8 or 11 letters and digits.",
    });
  });

  it("keeps “fill in at least one field” only when no field has a problem", () => {
    const empty = checkValues(note, { title: "", body: "" });
    expect(allFieldErrors(note, empty, [])).toEqual({ "": "Fill in at least one field." });
    expect(allFieldErrors(bank, { "": "Fill in at least one field." }, [["iban", "is required"]])).toEqual({ iban: "IBAN is required." });
    expect(allFieldErrors(note, {}, [])).toEqual({});
  });
});

describe("checkValues", () => {
  it("flags a missing required field by name", () => {
    expect(checkValues(bank, { bank: "GLS", iban: "  " })).toEqual({ iban: "IBAN is required." });
  });
  it("flags over-long values", () => {
    expect(checkValues(note, { title: "x".repeat(65) }).title).toMatch(/64/);
  });
  it("asks for at least one field", () => {
    expect(checkValues(note, { title: "", body: "" })).toEqual({ "": "Fill in at least one field." });
    expect(checkValues(note, { title: "t" })).toEqual({});
  });
});

describe("changesBetween", () => {
  it("sets changed fields, unsets cleared ones, diffs tags", () => {
    const c = changesBetween(bank, rec, { bank: "", holder: "Ana", iban: "DE89370400440532013000", bic: "" }, ["finance", "home"]);
    expect(c).toEqual({ set: { bank: "", holder: "Ana" }, add_tags: ["home"], remove_tags: ["rent"] });
    expect(isEmptyChange(c)).toBe(false);
  });
  it("is empty when nothing changed", () => {
    expect(isEmptyChange(changesBetween(bank, rec, valuesOf(bank, rec), ["finance", "rent"]))).toBe(true);
  });
});

describe("hasUnsavedChanges", () => {
  it("sees an edit, a tag change and a new record's first value, and not a form left as it was", () => {
    expect(hasUnsavedChanges(bank, rec, valuesOf(bank, rec), "finance, rent")).toBe(false);
    expect(hasUnsavedChanges(bank, rec, { ...valuesOf(bank, rec), holder: "Ana" }, "finance, rent")).toBe(true);
    expect(hasUnsavedChanges(bank, rec, valuesOf(bank, rec), "finance")).toBe(true);
    expect(hasUnsavedChanges(note, null, emptyValues(note), "")).toBe(false);
    expect(hasUnsavedChanges(note, null, { ...emptyValues(note), title: "  " }, "")).toBe(false);
    expect(hasUnsavedChanges(note, null, { ...emptyValues(note), body: "draft" }, "")).toBe(true);
    expect(hasUnsavedChanges(note, null, emptyValues(note), "work")).toBe(true);
  });
});

describe("parseTags", () => {
  it("splits on commas and spaces, lower-cases and de-duplicates", () => {
    expect(parseTags(" Work, family  work,,home ")).toEqual(["work", "family", "home"]);
    expect(parseTags("")).toEqual([]);
  });
});

describe("errorsFromApi", () => {
  it("puts invalid_field on its field without the type prefix", () => {
    const e: ApiError = { code: "invalid_field", message: 'invalid bank_account.iban: "X" is not an IBAN', hint: null, field: "iban" };
    expect(errorsFromApi(bank, e)).toEqual({ iban: '"X" is not an IBAN.' });
    const req: ApiError = { code: "invalid_field", message: "invalid bank_account.iban: is required", hint: null, field: "iban" };
    expect(errorsFromApi(bank, req)).toEqual({ iban: "IBAN is required." });
  });
  it("puts other errors on the form, with the hint", () => {
    const e: ApiError = { code: "busy", message: "the vault is busy", hint: "wait and try again", field: null };
    expect(errorsFromApi(bank, e)).toEqual({ "": "The vault is busy. Wait and try again." });
  });
  it("switches on the code, not the text", () => {
    const e: ApiError = { code: "invalid_input", message: "invalid bank_account.iban: x", hint: null, field: "iban" };
    expect(Object.keys(errorsFromApi(bank, e))).toEqual([""]);
  });
});

describe("summaryOf", () => {
  it("joins the summary fields that are set", () => {
    expect(summaryOf(bank, rec)).toBe("GLS · •••• 3000");
    expect(summaryOf(bank, { ...rec, fields: { holder: "Ana" } })).toBe("Ana");
    expect(summaryOf(undefined, { ...rec, fields: { a: "1", b: "2" } })).toBe("1 · 2");
    expect(summaryOf(note, { ...rec, type: "note", fields: { title: "a\nb  c" } })).toBe("a b c");
  });

  it("never shows a sensitive value in full, not even as the fallback", () => {
    const onlyIban = { ...bank, summary: [] };
    expect(summaryOf(onlyIban, { ...rec, fields: { iban: "DE89 3704 0044 0532 0130 00" } })).toBe("•••• 3000");
    expect(summaryOf(bank, { ...rec, fields: { iban: "DE89370400440532013000" } })).not.toContain("0532");
  });
});

describe("maskValue", () => {
  it("keeps the last four characters of a long value and nothing of a short one", () => {
    expect(maskValue("DE89 3704 0044 0532 0130 00")).toBe("•••• 3000");
    expect(maskValue("L01X00T47")).toBe("•••• 0T47");
    expect(maskValue("120/80")).toBe("••••");
    expect(maskValue("")).toBe("••••");
  });
});

describe("codeInWords", () => {
  it("turns whole snake_case codes into words and leaves everything else", () => {
    expect(codeInWords("blood_type")).toBe("Blood type");
    expect(codeInWords("residence_permit")).toBe("Residence permit");
    expect(codeInWords("passport")).toBe("passport");
    expect(codeInWords("Kastanienallee 12")).toBe("Kastanienallee 12");
    expect(codeInWords("ana_lopez@example.org")).toBe("ana_lopez@example.org");
    expect(summaryOf(note, { ...rec, type: "note", fields: { title: "contact_hours" } })).toBe("Contact hours");
  });
});

describe("errorSentence", () => {
  it("starts with a capital letter and ends each part with a full stop", () => {
    expect(errorSentence({ message: "the vault is locked", hint: "unlock it first" })).toBe("The vault is locked. Unlock it first.");
    expect(errorSentence({ message: "no storage target named \"b2\"", hint: null })).toBe("No storage target named \"b2\".");
    expect(errorSentence({ message: "Already a sentence.", hint: null })).toBe("Already a sentence.");
  });
});
