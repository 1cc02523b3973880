// Request ids for requests that bring none: random version-4 UUIDs, as crypto.randomUUID makes
// them (random bytes taken from a batch filled by the system's generator), but written in one
// piece. randomUUID concatenates about twenty short strings per id, some 580 bytes of garbage a
// call, and over HTTP/2 what a call allocates tends to stay until the next full collection
// (README, Benchmark, "What a call leaves to the old generation"): here one string of 36 bytes.
import { randomFillSync } from "node:crypto";

const idsPerBatch = 128;
const random = Buffer.alloc(16 * idsPerBatch);
let used = idsPerBatch;
const text = Buffer.alloc(36);
const hexDigits = Buffer.from("0123456789abcdef", "latin1");

/** A fresh random UUID (version 4, RFC 9562), lower-case: xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx. */
export function newRequestId(): string {
  if (used === idsPerBatch) {
    randomFillSync(random);
    used = 0;
  }
  const from = used++ * 16;
  let at = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = 0x2d; // "-"
    let byte = random[from + i] as number;
    if (i === 6)
      byte = (byte & 0x0f) | 0x40; // the version: 4
    else if (i === 8) byte = (byte & 0x3f) | 0x80; // the variant: 10xx
    text[at++] = hexDigits[byte >> 4] as number;
    text[at++] = hexDigits[byte & 0x0f] as number;
  }
  return text.toString("latin1");
}
