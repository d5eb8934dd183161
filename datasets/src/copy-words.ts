/**
 * The words of copy documents (`copyText`): the 208 words of the world's text (`worldWords()`) that are one
 * Llama 3 token after a space. Round 14 measured the teacher: on lists of every world word (279, 71 of them 2–5
 * tokens, whose pieces recur across words) with filler in half the documents, a fresh mini core did not start to
 * copy in 2,500 steps; on lists of these one-token words repeated at once it jumped at steps ~1,200–1,350 (second
 * pass 0.94, and 0.95 after 15 filler words it never saw). Which of the two changes matters is open.
 *
 * A list, not computed: this package has no tokenizer. apps/cli/src/core-vocab.test.ts checks it is exactly the
 * one-token subset of `worldWords()` under the Llama 3 tokenizer (so a change to the world's text that adds or
 * removes such a word fails there) and that the committed core's vocabulary holds every one.
 */
export const COPY_WORDS: readonly string[] = [
  'a', 'about', 'after', 'again', 'an', 'and', 'any', 'appears', 'are', 'at', 'au', 'audio', 'avec', 'background',
  'bas', 'be', 'big', 'bird', 'black', 'blue', 'book', 'bottom', 'cake', 'can', 'car', 'cat', 'centre', 'centro',
  'changes', 'circle', 'circles', 'clip', 'colour', 'colours', 'comes', 'con', 'corner', 'corners', 'cream', 'der',
  'deux', 'diamond', 'diamonds', 'disappears', 'do', 'does', 'dog', 'door', 'dos', 'down', 'downwards', 'drei',
  'ein', 'eine', 'el', 'en', 'equal', 'et', 'fast', 'fish', 'five', 'four', 'frog', 'from', 'gauche', 'gibt',
  'grand', 'grande', 'grandes', 'green', 'grey', 'has', 'hat', 'haut', 'have', 'height', 'image', 'imagen', 'in',
  'into', 'is', 'it', 'its', 'king', 'kleine', 'la', 'lamp', 'large', 'larger', 'left', 'letters', 'light', 'like',
  'links', 'little', 'looks', 'make', 'many', 'me', 'medium', 'middle', 'milk', 'mit', 'moon', 'more', 'move',
  'moves', 'moving', 'moyen', 'near', 'negro', 'no', 'noir', 'not', 'nothing', 'number', 'oben', 'of', 'on', 'one',
  'opposite', 'or', 'orange', 'petit', 'petite', 'petits', 'photo', 'picture', 'pictures', 'pink', 'place', 'points',
  'purple', 'quickly', 'rain', 'read', 'red', 'right', 'rosa', 'rose', 'roses', 'rouge', 'round', 'same', 'say',
  'says', 'scene', 'see', 'sentence', 'shape', 'shapes', 'ship', 'shows', 'side', 'sides', 'six', 'slowly', 'small',
  'snow', 'spell', 'square', 'squares', 'standing', 'star', 'stars', 'stays', 'still', 'suddenly', 'sun', 'text',
  'than', 'that', 'the', 'there', 'this', 'three', 'to', 'top', 'towards', 'tree', 'tres', 'triangle', 'triangles',
  'trois', 'two', 'un', 'una', 'und', 'une', 'unten', 'up', 'upwards', 'verde', 'vert', 'verte', 'verts', 'video',
  'violet', 'way', 'what', 'white', 'with', 'word', 'written', 'y', 'yellow', 'you', 'zwei',
];
