// The reason strings the domain throws and the ErrorReason enum published in the proto contract
// are the same vocabulary; this keeps them from drifting apart.
import { describe, expect, it } from "vitest";
import { ErrorReason } from "../../gen/auth/v1/common_pb.js";
import { reasonStatus } from "../../src/errors.ts";

describe("error vocabulary", () => {
  it("every ErrorReason in the proto is a domain reason, and the other way round", () => {
    const fromProto = Object.keys(ErrorReason)
      .filter((k) => Number.isNaN(Number(k)) && k !== "UNSPECIFIED")
      .sort();
    expect(fromProto).toEqual(Object.keys(reasonStatus).sort());
  });
});
