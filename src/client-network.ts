// The unit a per-client limit counts: an IPv4 address, or the /64 network of an IPv6 one. A
// single IPv6 subscriber is routinely given a whole /64 (RFC 6177), so counting /128s would let
// one client take 2^64 fresh budgets.
import { isIPv4, isIPv6 } from "node:net";

export function clientNetwork(address: string): string {
  const bare = address.replace(/%.*$/, "");
  if (!isIPv6(bare)) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped?.[1] !== undefined && isIPv4(mapped[1])) return mapped[1];
  const [head = "", tail = ""] = bare.toLowerCase().split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  // An embedded IPv4 tail is in the low 64 bits, which are dropped anyway; it counts as two groups.
  const width = (groups: string[]) => groups.reduce((n, g) => n + (g.includes(".") ? 2 : 1), 0);
  const groups = bare.includes("::") ? [...left, ...Array(8 - width(left) - width(right)).fill("0"), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}
