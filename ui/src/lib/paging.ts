// The record list and the access log read from the vault a page at a time: rendering
// 10,000 rows costs WebKit hundreds of MB and seconds (docs/benchmarks.md, `app`), nobody
// scrolls that far, and a filter applied to a fixed number of rows loses the older ones.

/** Records the list asks the vault for per page. */
export const PAGE = 200;

/** Access-log rows the timeline asks the vault for per page ("Load older entries"). */
export const LOG_PAGE = 100;

/** The "show more" button's label, or null when every record is shown. */
export function moreLabel(shown: number, total: number, page = PAGE): string | null {
  if (total <= shown) return null;
  const next = Math.min(page, total - shown);
  return `Show ${next.toLocaleString()} more (${shown.toLocaleString()} of ${total.toLocaleString()} shown)`;
}
