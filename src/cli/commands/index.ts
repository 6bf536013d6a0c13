/** Every command, in the order `shibafu --help` lists them. */
import type { Command } from '../command.js';
import { layerAdd, layerSeal } from './layer-add.js';
import { layerCreate } from './layer-create.js';
import { layerInspect } from './layer-inspect.js';
import { layerList } from './layer-list.js';
import { layerMount, layerMounts, layerUmount } from './layer-mount.js';
import { layerRm } from './layer-rm.js';
import { layerTag, layerUntag } from './layer-tag.js';

export const COMMANDS: readonly Command[] = [
  layerCreate, layerAdd, layerSeal, layerList, layerInspect, layerRm, layerTag, layerUntag,
  layerMount, layerUmount, layerMounts,
];
