/**
 * The one error catalog. Codes are public API (listed in docs/errors.md); exit statuses follow
 * STYLE.md: 1 internal, 2 usage, 3 not found, 4 conflict / in use, 5 integrity / bad input,
 * 6 unsupported environment, 7 permission, 8 registry / network.
 *
 * @example
 * throw new ShibafuError('LAYER_NOT_FOUND', 'Cannot find layer "base"', { hint: 'shibafu layer list' });
 */
export const ERROR_CODES = {
  INTERNAL: { exit: 1 },
  USAGE: { exit: 2 },
  LAYER_NOT_FOUND: { exit: 3 },
  NAME_NOT_FOUND: { exit: 3 },
  MOUNT_NOT_FOUND: { exit: 3 },
  SOURCE_NOT_FOUND: { exit: 3 },
  CONTAINER_NOT_FOUND: { exit: 3 },
  SNAPSHOT_NOT_FOUND: { exit: 3 },
  BLOB_NOT_FOUND: { exit: 3 },
  LAYER_IN_USE: { exit: 4 },
  LAYER_SEALED: { exit: 4 },
  LAYER_OPEN: { exit: 4 },
  NAME_IN_USE: { exit: 4 },
  AMBIGUOUS_ID: { exit: 4 },
  STORE_BUSY: { exit: 4 },
  TARGET_BUSY: { exit: 4 },
  ALREADY_MOUNTED: { exit: 4 },
  CONTAINER_IN_USE: { exit: 4 },
  BLOB_IN_USE: { exit: 4 },
  CONTAINER_STATE: { exit: 4 },
  SNAPSHOT_EXISTS: { exit: 4 },
  SNAPSHOT_IN_USE: { exit: 4 },
  SNAPSHOT_STATE: { exit: 4 },
  DRIVER_MISMATCH: { exit: 6 },
  SERVICE_RUNNING: { exit: 4 },
  SERVICE_NOT_RUNNING: { exit: 3 },
  TAR_CORRUPT: { exit: 5 },
  TAR_TRUNCATED: { exit: 5 },
  TAR_UNSUPPORTED: { exit: 5 },
  COMPRESSION_CORRUPT: { exit: 5 },
  COMPRESSION_UNSUPPORTED: { exit: 5 },
  PATH_UNSAFE: { exit: 5 },
  PATH_CONFLICT: { exit: 5 },
  DUPLICATE_ENTRY: { exit: 5 },
  LINK_UNSAFE: { exit: 5 },
  XATTR_FORBIDDEN: { exit: 5 },
  LIMIT_EXCEEDED: { exit: 5 },
  DIGEST_MISMATCH: { exit: 5 },
  STORE_CORRUPT: { exit: 5 },
  LAYER_TAMPERED: { exit: 5 },
  INVALID_NAME: { exit: 2 },
  STACK_TOO_DEEP: { exit: 6 },
  UNSUPPORTED: { exit: 6 },
  MOUNT_FAILED: { exit: 6 },
  RUNTIME_NOT_FOUND: { exit: 6 },
  // `run` and `container start` only (docker's and podman's convention for the runner's own failures).
  RUNTIME_FAILED: { exit: 125 },
  COMMAND_NOT_EXECUTABLE: { exit: 126 },
  COMMAND_NOT_FOUND: { exit: 127 },
  NO_SPACE: { exit: 6 },
  PERMISSION_DENIED: { exit: 7 },
  REGISTRY_ERROR: { exit: 8 },
  REGISTRY_UNREACHABLE: { exit: 8 },
  REGISTRY_UNAUTHORIZED: { exit: 8 },
  REGISTRY_DENIED: { exit: 8 },
  MANIFEST_UNKNOWN: { exit: 8 },
  BLOB_UNKNOWN: { exit: 8 },
  INVALID_REFERENCE: { exit: 2 },
  AUTH_FILE_INVALID: { exit: 5 },
  CREDENTIALS_NOT_FOUND: { exit: 3 },
  IO_ERROR: { exit: 1 },
  // Images (src/oci/, src/images/).
  IMAGE_NOT_FOUND: { exit: 3 },
  IMAGE_IN_USE: { exit: 4 },
  IMAGE_AMBIGUOUS: { exit: 2 },
  PLATFORM_NOT_FOUND: { exit: 3 },
  MANIFEST_INVALID: { exit: 5 },
  MEDIA_TYPE_UNSUPPORTED: { exit: 5 },
  ARCHIVE_INVALID: { exit: 5 },
  IMAGE_ARCHIVE: { exit: 5 },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ShibafuErrorOptions {
  hint?: string;
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** Every failure the library reports on purpose. `code` is stable; `message` is for people. */
export class ShibafuError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: ShibafuErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ShibafuError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }

  /** The process exit status this error maps to. */
  get exitStatus(): number {
    return ERROR_CODES[this.code].exit;
  }
}

/** True for a ShibafuError, optionally of one code. */
export function isShibafuError(err: unknown, code?: ErrorCode): err is ShibafuError {
  return err instanceof ShibafuError && (code === undefined || err.code === code);
}

/** Node's system errors carry `code` (ENOENT, ...); this reads it without trusting the shape. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** What to do about NO_SPACE (the failed operation has already given back what it wrote). */
export const NO_SPACE_HINT = 'Free space on the file system that holds the store (df shows it): remove layers '
  + '(shibafu layer rm) or containers (shibafu container rm) you no longer need, then retry.';

/**
 * Maps a system error (by errno code, never by message) to a catalog error, keeping the original
 * as `cause`. Used once, at the sys boundary and where a sys call's failure leaves the library.
 */
export function fromSystemError(err: unknown, action: string): ShibafuError {
  if (err instanceof ShibafuError) return err;
  const code = errnoCode(err);
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new ShibafuError('NO_SPACE', `Cannot ${action}: no space left on device`, { hint: NO_SPACE_HINT, cause: err });
    case 'EACCES':
    case 'EPERM':
      return new ShibafuError('PERMISSION_DENIED', `Cannot ${action}: permission denied`, {
        hint: 'shibafu needs root (CAP_SYS_ADMIN, CAP_MKNOD) for overlay mounts and device nodes.',
        cause: err,
      });
    case 'ENOENT':
      return new ShibafuError('SOURCE_NOT_FOUND', `Cannot ${action}: no such file or directory`, { cause: err });
    default:
      return new ShibafuError('IO_ERROR', `Cannot ${action}: ${code ?? String(err)}`, { cause: err });
  }
}
