// The one-time notice after the vault moved an earlier vCard import's records out of the
// owner's types into `person` (the CLI prints the same once).

/** The sentence to show, or "" when nothing was moved. */
export function migrationNotice(moved: number | null): string {
  if (!moved) return "";
  const what = moved === 1 ? "1 record" : `${moved.toLocaleString("en")} records`;
  return (
    `${what} that an earlier vCard import had stored as your own (identity, contact, address, employment, note) ` +
    `${moved === 1 ? "was" : "were"} moved to people you know: no grant can reach them. ` +
    `If one of those cards was yours, import it again with “This is my own card”.`
  );
}
