import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.ts";

const noFiles = (p: string): string => {
  throw new Error(`no such file ${p}`);
};

describe("configuration", () => {
  it("has safe defaults", () => {
    const c = loadConfig({}, noFiles);
    expect(c.port).toBe(8080);
    expect(c.mongodb).toBeUndefined();
    expect(c.maxSessionsPerUser).toBe(100);
    expect(c.refreshReuseDetectionSeconds).toBe(86_400);
    expect(c.argon2).toEqual({
      memoryKiB: 19456,
      timeCost: 2,
      parallelism: 1,
      maxConcurrent: availableParallelism(),
      maxWaiting: 128 * availableParallelism(),
      maxPerClient: 8 * availableParallelism(),
    });
    expect(loadConfig({ ARGON2_MAX_CONCURRENT: "3" }, noFiles).argon2).toMatchObject({
      maxConcurrent: 3,
      maxWaiting: 384,
      maxPerClient: 24,
    });
    expect(loadConfig({ ARGON2_MAX_PER_CLIENT: "4" }, noFiles).argon2.maxPerClient).toBe(4);
    expect(loadConfig({ ARGON2_MAX_WAITING: "10" }, noFiles).argon2.maxWaiting).toBe(10);
    expect(c.jwt.accessTokenTtlSeconds).toBe(900);
    expect(c.jwt.accessTokenCacheSize).toBe(10_000);
    expect(c.registrationEnabled).toBe(true);
    expect(c.registrationsPerAddressPerHour).toBe(100);
    expect(loadConfig({ REGISTRATION_MAX_PER_ADDRESS_PER_HOUR: "0" }, noFiles).registrationsPerAddressPerHour).toBe(0);
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
    ["ARGON2_MAX_CONCURRENT", "0"],
    ["ARGON2_MAX_WAITING", "0"],
    ["REGISTRATION_MAX_PER_ADDRESS_PER_HOUR", "-1"],
    ["EMAIL_VERIFICATION_REQUIRED", "maybe"],
    ["MONGODB_URI", "postgres://localhost/db"],
    ["SMTP_URL", "not a url"],
    ["CORS_ALLOWED_ORIGINS", "https://app.example.com/path"],
    ["LOG_LEVEL", "loud"],
    ["TRUST_PROXY_HOPS", "-1"],
    ["TLS_CERT_FILE", "/only/one/half.pem"],
    ["TOTP_ENCRYPTION_KEY", "too-short"],
    ["TOTP_ENCRYPTION_KEY", "00".repeat(31)], // 31 bytes of hex
    ["TOTP_ENCRYPTION_KEY", Buffer.alloc(16).toString("base64")], // 16 bytes of base64
    ["TWO_FACTOR_MAX_FAILURES", "0"],
    ["ACCESS_TOKEN_CACHE_SIZE", "-1"],
    ["ACCESS_TOKEN_CACHE_SIZE", "10000001"],
    ["TWO_FACTOR_LOCK_SECONDS", "0"],
    ["TOTP_SETUP_TTL_SECONDS", "5"],
    ["LOGIN_ADDRESS_MAX_FAILURES", "-1"],
    ["LOGIN_DEVICE_MAX_FAILURES", "1001"],
    ["LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR", "101"], // above NIST SP 800-63B's bound
    ["LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR", "1"], // cannot be split in two
    ["DEVICE_TOKEN_TTL_SECONDS", "60"],
    ["CLIENT_IPV6_AGGREGATE_PREFIX", "31"], // wider than a provider's allocation
    ["CLIENT_IPV6_AGGREGATE_PREFIX", "64"], // the client network itself
    ["CLIENT_IPV6_AGGREGATE_PREFIX", "/48"],
    ["CLIENT_IPV6_AGGREGATE_MULTIPLE", "-1"],
    ["CLIENT_IPV6_AGGREGATE_MULTIPLE", "65537"],
  ])("refuses %s=%s with a message naming the variable", (name, value) => {
    expect(() => loadConfig({ [name]: value }, noFiles)).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value }, noFiles)).toThrow(name);
  });

  it("takes the RPC fast path unless RPC_FAST_PATH says not to, and refuses a value that is no boolean", () => {
    expect(loadConfig({}, noFiles).rpcFastPath).toBe(true);
    expect(loadConfig({ RPC_FAST_PATH: "false" }, noFiles).rpcFastPath).toBe(false);
    expect(() => loadConfig({ RPC_FAST_PATH: "fast" }, noFiles)).toThrow(/RPC_FAST_PATH/);
  });

  it("reads the guessing limits: per account, address and known device, and the hourly bound", () => {
    const c = loadConfig({}, noFiles);
    expect([c.loginMaxFailures, c.loginAddressMaxFailures, c.loginDeviceMaxFailures]).toEqual([10, 100, 10]);
    expect([c.loginAccountMaxFailuresPerHour, c.deviceTokenTtlSeconds]).toEqual([100, 90 * 86_400]);
    expect(loadConfig({ LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR: "0", LOGIN_ADDRESS_MAX_FAILURES: "0" }, noFiles)).toMatchObject({
      loginAccountMaxFailuresPerHour: 0,
      loginAddressMaxFailures: 0,
    });
  });

  it("counts an IPv6 client's /48 on 16 times its /64's budget by default; the multiple 0 turns it off", () => {
    expect(loadConfig({}, noFiles).clientAggregate).toEqual({ prefixLength: 48, multiple: 16 });
    expect(loadConfig({ CLIENT_IPV6_AGGREGATE_PREFIX: "56", CLIENT_IPV6_AGGREGATE_MULTIPLE: "4" }, noFiles).clientAggregate).toEqual({
      prefixLength: 56,
      multiple: 4,
    });
    expect(loadConfig({ CLIENT_IPV6_AGGREGATE_MULTIPLE: "0" }, noFiles).clientAggregate).toBeUndefined();
  });

  it("names JWT_PRIVATE_KEY_FILE when the key file cannot be read", () => {
    expect(() => loadConfig({ JWT_PRIVATE_KEY_FILE: "/nope.pem" }, noFiles)).toThrow(/JWT_PRIVATE_KEY_FILE/);
  });

  it("reads the Have I Been Pwned settings: off by default, each one checked even while off", () => {
    expect(loadConfig({}, noFiles).pwnedPasswords).toBeUndefined();
    expect(loadConfig({ PWNED_PASSWORDS_ENABLED: "true" }, noFiles).pwnedPasswords).toEqual({
      url: "https://api.pwnedpasswords.com/range/",
      timeoutMs: 2_000,
      minCount: 1,
      maxConcurrent: 16,
    });
    const custom = {
      PWNED_PASSWORDS_ENABLED: "yes",
      PWNED_PASSWORDS_URL: "http://hibp-mirror.internal:8080/range/",
      PWNED_PASSWORDS_TIMEOUT_MS: "500",
      PWNED_PASSWORDS_MIN_COUNT: "10",
      PWNED_PASSWORDS_MAX_CONCURRENT: "1",
    };
    expect(loadConfig(custom, noFiles).pwnedPasswords).toEqual({
      url: "http://hibp-mirror.internal:8080/range/",
      timeoutMs: 500,
      minCount: 10,
      maxConcurrent: 1,
    });
    for (const [name, value] of [
      ["PWNED_PASSWORDS_ENABLED", "perhaps"],
      ["PWNED_PASSWORDS_URL", "ftp://example.com/range/"],
      ["PWNED_PASSWORDS_URL", "not a url"],
      ["PWNED_PASSWORDS_TIMEOUT_MS", "99"],
      ["PWNED_PASSWORDS_TIMEOUT_MS", "60001"],
      ["PWNED_PASSWORDS_MIN_COUNT", "0"],
      ["PWNED_PASSWORDS_MAX_CONCURRENT", "0"],
      ["PWNED_PASSWORDS_MAX_CONCURRENT", "1001"],
    ]) {
      expect(() => loadConfig({ [name as string]: value }, noFiles)).toThrow(name);
    }
  });

  it("reads the refresh grace window: 30 s by default, 0 disables, at most 300 s, shorter than reuse detection", () => {
    expect(loadConfig({}, noFiles).refreshReuseGraceSeconds).toBe(30);
    expect(loadConfig({ REFRESH_REUSE_GRACE_SECONDS: "0" }, noFiles).refreshReuseGraceSeconds).toBe(0);
    expect(loadConfig({ REFRESH_REUSE_GRACE_SECONDS: "300" }, noFiles).refreshReuseGraceSeconds).toBe(300);
    expect(() => loadConfig({ REFRESH_REUSE_GRACE_SECONDS: "301" }, noFiles)).toThrow(/REFRESH_REUSE_GRACE_SECONDS/);
    expect(() => loadConfig({ REFRESH_REUSE_GRACE_SECONDS: "-1" }, noFiles)).toThrow(/REFRESH_REUSE_GRACE_SECONDS/);
    expect(() => loadConfig({ REFRESH_REUSE_GRACE_SECONDS: "60", REFRESH_REUSE_DETECTION_SECONDS: "60" }, noFiles)).toThrow(
      /REFRESH_REUSE_GRACE_SECONDS must be shorter than REFRESH_REUSE_DETECTION_SECONDS/,
    );
    expect(loadConfig({ REFRESH_REUSE_GRACE_SECONDS: "59", REFRESH_REUSE_DETECTION_SECONDS: "60" }, noFiles).refreshReuseGraceSeconds).toBe(
      59,
    );
  });

  it("reads the metrics settings: off unless METRICS_PORT or METRICS_TOKEN says where they go", () => {
    const token = "0123456789abcdef0123";
    expect(loadConfig({}, noFiles).metrics).toBeUndefined();
    expect(loadConfig({ METRICS_TOKEN: token }, noFiles).metrics).toEqual({ port: undefined, host: "0.0.0.0", token });
    expect(loadConfig({ METRICS_PORT: "9464" }, noFiles).metrics).toEqual({ port: 9464, host: "0.0.0.0", token: undefined });
    expect(loadConfig({ METRICS_PORT: "9464", METRICS_HOST: "10.0.0.5", HOST: "::" }, noFiles).metrics?.host).toBe("10.0.0.5");
    expect(loadConfig({ METRICS_PORT: "9464", HOST: "127.0.0.1" }, noFiles).metrics?.host).toBe("127.0.0.1");
    expect(loadConfig({ METRICS_TOKEN_FILE: "/run/secrets/metrics" }, () => `${token}\n`).metrics?.token).toBe(token);
    expect(() => loadConfig({ METRICS_PORT: "8080" }, noFiles)).toThrow(/METRICS_PORT must differ from PORT/);
    expect(() => loadConfig({ METRICS_PORT: "65536" }, noFiles)).toThrow(/METRICS_PORT/);
    expect(() => loadConfig({ METRICS_HOST: "127.0.0.1" }, noFiles)).toThrow(/METRICS_HOST needs METRICS_PORT/);
    expect(() => loadConfig({ METRICS_TOKEN: "short" }, noFiles)).toThrow(/METRICS_TOKEN must be 16 to 512/);
    expect(() => loadConfig({ METRICS_TOKEN: "has a space in it, long enough" }, noFiles)).toThrow(/METRICS_TOKEN/);
    expect(() => loadConfig({ METRICS_TOKEN: token, METRICS_TOKEN_FILE: "/x" }, noFiles)).toThrow(/METRICS_TOKEN_FILE cannot be combined/);
  });

  it("reads the mail limits: 5 per address, 20 per client, 10 notifications per address an hour; 0 turns one off", () => {
    expect(loadConfig({}, noFiles).mailLimits).toEqual({ perAddressPerHour: 5, perClientPerHour: 20, notificationsPerAddressPerHour: 10 });
    const off = loadConfig(
      { MAIL_MAX_PER_ADDRESS_PER_HOUR: "0", MAIL_MAX_PER_CLIENT_PER_HOUR: "0", MAIL_MAX_NOTIFICATIONS_PER_ADDRESS_PER_HOUR: "0" },
      noFiles,
    );
    expect(off.mailLimits).toEqual({ perAddressPerHour: 0, perClientPerHour: 0, notificationsPerAddressPerHour: 0 });
    for (const [name, max] of [
      ["MAIL_MAX_PER_ADDRESS_PER_HOUR", 1_000],
      ["MAIL_MAX_PER_CLIENT_PER_HOUR", 100_000],
      ["MAIL_MAX_NOTIFICATIONS_PER_ADDRESS_PER_HOUR", 1_000],
    ] as const) {
      expect(() => loadConfig({ [name]: String(max + 1) }, noFiles)).toThrow(new RegExp(name));
      expect(() => loadConfig({ [name]: "-1" }, noFiles)).toThrow(new RegExp(name));
      expect(() => loadConfig({ [name]: "five" }, noFiles)).toThrow(new RegExp(name));
    }
  });

  it("reads the passkey settings: off unless the RP ID and the origins are both set, each checked", () => {
    expect(loadConfig({}, noFiles).webauthn).toBeUndefined();
    const on = { WEBAUTHN_RP_ID: "Example.com", WEBAUTHN_ORIGINS: "https://example.com,https://app.example.com" };
    expect(loadConfig(on, noFiles).webauthn).toEqual({
      rpId: "example.com",
      rpName: "authd",
      origins: ["https://example.com", "https://app.example.com"],
      challengeTtlSeconds: 300,
      startsPerClientPerHour: 300,
    });
    expect(loadConfig({ ...on, WEBAUTHN_RP_NAME: "Example", TOTP_ISSUER: "Other" }, noFiles).webauthn?.rpName).toBe("Example");
    expect(loadConfig({ ...on, TOTP_ISSUER: "Other" }, noFiles).webauthn?.rpName).toBe("Other");
    const local = { WEBAUTHN_RP_ID: "localhost", WEBAUTHN_ORIGINS: "http://localhost:5173" };
    expect(loadConfig(local, noFiles).webauthn?.origins).toEqual(["http://localhost:5173"]);
    const refused: [Record<string, string>, RegExp][] = [
      [{ WEBAUTHN_RP_ID: "example.com" }, /WEBAUTHN_ORIGINS must be set/],
      [{ WEBAUTHN_ORIGINS: "https://example.com" }, /WEBAUTHN_RP_ID must be set/],
      [{ ...on, WEBAUTHN_RP_ID: "https://example.com" }, /WEBAUTHN_RP_ID must be a host name/],
      [{ ...on, WEBAUTHN_RP_ID: "192.0.2.1", WEBAUTHN_ORIGINS: "https://192.0.2.1" }, /WEBAUTHN_RP_ID must be a host name/],
      [{ ...on, WEBAUTHN_ORIGINS: "https://example.net" }, /WEBAUTHN_ORIGINS "https:\/\/example.net" is not on WEBAUTHN_RP_ID/],
      [{ ...on, WEBAUTHN_ORIGINS: "https://notexample.com" }, /is not on WEBAUTHN_RP_ID/],
      [{ ...on, WEBAUTHN_ORIGINS: "http://example.com" }, /must use https/],
      [{ ...on, WEBAUTHN_ORIGINS: "*" }, /not \*/],
      [{ ...on, WEBAUTHN_ORIGINS: "https://example.com/login" }, /bare origins/],
      [{ ...on, WEBAUTHN_RP_NAME: "x".repeat(65) }, /WEBAUTHN_RP_NAME/],
      [{ ...on, WEBAUTHN_CHALLENGE_TTL_SECONDS: "601" }, /WEBAUTHN_CHALLENGE_TTL_SECONDS/],
      [{ ...on, WEBAUTHN_CHALLENGE_TTL_SECONDS: "29" }, /WEBAUTHN_CHALLENGE_TTL_SECONDS/],
      [{ ...on, WEBAUTHN_MAX_STARTS_PER_CLIENT_PER_HOUR: "-1" }, /WEBAUTHN_MAX_STARTS_PER_CLIENT_PER_HOUR/],
      [{ ...on, WEBAUTHN_MAX_STARTS_PER_CLIENT_PER_HOUR: "100001" }, /WEBAUTHN_MAX_STARTS_PER_CLIENT_PER_HOUR/],
    ];
    for (const [env, message] of refused) expect(() => loadConfig(env, noFiles), JSON.stringify(env)).toThrow(message);
  });

  it("reads the two-factor settings, with 5 failures and a 15-minute lock by default", () => {
    const defaults = loadConfig({}, noFiles).twoFactor;
    expect(defaults).toEqual({
      issuer: "authd",
      maxFailures: 5,
      lockSeconds: 900,
      maxConsecutiveFailures: 100,
      setupTtlSeconds: 600,
      maxSetupsPerHour: 30,
    });
    expect(loadConfig({ TWO_FACTOR_MAX_CONSECUTIVE_FAILURES: "20" }, noFiles).twoFactor.maxConsecutiveFailures).toBe(20);
    expect(() => loadConfig({ TWO_FACTOR_MAX_CONSECUTIVE_FAILURES: "5" }, noFiles)).toThrow(/TWO_FACTOR_MAX_CONSECUTIVE_FAILURES/);
    expect(loadConfig({}, noFiles).serverSecret).toBeUndefined();
    expect(loadConfig({}, noFiles).loginChallengeTtlSeconds).toBe(300);
    expect(loadConfig({}, noFiles).reauthMaxAgeSeconds).toBe(600);
    expect(loadConfig({ REAUTH_MAX_AGE_SECONDS: "0" }, noFiles).reauthMaxAgeSeconds).toBe(0);
    expect(() => loadConfig({ REAUTH_MAX_AGE_SECONDS: "86401" }, noFiles)).toThrow(/REAUTH_MAX_AGE_SECONDS/);
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    expect(loadConfig({ TOTP_ENCRYPTION_KEY: key.toString("hex") }, noFiles).serverSecret).toEqual(key);
    expect(loadConfig({ TOTP_ENCRYPTION_KEY: key.toString("base64") }, noFiles).serverSecret).toEqual(key);
    const fromFile = loadConfig({ TOTP_ENCRYPTION_KEY_FILE: "/run/secrets/totp" }, (p) =>
      p === "/run/secrets/totp" ? `${key.toString("base64")}\n` : noFiles(p),
    );
    expect(fromFile.serverSecret).toEqual(key);
    expect(() => loadConfig({ TOTP_ENCRYPTION_KEY: key.toString("hex"), TOTP_ENCRYPTION_KEY_FILE: "/x" }, noFiles)).toThrow(
      /TOTP_ENCRYPTION_KEY_FILE/,
    );
    expect(() => loadConfig({ TOTP_ENCRYPTION_KEY_FILE: "/nope" }, noFiles)).toThrow(/TOTP_ENCRYPTION_KEY_FILE/);
    // Durable storage with a throw-away key would lock every 2FA user out at the next restart.
    expect(() => loadConfig({ MONGODB_URI: "mongodb://db/auth" }, noFiles)).toThrow(/SERVER_SECRET/);
  });

  it("with MONGODB_URI, mail goes out by SMTP, or to the log only when MAIL_TO_LOG says so", () => {
    const durable = { MONGODB_URI: "mongodb://db/auth", SERVER_SECRET: "ab".repeat(32) };
    // A deployment that forgot SMTP_URL would write every reset code to its logs.
    expect(() => loadConfig(durable, noFiles)).toThrow(/SMTP_URL must be set when MONGODB_URI is/);
    expect(loadConfig({ ...durable, MAIL_TO_LOG: "true" }, noFiles).mailToLog).toBe(true);
    expect(loadConfig({ ...durable, SMTP_URL: "smtp://relay.example:587" }, noFiles)).toMatchObject({ mailToLog: false });
    expect(() => loadConfig({ ...durable, SMTP_URL: "smtp://relay.example:587", MAIL_TO_LOG: "true" }, noFiles)).toThrow(/MAIL_TO_LOG/);
    // The embedded store (a newcomer's first run) logs mail unless told otherwise.
    expect(loadConfig({}, noFiles).mailToLog).toBe(true);
    expect(() => loadConfig({ MAIL_TO_LOG: "false" }, noFiles)).toThrow(/SMTP_URL must be set when MAIL_TO_LOG is false/);
  });

  it("reads lists and booleans", () => {
    const c = loadConfig(
      {
        CORS_ALLOWED_ORIGINS: "https://a.example.com, http://localhost:5173",
        REGISTRATION_ENABLED: "false",
        MONGODB_URI: "mongodb://127.0.0.1:27017/auth",
        TOTP_ENCRYPTION_KEY: "ab".repeat(32),
        SMTP_URL: "smtps://mailer:secret@smtp.example.com",
      },
      noFiles,
    );
    expect(c.corsAllowedOrigins).toEqual(["https://a.example.com", "http://localhost:5173"]);
    expect(c.registrationEnabled).toBe(false);
    expect(c.mongodb?.uri).toBe("mongodb://127.0.0.1:27017/auth");
    expect(c.mongodb?.dbName).toBe("auth");
  });
});

