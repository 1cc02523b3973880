// Every path of the legacy REST documents (docs/legacy-rest/), declared: one module per document,
// the two /api/auth documents in one because they share paths. A route only maps: request fields
// to an operation's arguments, and the result to what its documents show. Rules (validation,
// limits, sessions, 2FA) live in the operations, shared with the RPCs.

import type { Route } from "../declaration.ts";
import { apiAuthRoutes } from "./api-auth.ts";
import { apiV1Routes } from "./api-v1.ts";
import { authRouterRoutes } from "./auth-router.ts";
import { rootAuthTotpRoutes } from "./root-auth-totp.ts";

// In this order: it is the order of the OpenAPI document and of the methods in an Allow header.
export const routes: Route[] = [...apiV1Routes, ...apiAuthRoutes, ...rootAuthTotpRoutes, ...authRouterRoutes];
