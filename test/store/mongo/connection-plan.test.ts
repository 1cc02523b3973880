// MONGODB_URI as the driver reads it: every form the driver accepts starts the server, the
// guarantees are pinned whatever the URI says, and what was overridden is reported.
import { MongoClient } from "mongodb";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/config.ts";
import { planMongoConnection } from "../../../src/store/mongo/connection-plan.ts";

const settings = { serverSelectionTimeoutMS: 5_000, operationTimeoutMS: 10_000 };
const key = { TOTP_ENCRYPTION_KEY: "ab".repeat(32), MAIL_TO_LOG: "true" };
const noFiles = (p: string): string => {
  throw new Error(`no such file ${p}`);
};

/** What the driver itself makes of the plan: an independent reading of the options we built. */
function driverView(uri: string, dbName?: string) {
  const plan = planMongoConnection(uri, { ...settings, database: dbName });
  const client = new MongoClient(plan.uri, plan.options);
  const o = client.options;
  return {
    plan,
    hosts: o.hosts.map(String),
    srvHost: o.srvHost,
    readPreference: o.readPreference.mode,
    writeConcern: { w: o.writeConcern?.w, journal: o.writeConcern?.journal, wtimeoutMS: o.writeConcern?.wtimeoutMS },
    retryWrites: o.retryWrites,
    retryReads: o.retryReads,
    serverSelectionTimeoutMS: o.serverSelectionTimeoutMS,
    username: o.credentials?.username,
    password: o.credentials?.password,
    authSource: o.credentials?.source,
    replicaSet: o.replicaSet,
    tls: o.tls,
  };
}

describe("MONGODB_URI forms", () => {
  it.each([
    ["mongodb://db1:27017,db2:27017,db3:27017/authd?replicaSet=rs0", ["db1:27017", "db2:27017", "db3:27017"], "authd"],
    ["mongodb://[::1]:27017,[fe80::1]:27018/?replicaSet=rs0", ["[::1]:27017", "[fe80::1]:27018"], "authd"],
    ["mongodb://localhost", ["localhost:27017"], "authd"],
    ["mongodb://app:s3cr%40t@db1:27017,db2:27018/prod?authSource=admin&replicaSet=rs0&tls=true", ["db1:27017", "db2:27018"], "prod"],
  ])("%s starts, with the driver's hosts and database", (uri, hosts, db) => {
    const config = loadConfig({ MONGODB_URI: uri, ...key }, noFiles);
    expect(config.mongodb?.dbName).toBe(db);
    expect(driverView(uri).hosts).toEqual(hosts);
  });

  it("keeps credentials, authSource, replica set and TLS exactly as given", () => {
    const v = driverView("mongodb://app:s3cr%40t@db1:27017,db2:27018/prod?authSource=admin&replicaSet=rs0&tls=true");
    expect([v.username, v.password, v.authSource, v.replicaSet, v.tls]).toEqual(["app", "s3cr@t", "admin", "rs0", true]);
  });

  it("accepts mongodb+srv:// (Atlas) without a DNS lookup at start-up", () => {
    const v = driverView("mongodb+srv://app:pw@cluster0.ab1cd.mongodb.net/authd?retryWrites=true&w=majority&appName=Cluster0");
    expect(v.srvHost).toBe("cluster0.ab1cd.mongodb.net");
    expect(v.plan.srv).toBe(true);
    expect(v.plan.overridden).toEqual([]); // retryWrites=true&w=majority already match what is pinned
  });

  it("takes the database from the URI path, else MONGODB_DATABASE, else authd", () => {
    expect(loadConfig({ MONGODB_URI: "mongodb://h/fromuri", MONGODB_DATABASE: "fromenv", ...key }, noFiles).mongodb?.dbName).toBe(
      "fromuri",
    );
    expect(loadConfig({ MONGODB_URI: "mongodb://h/", MONGODB_DATABASE: "fromenv", ...key }, noFiles).mongodb?.dbName).toBe("fromenv");
    expect(loadConfig({ MONGODB_URI: "mongodb://h:27017/?replicaSet=rs0", ...key }, noFiles).mongodb?.dbName).toBe("authd");
    expect(loadConfig({ MONGODB_URI: "mongodb://h/my%2Ddb", ...key }, noFiles).mongodb?.dbName).toBe("my-db");
  });

  it.each([
    ["MONGODB_URI", "postgres://localhost/db"],
    ["MONGODB_URI", "mongodb://h:99999"],
    ["MONGODB_URI", "mongodb://"],
    ["MONGODB_URI", "mongodb://h/?notAnOption=1"],
    ["MONGODB_URI", "mongodb+srv://a:1/db"],
    ["MONGODB_URI", "mongodb://h/bad.name"],
    ["MONGODB_DATABASE", "bad/name"],
    ["MONGODB_SERVER_SELECTION_TIMEOUT_MS", "0"],
    ["MONGODB_OPERATION_TIMEOUT_MS", "soon"],
  ])("refuses %s=%s naming the variable", (name, value) => {
    const env = { MONGODB_URI: "mongodb://h/db", ...key, [name]: value };
    expect(() => loadConfig(env, noFiles)).toThrow(ConfigError);
    expect(() => loadConfig(env, noFiles)).toThrow(name);
  });

  it("never repeats a password in the error for a URI it refuses", () => {
    let message = "";
    try {
      loadConfig({ MONGODB_URI: "mongodb://admin:hunter2pass@db:99999/x", ...key }, noFiles);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^invalid configuration: MONGODB_URI/);
    expect(message).not.toContain("hunter2pass");
  });
});

