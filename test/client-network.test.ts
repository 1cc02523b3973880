// Per-client limits count an IPv6 client by its /64 (a subscriber's usual allocation), an IPv4
// client by its address.
import { describe, expect, it } from "vitest";
import { clientNetwork } from "../src/client-network.ts";

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
