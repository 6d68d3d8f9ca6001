// The app's own preferences (auto-lock minutes, theme, sharing, read notifications), kept in localStorage. Nothing
// personal or secret is stored here.

export type Theme = "system" | "light" | "dark";

export interface Settings {
  /** Minutes without activity before the vault locks; 0 never locks. */
  autoLockMinutes: number;
  theme: Theme;
  /** Run the share server while the app is open. */
  sharing: boolean;
  /** Where the share server listens (loopback only in the app). */
  listen: string;
  /** A desktop notification when an organization reads (grouped per organization and minute). */
  notifyReads: boolean;
}

export const AUTO_LOCK_CHOICES = [1, 5, 10, 15, 30, 60, 0] as const;
export const DEFAULTS: Settings = { autoLockMinutes: 5, theme: "system", sharing: false, listen: "127.0.0.1:7878", notifyReads: true };
const KEY = "trove.settings";

/** The minimal storage interface (localStorage, or a fake in tests). */
export interface KV {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** Reads settings, falling back to defaults for anything missing or malformed. */
export function loadSettings(store: KV): Settings {
  let raw: unknown;
  try {
    raw = JSON.parse(store.getItem(KEY) ?? "{}");
  } catch {
    raw = {};
  }
  const r = (typeof raw === "object" && raw !== null ? raw : {}) as Partial<Settings>;
  const minutes = Number(r.autoLockMinutes);
  return {
    autoLockMinutes: (AUTO_LOCK_CHOICES as readonly number[]).includes(minutes)
      ? minutes
      : DEFAULTS.autoLockMinutes,
    theme: r.theme === "light" || r.theme === "dark" || r.theme === "system" ? r.theme : DEFAULTS.theme,
    sharing: r.sharing === true,
    listen: typeof r.listen === "string" && r.listen.trim() ? r.listen.trim() : DEFAULTS.listen,
    notifyReads: r.notifyReads !== false,
  };
}

/** Writes settings. */
export function saveSettings(store: KV, s: Settings): void {
  store.setItem(KEY, JSON.stringify(s));
}

/** "5 minutes", "1 minute", "Never". */
export function autoLockLabel(minutes: number): string {
  if (minutes === 0) return "Never";
  return minutes === 1 ? "1 minute" : `${minutes} minutes`;
}
