import type { IpsetModel, IpSet } from './ipset-model.js';
import type { RenderProblem } from './render-restore.js';
import type { SourceTrace } from '../errors/source-location.js';

/** One set as rendered: its name, type, and the `create` line (for apply's temporary-set swap). */
export interface RenderedSet {
  readonly name: string;
  readonly type: string;
  /** The create options after the type, as restore words (family included). */
  readonly createArgs: readonly string[];
  /** The `add` lines' words after `add NAME`, one entry each. */
  readonly members: readonly string[];
}

/** `ipset restore` input for the final sets, with the source of every line (1-based). */
export interface RenderedIpsets {
  /** Empty when the rule files use no set. */
  readonly text: string;
  readonly sourceMap: ReadonlyMap<number, SourceTrace>;
  /** The sets in load order (list:set after the sets it holds). */
  readonly sets: readonly RenderedSet[];
  readonly memberCount: number;
  readonly problems: readonly RenderProblem[];
}

/** Quotes a word for ipset restore: plain when it can be, else in double quotes (ipset's own comment form). */
function quoteWord(word: string): { ok: true; text: string } | { ok: false; message: string } {
  if (word !== '' && !/[\s"'\\#]/.test(word)) return { ok: true, text: word };
  if (/["\n\r]/.test(word))
    return {
      ok: false,
      message: `ipset cannot load the text ${JSON.stringify(word)}: double quotes and line breaks are not allowed in a comment`,
    };
  return { ok: true, text: `"${word}"` };
}

/** The sets in an order restore can create them: list:set (which refer to other sets by name) last. */
export function loadOrder(model: IpsetModel): IpSet[] {
  const sets = [...model.sets.values()];
  return [...sets.filter((s) => s.content.type !== 'list:set'), ...sets.filter((s) => s.content.type === 'list:set')];
}

/** Renders the final sets as `create` and `add` lines (not a replay of the calls). */
export function renderIpsets(model: IpsetModel): RenderedIpsets {
  const out: string[] = [];
  const sourceMap = new Map<number, SourceTrace>();
  const problems: RenderProblem[] = [];
  const sets: RenderedSet[] = [];
  let memberCount = 0;
  const push = (words: readonly string[], trace: SourceTrace): boolean => {
    const parts: string[] = [];
    for (const w of words) {
      const q = quoteWord(w);
      if (!q.ok) {
        problems.push({ message: q.message, trace });
        return false;
      }
      parts.push(q.text);
    }
    out.push(parts.join(' '));
    if (trace.length > 0) sourceMap.set(out.length, trace);
    return true;
  };
  for (const set of loadOrder(model)) {
    const c = set.content;
    const createArgs = [...(c.family === undefined ? [] : ['family', c.family]), ...c.options];
    push(['create', set.name, c.type, ...createArgs], c.trace);
    const members: string[] = [];
    for (const m of c.members.values()) {
      if (!push(['add', set.name, m.entry, ...m.options], m.trace)) continue;
      members.push(out[out.length - 1]?.slice(`add ${set.name} `.length) ?? '');
      memberCount++;
    }
    sets.push({ name: set.name, type: c.type, createArgs, members });
  }
  return { text: out.length === 0 ? '' : out.join('\n') + '\n', sourceMap, sets, memberCount, problems };
}
