import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";

const noFiles = (p: string): string => {
  throw new Error(`no such file ${p}`);
};

describe("configuration", () => {
  it("has safe defaults", () => {
    const c = loadConfig({}, noFiles);
    expect(c.port).toBe(8080);
    expect(c.mongodbUri).toBeUndefined();
    expect(c.argon2).toEqual({ memoryKiB: 19456, timeCost: 2, parallelism: 1 });
    expect(c.jwt.accessTokenTtlSeconds).toBe(900);
    expect(c.registrationEnabled).toBe(true);
    expect(c.emailVerificationRequired).toBe(true);
    expect(c.emailVerificationTtlSeconds).toBe(86_400);
    expect(c.passwordResetTtlSeconds).toBe(3_600);
    expect(c.trustProxyHops).toBe(0);
    expect(c.corsAllowedOrigins).toEqual([]);
  });

  it.each([
    ["PORT", "http"],
    ["PORT", "70000"],
    ["ARGON2_MEMORY_KIB", "1024"], // below the OWASP minimum
    ["ARGON2_TIME_COST", "1"],
    ["EMAIL_VERIFICATION_REQUIRED", "maybe"],
    ["MONGODB_URI", "postgres://localhost/db"],
    ["SMTP_URL", "not a url"],
    ["CORS_ALLOWED_ORIGINS", "https://app.example.com/path"],
    ["LOG_LEVEL", "loud"],
    ["TRUST_PROXY_HOPS", "-1"],
    ["TLS_CERT_FILE", "/only/one/half.pem"],
  ])("refuses %s=%s with a message naming the variable", (name, value) => {
    expect(() => loadConfig({ [name]: value }, noFiles)).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value }, noFiles)).toThrow(name);
  });

  it("names JWT_PRIVATE_KEY_FILE when the key file cannot be read", () => {
    expect(() => loadConfig({ JWT_PRIVATE_KEY_FILE: "/nope.pem" }, noFiles)).toThrow(/JWT_PRIVATE_KEY_FILE/);
  });

  it("reads lists and booleans", () => {
    const c = loadConfig(
      {
        CORS_ALLOWED_ORIGINS: "https://a.example.com, http://localhost:5173",
        REGISTRATION_ENABLED: "false",
        MONGODB_URI: "mongodb://127.0.0.1:27017/auth",
      },
      noFiles,
    );
    expect(c.corsAllowedOrigins).toEqual(["https://a.example.com", "http://localhost:5173"]);
    expect(c.registrationEnabled).toBe(false);
    expect(c.mongodbUri).toBe("mongodb://127.0.0.1:27017/auth");
  });
});
