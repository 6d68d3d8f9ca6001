// Applies the theme choice: "system" follows prefers-color-scheme, the others force it.
import type { Theme } from "./settings";

export function applyTheme(theme: Theme, root: HTMLElement = document.documentElement): void {
  if (theme === "system") root.removeAttribute("data-theme");
  else root.setAttribute("data-theme", theme);
}
