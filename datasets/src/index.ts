// The built-in synthetic world of the mini herd: seeded generators for text, images, video and
// speech, with labelled noise and held-out splits by construction.

// World vocabulary and scenes
export {
  SHAPES, SHAPE_FACTS, COLOURS, COLOUR_RGB, BACKGROUNDS, BACKGROUND_RGB, SIZES, SIZE_SCALE, SIZE_SYNONYMS,
  POSITIONS, POSITION_CELL, POSITION_PHRASES, CORNERS, CORNER_CELL, WORDS, NUMBER_WORDS, DIRECTIONS, SPEEDS, SPEED_RATE,
  HELDOUT_COMBOS, isHeldOutCombo, randomScene, sceneSplit, shapeCount, numberWord, itemSeed, itemRng,
} from './world.js';
export type {
  Shape, Colour, Background, Size, Position, Corner, Word, Direction, Speed, Split, Scene, SceneObject, SceneOptions,
} from './world.js';
export { randomMotion, motionSplit, positionAt } from './motion.js';
export type { Motion, MotionObject, MotionOptions } from './motion.js';

// Surface text
export { describeScene, qaKeyWords, sceneQuestions, worldSentence, describeMotion, motionQuestions, objectPhrase, plural, videoQuestions, VIDEO_QA_TYPES } from './language.js';
export type { QaPair, VideoQa, VideoQaType } from './language.js';
export { describeSceneIn, OTHER_LANGUAGES } from './multilingual.js';
export type { Language, OtherLanguage } from './multilingual.js';

// Generators
export type { Sample } from './sample.js';
export { generateTextCorpus, textCorpusStrings, textDoc, lookupDrill, LOOKUP_DRILL, checkTextMix, checkQaTypes, textReplyKeyWords, TEXT_QA_TYPES, TEXT_MIX, TEXT_DOC_KINDS, docText, textSample, TEXT_SPLITS, TRANSCRIBE_INSTRUCTION, TRANSLATE_INSTRUCTION, worldWords, COPY_LIST, copyText, checkCopyWords } from './text.js';
export { COPY_WORDS } from './copy-words.js';
export type { ChatTurn, TextDoc, TextDocKind, TextDocOptions, TextMix, TextCorpusOptions, InstructionTask, InstructionSource } from './text.js';
export { generateImages, renderScene, renderWordCoverage, randomImageSize, encodeSvg, sceneLook, cropNeighbourLooks, LookSet } from './images.js';
export type { ImageOptions, ImageFormat } from './images.js';
export { generateVideos, encodeClip, frameSvg, framePositions, clipTracks } from './video.js';
export { NEAR_DUPLICATE_EDITS } from './video.js';
export type { VideoOptions, ClipSpec, Track, NearDuplicateEdit } from './video.js';
export { generateSpeech, SPEECH_SAMPLE_RATE, TRAIN_VOICES, TRAIN_ACCENTS, TRAIN_VARIANTS, HELDOUT_VOICES, OTHER_LANGUAGE_VOICES } from './speech.js';
export type { SpeechOptions, SpeechTask } from './speech.js';

// Rendering and speech synthesis (WAV, ffmpeg and MP4 helpers live in @herd/media)
export { sceneSvg, shapeSvg, placeGroup, shapeRadius, WORD_RGB } from './render.js';
export type { Placed } from './render.js';
export { openTts } from './tts.js';
export type { TtsEngine, TtsPreference, SpeakOptions } from './tts.js';

// Noise
export { IMAGE_NOISE, VIDEO_NOISE, SPEECH_NOISE, planNoise } from './noise.js';
export type { NoiseKind, ImageNoise, VideoNoise, SpeechNoise } from './noise.js';

// Whole-world generation and sizes
export { generateWorld, writeTextCorpus } from './generate.js';
export type { GenerateOptions, GenerateReport } from './generate.js';
export { MODALITIES, SIZE_NAMES, SIZES_PRESETS, sizePreset } from './sizes.js';
export { textCorpusCommand } from './corpus-command.js';
export type { RecordedTextOptions } from './corpus-command.js';
export type { Modality, SizeName, SizePreset } from './sizes.js';
export { SAMPLE_DIR } from './paths.js';
