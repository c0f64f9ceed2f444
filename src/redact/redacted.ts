// What a redacted value becomes, in every output.
export const REDACTED = '[REDACTED]';
