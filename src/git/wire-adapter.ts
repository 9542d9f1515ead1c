// TEMPORARY ADAPTER (issue 14): stands in for src/git/wire/remote.ts (the lead's smart-HTTP client,
// not merged when this was written) with the two calls status reading takes, `listRefs` and
// `fetchObjects`, built on isomorphic-git. Unlike the wire module it cannot fetch by object id: it
// fetches each wanted object through the ref that listed it, one request a ref, into a temporary
// bare repository. Replace `isoWire`/`isoRemote` with `import * as wire from './wire/remote.js'` and
// `wireRemote(url, …)` once that is on main, and delete this file.

import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import git, { type HttpClient } from 'isomorphic-git';
import { RemoteError } from '../errors/errors.js';
import { mapConcurrent, type FetchedObject, type StatusWire } from './current-status.js';
import { withLimits, type authCallbacks } from './transport.js';
import { readVerifiedObject } from './verified-objects.js';

/** A server as the adapter reaches it; remembers which ref listed which object (it fetches by ref). */
export interface IsoRemote {
  readonly url: string;
  readonly http: HttpClient;
  readonly auth: ReturnType<typeof authCallbacks>;
  readonly listed: Map<string, string>;
}

/** The server at url through isomorphic-git. */
export function isoRemote(url: string, http: HttpClient, auth: ReturnType<typeof authCallbacks>): IsoRemote {
  return { url, http, auth, listed: new Map() };
}

/** listRefs and fetchObjects on isomorphic-git (see the head of this file). */
export const isoWire: StatusWire<IsoRemote> = {
  async listRefs(remote, prefixes) {
    const out = new Map<string, string>();
    for (const prefix of prefixes) {
      const refs = await withLimits(remote.http, () =>
        git.listServerRefs({ http: remote.http, url: remote.url, protocolVersion: 2, prefix, ...remote.auth }),
      );
      for (const r of refs) {
        // ls-refs matches prefixes textually: `refs/nfgit/hosts/fw1` would list `…/fw10` too.
        if (!prefixes.some((p) => (p.endsWith('/') ? r.ref.startsWith(p) : r.ref === p))) continue;
        out.set(r.ref, r.oid);
        remote.listed.set(r.oid, r.ref);
      }
    }
    return out;
  },
  async fetchObjects(remote, opts) {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'nfgit-status-'));
    try {
      await git.init({ fs, gitdir: tmp, bare: true });
      // isomorphic-git writes what it fetched under a remote's refspec: any ref, kept apart.
      await git.setConfig({ fs, gitdir: tmp, path: 'remote.origin.url', value: remote.url });
      await git.setConfig({ fs, gitdir: tmp, path: 'remote.origin.fetch', value: '+refs/*:refs/fetched/*' });
      const out = new Map<string, FetchedObject>();
      // One at a time: isomorphic-git writes the same shallow and ref files for each fetch.
      await mapConcurrent(opts.wants, 1, async (oid) => {
        const ref = remote.listed.get(oid);
        if (ref === undefined) throw new RemoteError(`cannot fetch ${oid} from ${remote.url}: no listed ref names it`);
        await withLimits(remote.http, () =>
          git.fetch({
            fs,
            http: remote.http,
            gitdir: tmp,
            remote: 'origin',
            remoteRef: ref,
            singleBranch: true,
            tags: false,
            ...(opts.depth === undefined ? {} : { depth: opts.depth }),
            ...remote.auth,
          }),
        );
        out.set(oid, await readVerifiedObject({ gitdir: tmp, name: remote.url }, oid));
      });
      return out;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  },
};