describe("connection limits", () => {
  it("default to bounded values, and 0 turns a limit off", () => {
    expect(loadConfig({}, noFiles).limits).toEqual({
      maxConnections: 800,
      maxConnectionsPerAddress: 100,
      idleTimeoutMs: 300_000,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      minBodyBytesPerSecond: 1024,
      bodyRateWindowMs: 5_000,
      http2MaxConcurrentStreams: 128,
      http2MaxStreamsPerAddress: 512,
      maxLongLivedPerAddress: 16,
      http2MaxResetsPerConnection: 200,
      http2MaxResetsPerAddress: 1000,
      http2ResetWindowMs: 10_000,
      shedAddresses: true,
      direct: true,
    });
    const off = loadConfig({ MAX_CONNECTIONS: "0", HTTP_REQUEST_TIMEOUT_MS: "0", HTTP2_MAX_RESETS_PER_ADDRESS: "0" }, noFiles).limits;
    expect([off.maxConnections, off.requestTimeoutMs, off.http2MaxResetsPerAddress]).toEqual([0, 0, 0]);
  });

  it("behind a proxy (TRUST_PROXY_HOPS > 0) turns the per-address caps off unless set, and never refuses an address", () => {
    const direct = loadConfig({}, noFiles).limits;
    expect([direct.maxConnectionsPerAddress, direct.http2MaxResetsPerAddress, direct.shedAddresses]).toEqual([100, 1000, true]);
    const proxied = loadConfig({ TRUST_PROXY_HOPS: "1" }, noFiles).limits;
    expect([proxied.maxConnectionsPerAddress, proxied.http2MaxResetsPerAddress, proxied.shedAddresses]).toEqual([0, 0, false]);
    expect([proxied.http2MaxStreamsPerAddress, proxied.maxLongLivedPerAddress]).toEqual([0, 0]);
    const set = loadConfig(
      { TRUST_PROXY_HOPS: "2", MAX_CONNECTIONS_PER_ADDRESS: "500", HTTP2_MAX_RESETS_PER_ADDRESS: "5000" },
      noFiles,
    ).limits;
    expect([set.maxConnectionsPerAddress, set.http2MaxResetsPerAddress, set.shedAddresses]).toEqual([500, 5000, false]);
  });

  it.each([
    ["MAX_CONNECTIONS", "-1"],
    ["HTTP2_MAX_CONCURRENT_STREAMS", "0"],
    ["HTTP_BODY_RATE_WINDOW_MS", "5"],
    ["HTTP2_RESET_WINDOW_MS", "many"],
    ["HTTP_IDLE_TIMEOUT_MS", "0"],
  ])("refuses %s=%s", (name, value) => {
    expect(() => loadConfig({ [name]: value }, noFiles)).toThrow(ConfigError);
  });

  it("refuses a header timeout longer than the request timeout", () => {
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: "40000" }, noFiles)).toThrow(/HTTP_HEADERS_TIMEOUT_MS/);
    expect(loadConfig({ HTTP_HEADERS_TIMEOUT_MS: "40000", HTTP_REQUEST_TIMEOUT_MS: "0" }, noFiles).limits.headersTimeoutMs).toBe(40_000);
  });
});

