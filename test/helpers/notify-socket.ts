// A stand-in for systemd's notify socket: a real unix datagram socket (Node.js cannot make one, so a
// few lines of python3 do), receiving what `systemd-notify` sends. The barrier's file descriptor that
// systemd-notify passes (BARRIER=1) is closed on receipt, as the manager does, which releases it.

import { spawn } from 'node:child_process';
import path from 'node:path';

const RECEIVER = `
import array, json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
print(json.dumps("listening"), flush=True)
while True:
    data, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(64 * 4) + socket.CMSG_SPACE(12))
    pid = 0
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("i", cdata[:4])[0]
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(cdata[: len(cdata) - len(cdata) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(json.dumps([data.decode(), pid]), flush=True)
`;

/** A notify socket receiving messages: each is the datagram's text (newline-separated assignments). */
export interface NotifySocket {
  readonly path: string;
  readonly messages: string[];
  /** The process each message came from, as the kernel vouches (SCM_CREDENTIALS): what NotifyAccess= checks. */
  readonly senders: number[];
  /** Resolves with the first message (seen or to come) holding the assignment; rejects after ms. */
  waitFor(assignment: string, ms?: number, after?: number): Promise<number>;
  close(): void;
}

/** Binds a notify socket in dir (a temporary directory the caller removes). */
export async function openNotifySocket(dir: string): Promise<NotifySocket> {
  const socketPath = path.join(dir, 'notify.sock');
  const child = spawn('python3', ['-c', RECEIVER, socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const messages: string[] = [];
  const senders: number[] = [];
  const waiters: Array<() => void> = [];
  let stderr = '';
  let buf = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const listening = new Promise<void>((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`the notify socket's receiver exited (${code}): ${stderr}`)));
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      buf += s;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as string | [string, number];
        buf = buf.slice(nl + 1);
        if (line === 'listening') resolve();
        else if (Array.isArray(line)) {
          messages.push(line[0]);
          senders.push(line[1]);
        }
        for (const w of [...waiters]) w();
      }
    });
  });
  await listening;
  const has = (m: string, assignment: string): boolean => m.split('\n').includes(assignment);
  return {
    path: socketPath,
    messages,
    senders,
    waitFor(assignment, ms = 60_000, after = 0) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const i = messages.findIndex((m, n) => n >= after && has(m, assignment));
          if (i < 0) return false;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          resolve(i);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`no ${assignment} on the notify socket in ${ms / 1000} s; got: ${JSON.stringify(messages)}`));
        }, ms);
        waiters.push(check);
        check();
      });
    },
    close: () => child.kill('SIGKILL'),
  };
}
