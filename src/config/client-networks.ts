// The IPv6 aggregate the per-client budgets also count (src/client-network.ts says which, and why).
import type { ClientAggregate } from "../client-network.ts";
import { type Env, int } from "./parse.ts";

/** CLIENT_IPV6_AGGREGATE_PREFIX and CLIENT_IPV6_AGGREGATE_MULTIPLE; undefined when the multiple is 0 (not counted). */
export function clientAggregate(env: Env): ClientAggregate | undefined {
  // Wider than a /32 (a provider's usual allocation) pools unrelated providers; a /64 or longer
  // is the client network itself.
  const prefixLength = int(env, "CLIENT_IPV6_AGGREGATE_PREFIX", 48, 32, 63);
  // 16: an organisation's /48 shares sixteen times one /64's budget, where counted by /64 alone it
  // had 65,536 times; still sixteen times what one IPv4 address (a NAT's, often) gets.
  const multiple = int(env, "CLIENT_IPV6_AGGREGATE_MULTIPLE", 16, 0, 65_536);
  return multiple === 0 ? undefined : { prefixLength, multiple };
}
