// The record list shows records a page at a time: rendering 10,000 rows costs WebKit
// hundreds of MB and seconds (docs/benchmarks.md, `app`), and nobody scrolls that far.

/** Rows added to the list per page. */
export const PAGE = 200;

/** The "show more" button's label, or null when every record is shown. */
export function moreLabel(shown: number, total: number, page = PAGE): string | null {
  if (total <= shown) return null;
  const next = Math.min(page, total - shown);
  return `Show ${next.toLocaleString()} more (${shown.toLocaleString()} of ${total.toLocaleString()} shown)`;
}
