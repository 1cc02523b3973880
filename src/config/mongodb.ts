import { checkDatabaseName, MongoUriError, planMongoConnection, type MongoConnectionPlan } from "../store/mongo/connection-plan.ts";
import { ConfigError, type Env, int, str } from "./parse.ts";

/** MONGODB_URI, checked by the driver's own parser, with the settings that shape the connection. */
export function mongodb(env: Env): MongoConnectionPlan | undefined {
  const database = str(env, "MONGODB_DATABASE");
  if (database !== undefined) {
    const problem = checkDatabaseName(database);
    if (problem !== undefined) throw new ConfigError("MONGODB_DATABASE", problem);
  }
  const settings = {
    database,
    serverSelectionTimeoutMS: int(env, "MONGODB_SERVER_SELECTION_TIMEOUT_MS", 5_000, 100, 120_000),
    operationTimeoutMS: int(env, "MONGODB_OPERATION_TIMEOUT_MS", 10_000, 100, 300_000),
  };
  const raw = str(env, "MONGODB_URI");
  if (raw === undefined) return undefined;
  try {
    return planMongoConnection(raw, settings);
  } catch (err) {
    if (err instanceof MongoUriError)
      throw new ConfigError("MONGODB_URI", `is not a connection string the MongoDB driver accepts: ${err.message}`);
    throw err;
  }
}
