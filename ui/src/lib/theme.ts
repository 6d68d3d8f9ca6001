// Applies the theme choice. The palettes live in styles.css under `data-theme`, each written
// once; "system" is resolved here from prefers-color-scheme and follows it while it changes.
import type { Theme } from "./settings";

/** The palette a choice means: "system" takes the system's preference. */
export function resolveTheme(theme: Theme, systemDark: boolean): "light" | "dark" {
  return theme === "system" ? (systemDark ? "dark" : "light") : theme;
}

/**
 * Sets `data-theme` on `root` for `theme`; for "system", again whenever the system's
 * preference changes. Returns a function that stops following it.
 */
export function applyTheme(
  theme: Theme,
  root: HTMLElement = document.documentElement,
  media: MediaQueryList | undefined = globalThis.matchMedia?.("(prefers-color-scheme: dark)"),
): () => void {
  const set = () => root.setAttribute("data-theme", resolveTheme(theme, media?.matches ?? false));
  set();
  if (theme !== "system" || !media) return () => {};
  media.addEventListener("change", set);
  return () => media.removeEventListener("change", set);
}
