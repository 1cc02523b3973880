// npm run admin -- grant <email> [--unverified]
//
// Gives an existing account the admin role, from a shell that has the server's configuration (the
// same environment: MONGODB_URI, SERVER_SECRET, ROLES...). For the first administrator without
// editing the database; ADMIN_EMAILS does the same as the owner resets the account's password. The change is
// recorded in the audit log (action cli.grant_admin). The embedded store lives inside the server
// process, so this needs MONGODB_URI.
import { readFileSync } from "node:fs";

const usage = "usage: npm run admin -- grant <email> [--unverified]";

function fail(message: string, code = 1): never {
  console.error(message);
  process.exit(code);
}

const args = process.argv.slice(2);
const allowUnverified = args.includes("--unverified");
const [command, email, ...rest] = args.filter((a) => a !== "--unverified");
if (command !== "grant" || email === undefined || rest.length > 0) fail(usage, 64); // EX_USAGE

// Loaded once the arguments are right: a usage error answers at once.
const { ConfigError, loadConfig } = await import("../src/config.ts");
const { adminRole } = await import("../src/permissions/permissions.ts");

let config: import("../src/config.ts").Config;
try {
  config = loadConfig(process.env, (path) => readFileSync(path, "utf8"));
} catch (err) {
  if (err instanceof ConfigError) fail(err.message, 78); // EX_CONFIG
  throw err;
}
if (config.mongodb === undefined) {
  fail("MONGODB_URI is not set: the embedded store lives inside the running server; use ADMIN_EMAILS there instead", 78);
}
if (!config.roles.has(adminRole)) fail(`ROLES does not define the role "${adminRole}"`, 78);

const { grantAdmin } = await import("../src/admin/bootstrap.ts");
const { createLogger } = await import("../src/log.ts");
const { composeService } = await import("../src/server/compose.ts");
// Warnings only: the service's start-up chatter is not this command's output.
const service = await composeService(config, { log: createLogger("warn") });
try {
  const result = await grantAdmin({ users: service.store.users, clock: service.clock, audit: service.audit }, email, {
    allowUnverified,
  });
  console.log(
    result.outcome === "granted"
      ? `granted: ${email} (user ${result.userId}) now has the roles ${result.roles.join(", ")}`
      : `nothing to do: ${email} (user ${result.userId}) is already an admin`,
  );
} catch (err) {
  process.exitCode = 1;
  console.error(err instanceof Error ? err.message : String(err));
} finally {
  await service.background.drain();
  await service.store.close();
}
