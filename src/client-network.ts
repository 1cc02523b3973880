// The unit a per-client limit counts: an IPv4 address, or the /64 network of an IPv6 one. A
// single IPv6 subscriber is routinely given a whole /64 (RFC 6177), so counting /128s would let
// one client take 2^64 fresh budgets. An IPv4-mapped IPv6 address (::ffff:0:0/96, RFC 4291) is its
// IPv4 client, however it is spelled: taken as the /64 of ::ffff:0:0/96, every IPv4 client a
// dual-stack socket or a proxy writes that way would share one budget.
import { isIPv6 } from "node:net";

export function clientNetwork(address: string): string {
  const bare = address.replace(/%.*$/, "");
  if (!isIPv6(bare)) return address;
  const groups = ipv6Groups(bare);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, an embedded IPv4 tail as two). */
function ipv6Groups(address: string): number[] {
  const parse = (part: string): number[] =>
    part === ""
      ? []
      : part.split(":").flatMap((g) => {
          if (!g.includes(".")) return [Number.parseInt(g, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = g.split(".").map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = "", tail] = address.toLowerCase().split("::");
  const left = parse(head);
  if (tail === undefined) return left;
  const right = parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}
