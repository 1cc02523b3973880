// The units a per-client limit counts, at each level.
//
// The client network: an IPv4 address, or the /64 network of an IPv6 one. A single IPv6
// subscriber is routinely given a whole /64 (RFC 6177), so counting /128s would let one client take
// 2^64 fresh budgets. An IPv4-mapped IPv6 address (::ffff:0:0/96, RFC 4291) is its IPv4 client,
// however it is spelled: taken as the /64 of ::ffff:0:0/96, every IPv4 client a dual-stack socket or
// a proxy writes that way would share one budget.
//
// The aggregate network: the wider IPv6 prefix (CLIENT_IPV6_AGGREGATE_PREFIX, a /48 by default)
// around a client's /64. A subscriber, or whoever rents one, is routinely given a /56 or a /48 as
// well: a /48 holds 65,536 /64s, so counted by /64 alone it is 65,536 fresh budgets. The limits that
// guard accounts and the mail relay therefore also count all the /64s of one aggregate together, on
// a budget CLIENT_IPV6_AGGREGATE_MULTIPLE times the /64's (attempt-limit.ts, clientCounters), so
// that the many users of an organisation behind one /48, each on a /64 of it, still have room for
// their own mistakes (and the password counter is strangers' only: its members' known devices
// sign in whatever it says). Each costs one more store write, an IPv6 client's only, on the paths
// listed below. An IPv4 client has no aggregate: its address is already scarce, and a wider IPv4
// count would pool unrelated clients of one provider; nor does anything that is no IP address.
//
// Which limits count the aggregate, and why:
//   - password guesses per address (passwords/check.ts), wrong email sign-in codes per client
//     (sign-in/email.ts): the guessing budgets across accounts (password spraying);
//   - code-mail requests per client (mail/limits.ts): the mail relay;
//   - sign-ups and ceremony starts per client (attempt-limit.ts, countClientStart): each leaves a
//     record in the store (an account for good, a challenge or a flow until it expires);
//   - stored audit refusals per client (audit/audit.ts): each is kept for a year.
// Which do not, and why (each site says so too):
//   - failed passwordless passkey assertions (sign-in/passkey.ts): a signature cannot be guessed,
//     so more budget buys no way in, and an assertion that could verify at all spends a challenge
//     that only a start, counted with its aggregate, makes;
//   - the connection caps, HTTP/2 stream and reset budgets (server/) and each network's share of
//     the argon2 queue (passwords/check.ts): shares of a resource of this process that has a global
//     cap of its own (MAX_CONNECTIONS, ARGON2_MAX_WAITING), which a handful of /64s reach already
//     (by default 8 fill the connections, 16 the queue), so a count over the aggregate would take
//     nothing from an attacker; it would only make the neighbours share one network's cap, and an
//     HTTP/2 abuser's ban (its network refused for a window) fall on all of them.
import { isIPv6 } from "node:net";

/** The aggregate count of IPv6 clients (CLIENT_IPV6_AGGREGATE_PREFIX and CLIENT_IPV6_AGGREGATE_MULTIPLE). */
export interface ClientAggregate {
  /** The aggregate network's prefix length (below 64). */
  prefixLength: number;
  /** How many times one client network's budget all the client networks of one aggregate share. */
  multiple: number;
}

/** An IPv4 client's address, or an IPv6 client's eight 16-bit groups; null for anything else. */
function parse(address: string): { ipv4: string } | { groups: number[] } | null {
  const bare = address.replace(/%.*$/, "");
  if (!isIPv6(bare)) return null;
  const groups = ipv6Groups(bare);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return { ipv4: `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}` };
  }
  return { groups };
}

/** The first `length` bits of the groups, written as the keys have always been: `2001:db8:0:0::/64`. */
function prefix(groups: number[], length: number): string {
  const whole = Math.floor(length / 16);
  const kept = groups.slice(0, whole);
  const partBits = length % 16;
  if (partBits > 0) kept.push((groups[whole] ?? 0) & ((0xffff << (16 - partBits)) & 0xffff));
  return `${kept.map((g) => g.toString(16)).join(":")}::/${length}`;
}

/**
 * The client network of an address (an IPv4 address, an IPv6 /64; anything else as it is) and,
 * with `prefixLength`, an IPv6 client's aggregate network (`2001:db8:1::/48`): one parse for both.
 */
export function clientNetworks(address: string, prefixLength: number | undefined): { network: string; aggregate: string | undefined } {
  const parsed = parse(address);
  if (parsed === null) return { network: address, aggregate: undefined };
  if ("ipv4" in parsed) return { network: parsed.ipv4, aggregate: undefined };
  return { network: prefix(parsed.groups, 64), aggregate: prefixLength === undefined ? undefined : prefix(parsed.groups, prefixLength) };
}

/** The client network of an address: an IPv4 address, an IPv6 /64; anything else as it is. */
export function clientNetwork(address: string): string {
  return clientNetworks(address, undefined).network;
}

/** The aggregate network of an IPv6 client (`2001:db8:1::/48`); undefined for an IPv4 client or anything else. */
export function aggregateNetwork(address: string, prefixLength: number): string | undefined {
  return clientNetworks(address, prefixLength).aggregate;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, an embedded IPv4 tail as two). */
function ipv6Groups(address: string): number[] {
  const groupsOf = (part: string): number[] =>
    part === ""
      ? []
      : part.split(":").flatMap((g) => {
          if (!g.includes(".")) return [Number.parseInt(g, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = g.split(".").map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = "", tail] = address.toLowerCase().split("::");
  const left = groupsOf(head);
  if (tail === undefined) return left;
  const right = groupsOf(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}
