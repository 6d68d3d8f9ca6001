// Start-to-paint hook for `trove-bench app`: once the first screen is mounted, waits two
// animation frames (the frame with it has been painted) and tells the shell, which prints
// a line only when the bench launched it with TROVE_BENCH_PAINT=1 (src-tauri/src/bench.rs).
import { invoke } from "@tauri-apps/api/core";

type Raf = (cb: () => void) => unknown;
type Send = (screen: string) => Promise<unknown>;

/** Reports `screen` as painted, at most once per `reporter`; never throws. */
export function paintReporter(raf: Raf, send: Send): (screen: string) => void {
  let reported = false;
  return (screen) => {
    if (reported) return;
    reported = true;
    raf(() => raf(() => void send(screen).catch(() => {})));
  };
}

/** The app's reporter: the first screen mounted is the one reported. */
export const reportPainted = paintReporter(
  (cb) => requestAnimationFrame(() => cb()),
  (screen) => invoke("bench_painted", { screen }),
);
