/**
 * Parses `WWW-Authenticate` challenges (RFC 7235 section 4.1): one header may carry several
 * challenges separated by commas, and a challenge's parameters are separated by commas too, so a
 * new challenge starts where a token is followed by a space and not by `=`. Registries send
 * `Bearer realm="...",service="...",scope="..."` (the distribution token flow) or
 * `Basic realm="..."`. Pure.
 */

/** One challenge: the scheme in lower case, its parameters with lower-case names. */
export interface AuthChallenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

// RFC 7230 tchar.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/**
 * Every challenge in the header values, in order. Malformed parts are skipped, never thrown on:
 * a registry's odd header must not hide the challenge that follows.
 *
 * @example
 * parseWwwAuthenticate('Bearer realm="https://auth.example/token",service="registry.example"')
 * // [{ scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example' } }]
 */
export function parseWwwAuthenticate(values: string | readonly string[] | undefined): AuthChallenge[] {
  if (values === undefined) return [];
  const out: AuthChallenge[] = [];
  for (const value of typeof values === 'string' ? [values] : values) parseOne(value, out);
  return out;
}

function parseOne(header: string, out: AuthChallenge[]): void {
  let s = header;
  let current: { scheme: string; params: Record<string, string> } | null = null;
  const skip = (re: RegExp): void => { s = s.replace(re, ''); };
  while (s.length > 0) {
    skip(/^[\s,]+/);
    const tok = TOKEN.exec(s);
    if (tok === null) {
      // Not a token: drop up to the next comma and go on.
      const comma = s.indexOf(',');
      s = comma < 0 ? '' : s.slice(comma + 1);
      continue;
    }
    const word = tok[0];
    const after = s.slice(word.length);
    const eq = /^\s*=/.exec(after);
    if (eq !== null && current !== null && !/^\s*=\s*=*\s*(,|$)/.test(after)) {
      s = after.slice(eq[0].length).replace(/^\s+/, '');
      const { value, rest } = readValue(s);
      current.params[word.toLowerCase()] = value;
      s = rest;
      continue;
    }
    if (eq !== null && current !== null) {
      // token68 (`Basic abc==`): kept whole under its own name.
      const m = /^[A-Za-z0-9._~+/-]+=*/.exec(s) as RegExpExecArray;
      current.params.token68 = m[0];
      s = s.slice(m[0].length);
      continue;
    }
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
    s = after;
  }
}

/** A quoted-string (with `\` escapes) or a token. */
function readValue(s: string): { value: string; rest: string } {
  if (s.startsWith('"')) {
    let value = '';
    let i = 1;
    for (; i < s.length && s[i] !== '"'; i++) {
      if (s[i] === '\\' && i + 1 < s.length) i++;
      value += s[i];
    }
    return { value, rest: s.slice(i + 1) };
  }
  const m = /^[^,\s]*/.exec(s) as RegExpExecArray;
  return { value: m[0], rest: s.slice(m[0].length) };
}

/**
 * The challenge to answer: Bearer before Basic (a registry offering both prefers tokens), else
 * null when the registry offers neither.
 *
 * @example
 * pickChallenge(parseWwwAuthenticate('Basic realm="r", Bearer realm="t"'))?.scheme // 'bearer'
 */
export function pickChallenge(challenges: readonly AuthChallenge[]): AuthChallenge | null {
  return challenges.find((c) => c.scheme === 'bearer' && c.params.realm !== undefined)
    ?? challenges.find((c) => c.scheme === 'basic')
    ?? null;
}
