/**
 * `-u USER[:GROUP]` resolved against the container's own /etc/passwd and /etc/group, as podman
 * does: names are looked up in the image, never on the host. Pure: the caller reads the files.
 */
import { ShibafuError } from '../errors.js';

export interface ContainerUser {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups: the groups of /etc/group that list the user by name. */
  readonly additionalGids: number[];
  /** The user's home from /etc/passwd, else "/" (podman's fallback). */
  readonly home: string;
}

export interface AccountFiles {
  /** The text of the container's /etc/passwd, or null when it has none. */
  readonly passwd: string | null;
  readonly group: string | null;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

const NUMERIC = /^[0-9]+$/;
const MAX_ID = 0xffff_fffe; // (uid_t)-1 means "no change" to the kernel: never a real id.

/**
 * Resolves a user spec. Default (undefined or empty): root.
 *
 * @example
 * resolveUser('1000:1000', { passwd: null, group: null }) // { uid: 1000, gid: 1000, additionalGids: [], home: '/' }
 * resolveUser('nobody', files)                             // from the container's /etc/passwd
 */
export function resolveUser(spec: string | undefined, files: AccountFiles): ContainerUser {
  const [userPart, groupPart] = splitSpec(spec ?? '');
  const users = parsePasswd(files.passwd ?? '');
  const groups = parseGroup(files.group ?? '');
  const entry = userPart === '' ? users.find((u) => u.uid === 0) : findUser(userPart, users);
  const uid = userPart === '' ? 0 : entry?.uid ?? parseId(userPart, 'user');
  let gid: number;
  if (groupPart !== undefined) {
    gid = NUMERIC.test(groupPart) ? parseId(groupPart, 'group') : findGroup(groupPart, groups);
  } else {
    // An id missing from /etc/passwd runs with gid 0, as runc's libcontainer/user and podman do.
    gid = entry?.gid ?? 0;
  }
  const name = entry?.name;
  const additionalGids = name === undefined || groupPart !== undefined ? [] :
    [...new Set(groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid))];
  return { uid, gid, additionalGids, home: entry?.home ?? '/' };
}

function splitSpec(spec: string): [string, string | undefined] {
  const colon = spec.indexOf(':');
  if (colon < 0) return [spec, undefined];
  const user = spec.slice(0, colon);
  const group = spec.slice(colon + 1);
  if (user === '' || group === '') throw usage(spec, 'expected USER[:GROUP]');
  return [user, group];
}

function findUser(part: string, users: PasswdEntry[]): PasswdEntry | undefined {
  if (NUMERIC.test(part)) return users.find((u) => u.uid === Number(part));
  const found = users.find((u) => u.name === part);
  if (found === undefined) {
    throw new ShibafuError('USAGE', `Cannot run as user "${part}": the container's /etc/passwd has no such user`, {
      hint: 'Give a numeric id (-u 1000:1000), or add the user to a layer of the stack.',
    });
  }
  return found;
}

function findGroup(part: string, groups: GroupEntry[]): number {
  const found = groups.find((g) => g.name === part);
  if (found === undefined) {
    throw new ShibafuError('USAGE', `Cannot run with group "${part}": the container's /etc/group has no such group`, {
      hint: 'Give a numeric gid (-u 1000:1000).',
    });
  }
  return found.gid;
}

function parseId(part: string, what: string): number {
  if (!NUMERIC.test(part) || Number(part) > MAX_ID) throw usage(part, `expected a ${what} name or an id from 0 to ${MAX_ID}`);
  return Number(part);
}

function usage(spec: string, why: string): ShibafuError {
  return new ShibafuError('USAGE', `Cannot use user "${spec}": ${why}`, { hint: 'Example: -u 1000:1000 or -u nobody' });
}

/** Lines `name:x:uid:gid:gecos:home:shell`; malformed lines are skipped, as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !NUMERIC.test(f[2] as string) || !NUMERIC.test(f[3] as string)) continue;
    out.push({ name: f[0] as string, uid: Number(f[2]), gid: Number(f[3]), home: f[5] === '' ? '/' : f[5] as string });
  }
  return out;
}

/** Lines `name:x:gid:member,member`. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !NUMERIC.test(f[2] as string)) continue;
    out.push({ name: f[0] as string, gid: Number(f[2]), members: (f[3] as string).split(',').filter((m) => m !== '') });
  }
  return out;
}
