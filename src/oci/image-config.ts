/**
 * The image configuration (OCI image-spec config.md; Docker's container image JSON is the same
 * shape): the layers' diffIds, the platform, and what a container of the image runs. Parsed from
 * the stored bytes whenever needed; never written back.
 */
import { asDiffId, type DiffId } from '../ids.js';
import { invalid, isRecord, parseJsonObject } from './descriptor.js';
import type { Platform } from './platform.js';

/** What a container of the image runs (the config's `config`), as the image says it. */
export interface ImageRunConfig {
  readonly user: string | undefined;
  readonly env: readonly string[];
  readonly entrypoint: readonly string[] | undefined;
  readonly cmd: readonly string[] | undefined;
  readonly workingDir: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly stopSignal: string | undefined;
}

export interface HistoryEntry {
  readonly created: string | undefined;
  readonly createdBy: string | undefined;
  readonly comment: string | undefined;
  /** True for a step that made no layer (ENV, CMD, ...). */
  readonly emptyLayer: boolean;
}

export interface ImageConfig {
  readonly platform: Platform;
  readonly created: string | undefined;
  readonly author: string | undefined;
  /** The uncompressed layers' digests, bottom first: what the layers must unpack to. */
  readonly diffIds: readonly DiffId[];
  readonly run: ImageRunConfig;
  readonly history: readonly HistoryEntry[];
}

/**
 * @example
 * const config = parseImageConfig(bytes, 'the config of busybox:latest');
 * config.diffIds.length // 1
 */
export function parseImageConfig(bytes: Buffer, where: string): ImageConfig {
  const doc = parseJsonObject(bytes, where);
  const rootfs = doc.rootfs;
  if (!isRecord(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) throw invalid(where, 'it has no rootfs of type "layers" with diff_ids');
  const diffIds = rootfs.diff_ids.map((d, i) => {
    if (typeof d !== 'string') throw invalid(where, `diff_ids[${i}] is not a string`);
    try {
      return asDiffId(d);
    } catch {
      throw invalid(where, `diff_ids[${i}] "${d}" is not sha256:<64 hex>`);
    }
  });
  if (typeof doc.os !== 'string' || typeof doc.architecture !== 'string') throw invalid(where, 'it names no os and architecture');
  const c = isRecord(doc.config) ? doc.config : {};
  return {
    platform: { os: doc.os, architecture: doc.architecture, ...(typeof doc.variant === 'string' && doc.variant !== '' ? { variant: doc.variant } : {}) },
    created: str(doc.created),
    author: str(doc.author),
    diffIds,
    run: {
      user: str(c.User),
      env: strings(c.Env, `${where}, Env`) ?? [],
      entrypoint: strings(c.Entrypoint, `${where}, Entrypoint`),
      cmd: strings(c.Cmd, `${where}, Cmd`),
      workingDir: str(c.WorkingDir),
      labels: isRecord(c.Labels) ? Object.fromEntries(Object.entries(c.Labels).filter((e): e is [string, string] => typeof e[1] === 'string')) : {},
      stopSignal: str(c.StopSignal),
    },
    history: Array.isArray(doc.history) ? doc.history.filter(isRecord).map((h) => ({
      created: str(h.created), createdBy: str(h.created_by), comment: str(h.comment), emptyLayer: h.empty_layer === true,
    })) : [],
  };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A JSON list of strings; null (as Docker writes an unset Cmd) is unset. */
function strings(v: unknown, where: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw invalid(where, 'it is not a list of strings');
  return v as string[];
}
