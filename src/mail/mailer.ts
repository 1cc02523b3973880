import type { Logger } from "../log.ts";

/** Mails that carry a one-time code the user types back. */
export type CodeMailKind = "email_verification" | "password_reset" | "email_sign_in";

/** Security notifications (ASVS 6.3.6): what just happened to the account. */
export type NotificationKind =
  | "password_changed"
  | "password_reset_completed"
  | "two_factor_enabled"
  | "two_factor_disabled"
  | "two_factor_reset"
  | "authenticator_added"
  | "authenticator_removed"
  | "passkey_added"
  | "passkey_removed"
  | "recovery_codes_regenerated"
  | "account_deleted"
  | "email_changed"
  | "new_device_sign_in"
  | "sign_in_method_added"
  | "sign_in_method_removed"
  | "service_account_key_issued"
  | "recovery_code_used"
  | "second_factor_guessed"
  | "account_disabled"
  | "account_enabled"
  | "roles_changed"
  | "signed_out_everywhere";

export interface CodeMail {
  kind: CodeMailKind;
  to: string;
  subject: string;
  text: string;
  /** The one-time code the mail carries (kept separate so tests and dev logs can pick it up). */
  code: string;
  /** email_sign_in with links on: the magic link (as `code`, for tests and the dev log). */
  link?: string;
}

/** Tells the owner of an account about a change; carries no secret and no code. */
export interface NotificationMail {
  kind: "security_notification";
  notification: NotificationKind;
  to: string;
  subject: string;
  text: string;
}

export type Mail = CodeMail | NotificationMail;
export type MailKind = Mail["kind"];
/** The mails of one kind. */
export type MailOf<K extends MailKind> = K extends "security_notification" ? NotificationMail : CodeMail & { kind: K };

/** The mail port: how the domain sends its one-time codes and notifications. */
export interface Mailer {
  send(mail: Mail): Promise<void>;
  close?(): void;
}

/** Hosts an SMTP relay on this machine answers at: no network to read a plaintext session on. */
const loopbackHosts = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * SMTP delivery through nodemailer (SMTP_URL). nodemailer is loaded here, so only where SMTP_URL
 * is set: it brings much of Node's network stack with it (5 MiB of heap in a process of its own).
 *
 * An smtp: URL to another machine must upgrade to TLS (requireTLS): nodemailer would otherwise
 * upgrade only when the server offers STARTTLS, and anyone on the path who strips the offer would
 * read the SMTP password and every code. A URL that says `?requireTLS=false` is taken at its word;
 * smtps: is TLS from the start.
 */
export async function createSmtpMailer(smtpUrl: string, from: string): Promise<Mailer> {
  const { default: nodemailer } = await import("nodemailer");
  const { protocol, hostname } = new URL(smtpUrl);
  const transport = nodemailer.createTransport({ url: smtpUrl, requireTLS: protocol === "smtp:" && !loopbackHosts.has(hostname) });
  return {
    async send(mail) {
      try {
        // The address as an object: nodemailer never parses it, so it is the one address it was checked as.
        await transport.sendMail({ from, to: { name: "", address: mail.to }, subject: mail.subject, text: mail.text });
      } catch (err) {
        // nodemailer's error names the recipient (its message, `rejected`, the server's response),
        // and the failure is logged: what is kept says why, not to whom.
        const { code, command, responseCode } = err as { code?: unknown; command?: unknown; responseCode?: unknown };
        const why = [code, command, responseCode].filter((part) => typeof part === "string" || typeof part === "number");
        throw Object.assign(new Error(`SMTP delivery failed${why.length > 0 ? ` (${why.join(" ")})` : ""}`), { code });
      }
    },
    close: () => transport.close(),
  };
}

/**
 * Development delivery: the mail is written to the log so a developer can copy the code. Used only
 * when no SMTP_URL is configured, and announced by a start-up warning.
 */
export function createLogMailer(log: Logger): Mailer {
  return {
    async send(mail) {
      log.warn(
        {
          mail: {
            kind: mail.kind,
            to: mail.to,
            subject: mail.subject,
            ...(mail.kind === "security_notification"
              ? { notification: mail.notification }
              : { devCode: mail.code, ...(mail.link === undefined ? {} : { devLink: mail.link }) }),
          },
        },
        "development mailer: no SMTP_URL configured, mail written to the log instead of sent",
      );
    },
  };
}

/** Keeps mails in memory, for tests and embedding; `latest` finds the newest mail to an address. */
export interface Outbox extends Mailer {
  readonly mails: Mail[];
  latest<K extends MailKind>(to: string, kind: K): MailOf<K> | undefined;
  /** Every mail of a kind to an address, oldest first. */
  all<K extends MailKind>(to: string, kind: K): MailOf<K>[];
}

export function createOutbox(): Outbox {
  const mails: Mail[] = [];
  const all = <K extends MailKind>(to: string, kind: K): MailOf<K>[] => mails.filter((m): m is MailOf<K> => m.to === to && m.kind === kind);
  return {
    mails,
    async send(mail) {
      mails.push(mail);
    },
    latest: (to, kind) => all(to, kind).at(-1),
    all,
  };
}
