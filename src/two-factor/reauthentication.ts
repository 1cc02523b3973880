// Re-authentication (step-up) before high-value changes: deleting the account, removing a sign-in
// method, removing an authenticator device. A stolen access token or an unattended browser must
// not be enough for changes the owner cannot undo (ASVS 5.0 V6.3.x / V7.5.1 ask for it; NIST
// SP 800-63B 4.2 treats a fresh authentication as a new proof). A session that signed in recently
// has just proved the password and the second factor, so it needs nothing more; an older one must
// prove them again in the request.

/** What the request carries as a fresh proof of identity; "" means absent. */
export interface Reauthentication {
  password: string;
  code: string;
  recoveryCode: string;
}

export const noReauthentication: Reauthentication = { password: "", code: "", recoveryCode: "" };

/** Whether the request carries any part of a proof (then the proof must be complete and right). */
export function isGiven(proof: Reauthentication): boolean {
  return proof.password.length > 0 || proof.code.length > 0 || proof.recoveryCode.length > 0;
}

/** Whether a session signed in at `signedInAt` still counts as freshly authenticated at `now`. */
export function signedInRecently(signedInAt: Date, now: Date, maxAgeSeconds: number): boolean {
  const age = now.getTime() - signedInAt.getTime();
  return age >= 0 && age < maxAgeSeconds * 1000;
}
