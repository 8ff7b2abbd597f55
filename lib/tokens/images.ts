// Prompt tokens of an image part: each family's documented rule (one table), sizes read from data-URL headers.
import type { ImagePart } from '../messages';

/**
 * How a model family counts an image: 512-px tiles, 32-px patches (at most `maxPatches`,
 * 1,536 by default) times a multiplier, or the highest of several rules when which one
 * applies is not known.
 */
export type ImageCost =
  | { kind: 'tile'; base: number; perTile: number }
  | { kind: 'patch'; multiplier: number; maxPatches?: number }
  | { kind: 'highest'; of: readonly ImageCost[] };

interface ImageRule {
  families: readonly string[];
  cost: ImageCost;
  /** Where the figures come from, and when they were read. */
  source: string;
}

const VISION_GUIDE = "OpenAI vision guide, 'Calculating costs' (platform.openai.com/docs/guides/images-vision)";
// API measurements of a 128×64 image (low / high) on each model, 2025: community.openai.com/t/1262691.
const MEASURED = 'API-measured 128×64 image, community.openai.com/t/1262691 (2025)';

/**
 * Every family's image rule, with where its figures come from and when. Where the
 * API was measured to bill less than the guide says (gpt-5-mini ×1.20, gpt-5-nano
 * ×1.5, community.openai.com/t/1344040), the guide's figure is kept: a reservation
 * may err high and is settled against the real usage, never low.
 */
export const IMAGE_RULES: readonly ImageRule[] = [
  {
    families: ['gpt-4o', 'gpt-4o-2024-05-13', 'chatgpt-4o-latest', 'gpt-4.1', 'gpt-4.5'],
    cost: { kind: 'tile', base: 85, perTile: 170 },
    source: `${VISION_GUIDE}, tile table, 2025; ${MEASURED}: 85 / 255 on gpt-4o, gpt-4.1, gpt-4.5`,
  },
  {
    families: ['gpt-4-turbo', 'gpt-4-1106-preview', 'gpt-4-0125-preview', 'gpt-4-vision-preview', 'gpt-4-1106-vision-preview'],
    cost: { kind: 'tile', base: 85, perTile: 170 },
    source: `OpenAI vision guide for gpt-4-vision-preview, 2023-11 (DevDay); ${MEASURED}: gpt-4-turbo-2024-04-09 as gpt-4o`,
  },
  {
    families: ['gpt-4o-mini'],
    cost: { kind: 'tile', base: 2_833, perTile: 5_667 },
    source: `${VISION_GUIDE}, tile table, 2024-07 (gpt-4o-mini release) to 2025; ${MEASURED}: 2,833 / 8,500`,
  },
  {
    families: ['o1', 'o1-pro', 'o3', 'o3-pro'],
    cost: { kind: 'tile', base: 75, perTile: 150 },
    source: `${VISION_GUIDE}, tile table (o1, o1-pro, o3), 2025; ${MEASURED}: o3 75 / 225 (o1 was billed less: 22 / 44)`,
  },
  {
    families: ['gpt-5', 'gpt-5-chat-latest'],
    cost: { kind: 'tile', base: 70, perTile: 140 },
    source: `${VISION_GUIDE}, tile table (gpt-5, gpt-5-chat-latest), 2025-08 (gpt-5 release)`,
  },
  {
    families: ['gpt-4.1-mini', 'gpt-5-mini'],
    cost: { kind: 'patch', multiplier: 1.62 },
    source: `${VISION_GUIDE}, patch multipliers, quoted 2025-08 on community.openai.com/t/1344040; ${MEASURED}: gpt-4.1-mini 13`,
  },
  {
    families: ['gpt-4.1-nano', 'gpt-5-nano'],
    cost: { kind: 'patch', multiplier: 2.46 },
    source: `${VISION_GUIDE}, patch multipliers, quoted 2025-08 on community.openai.com/t/1344040; ${MEASURED}: gpt-4.1-nano 20`,
  },
  {
    families: ['o4-mini'],
    cost: { kind: 'patch', multiplier: 1.72 },
    source: `${VISION_GUIDE}, patch multipliers, 2025; ${MEASURED}: 14`,
  },
];

/**
 * Text-only families (gpt-3.5, gpt-4, o1-mini, o1-preview, o3-mini) and unknown
 * models: the API refuses their image parts; one is counted by the gpt-4o rule, so
 * that a prompt is never taken as cheaper than it would be on a vision model.
 */
const TEXT_ONLY_IMAGES: ImageCost = IMAGE_RULES[0]!.cost;

const RULE_OF_FAMILY = new Map(IMAGE_RULES.flatMap((rule) => rule.families.map((family) => [family, rule.cost] as const)));

/** The image rule of a model family (see IMAGE_RULES). */
export function imageRuleOf(family: string): ImageCost {
  return RULE_OF_FAMILY.get(family) ?? TEXT_ONLY_IMAGES;
}

