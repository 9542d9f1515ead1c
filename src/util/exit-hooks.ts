// Work to do however the process ends (process.exit from a signal handler skips `finally`): kill
// child process groups, remove temporary directories, release locks. One process listener for all,
// so that many children at once (staging, restores, saves) do not trip Node's listener-leak warning.

const hooks = new Set<() => void>();
let installed = false;

/** Runs fn when the process exits, unless the returned function is called first (then fn is dropped). */
export function onExit(fn: () => void): () => void {
  if (!installed) {
    installed = true;
    process.on('exit', () => {
      for (const h of [...hooks]) {
        try {
          h();
        } catch {
          // keep going: the others must run too
        }
      }
    });
  }
  hooks.add(fn);
  return () => hooks.delete(fn);
}
