// @authd/client: what every runtime shares. The transports are in "@authd/client/node" and
// "@authd/client/web", which re-export all of this.
export * from "./clients.js";
export * from "./errors.js";
export * from "./server.js";
export * from "./tokens.js";
export * from "./verify.js";