/**
 * gpt-5.2 and later point releases: OpenAI publishes no rule. Third-party calculators
 * and forum measurements (undated) give patch rules ×1.0–1.2 with 1,536–2,500 patch
 * budgets (a 1024×1024 image: 1,024–1,229 tokens); the highest of those is taken.
 */
const UNPUBLISHED_POINT_RELEASE: ImageCost = { kind: 'patch', multiplier: 1.2, maxPatches: 2_500 };

/**
 * The image rule of a point release whose rule is unpublished: the highest of its
 * family's rule and the highest rule reported for such releases, image by image.
 */
export function unpublishedImageRuleOf(family: string): ImageCost {
  return { kind: 'highest', of: [imageRuleOf(family), UNPUBLISHED_POINT_RELEASE] };
}

export interface ImageSize {
  width: number;
  height: number;
}

const TILE_PX = 512;
const TILE_FIT_PX = 2048;
const TILE_SHORT_SIDE_PX = 768;
const PATCH_PX = 32;
const MAX_PATCHES = 1536;

/**
 * The largest tile count the formula can give: after fitting in 2048×2048 and
 * bringing the short side down to 768, an image is at most 2048×768, 4 × 2 tiles.
 */
export const MAX_TILES = 8;

/**
 * Tokens the API counts for one image part. When the size cannot be read (an
 * http(s) URL, which we never fetch, or a data URL we cannot parse) the image is
 * counted at the largest the formula can give for the model: `MAX_TILES` tiles, or
 * `MAX_PATCHES` patches. Over-reserving is settled back after the call; under-
 * reserving could let a request through that the budget cannot pay for.
 */
export function countImageTokens(image: ImagePart['image_url'], cost: ImageCost): number {
  if (cost.kind === 'highest') return Math.max(...cost.of.map((rule) => countImageTokens(image, rule)));
  const size = imageSizeFromUrl(image.url);
  if (cost.kind === 'patch') {
    // Patch models have no `detail: 'low'` rate documented: counted at full size.
    const maxPatches = cost.maxPatches ?? MAX_PATCHES;
    const patches = size ? patchCount(size, maxPatches) : maxPatches;
    // Multipliers have a few decimals: scaling to integers keeps 100 × 1.62 at 162, not 163.
    return Math.ceil((patches * Math.round(cost.multiplier * 1e6)) / 1e6);
  }
  if (image.detail === 'low') return cost.base;
  // `auto` lets the API pick low or high; counting it as high never undercounts.
  return cost.base + (size ? tileCount(size) : MAX_TILES) * cost.perTile;
}

/** 512-px tiles of an image once fitted in 2048×2048 and its short side brought down to 768. */
export function tileCount({ width, height }: ImageSize): number {
  const fit = Math.min(1, TILE_FIT_PX / Math.max(width, height));
  const shorten = Math.min(1, TILE_SHORT_SIDE_PX / (Math.min(width, height) * fit));
  const scale = fit * shorten;
  return tilesAlong(width * scale) * tilesAlong(height * scale);
}

// A resized side is a whole number of pixels. Float noise (1024.0000000000002) is
// not a pixel; a real fraction is rounded up, so that a tile is never missed.
const tilesAlong = (side: number) => Math.ceil(Math.ceil(side - 1e-6) / TILE_PX);

/**
 * 32-px patches of an image, as the guide computes them: those covering it; over
 * `maxPatches`, those covering it once scaled down to fit, the scale then lowered
 * until one side is a whole number of patches.
 */
export function patchCount({ width, height }: ImageSize, maxPatches = MAX_PATCHES): number {
  const patches = Math.ceil(width / PATCH_PX) * Math.ceil(height / PATCH_PX);
  if (patches <= maxPatches) return patches;
  let scale = Math.sqrt((PATCH_PX * PATCH_PX * maxPatches) / (width * height));
  const across = (width * scale) / PATCH_PX;
  const down = (height * scale) / PATCH_PX;
  scale *= Math.min(Math.floor(across) / across, Math.floor(down) / down);
  return Math.min(maxPatches, patchesAlong(width * scale) * patchesAlong(height * scale));
}

// As tilesAlong: float noise (32.00000000001 patches) is not a patch.
const patchesAlong = (side: number) => Math.ceil(side / PATCH_PX - 1e-6);

/**
 * The pixel size stated in the header of a base64 data URL (PNG, JPEG, GIF, WebP),
 * or `undefined`. Only the few bytes the header walk reads are decoded, wherever
 * they sit in the payload, so a 20 MB image costs microseconds, not a full decode.
 */
export function imageSizeFromUrl(url: string): ImageSize | undefined {
  // The media type is untrusted and irrelevant: the format is told by its magic bytes.
  const comma = url.indexOf(',');
  if (!url.startsWith('data:') || comma < 0 || !url.slice(0, comma).endsWith(';base64')) return undefined;
  const bytes = new Base64Bytes(url, comma + 1);
  const size = pngSize(bytes) ?? gifSize(bytes) ?? webpSize(bytes) ?? jpegSize(bytes);
  return size && size.width > 0 && size.height > 0 ? size : undefined;
}

