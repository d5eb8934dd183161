export { ConfigCheck, isRecord, showValue } from './fields.js';
export type { NumberRule } from './fields.js';
export { closestNames, didYouMean, editDistance } from './closest.js';
export { DEFAULT_JSON_MAX_DEPTH, JsonProblem, parseJson } from './json.js';
export type { JsonLimits } from './json.js';
export { DEFAULT_JSON_MAX_BYTES, parseJsonText, readJsonFile } from './json-file.js';
export type { ReadJsonOptions } from './json-file.js';
export { checkOptions, omitOptions } from './options.js';
export type { OptionRule, OptionRules, OptionTable } from './options.js';