describe("pinned guarantees", () => {
  it("reads from the primary, writes to a journaled majority with a time limit, retries reads and writes", () => {
    const v = driverView("mongodb://db1:27017,db2:27017/authd?replicaSet=rs0");
    expect(v.readPreference).toBe("primary");
    expect(v.writeConcern).toEqual({ w: "majority", journal: true, wtimeoutMS: 10_000 });
    expect([v.retryWrites, v.retryReads]).toEqual([true, true]);
    expect(v.serverSelectionTimeoutMS).toBe(5_000); // not the driver's 30 s
  });

  it("overrides a URI that tries to weaken them, and reports each option once", () => {
    const uri =
      "mongodb://db1:27017/authd?replicaSet=rs0&readPreference=secondaryPreferred&readPreferenceTags=dc:ny&maxStalenessSeconds=120" +
      "&w=1&journal=false&retryWrites=false&retryReads=false&wtimeoutMS=1&appName=mine";
    const v = driverView(uri);
    expect(v.readPreference).toBe("primary");
    expect(v.writeConcern).toEqual({ w: "majority", journal: true, wtimeoutMS: 10_000 });
    expect([v.retryWrites, v.retryReads]).toEqual([true, true]);
    expect(v.plan.overridden).toEqual([
      { option: "readPreference", given: "secondaryPreferred", pinned: "primary" },
      { option: "readPreferenceTags", given: "dc:ny", pinned: "(none)" },
      { option: "maxStalenessSeconds", given: "120", pinned: "(none)" },
      { option: "w", given: "1", pinned: "majority" },
      { option: "journal", given: "false", pinned: "true" },
      { option: "retryWrites", given: "false", pinned: "true" },
      { option: "retryReads", given: "false", pinned: "true" },
      { option: "wtimeoutMS", given: "1", pinned: "MONGODB_OPERATION_TIMEOUT_MS" },
    ]);
    // Everything else in the URI is kept.
    expect(v.plan.uri).toBe("mongodb://db1:27017/authd?replicaSet=rs0&appName=mine");
    expect(v.replicaSet).toBe("rs0");
  });

  // Every write-concern and read-preference option of the connection-string spec, each trying to
  // weaken a guarantee: the driver's own reading of the result must still be the pinned one.
  it.each([
    "w=0",
    "w=1",
    "w=2",
    "journal=false",
    "j=false",
    "fsync=false",
    "wtimeoutMS=1",
    "readPreference=secondary",
    "readPreference=secondaryPreferred",
    "readPreference=nearest",
    "readPreference=primaryPreferred",
    "readPreference=secondary&readPreferenceTags=dc:ny&readPreferenceTags=",
    "readPreference=nearest&maxStalenessSeconds=90",
    "retryWrites=false",
    "retryReads=false",
    "w=1&journal=false&fsync=false&retryWrites=false&readPreference=secondary",
  ])("%s cannot weaken them", (options) => {
    const v = driverView(`mongodb://db1:27017,db2:27017/authd?replicaSet=rs0&${options}`);
    expect(v.readPreference).toBe("primary");
    expect(v.writeConcern).toEqual({ w: "majority", journal: true, wtimeoutMS: 10_000 });
    expect([v.retryWrites, v.retryReads]).toEqual([true, true]);
    expect(v.plan.overridden.length).toBeGreaterThan(0);
  });

  it("directConnection=true is kept but named in a caution: it pins reads to one member", () => {
    expect(driverView("mongodb://db1:27017/authd?directConnection=true").plan.cautions).toEqual([
      expect.stringContaining("directConnection=true"),
    ]);
    expect(driverView("mongodb://db1:27017,db2:27017/authd?replicaSet=rs0").plan.cautions).toEqual([]);
  });

  it("option names are matched case-insensitively, as the driver does", () => {
    const v = driverView("mongodb://h/authd?READPREFERENCE=secondary&W=0");
    expect(v.readPreference).toBe("primary");
    expect(v.writeConcern.w).toBe("majority");
    expect(v.plan.overridden.map((o) => o.option)).toEqual(["READPREFERENCE", "W"]);
  });

  it("a serverSelectionTimeoutMS in the URI is the operator's choice and is kept", () => {
    expect(driverView("mongodb://h/authd?serverSelectionTimeoutMS=2000").serverSelectionTimeoutMS).toBe(2_000);
  });
});
