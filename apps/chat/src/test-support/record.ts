import { type Page } from 'playwright-core';
import { expect } from 'vitest';

/** Records ~1.5 s from the page's (fake) microphone with the Record button and waits until it is attached as audio. */
export async function recordFromMicrophone(page: Page): Promise<void> {
  await page.click('#record');
  await expect.poll(() => page.textContent('#record')).toBe('Stop');
  await page.waitForTimeout(1500); // the recording's length; not a measurement
  await page.click('#record');
  await expect.poll(() => page.getAttribute('#attachment', 'data-kind')).toBe('audio');
}
