/**
 * The fenced blocks of this repository's Markdown files, so that tests run documented commands and
 * files exactly as the documents show them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export class Doc {
  readonly text: string;

  /** `file` relative to the repository root, `docs/tls.md` say. */
  constructor(readonly file: string) {
    this.text = readFileSync(fileURLToPath(new URL(`../../${file}`, import.meta.url)), 'utf8');
  }

  /** Every fenced block of `lang` ('' for a block with no language), in document order. */
  blocks(lang: string): string[] {
    return [...this.text.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```', 'gm'))].map((m) => m[1]!);
  }

  /** The first fenced block of `lang` after the line `heading`. */
  block(heading: string, lang: string): string {
    return this.blockAfter(`\n${heading}\n`, lang);
  }

  /** The first fenced block of `lang` after the text `marker` (a heading line, or a sentence that introduces it). */
  blockAfter(marker: string, lang: string): string {
    const at = this.text.indexOf(marker);
    assert.ok(at >= 0, `${this.file} does not say ${JSON.stringify(marker.trim())}`);
    const match = new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```', 'm').exec(this.text.slice(at));
    assert.ok(match, `${this.file} has no ${lang || 'plain'} block after ${JSON.stringify(marker.trim())}`);
    return match[1]!;
  }
}
