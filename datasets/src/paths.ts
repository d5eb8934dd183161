import { fileURLToPath } from 'node:url';

/**
 * The committed sample (datasets/sample/), found from this module's own place so it works from
 * src/ (tests, "source" condition) and dist/ alike. Holds text/, images/, video/, speech/.
 */
export const SAMPLE_DIR = fileURLToPath(new URL('../sample', import.meta.url));
