import nodemailer from "nodemailer";
import type { Logger } from "../log.ts";

export type MailKind = "email_verification" | "password_reset";

export interface Mail {
  kind: MailKind;
  to: string;
  subject: string;
  text: string;
  /** The one-time code the mail carries (kept separate so tests and dev logs can pick it up). */
  code: string;
}

/** The mail port: how the domain sends its one-time codes. */
export interface Mailer {
  send(mail: Mail): Promise<void>;
  close?(): void;
}

/** SMTP delivery through nodemailer (SMTP_URL). */
export function createSmtpMailer(smtpUrl: string, from: string): Mailer {
  const transport = nodemailer.createTransport(smtpUrl);
  return {
    async send(mail) {
      await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text });
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
        { mail: { kind: mail.kind, to: mail.to, subject: mail.subject, devCode: mail.code } },
        "development mailer: no SMTP_URL configured, mail written to the log instead of sent",
      );
    },
  };
}

/** Keeps mails in memory, for tests and embedding; `latest` finds the newest mail to an address. */
export interface Outbox extends Mailer {
  readonly mails: Mail[];
  latest(to: string, kind?: MailKind): Mail | undefined;
}

export function createOutbox(): Outbox {
  const mails: Mail[] = [];
  return {
    mails,
    async send(mail) {
      mails.push(mail);
    },
    latest(to, kind) {
      for (let i = mails.length - 1; i >= 0; i--) {
        const m = mails[i];
        if (m !== undefined && m.to === to && (kind === undefined || m.kind === kind)) return m;
      }
      return undefined;
    },
  };
}
