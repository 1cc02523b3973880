// Per-client limits count an IPv6 client by its /64 (a subscriber's usual allocation), an IPv4
// client by its address; some also count the IPv6 client's wider aggregate network.
import { describe, expect, it } from "vitest";
import { aggregateNetwork, clientNetwork } from "../src/client-network.ts";

describe("clientNetwork", () => {
  it.each([
    ["192.0.2.7", "192.0.2.7"],
    ["::ffff:192.0.2.7", "192.0.2.7"],
    // Every spelling of an IPv4-mapped address is that IPv4 client, not the /64 of ::ffff:0:0/96.
    ["::ffff:c000:0207", "192.0.2.7"],
    ["::FFFF:C000:207", "192.0.2.7"],
    ["0:0:0:0:0:ffff:192.0.2.7", "192.0.2.7"],
    ["0000:0000:0000:0000:0000:ffff:c000:0207", "192.0.2.7"],
    ["::ffff:192.0.2.7%eth0", "192.0.2.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:0DB8:0001:0002:ffff::1", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["2001:db8:0:0:aaaa::", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["2001:db8:1:2::192.0.2.1", "2001:db8:1:2::/64"],
    ["unknown", "unknown"],
  ])("%s counts as %s", (address, network) => {
    expect(clientNetwork(address)).toBe(network);
  });

  it("every address of one /64 is one client; the next /64 is another", () => {
    const a = clientNetwork("2001:db8:aa:bb:1::");
    expect(clientNetwork("2001:db8:aa:bb:ffff:ffff:ffff:ffff")).toBe(a);
    expect(clientNetwork("2001:db8:aa:bc::1")).not.toBe(a);
  });
});

// The aggregate network (CLIENT_IPV6_AGGREGATE_PREFIX) around an IPv6 client's /64: what the limits
// guarding accounts and the mail relay also count, so that a /48 is not 65,536 fresh budgets.
describe("aggregateNetwork", () => {
  it.each([
    // RFC 4291 2.2: the full form, leading zeros dropped, `::` compressed, upper case.
    ["2001:0db8:0001:0002:0003:0004:0005:0006", 48, "2001:db8:1::/48"],
    ["2001:DB8:1:2:3:4:5:6", 48, "2001:db8:1::/48"],
    ["2001:db8:1::1", 48, "2001:db8:1::/48"],
    ["2001:db8::1", 48, "2001:db8:0::/48"],
    ["::1", 48, "0:0:0::/48"],
    // An embedded IPv4 tail (RFC 4291 2.2, form 3) is the low 32 bits, far below the prefix.
    ["2001:db8:1:2::192.0.2.1", 48, "2001:db8:1::/48"],
    ["64:ff9b::192.0.2.1", 48, "64:ff9b:0::/48"],
    // A zone id names the interface, not the address (RFC 4007 11).
    ["fe80::1%eth0", 48, "fe80:0:0::/48"],
    ["2001:db8:1:2::9%2", 48, "2001:db8:1::/48"],
    // A prefix that cuts a group keeps only its high bits: a /56 is the 4th group's top byte.
    ["2001:db8:1:2ff::1", 56, "2001:db8:1:200::/56"],
    ["2001:db8:1:ffff::1", 60, "2001:db8:1:fff0::/60"],
    ["2001:db8:abcd:1::1", 40, "2001:db8:ab00::/40"],
    ["2001:db8:abcd:1::1", 32, "2001:db8::/32"],
    ["2001:db8:abcd:1::1", 63, "2001:db8:abcd:0::/63"],
  ])("%s in a /%i counts as %s", (address, prefixLength, network) => {
    expect(aggregateNetwork(address, prefixLength)).toBe(network);
  });

  it.each([
    ["192.0.2.7"],
    // IPv4-mapped (::ffff:0:0/96) stays its IPv4 client, however it is spelled: IPv4 has no aggregate.
    ["::ffff:192.0.2.7"],
    ["::FFFF:C000:207"],
    ["0:0:0:0:0:ffff:192.0.2.7"],
    ["::ffff:192.0.2.7%eth0"],
    ["unknown"],
    [""],
  ])("%s has none", (address) => {
    expect(aggregateNetwork(address, 48)).toBeUndefined();
  });

  it("every /64 of one /48 is one aggregate; the next /48 is another; the /64s stay apart", () => {
    const a = aggregateNetwork("2001:db8:aa:0::1", 48);
    expect(aggregateNetwork("2001:db8:aa:ffff:ffff:ffff:ffff:ffff", 48)).toBe(a);
    expect(aggregateNetwork("2001:db8:ab::1", 48)).not.toBe(a);
    expect(clientNetwork("2001:db8:aa:0::1")).not.toBe(clientNetwork("2001:db8:aa:1::1"));
    // Nor can an aggregate's key be taken for a /64's.
    expect(aggregateNetwork("2001:db8:aa:0::1", 48)).not.toBe(clientNetwork("2001:db8:aa::"));
  });
});
