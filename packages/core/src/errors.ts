/**
 * The one error class of herd. Every failure carries a code from a fixed union so callers can branch
 * on it, a message that says expected vs got and what to do, and the underlying error as `cause`.
 */
export type HerdErrorCode =
  | 'shape_mismatch'
  | 'dtype_mismatch'
  | 'invalid_argument'
  | 'unknown_config_key'
  | 'invalid_config'
  | 'missing_input'
  | 'unsupported_op'
  | 'checkpoint_mismatch'
  | 'device_unavailable'
  | 'runtime_error'
  | 'io_error'
  | 'corrupt_data'
  | 'non_finite'
  | 'context_overflow'
  | 'tool_missing';

export class HerdError extends Error {
  readonly code: HerdErrorCode;

  constructor(code: HerdErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HerdError';
    this.code = code;
  }
}

export function isHerdError(e: unknown, code?: HerdErrorCode): e is HerdError {
  return e instanceof HerdError && (code === undefined || e.code === code);
}

/** Collects several problems and throws them as one error, so a user sees all of them at once. */
export class ProblemList {
  private readonly problems: string[] = [];
  add(problem: string): void {
    this.problems.push(problem);
  }
  get size(): number {
    return this.problems.length;
  }
  throwIfAny(code: HerdErrorCode, heading: string): void {
    if (this.problems.length === 0) return;
    throw new HerdError(code, `${heading}:\n${this.problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}
