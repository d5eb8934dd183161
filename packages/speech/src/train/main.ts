/**
 * Entry of the turbo `train` task: pre-trains the mini speech encoder and prints its report.
 * (No flags here; `herd` in apps/ is where options are read.)
 */
import { trainMiniEncoder } from './mini.js';

const r = await trainMiniEncoder();
console.log(
  `BEST-RQ mini encoder: ${r.steps} steps in ${(r.seconds / 60).toFixed(1)} min on ${r.device}; held-out masked loss ${r.heldoutLoss.toFixed(3)} ` +
    `vs code-entropy baseline ${r.entropyBaseline.toFixed(3)} nats; accuracy ${(100 * r.heldoutAccuracy).toFixed(1)}% (chance ${(100 * r.chanceAccuracy).toFixed(2)}%)`,
);