describe("tracing (OTEL_*)", () => {
  it("is off by default, and when every exporter is none or the SDK is disabled", () => {
    expect(loadConfig({}, noFiles).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_TRACES_EXPORTER: "none" }, noFiles).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_TRACES_EXPORTER: "otlp", OTEL_SDK_DISABLED: "true" }, noFiles).tracing).toBeUndefined();
  });

  it("is on with an exporter named, or with an OTLP endpoint alone", () => {
    const named = loadConfig({ OTEL_TRACES_EXPORTER: "console,otlp" }, noFiles).tracing;
    expect(named).toMatchObject({
      exporters: ["console", "otlp"],
      otlpUrl: "http://localhost:4318/v1/traces",
      serviceName: "authd",
      sampler: "parentbased_always_on",
      propagate: true,
      batch: { scheduledDelayMillis: 5000, exportTimeoutMillis: 30000, maxQueueSize: 2048, maxExportBatchSize: 512 },
    });
    const byEndpoint = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }, noFiles).tracing;
    expect(byEndpoint?.exporters).toEqual(["otlp"]);
    expect(byEndpoint?.otlpUrl).toBe("http://collector:4318/v1/traces");
    const signal = loadConfig(
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://c.example/custom", OTEL_EXPORTER_OTLP_ENDPOINT: "http://x:4318" },
      noFiles,
    );
    expect(signal.tracing?.otlpUrl).toBe("https://c.example/custom");
  });

  it("reads the service name, resource attributes, sampler and propagators", () => {
    const t = loadConfig(
      {
        OTEL_TRACES_EXPORTER: "console",
        OTEL_SERVICE_NAME: "auth-eu",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=prod,team=id%20platform",
        OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "0.25",
        OTEL_PROPAGATORS: "none",
      },
      noFiles,
    ).tracing;
    expect(t).toMatchObject({
      serviceName: "auth-eu",
      resourceAttributes: { "deployment.environment.name": "prod", team: "id platform" },
      sampler: "parentbased_traceidratio",
      samplerRatio: 0.25,
      propagate: false,
    });
  });

  it.each([
    ["OTEL_TRACES_EXPORTER", "zipkin"],
    ["OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"],
    ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"],
    ["OTEL_TRACES_SAMPLER", "jaeger_remote"],
    ["OTEL_TRACES_SAMPLER_ARG", "1.5"],
    ["OTEL_TRACES_SAMPLER_ARG", "half"],
    ["OTEL_PROPAGATORS", "b3"],
    ["OTEL_RESOURCE_ATTRIBUTES", "novalue"],
    ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096"], // more than the queue holds
    ["OTEL_SDK_DISABLED", "maybe"],
  ])("refuses %s=%s, naming it, even while tracing is off", (name, value) => {
    expect(() => loadConfig({ [name]: value }, noFiles)).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value }, noFiles)).toThrow(name);
  });
});
