// The server under soak: src/main.ts as is, plus an IPC answer to "memory" with the heap after a
// full collection (needs --expose-gc), which no outside reading of /proc can give. Started by
// bench/soak.ts; loads nothing before main.ts, which sizes libuv's thread pool first.
process.on("message", (message) => {
  if (message !== "memory") return;
  globalThis.gc?.();
  process.send?.({ memory: process.memoryUsage() });
});
await import(process.env["SOAK_SERVER_ENTRY"] ?? "../src/main.ts");
