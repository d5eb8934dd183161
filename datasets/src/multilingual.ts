/**
 * French, German and Spanish renderings of scenes: the spoken multilingual split (with a `language`
 * meta) and the "non-English caption" noise that language-ID curation must catch. One sentence frame
 * per language is enough for both uses; grammar (gender, adjective order, plural) is handled per
 * language so a native reader is not distracted.
 */
import type { Rng } from '@herd/core';
import type { Colour, Position, Scene, SceneObject, Shape, Size } from './world.js';

export const OTHER_LANGUAGES = ['fr', 'de', 'es'] as const;
export type OtherLanguage = (typeof OTHER_LANGUAGES)[number];
export type Language = 'en' | OtherLanguage;

type Gender = 'm' | 'f' | 'n';

interface Lexicon {
  readonly shapes: Readonly<Record<Shape, { sg: string; pl: string; g: Gender }>>;
  readonly numbers: readonly string[];
  readonly positions: Readonly<Record<Position, string>>;
  readonly and: string;
  readonly lead: readonly string[];
  objectPhrase(o: SceneObject): string;
}

/** [m sg, f sg, m pl, f pl] */
type Forms = readonly [string, string, string, string];
function agree(forms: Forms, g: Gender, plural: boolean): string {
  return forms[(plural ? 2 : 0) + (g === 'f' ? 1 : 0)]!;
}

const FR_COLOURS: Readonly<Record<Colour, Forms>> = {
  red: ['rouge', 'rouge', 'rouges', 'rouges'],
  green: ['vert', 'verte', 'verts', 'vertes'],
  blue: ['bleu', 'bleue', 'bleus', 'bleues'],
  yellow: ['jaune', 'jaune', 'jaunes', 'jaunes'],
  orange: ['orange', 'orange', 'orange', 'orange'],
  purple: ['violet', 'violette', 'violets', 'violettes'],
  pink: ['rose', 'rose', 'roses', 'roses'],
  black: ['noir', 'noire', 'noirs', 'noires'],
};
const FR_SIZES: Readonly<Record<Size, Forms>> = {
  small: ['petit', 'petite', 'petits', 'petites'],
  medium: ['moyen', 'moyenne', 'moyens', 'moyennes'],
  big: ['grand', 'grande', 'grands', 'grandes'],
};

const fr: Lexicon = {
  shapes: {
    circle: { sg: 'cercle', pl: 'cercles', g: 'm' },
    square: { sg: 'carré', pl: 'carrés', g: 'm' },
    triangle: { sg: 'triangle', pl: 'triangles', g: 'm' },
    star: { sg: 'étoile', pl: 'étoiles', g: 'f' },
    hexagon: { sg: 'hexagone', pl: 'hexagones', g: 'm' },
    diamond: { sg: 'losange', pl: 'losanges', g: 'm' },
  },
  numbers: ['zéro', 'un', 'deux', 'trois', 'quatre'],
  positions: { left: 'à gauche', right: 'à droite', top: 'en haut', bottom: 'en bas', centre: 'au centre' },
  and: 'et',
  lead: ['', 'il y a ', 'une image avec '],
  objectPhrase(o) {
    const s = this.shapes[o.shape];
    const pl = o.count > 1;
    const det = pl ? this.numbers[o.count]! : s.g === 'f' ? 'une' : 'un';
    // French puts "petit/grand" before the noun, the colour and "moyen" after it.
    const size = agree(FR_SIZES[o.size], s.g, pl);
    const noun = pl ? s.pl : s.sg;
    const colour = agree(FR_COLOURS[o.colour], s.g, pl);
    return o.size === 'medium' ? `${det} ${noun} ${colour} ${size}` : `${det} ${size} ${noun} ${colour}`;
  },
};

/** German strong adjective endings after "ein/eine" (sg) or a number (pl), nominative. */
const DE_ENDING: Readonly<Record<Gender | 'pl', string>> = { m: 'er', f: 'e', n: 'es', pl: 'e' };
const DE_COLOURS: Readonly<Record<Colour, string>> = {
  red: 'rot', green: 'grün', blue: 'blau', yellow: 'gelb', orange: 'orangefarben', purple: 'violett', pink: 'rosafarben', black: 'schwarz',
};
const DE_SIZES: Readonly<Record<Size, string>> = { small: 'klein', medium: 'mittelgroß', big: 'groß' };

