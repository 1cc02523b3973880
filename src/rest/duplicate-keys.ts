// Whether a JSON text names one member twice in an object, at any depth.
//
// JSON.parse keeps the last of duplicate members; a proxy, WAF or audit layer that keeps the first
// (many do) then reads `{"email":"a@x","email":"victim@y"}` as another request than the one the
// routes run. Connect refuses such bodies (@bufbuild/protobuf's fromJsonString scans its text the
// same way, but exports no scanner), and so does the REST layer. No reviver can see duplicates:
// JSON.parse has merged them before a reviver runs, so the text itself is scanned.

/**
 * Scans `json`, a text JSON.parse has already accepted (so it is well-formed and every string is
 * closed), for an object member named twice. One pass over the text, each character read once;
 * a member name with an escape is decoded by JSON.parse (once more over that name alone) so that
 * `"a"` and `"\u0061"` are the same name, as they are to every JSON parser. Arrays push no set,
 * and nesting is a stack of sets, not recursion, so depth costs nothing but the stack's entries.
 */
export function hasDuplicateKey(json: string): boolean {
  // The member names seen so far in each open object; null for an open array.
  const open: Array<Set<string> | null> = [];
  // Whether the next string is a member name (after `{` or an object's `,`), not a value.
  let nameNext = false;
  let i = 0;
  while (i < json.length) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i++;
      let escaped = false;
      // Bounded by the length too, so that text JSON.parse never saw cannot loop forever.
      while (i < json.length && json.charCodeAt(i) !== 0x22) {
        if (json.charCodeAt(i) === 0x5c /* \ */) {
          escaped = true;
          i++; // the escaped character: a `\"` does not close the string
        }
        i++;
      }
      i++; // the closing quote
      const names = open[open.length - 1];
      if (nameNext && names !== null && names !== undefined) {
        const name = escaped ? (JSON.parse(json.slice(start, i)) as string) : json.slice(start + 1, i - 1);
        if (names.has(name)) return true;
        names.add(name);
      }
      nameNext = false;
      continue;
    }
    if (c === 0x7b /* { */) {
      open.push(new Set());
      nameNext = true;
    } else if (c === 0x5b /* [ */) {
      open.push(null);
      nameNext = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
      nameNext = false;
    } else if (c === 0x2c /* , */) {
      nameNext = open[open.length - 1] !== null;
    } else if (c === 0x3a /* : */) {
      nameNext = false;
    }
    i++;
  }
  return false;
}
