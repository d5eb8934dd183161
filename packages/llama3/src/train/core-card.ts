/** The mini language core's model card: architecture, data, training, results, how to re-train. */
import { type LanguageCoreRecipe, type LanguageCoreReport, MINI_CORE_RECIPE } from './language-core.js';

/** The `herd text train` flags of a recipe's architecture overrides (`--kv-heads`, `--rope-theta`), each with a leading space. */
function architectureFlags(recipe: LanguageCoreRecipe): string {
  const o = recipe.presetOverrides ?? {};
  return `${o['nKvHeads'] !== undefined ? ` --kv-heads ${String(o['nKvHeads'])}` : ''}${o['ropeTheta'] !== undefined ? ` --rope-theta ${String(o['ropeTheta'])}` : ''}`;
}

/** The `herd text train` command that re-makes a core of this recipe into `outDir` (every flag that differs from the defaults it needs). */
function retrainCommand(r: LanguageCoreReport, recipe: LanguageCoreRecipe, outDir: string): string {
  const flags = [
    `--data DATA --steps ${recipe.steps} --batch ${recipe.batch} --lr ${recipe.schedule.peak}`,
    architectureFlags(recipe).trim(),
    r.initialisedFrom ? '--init DIR' : '',
    r.keptVocabulary ? '--keep-vocab' : '',
    r.untiedEmbeddings ? '--untie-embeddings' : '',
    r.grown ? `--grow-layers ${r.grown.to}` : '',
    recipe.replyLoss ? '--reply-loss' : '',
    recipe.keyWordWeight !== undefined && recipe.keyWordWeight !== 1 ? `--key-word-weight ${recipe.keyWordWeight}` : '',
    recipe.sft ? `--sft-steps ${recipe.sft.steps} --sft-lr ${recipe.sft.peak}` : '',
    recipe.seed !== MINI_CORE_RECIPE.seed ? `--seed ${recipe.seed}` : '',
    `--out ${outDir}`,
  ];
  return `npm run build && node apps/cli/dist/main.js train text ${flags.filter((f) => f).join(' ')}`;
}

/** The training corpus, for the card: what it is, and the command that re-makes it when known. */
export interface CoreData {
  readonly description: string;
  readonly command?: string;
}

/** `outDir`: where the core was written, as the re-train command should name it (relative to the repository when inside it). */
export function modelCard(r: LanguageCoreReport, recipe: LanguageCoreRecipe, data: CoreData, outDir: string): string {
  const c = r.config;
  const overrides = Object.entries(recipe.presetOverrides ?? {}).map(([k, v]) => `${k} ${String(v)}`);
  const rows = r.curve.filter((p) => p.heldoutLoss !== undefined).map((p) => `| ${p.step} | ${p.trainLoss.toFixed(3)} | ${p.heldoutLoss!.toFixed(3)} |`);
  return `# Mini language core

A Llama-3-architecture decoder trained ${r.initialisedFrom ? `by \`trainLanguageCore\` (packages/llama3/src/train/language-core.ts), continuing from ${r.initialisedFrom}` : 'from scratch by \`trainLanguageCore\` (packages/llama3/src/train/language-core.ts)'},
and then frozen: every adapter of the mini herd attaches to these weights unchanged.

## Architecture
${c.nLayers} layers, dim ${c.dim}, ${c.nHeads} query heads / ${c.nKvHeads} KV heads (GQA), SwiGLU FFN ${c.ffnDim},
RMSNorm eps ${c.normEps}, RoPE θ ${c.ropeTheta}, context ${c.maxSeqLen}, ${c.tieEmbeddings ? 'tied' : 'untied'} embeddings.
Vocabulary: a pruned view of the real Llama 3 tokenizer — ${r.vocabSize} entries (vocab.json maps real Llama 3 ids to rows).
${overrides.length ? `The ${recipe.preset} preset with ${overrides.join(', ')} in place of its own.\n` : ''}Parameters: ${r.parameters.toLocaleString('en-US')}. Stored as f16 safetensors in the Hugging Face Llama layout.

## Data
${data.description}
Train: ${r.trainDocs.toLocaleString('en-US')} documents, ${r.trainTokens.toLocaleString('en-US')} tokens (${((r.steps * recipe.batch * recipe.seqLen) / r.trainTokens).toFixed(2)} epochs of packed rows seen); held-out loss on ${r.heldoutTokens.toLocaleString('en-US')} tokens.
Documents are packed into ${recipe.seqLen}-token sequences; attention never crosses documents.

## Training
${r.initialisedFrom ? `Initialised from ${r.initialisedFrom} (its weights; ${r.keptVocabulary ? 'its vocabulary kept exactly, same rows, so adapters trained on it still fit' : 'embedding rows copied for the tokens both vocabularies hold, new tokens freshly initialised'}${r.untiedEmbeddings ? "; its tied embedding untied: lm_head.weight started as a copy of the embedding, so step 0 computed the init core's function, and the two trained apart from then on" : ''}${r.grown ? `; grown from its ${r.grown.from} layers to ${r.grown.to}: its layers became layers ${r.grown.positions.join(', ')}, the others started fresh with their output projections (o_proj, down_proj) zero, so step 0 computed the init core's function` : ''}).\n` : ''}Pre-training: ${recipe.steps} steps of batch ${recipe.batch} × ${recipe.seqLen} ${recipe.replyLoss ? "with the loss on the assistant's replies in dialogue documents and on every token of plain text" : 'on every token'}${recipe.keyWordWeight !== undefined && recipe.keyWordWeight !== 1 ? ` (the key words of each QA reply weighted ${recipe.keyWordWeight} except a reply's first token, its other tokens 1: the weighted mean)` : ''}, AdamW (β 0.9/0.95, weight decay ${recipe.weightDecay}, clip 1.0),
${recipe.schedule.kind} schedule peak ${recipe.schedule.peak} warm-up ${recipe.schedule.warmup ?? 0}; seed ${recipe.seed}.
${recipe.sft ? `Fine-tuning (SFT): ${recipe.sft.steps} steps on the training dialogues with the loss on assistant turns only, learning rate re-warmed to ${recipe.sft.peak} (warm-up ${recipe.sft.warmup}, cosine to ${recipe.sft.peak / 10}).\n` : ''}Device ${r.device}; ${(r.seconds / 60).toFixed(1)} minutes in all; ${r.steps} steps.

| step | train loss | held-out loss |
|---|---|---|
${rows.join('\n')}

Final train loss (mean of last 20 steps): ${r.finalTrainLoss.toFixed(3)}.
**Held-out loss ${r.heldoutLoss.toFixed(3)}, perplexity ${r.heldoutPerplexity.toFixed(2)}** (measured on the saved f16 weights).

## Re-train
\`${retrainCommand(r, recipe, outDir)}\`
(DATA: the corpus of the Data section, ${data.command ? `made by \`${data.command}\`, DATA = OUT/text` : 'its making not recorded (a corpus from before herd-datasets recorded its options)'}${r.initialisedFrom ? `; DIR: ${r.initialisedFrom}, the core this one continued from` : ''}.)
`;
}