const de: Lexicon = {
  shapes: {
    circle: { sg: 'Kreis', pl: 'Kreise', g: 'm' },
    square: { sg: 'Quadrat', pl: 'Quadrate', g: 'n' },
    triangle: { sg: 'Dreieck', pl: 'Dreiecke', g: 'n' },
    star: { sg: 'Stern', pl: 'Sterne', g: 'm' },
    hexagon: { sg: 'Sechseck', pl: 'Sechsecke', g: 'n' },
    diamond: { sg: 'Raute', pl: 'Rauten', g: 'f' },
  },
  numbers: ['null', 'ein', 'zwei', 'drei', 'vier'],
  positions: { left: 'links', right: 'rechts', top: 'oben', bottom: 'unten', centre: 'in der Mitte' },
  and: 'und',
  lead: ['', 'es gibt ', 'ein Bild mit '],
  objectPhrase(o) {
    const s = this.shapes[o.shape];
    const pl = o.count > 1;
    const end = DE_ENDING[pl ? 'pl' : s.g];
    const det = pl ? this.numbers[o.count]! : s.g === 'f' ? 'eine' : 'ein';
    return `${det} ${DE_SIZES[o.size]}${end} ${DE_COLOURS[o.colour]}${end} ${pl ? s.pl : s.sg}`;
  },
};

const ES_COLOURS: Readonly<Record<Colour, Forms>> = {
  red: ['rojo', 'roja', 'rojos', 'rojas'],
  green: ['verde', 'verde', 'verdes', 'verdes'],
  blue: ['azul', 'azul', 'azules', 'azules'],
  yellow: ['amarillo', 'amarilla', 'amarillos', 'amarillas'],
  orange: ['naranja', 'naranja', 'naranjas', 'naranjas'],
  purple: ['morado', 'morada', 'morados', 'moradas'],
  pink: ['rosa', 'rosa', 'rosas', 'rosas'],
  black: ['negro', 'negra', 'negros', 'negras'],
};
const ES_SIZES: Readonly<Record<Size, Forms>> = {
  small: ['pequeño', 'pequeña', 'pequeños', 'pequeñas'],
  medium: ['mediano', 'mediana', 'medianos', 'medianas'],
  big: ['grande', 'grande', 'grandes', 'grandes'],
};

const es: Lexicon = {
  shapes: {
    circle: { sg: 'círculo', pl: 'círculos', g: 'm' },
    square: { sg: 'cuadrado', pl: 'cuadrados', g: 'm' },
    triangle: { sg: 'triángulo', pl: 'triángulos', g: 'm' },
    star: { sg: 'estrella', pl: 'estrellas', g: 'f' },
    hexagon: { sg: 'hexágono', pl: 'hexágonos', g: 'm' },
    diamond: { sg: 'rombo', pl: 'rombos', g: 'm' },
  },
  numbers: ['cero', 'un', 'dos', 'tres', 'cuatro'],
  positions: { left: 'a la izquierda', right: 'a la derecha', top: 'arriba', bottom: 'abajo', centre: 'en el centro' },
  and: 'y',
  lead: ['', 'hay ', 'una imagen con '],
  objectPhrase(o) {
    const s = this.shapes[o.shape];
    const pl = o.count > 1;
    const det = pl ? this.numbers[o.count]! : s.g === 'f' ? 'una' : 'un';
    return `${det} ${pl ? s.pl : s.sg} ${agree(ES_COLOURS[o.colour], s.g, pl)} ${agree(ES_SIZES[o.size], s.g, pl)}`;
  },
};

const LEXICONS: Readonly<Record<OtherLanguage, Lexicon>> = { fr, de, es };

/** A caption of the scene in another language (the written word, if any, is left out). */
export function describeSceneIn(rng: Rng, scene: Scene, lang: OtherLanguage): string {
  const lx = LEXICONS[lang];
  const parts = rng.shuffle([...scene.objects]).map((o) => `${lx.objectPhrase(o)} ${lx.positions[o.position]}`);
  const body = parts.length <= 1 ? parts.join('') : `${parts.slice(0, -1).join(', ')} ${lx.and} ${parts[parts.length - 1]}`;
  const text = rng.pick(lx.lead) + body;
  return text[0]!.toUpperCase() + text.slice(1) + '.';
}
