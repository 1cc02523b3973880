// @authd/client: what every runtime shares. The transports are in "@authd/client/node" and
// "@authd/client/web", which re-export all of this.
export * from "./clients.ts";
export * from "./errors.ts";
export * from "./server.ts";
export * from "./tokens.ts";
export * from "./verify.ts";
