// AdminService over every RPC protocol: decode, authenticate, call one operation of src/admin/,
// encode. The permission checks and the audit live in the operations.
import { create } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AdminService,
  AdminUserSchema,
  AuditEventSchema,
  SecondFactorStateSchema,
  type AdminUser,
  type AuditEvent,
} from "../../gen/auth/v1/admin_service_pb.js";
import type { AdminUserView } from "../admin/admin.ts";
import type { Operations } from "../operations.ts";
import type { AuditEventRecord } from "../store/port.ts";
import { clientCertificateKey, clientInfo, principalBearer } from "./context.ts";
import { sessionMessage } from "./messages.ts";

function adminUserMessage(u: AdminUserView): AdminUser {
  return create(AdminUserSchema, {
    id: u.id,
    email: u.email,
    emailVerified: u.emailVerified,
    displayName: u.displayName,
    roles: u.roles,
    hasPassword: u.hasPassword,
    disableTime: u.disabledAt === null ? undefined : timestampFromDate(u.disabledAt),
    createTime: timestampFromDate(u.createdAt),
    updateTime: timestampFromDate(u.updatedAt),
  });
}

function auditEventMessage(e: AuditEventRecord): AuditEvent {
  return create(AuditEventSchema, {
    id: e.id,
    time: timestampFromDate(e.at),
    actorKind: e.actor.kind,
    actorId: e.actor.id,
    actorSessionId: e.actor.sessionId,
    action: e.action,
    targetUserId: e.targetUserId ?? "",
    ipAddress: e.client.ipAddress,
    userAgent: e.client.userAgent,
    outcome: e.outcome,
    detail: e.detail,
  });
}

export function registerAdminService(router: ConnectRouter, ops: Operations): void {
  const { admin, principals } = ops;
  // Users with the permission, or service accounts granted it (an API key or a client certificate).
  const caller = (ctx: HandlerContext) => principals.authenticate(principalBearer(ctx), ctx.values.get(clientCertificateKey));

  router.service(AdminService, {
    async listUsers(req, ctx) {
      const page = await admin.listUsers(
        await caller(ctx),
        { pageSize: req.pageSize, pageToken: req.pageToken, emailPrefix: req.emailPrefix },
        clientInfo(ctx),
      );
      return { users: page.items.map(adminUserMessage), nextPageToken: page.nextPageToken };
    },
    async getUser(req, ctx) {
      const found = await admin.getUser(await caller(ctx), req.userId, clientInfo(ctx));
      const s = found.secondFactor;
      return {
        user: adminUserMessage(found.user),
        sessions: found.sessions.map(sessionMessage),
        secondFactor: create(SecondFactorStateSchema, {
          enabled: s.enabled,
          enableTime: s.enabledAt === null ? undefined : timestampFromDate(s.enabledAt),
          deviceCount: s.deviceCount,
          recoveryCodesRemaining: s.recoveryCodesRemaining,
        }),
      };
    },
    async disableUser(req, ctx) {
      return { user: adminUserMessage(await admin.disableUser(await caller(ctx), req.userId, clientInfo(ctx))) };
    },
    async enableUser(req, ctx) {
      return { user: adminUserMessage(await admin.enableUser(await caller(ctx), req.userId, clientInfo(ctx))) };
    },
    async setRoles(req, ctx) {
      return { user: adminUserMessage(await admin.setRoles(await caller(ctx), req.userId, req.roles, clientInfo(ctx))) };
    },
    async signOutEverywhere(req, ctx) {
      return { revokedSessionCount: await admin.signOutEverywhere(await caller(ctx), req.userId, clientInfo(ctx)) };
    },
    async resetSecondFactor(req, ctx) {
      return { wasEnabled: await admin.resetSecondFactor(await caller(ctx), req.userId, clientInfo(ctx)) };
    },
    async deleteUser(req, ctx) {
      await admin.deleteUser(await caller(ctx), req.userId, clientInfo(ctx));
      return {};
    },
    async listAuditEvents(req, ctx) {
      const page = await admin.listAuditEvents(
        await caller(ctx),
        { pageSize: req.pageSize, pageToken: req.pageToken, targetUserId: req.targetUserId },
        clientInfo(ctx),
      );
      return { events: page.items.map(auditEventMessage), nextPageToken: page.nextPageToken };
    },
  });
}