const BASE64_GROUPS = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Random access to the bytes of a base64 payload, decoding only the 4-char groups asked for. */
class Base64Bytes {
  constructor(
    private readonly text: string,
    private readonly start: number,
  ) {}

  /** `length` bytes from `offset`, fewer when the payload ends (or is not valid base64) first. */
  read(offset: number, length: number): Buffer {
    const firstGroup = Math.floor(offset / 3);
    const endGroup = Math.ceil((offset + length) / 3);
    const chunk = this.text.slice(this.start + firstGroup * 4, this.start + endGroup * 4);
    // Buffer skips characters outside the alphabet, which would shift every later
    // offset: such a payload (line breaks, percent-escapes) reads as unknown instead.
    if (!BASE64_GROUPS.test(chunk)) return Buffer.alloc(0);
    const skip = offset - firstGroup * 3;
    return Buffer.from(chunk, 'base64').subarray(skip, skip + length);
  }

  startsWith(offset: number, ascii: string): boolean {
    return this.read(offset, ascii.length).toString('latin1') === ascii;
  }
}

function pngSize(bytes: Base64Bytes): ImageSize | undefined {
  // Signature, then the IHDR chunk (length, type) whose data opens with width and height.
  if (!bytes.startsWith(0, '\x89PNG\r\n\x1a\n') || !bytes.startsWith(12, 'IHDR')) return undefined;
  const header = bytes.read(16, 8);
  return header.length === 8 ? { width: header.readUInt32BE(0), height: header.readUInt32BE(4) } : undefined;
}

function gifSize(bytes: Base64Bytes): ImageSize | undefined {
  if (!bytes.startsWith(0, 'GIF87a') && !bytes.startsWith(0, 'GIF89a')) return undefined;
  const screen = bytes.read(6, 4);
  return screen.length === 4 ? { width: screen.readUInt16LE(0), height: screen.readUInt16LE(2) } : undefined;
}

function webpSize(bytes: Base64Bytes): ImageSize | undefined {
  if (!bytes.startsWith(0, 'RIFF') || !bytes.startsWith(8, 'WEBP')) return undefined;
  const chunk = bytes.read(12, 4).toString('latin1');
  const data = bytes.read(20, 10); // the start of the first chunk's data
  if (chunk === 'VP8 ' && data.length === 10) {
    // Lossy: a 3-byte frame tag, the start code 9d 01 2a, then 14-bit width and height.
    if (data[3] !== 0x9d || data[4] !== 0x01 || data[5] !== 0x2a) return undefined;
    return { width: data.readUInt16LE(6) & 0x3fff, height: data.readUInt16LE(8) & 0x3fff };
  }
  if (chunk === 'VP8L' && data.length >= 5) {
    // Lossless: signature 0x2f, then width − 1 and height − 1 in 14 bits each.
    if (data[0] !== 0x2f) return undefined;
    const bits = data.readUInt32LE(1);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X' && data.length === 10) {
    // Extended: flags and 3 reserved bytes, then canvas width − 1 and height − 1 in 24 bits each.
    return { width: data.readUIntLE(4, 3) + 1, height: data.readUIntLE(7, 3) + 1 };
  }
  return undefined;
}

// JPEG markers that stand alone, without a length: TEM, RST0–7, SOI, EOI.
const STANDALONE_MARKERS = new Set([0x01, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9]);
// Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
const isStartOfFrame = (marker: number) => marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
// Real files put the frame header after a handful of segments (APPn, DQT, DHT); a
// crafted file of endless tiny segments is cut off here and counted at the maximum.
const MAX_JPEG_SEGMENTS = 1000;

function jpegSize(bytes: Base64Bytes): ImageSize | undefined {
  if (!bytes.read(0, 2).equals(Buffer.from([0xff, 0xd8]))) return undefined;
  let offset = 2;
  for (let segment = 0; segment < MAX_JPEG_SEGMENTS; segment++) {
    const head = bytes.read(offset, 4);
    if (head.length < 2 || head[0] !== 0xff) return undefined;
    const marker = head[1]!;
    if (marker === 0xff) {
      offset += 1; // fill byte before a marker
    } else if (STANDALONE_MARKERS.has(marker)) {
      offset += 2;
    } else if (head.length < 4) {
      return undefined;
    } else if (isStartOfFrame(marker)) {
      // Segment length, sample precision, then height before width.
      const frame = bytes.read(offset + 5, 4);
      return frame.length === 4 ? { width: frame.readUInt16BE(2), height: frame.readUInt16BE(0) } : undefined;
    } else {
      offset += 2 + head.readUInt16BE(2);
    }
  }
  return undefined;
}
