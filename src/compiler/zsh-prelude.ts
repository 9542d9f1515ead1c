import { readFileSync } from 'node:fs';

// Set by the esbuild bundle (packaging/bundle.mjs `define`) to prelude.zsh's text, so the bundle is
// one file; `typeof` of an undeclared name is 'undefined', so the tsc build reads the file as before.
declare const NFGIT_BUNDLED_PRELUDE: string | undefined;
declare const NFGIT_BUNDLED_BASH_PRELUDE: string | undefined;

/**
 * The zsh script that runs the rule files (prelude.zsh, copied beside the built module by
 * `npm run build`). In fast mode, `iptables`, `ip6tables` and `main` are aliases that write one
 * NUL-separated record per call to fd 3 without a function call; in exact mode they are functions,
 * and calls that can fail on the state (all but -A and -I) wait for the compiler's answer on fd 4 and
 * return its status, so `iptables -C … || iptables -A …` and `iptables -X FOO 2>/dev/null || true`
 * behave as with the real tools. compile() starts fast and reruns exact when an answer matters.
 */
export const ZSH_PRELUDE: string =
  typeof NFGIT_BUNDLED_PRELUDE === 'string' ? NFGIT_BUNDLED_PRELUDE : readFileSync(new URL('./prelude.zsh', import.meta.url), 'utf8');

/** The bash prelude (prelude.bash): runs bash and sh rule files with the same records and answers. */
export const BASH_PRELUDE: string =
  typeof NFGIT_BUNDLED_BASH_PRELUDE === 'string'
    ? NFGIT_BUNDLED_BASH_PRELUDE
    : readFileSync(new URL('./prelude.bash', import.meta.url), 'utf8');

/**
 * Stand-in for the real iptables binaries inside the compile sandbox (bind-mounted over them), so a
 * rule file that calls `command iptables` or `/usr/sbin/iptables` changes nothing and is reported.
 */
export const BYPASS_SHIM = `#!/bin/sh
name=\${0##*/}
printf '%s\\000B\\000%s\\000%s\\000%s\\000%s\\000' "\${NFGIT_RECORD_MARK:-}" 0 2 "\${NFGIT_RULE_FILE:-}" "$name $*" >&3 2>/dev/null
echo "nfgit: $name was run directly, bypassing the compiler's iptables function; rule files must call iptables/ip6tables by name" >&2
exit 126
`;
