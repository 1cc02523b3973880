// The MongoDB indexes authd relies on, and how an index the database already holds measures
// against them (indexes.ts acts on the verdicts).

export interface PlannedIndex {
  readonly key: Readonly<Record<string, 1 | -1>>;
  readonly name: string;
  readonly unique?: boolean;
  readonly expireAfterSeconds?: number;
}

export type IndexPlan = Readonly<Record<string, readonly PlannedIndex[]>>;

/**
 * Every index authd needs, by collection. TTL indexes use `expireAfterSeconds: 0` because each
 * document carries its own `expiresAt`; reads still filter on `expiresAt`, as TTL deletion lags.
 */
export const indexPlan = {
  attempts: [{ key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 }],
  users: [{ key: { email: 1 }, name: "email_unique", unique: true }],
  sessions: [
    { key: { userId: 1, createdAt: -1 }, name: "userId_createdAt" },
    { key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
  ],
  refresh_tokens: [
    { key: { userId: 1 }, name: "userId" },
    // A session's spent tokens, newest first: dropSpentBeyond after every refresh. _id is a key so
    // that its query (sorted as the index is, projecting _id) is covered: no document is fetched
    // for the 128 it skips, and nothing is sorted in memory.
    { key: { sessionId: 1, consumedAt: -1, _id: 1 }, name: "sessionId_consumedAt_id" },
    { key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
  ],
  codes: [
    { key: { userId: 1, purpose: 1 }, name: "userId_purpose" },
    { key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
  ],
  // ListServiceAccounts pages newest first.
  service_accounts: [{ key: { createdAt: -1, _id: -1 }, name: "createdAt_id" }],
  audit_events: [
    { key: { at: -1, _id: -1 }, name: "at_id" },
    { key: { targetUserId: 1, at: -1, _id: -1 }, name: "targetUserId_at_id" },
    { key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 },
  ],
  // _id is the credential id; `id` names a passkey in the API; a user's are listed oldest first.
  passkeys: [
    { key: { id: 1 }, name: "id_unique", unique: true },
    { key: { userId: 1, createdAt: 1 }, name: "userId_createdAt" },
  ],
  // One user per provider account (OpenID Connect's issuer and subject); a user's links by user.
  provider_links: [
    { key: { provider: 1, issuer: 1, subject: 1 }, name: "provider_issuer_subject_unique", unique: true },
    { key: { userId: 1, createdAt: 1 }, name: "userId_createdAt" },
  ],
} as const satisfies IndexPlan;

/** An index as `listIndexes` describes it; only `name` and `key` are always present. */
export type ExistingIndex = Record<string, unknown>;

/**
 * Fields `listIndexes` reports that the server itself ignores when deciding whether an existing
 * index matches a requested one; comparing them would invent conflicts.
 */
const NOT_COMPARED = new Set(["key", "name", "ns", "v", "background", "dropDups", "textIndexVersion", "2dsphereIndexVersion"]);

/**
 * Options that make two indexes on the same key distinct to the server: an existing index on our
 * key under another name only blocks ours when it agrees on all of them.
 */
const IDENTIFYING = ["collation", "partialFilterExpression", "wildcardProjection"];

export interface TtlFix {
  kind: "ttl";
  name: string;
  from: number;
  to: number;
}

export interface Problem {
  kind: "problem";
  /** The existing index the operator has to drop. */
  name: string;
  what: string;
}

export type Verdict = TtlFix | Problem | { kind: "ok" };

/** What the existing indexes mean for one planned index: fine, a TTL to fix in place, or the operator's call. */
export function compare(index: PlannedIndex, existing: readonly ExistingIndex[]): Verdict {
  const sameName = existing.find((e) => e["name"] === index.name);
  if (sameName !== undefined) {
    if (!isRecord(sameName["key"]) || !sameKey(index.key, sameName["key"])) {
      return {
        kind: "problem",
        name: index.name,
        what: `index ${index.name} has key ${show(sameName["key"])}, authd expects ${show(index.key)}`,
      };
    }
    const diffs = optionDiffs(index, sameName);
    const [only] = diffs;
    if (
      diffs.length === 1 &&
      only?.option === "expireAfterSeconds" &&
      typeof only.existing === "number" &&
      typeof only.planned === "number"
    ) {
      return { kind: "ttl", name: index.name, from: only.existing, to: only.planned };
    }
    if (diffs.length === 0) return { kind: "ok" };
    const described = diffs.map((d) => `${d.option} is ${showOption(d.existing)}, authd expects ${showOption(d.planned)}`);
    return { kind: "problem", name: index.name, what: `index ${index.name} differs: ${described.join(", ")}` };
  }

  // Renaming is not possible in place, and leaving the index under its other name would make
  // createIndexes fail on every start; so a name mismatch is the operator's call even when the
  // options would otherwise be reconcilable.
  const sameKeyOtherName = existing.find((e) => isRecord(e["key"]) && sameKey(index.key, e["key"]) && sameIdentity(index, e));
  if (sameKeyOtherName !== undefined) {
    const name = String(sameKeyOtherName["name"]);
    return {
      kind: "problem",
      name,
      what: `index ${name} already covers key ${show(index.key)}, authd expects it to be named ${index.name}`,
    };
  }
  return { kind: "ok" };
}

interface OptionDiff {
  option: string;
  existing: unknown;
  planned: unknown;
}

function optionDiffs(index: PlannedIndex, existing: ExistingIndex): OptionDiff[] {
  const diffs: OptionDiff[] = [];
  const unique = truthy(existing["unique"]);
  if (unique !== (index.unique === true)) diffs.push({ option: "unique", existing: unique, planned: index.unique === true });
  const sparse = truthy(existing["sparse"]);
  if (sparse) diffs.push({ option: "sparse", existing: sparse, planned: false });
  if (existing["expireAfterSeconds"] !== index.expireAfterSeconds) {
    diffs.push({ option: "expireAfterSeconds", existing: existing["expireAfterSeconds"], planned: index.expireAfterSeconds });
  }
  for (const [option, value] of Object.entries(existing)) {
    if (NOT_COMPARED.has(option) || option === "unique" || option === "sparse" || option === "expireAfterSeconds") continue;
    diffs.push({ option, existing: value, planned: undefined });
  }
  return diffs;
}

function sameIdentity(index: PlannedIndex, existing: ExistingIndex): boolean {
  return (
    truthy(existing["unique"]) === (index.unique === true) &&
    !truthy(existing["sparse"]) &&
    IDENTIFYING.every((option) => existing[option] === undefined)
  );
}

export function sameKey(planned: Readonly<Record<string, unknown>>, existing: Record<string, unknown>): boolean {
  const a = Object.entries(planned);
  const b = Object.entries(existing);
  return a.length === b.length && a.every(([field, dir], i) => b[i]?.[0] === field && Number(b[i]?.[1]) === dir);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** BSON's notion of "set": the server reads these flags with `trueValue()`. */
function truthy(value: unknown): boolean {
  return value !== undefined && value !== null && value !== false && value !== 0;
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function showOption(value: unknown): string {
  return value === undefined ? "not set" : show(value);
}
