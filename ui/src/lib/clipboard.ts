// Copying secrets (the recovery key, later share tokens): the clipboard is cleared after
// 30 s if it still holds what we put there, so a secret does not linger.

export const CLEAR_AFTER_MS = 30_000;

export interface ClipboardLike {
  writeText(text: string): Promise<void>;
  readText(): Promise<string>;
}

/** Copies `secret` and schedules clearing it; resolves to false when copying failed. */
export async function copySecret(
  secret: string,
  clipboard: ClipboardLike | undefined = globalThis.navigator?.clipboard,
  schedule: (f: () => void, ms: number) => unknown = setTimeout,
): Promise<boolean> {
  if (!clipboard) return false;
  try {
    await clipboard.writeText(secret);
  } catch {
    return false;
  }
  schedule(async () => {
    try {
      if ((await clipboard.readText()) === secret) await clipboard.writeText("");
    } catch {
      // Reading may be refused; then we cannot know what is there and leave it alone.
    }
  }, CLEAR_AFTER_MS);
  return true;
}
