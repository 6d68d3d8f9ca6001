// Times as people read them: RFC 3339 from the core, shown in the local time zone.

/** `t` in local time (`seconds` adds them, for the access log); `t` itself if unparsable. */
export function localTime(t: string, seconds = false): string {
  const d = new Date(t);
  if (isNaN(d.getTime())) return t;
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: seconds ? "medium" : "short" });
}
