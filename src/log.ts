import { pino, type Logger } from "pino";

export type { Logger };

// Field names whose values must never reach a log line, wherever they appear in a logged object.
// By name, one and two levels down. Not a bare `code`: that is what errors carry (MongoDB's 18,
// an SMTP EENVELOPE, a gRPC status), which an operator needs; one-time codes have names of their own.
const secretPaths = [
  "password",
  "*.password",
  "*.*.password",
  "current_password",
  "new_password",
  "*.currentPassword",
  "*.newPassword",
  "token",
  "*.token",
  "*.*.token",
  "accessToken",
  "refreshToken",
  "*.accessToken",
  "*.refreshToken",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "headers.cookie",
  "recoveryCode",
  "*.recoveryCode",
  "recovery_code",
  "*.recovery_code",
  "loginCode",
  "*.loginCode",
  "login_code",
  "*.login_code",
  "linkToken",
  "*.linkToken",
  "challengeToken",
  "*.challengeToken",
  "secret",
  "*.secret",
  "apiKey",
  "*.apiKey",
  "api_key",
  "*.api_key",
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: "authd" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: secretPaths, censor: "[redacted]" },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? process.stdout,
  );
}
