// Security notifications (ASVS 6.3.6): after a change to how an account is protected, its owner
// gets a mail saying what changed, when, and from which client, so a change they did not make
// does not go unnoticed. The mail carries no secret, code or link that acts on the account; it is
// sent after the response (a slow mail server delays nobody) and under the address's
// notification budget for that kind (limits.ts).
import type { Background } from "../background.ts";
import type { Clock } from "../clock.ts";
import type { MailClient, MailLimits } from "./limits.ts";
import type { Mailer, NotificationKind, NotificationMail } from "./mailer.ts";

export type { NotificationKind } from "./mailer.ts";

export interface NotifierDeps {
  mailer: Mailer;
  limits: MailLimits;
  background: Background;
  clock: Clock;
}

/** The account a notification is about: where it goes. */
export interface NotifiedAccount {
  email: string;
}

export interface Notifier {
  /** Schedules the notification; returns at once (delivery happens after the response). */
  notify(account: NotifiedAccount, kind: NotificationKind, client: MailClient): void;
}

const what: Record<NotificationKind, [subject: string, sentence: string]> = {
  password_changed: ["Your password was changed", "The password of your account was changed."],
  password_reset_completed: ["Your password was reset", "The password of your account was reset with a code sent to this address."],
  two_factor_enabled: ["Two-factor authentication is on", "Two-factor authentication was turned on for your account."],
  two_factor_disabled: ["Two-factor authentication is off", "Two-factor authentication was turned off for your account."],
  two_factor_reset: [
    "Your two-factor authentication was reset",
    "The authenticators and recovery codes of your account were replaced by a new enrolment.",
  ],
  authenticator_added: ["An authenticator was added", "An authenticator device was added to your account."],
  authenticator_removed: ["An authenticator was removed", "An authenticator device was removed from your account."],
  passkey_added: ["A passkey was added", "A passkey was added to your account: it can sign in without the password."],
  passkey_removed: ["A passkey was removed", "A passkey was removed from your account."],
  recovery_codes_regenerated: [
    "New recovery codes were generated",
    "New recovery codes were generated for your account; the previous ones no longer work.",
  ],
  account_deleted: ["Your account was deleted", "Your account and everything stored with it were deleted."],
  email_changed: ["Your email address was changed", "The email address of your account was changed away from this address."],
  new_device_sign_in: ["New sign-in to your account", "Your account was signed in to from a device it had not been used from before."],
  sign_in_method_added: ["A way to sign in was added", "A sign-in provider (such as Google or Microsoft) was linked to your account."],
  sign_in_method_removed: ["A way to sign in was removed", "A sign-in method was removed from your account."],
  recovery_code_used: [
    "A recovery code was used",
    "One of your recovery codes was used in place of your authenticator. Each works once: if few are left, generate new ones.",
  ],
  second_factor_guessed: [
    "Wrong two-factor codes were entered for your account",
    "Someone passed the first step of signing in to your account (its password, or another way in) and then entered several wrong two-factor codes in a row, so codes are refused for a while. If it was not you, they may know your password: change it, or reset it with a code sent to this address.",
  ],
  service_account_key_issued: [
    "A service account key was made",
    "Your account made an API key for a service account (a new account, or a new key for one). The key works until it is revoked, whatever happens to your sessions.",
  ],
  account_disabled: [
    "Your account was disabled",
    "An administrator disabled your account: it cannot be signed in to, and every session of it has ended.",
  ],
  account_enabled: ["Your account was enabled again", "An administrator enabled your account again: it can be signed in to."],
  roles_changed: [
    "The roles of your account were changed",
    "An administrator changed the roles of your account, which decide what it may do in this service.",
  ],
  signed_out_everywhere: [
    "Your account was signed out everywhere",
    "An administrator ended every session of your account: each device signed in to it must sign in again.",
  ],
};

/**
 * An administrator's change: the owner's password is not what let it happen (and a disabled or
 * deleted account cannot reset it), so the owner is sent to the people who run the service.
 */
function whatToDo(kind: NotificationKind, client: MailClient): string {
  if (client.byAdministrator === true) return "If you did not expect this, contact support.";
  if (kind === "account_deleted") return "If you did not do this, contact support.";
  return "If this was you, there is nothing to do. If it was not, reset your password now and review your sessions and authenticators.";
}

/** Keeps a header the client wrote from shaping the mail: one line, printable, bounded. */
function oneLine(value: string, max: number): string {
  const line = value.replace(/[\p{Cc}\p{Cf}\u2028\u2029]+/gu, " ").trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/**
 * The User-Agent as the mail shows it. Whoever made the change wrote it, and the mail is the
 * service's own, signed and trusted: a sentence in it ("this was our security check, no action
 * needed") or a link would speak with the service's voice. So it is quoted as the device's own
 * words, kept short, and stripped of anything a reader could follow (a URL, a domain name).
 */
function deviceWords(userAgent: string): string {
  const words = oneLine(userAgent, 120)
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S*/gi, "[link removed]")
    .replace(/\b(?:[a-z0-9-]+\.)+[a-z]{2,}\b\S*/gi, "[link removed]");
  return words === "" ? "unknown" : `"${words}"`;
}

export function notificationMail(to: string, kind: NotificationKind, client: MailClient, at: Date): NotificationMail {
  const [subject, sentence] = what[kind];
  const text = [
    sentence,
    "",
    `When: ${at.toISOString()}`,
    ...(client.byAdministrator === true
      ? ["Made by: an administrator of this service"]
      : [
          `From IP address: ${oneLine(client.ipAddress, 64) || "unknown"}`,
          `Browser or app, as it names itself: ${deviceWords(client.userAgent)}`,
        ]),
    "",
    whatToDo(kind, client),
  ].join("\n");
  return { kind: "security_notification", notification: kind, to, subject, text };
}

export function createNotifier(deps: NotifierDeps): Notifier {
  return {
    notify(account, kind, client) {
      const at = deps.clock.now();
      deps.background.run(`notification:${kind}`, async () => {
        if (!(await deps.limits.admitNotification(kind, account.email))) return;
        await deps.mailer.send(notificationMail(account.email, kind, client, at));
      });
    },
  };
}
