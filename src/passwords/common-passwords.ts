// The deny-list of common passwords (NIST SP 800-63B 3.1.1.2, ASVS 6.2.4): the 100,000 most common
// passwords of 8 or more characters from SecLists' 10-million-password-list, built by
// scripts/build-common-passwords.ts into common-passwords.br (sorted, lower-cased, NFKC, one per
// line, brotli). It is kept as the decompressed bytes plus one offset per entry and searched by
// binary search: about a quarter of the memory of a Set of the same strings (bench/common-passwords.ts).
import { readFileSync } from "node:fs";
import { brotliDecompressSync } from "node:zlib";

export interface CommonPasswordList {
  readonly size: number;
  /** Whether the list holds exactly this entry (entries are NFKC, lower-cased). */
  has(entry: string): boolean;
}

const newline = 0x0a;

/** Loads a list file as built by scripts/build-common-passwords.ts. */
export function loadCommonPasswordList(file: URL | string): CommonPasswordList {
  const bytes = brotliDecompressSync(readFileSync(file));
  let count = bytes.length === 0 ? 0 : 1;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === newline) count++;
  // starts[i] is where entry i begins; starts[count] is one past the end, as if a newline followed.
  const starts = new Uint32Array(count + 1);
  let entry = 1;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === newline) starts[entry++] = i + 1;
  starts[count] = bytes.length + 1;
  // The candidate is encoded into one reused buffer; a password is at most 128 code points, 4 bytes each.
  const key = new Uint8Array(4 * 128 + 4);
  const encoder = new TextEncoder();
  /** Entry i against the first n bytes of key, like Buffer.compare (JS: cheaper than a native call per step). */
  const compareEntry = (i: number, n: number): number => {
    const start = starts[i] as number;
    const length = (starts[i + 1] as number) - 1 - start;
    const common = Math.min(length, n);
    for (let j = 0; j < common; j++) {
      const d = (bytes[start + j] as number) - (key[j] as number);
      if (d !== 0) return d;
    }
    return length - n;
  };
  return {
    size: count,
    has(candidate) {
      const { read, written } = encoder.encodeInto(candidate, key);
      if (read < candidate.length) return false; // longer than any entry can be
      let lo = 0;
      let hi = count - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const order = compareEntry(mid, written);
        if (order === 0) return true;
        if (order < 0) lo = mid + 1;
        else hi = mid - 1;
      }
      return false;
    },
  };
}

let shipped: CommonPasswordList | undefined;

/** The shipped list, read on first use (about 10 ms) and kept for the life of the process. */
export function commonPasswordList(): CommonPasswordList {
  shipped ??= loadCommonPasswordList(new URL("./common-passwords.br", import.meta.url));
  return shipped;
}

/** The longest run of digits and symbols stripped from the end when looking for a common base. */
const maxStrippedSuffix = 4;

/**
 * Whether a (normalized, lower-cased) password is on the list, or is an entry followed by one to
 * four digits or symbols ("butterfly1", "sunshine2024", "iloveyou!!"): the change people make
 * when a site refuses the plain word, and the first thing a guessing attack tries.
 */
export function isCommonPassword(lowered: string, list: CommonPasswordList = commonPasswordList()): boolean {
  if (list.has(lowered)) return true;
  const chars = [...lowered];
  for (let stripped = 1; stripped <= maxStrippedSuffix && stripped < chars.length; stripped++) {
    if (/[\p{L}\p{M}]/u.test(chars[chars.length - stripped] as string)) return false;
    if (list.has(chars.slice(0, -stripped).join(""))) return true;
  }
  return false;
}
