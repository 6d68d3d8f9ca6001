// Auto-lock: calls `onIdle` once after `minutes` without activity. Activity (a key,
// a click, pointer movement, scrolling) restarts the countdown.

export interface IdleTimer {
  /** Restart the countdown (call on activity). */
  poke(): void;
  /** Change the delay; 0 turns auto-lock off. */
  setMinutes(minutes: number): void;
  stop(): void;
}

export function idleTimer(minutes: number, onIdle: () => void): IdleTimer {
  let handle: ReturnType<typeof setTimeout> | undefined;
  let ms = minutes * 60_000;
  let stopped = false;
  const arm = () => {
    if (handle !== undefined) clearTimeout(handle);
    handle = undefined;
    if (stopped || ms <= 0) return;
    handle = setTimeout(() => {
      handle = undefined;
      stopped = true;
      onIdle();
    }, ms);
  };
  arm();
  return {
    poke: arm,
    setMinutes(m: number) {
      ms = m * 60_000;
      arm();
    },
    stop() {
      stopped = true;
      arm();
    },
  };
}

export const ACTIVITY_EVENTS = ["keydown", "pointerdown", "pointermove", "wheel", "focusin"] as const;
